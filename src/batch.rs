//! Group commit: many callers' writes share one transaction, so each is durable when its caller
//! hears back, yet the disk syncs once per batch instead of once per request. Reads use it too:
//! lookups asked for together share one statement.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum BatchError {
    /// The whole batch was rolled back. Every waiter gets the store's error, shared.
    #[error("the batch could not be written")]
    Failed(#[source] Arc<StoreError>),
    #[error("the writer has stopped")]
    Closed,
}

type Job<Req, Resp> = (Req, oneshot::Sender<Result<Resp, BatchError>>);

#[derive(Debug)]
pub struct Batcher<Req, Resp> {
    queue: mpsc::Sender<Job<Req, Resp>>,
}

impl<Req, Resp> Clone for Batcher<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts the writer task. `write` gets up to `max_batch` requests that were waiting and
    /// returns one response per request, in order.
    pub fn spawn<F, Fut>(max_batch: usize, write: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<Resp>, StoreError>> + Send,
    {
        let (queue, mut jobs) = mpsc::channel::<Job<Req, Resp>>(max_batch * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while jobs.recv_many(&mut batch, max_batch).await > 0 {
                let (requests, waiters): (Vec<Req>, Vec<_>) = batch.drain(..).unzip();
                match write(requests).await {
                    Ok(responses) => {
                        for (waiter, response) in waiters.into_iter().zip(responses) {
                            let _ = waiter.send(Ok(response));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "batch failed");
                        let error = BatchError::Failed(Arc::new(e));
                        for waiter in waiters {
                            let _ = waiter.send(Err(error.clone()));
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    /// Queues one request and waits until its batch is written.
    pub async fn submit(&self, request: Req) -> Result<Resp, BatchError> {
        let (done, response) = oneshot::channel();
        self.queue
            .send((request, done))
            .await
            .map_err(|_| BatchError::Closed)?;
        response.await.map_err(|_| BatchError::Closed)?
    }
}
