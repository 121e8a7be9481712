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
        Self::spawn_when_ready(
            max_batch,
            || async { Ok(()) },
            move |(), batch| write(batch),
        )
    }

    /// As [`Batcher::spawn`], but the batch is made up once `ready` has given its turn (the
    /// database writer, say): what arrives while the batch waits for the writer goes with it,
    /// instead of into a next batch that waits for the writer again.
    pub fn spawn_when_ready<G, R, RFut, F, Fut>(max_batch: usize, ready: R, write: F) -> Self
    where
        G: Send,
        R: Fn() -> RFut + Send + 'static,
        RFut: Future<Output = Result<G, StoreError>> + Send,
        F: Fn(G, Vec<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<Resp>, StoreError>> + Send,
    {
        let (queue, mut jobs) = mpsc::channel::<Job<Req, Resp>>(max_batch * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while jobs.recv_many(&mut batch, max_batch).await > 0 {
                let turn = ready().await;
                if turn.is_ok() {
                    while batch.len() < max_batch {
                        let Ok(job) = jobs.try_recv() else { break };
                        batch.push(job);
                    }
                }
                let (requests, waiters): (Vec<Req>, Vec<_>) = batch.drain(..).unzip();
                let written = match turn {
                    Ok(turn) => write(turn, requests).await,
                    Err(e) => Err(e),
                };
                answer(waiters, written);
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

/// Gives each waiter its response, or every waiter the batch's error.
fn answer<Resp>(
    waiters: Vec<oneshot::Sender<Result<Resp, BatchError>>>,
    written: Result<Vec<Resp>, StoreError>,
) {
    match written {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::{Notify, Semaphore};

    use super::*;

    #[tokio::test]
    async fn requests_that_come_while_the_batch_waits_for_the_writer_are_written_with_it() {
        let waiting = Arc::new(Notify::new());
        // The writer is busy until the test frees it, then free for good.
        let writer = Arc::new(Semaphore::new(0));
        let batches = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let batcher = Batcher::spawn_when_ready(
            16,
            {
                let (waiting, writer) = (Arc::clone(&waiting), Arc::clone(&writer));
                move || {
                    let (waiting, writer) = (Arc::clone(&waiting), Arc::clone(&writer));
                    async move {
                        waiting.notify_one();
                        drop(writer.acquire().await.expect("never closed"));
                        Ok(())
                    }
                }
            },
            {
                let batches = Arc::clone(&batches);
                move |(), batch: Vec<u32>| {
                    let batches = Arc::clone(&batches);
                    async move {
                        let answers = batch.iter().map(|n| n * 10).collect();
                        batches.lock().expect("not poisoned").push(batch);
                        Ok(answers)
                    }
                }
            },
        );
        let submit = |n: u32| {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.submit(n).await })
        };
        let first = submit(1);
        // The first request is taken and waits for the writer; two more come meanwhile.
        waiting.notified().await;
        let later = [submit(2), submit(3)];
        while batcher.queue.capacity() > batcher.queue.max_capacity() - 2 {
            tokio::task::yield_now().await;
        }
        writer.add_permits(1);

        assert_eq!(first.await.expect("joined").expect("written"), 10);
        for (task, answer) in later.into_iter().zip([20, 30]) {
            assert_eq!(task.await.expect("joined").expect("written"), answer);
        }
        assert_eq!(*batches.lock().expect("not poisoned"), vec![vec![1, 2, 3]]);
    }

    #[tokio::test]
    async fn a_writer_that_cannot_be_had_fails_every_waiting_request_and_writes_nothing() {
        let written = Arc::new(Mutex::new(Vec::<u32>::new()));
        let batcher = Batcher::spawn_when_ready(
            16,
            || async { Err::<(), _>(StoreError::Database(sqlx::Error::PoolTimedOut)) },
            {
                let written = Arc::clone(&written);
                move |(), batch: Vec<u32>| {
                    let written = Arc::clone(&written);
                    async move {
                        written.lock().expect("not poisoned").extend(&batch);
                        Ok(batch)
                    }
                }
            },
        );
        let requests: Vec<_> = (1..=3)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.submit(n).await })
            })
            .collect();

        for request in requests {
            let heard = request.await.expect("joined");
            assert!(
                matches!(&heard, Err(BatchError::Failed(cause))
                    if matches!(**cause, StoreError::Database(sqlx::Error::PoolTimedOut))),
                "{heard:?}"
            );
        }
        assert!(written.lock().expect("not poisoned").is_empty());
    }
}
