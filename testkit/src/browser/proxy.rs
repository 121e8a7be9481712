//! A browser sends no API key: [`KeyedProxy`] stands between it and the gateway.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

/// A local address in front of the gateway at `base` that adds `Authorization: Bearer <key>` to
/// every request, for a browser to open API pages with; stops when dropped.
pub struct KeyedProxy {
    pub base: String,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Upstream {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl KeyedProxy {
    pub async fn start(base: &str, key: &str) -> Self {
        let upstream = Upstream {
            base: base.to_owned(),
            key: key.to_owned(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(forward).with_state(upstream);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let address = listener.local_addr().expect("its address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{address}"),
            server,
        }
    }
}

impl Drop for KeyedProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The browser's `GET` sent on with the key; the answer passed back as it came.
async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut sent = upstream
        .client
        .get(format!("{}{path}", upstream.base))
        .bearer_auth(&upstream.key);
    if let Some(accept) = request.headers().get(header::ACCEPT) {
        sent = sent.header(header::ACCEPT, accept);
    }
    let Ok(answer) = sent.send().await else {
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::empty())
            .unwrap_or_default();
    };
    let status = answer.status();
    let headers: HeaderMap = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in &headers {
        // The body is whole here: its length is axum's to set.
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}
