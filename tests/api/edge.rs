//! What one slow, stalled or hostile client can hold: connections that never finish their
//! headers, bodies that never arrive, unsigned uploads to the provider webhooks, and wrong keys
//! tried over and over. Raw sockets where a well-behaved HTTP client could not misbehave enough.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use medrelay_testkit::wait;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestApp;

/// Long enough that only a server that never answers hits it: it proves "not hung", it times
/// nothing.
const HUNG: Duration = Duration::from_secs(20);

fn addr(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("the test app's address")
}

/// A connection that has sent `bytes` and nothing more.
async fn stalled(app: &TestApp, bytes: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr(app)).await.expect("connect");
    stream.write_all(bytes.as_bytes()).await.expect("write");
    stream
}

/// Everything the server sends until it closes the connection, or the status line and headers
/// of its answer, whichever comes first; fails if it does neither.
async fn answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(HUNG, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
            if received.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server neither answered nor closed the connection within {HUNG:?}; got {:?}",
        String::from_utf8_lossy(&received)
    );
    String::from_utf8_lossy(&received).into_owned()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let app = TestApp::spawn_with(|c| c.http.header_read_timeout_ms = 200).await;

    let mut silent = stalled(&app, "").await;
    let mut half_headers = stalled(&app, "GET /health HTTP/1.1\r\nHost: medrelay\r\n").await;

    assert_eq!(answer(&mut silent).await, "");
    assert_eq!(answer(&mut half_headers).await, "");
    app.stop().await;
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_do_not_keep_a_request_out() {
    let app = TestApp::spawn_with(|c| {
        c.http.max_connections = 8;
        c.http.header_read_timeout_ms = 300;
    })
    .await;

    // Four times the cap: the ones past it wait in the kernel's queue, ahead of the request.
    let mut slow = Vec::new();
    for _ in 0..32 {
        slow.push(stalled(&app, "GET /health HTTP/1.1\r\nHost: medrelay\r\n").await);
    }
    let response = app
        .client()
        .get(format!("{}/v1/notifications", app.base))
        .bearer_auth(&app.key)
        .timeout(HUNG)
        .send()
        .await
        .expect("answered while slow clients hold connections");

    assert_eq!(response.status(), StatusCode::OK);
    for stream in &mut slow {
        assert_eq!(answer(stream).await, "", "every slow client is cut off");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408() {
    let app = TestApp::spawn_with(|c| c.http.body_timeout_ms = 200).await;

    let mut stream = stalled(
        &app,
        &format!(
            "POST /v1/notifications HTTP/1.1\r\nHost: medrelay\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"patient_id\":",
            app.key
        ),
    )
    .await;

    let answer = answer(&mut stream).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 408 Request Timeout");
    assert!(answer.contains("application/problem+json"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_request_that_takes_too_long_in_all_is_answered_408() {
    let app = TestApp::spawn_with(|c| {
        c.http.request_timeout_ms = 300;
        c.http.body_timeout_ms = 10_000;
    })
    .await;

    // A byte every 50 ms: never idle long enough for the body timeout, but never done.
    let mut stream = stalled(
        &app,
        &format!(
            "POST /v1/notifications HTTP/1.1\r\nHost: medrelay\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
            app.key
        ),
    )
    .await;
    let (mut reader, mut writer) = stream.split();
    let drip = async {
        for _ in 0..1000 {
            if writer.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut head = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    tokio::select! {
        () = read => {}
        () = drip => {}
        () = tokio::time::sleep(HUNG) => {}
    }

    let head = String::from_utf8_lossy(&head);
    assert_eq!(status_line(&head), "HTTP/1.1 408 Request Timeout");
    assert!(head.contains("application/problem+json"), "{head}");
    app.stop().await;
}

#[tokio::test]
async fn an_unsigned_webhook_upload_is_refused_before_its_body_is_read() {
    let app = TestApp::spawn().await;

    for path in ["/webhooks/whatsapp", "/webhooks/twilio/sms"] {
        // Headers only: a server that waited for the body before checking would never answer.
        let mut stream = stalled(
            &app,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: medrelay\r\nContent-Type: application/json\r\n\
                 Content-Length: 900000\r\n\r\n"
            ),
        )
        .await;

        let answer = answer(&mut stream).await;
        assert_eq!(
            status_line(&answer),
            "HTTP/1.1 401 Unauthorized",
            "{path}: {answer}"
        );
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_body_over_one_mib_is_refused() {
    let app = TestApp::spawn().await;

    // Refused from the announced length, before any of it is read.
    let mut stream = stalled(
        &app,
        &format!(
            "POST /webhooks/whatsapp HTTP/1.1\r\nHost: medrelay\r\n\
             X-Hub-Signature-256: sha256=00\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            1024 * 1024 + 1
        ),
    )
    .await;

    assert_eq!(
        status_line(&answer(&mut stream).await),
        "HTTP/1.1 413 Payload Too Large"
    );
    app.stop().await;
}

#[tokio::test]
async fn webhooks_past_the_in_flight_cap_are_answered_503_until_a_body_is_done() {
    let app = TestApp::spawn_with(|c| c.http.webhook_bodies_in_flight = 2).await;
    let signed_head = "POST /webhooks/whatsapp HTTP/1.1\r\nHost: medrelay\r\n\
                       X-Hub-Signature-256: sha256=00\r\nContent-Type: application/json\r\n\
                       Content-Length: 2\r\n\r\n";
    let post = || {
        app.client()
            .post(format!("{}/webhooks/whatsapp", app.base))
            .header("X-Hub-Signature-256", "sha256=00")
            .header(CONTENT_TYPE, "application/json")
            .body("{}")
            .timeout(HUNG)
            .send()
    };

    // Two uploads whose bodies never finish hold both slots.
    let mut first = stalled(&app, &format!("{signed_head}{{")).await;
    let _second = stalled(&app, &format!("{signed_head}{{")).await;
    let busy = wait::within(HUNG)
        .every(Duration::from_millis(20))
        .until(async || match post().await.expect("answered") {
            r if r.status() == StatusCode::SERVICE_UNAVAILABLE => Ok(r),
            r => Err(format!("never refused past the cap: {}", r.status())),
        })
        .await;
    assert_eq!(
        busy.headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(
        busy.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );

    // One body finishes (its signature is wrong: 403), and its slot is free again.
    first.write_all(b"}").await.expect("finish the body");
    assert_eq!(
        status_line(&answer(&mut first).await),
        "HTTP/1.1 403 Forbidden"
    );
    assert_eq!(
        post().await.expect("answered").status(),
        StatusCode::FORBIDDEN
    );
    app.stop().await;
}

/// A client of `app` whose connections come from `ip` (any 127.0.0.0/8 address is this host).
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .build()
        .expect("client")
}

async fn list_with(client: &reqwest::Client, app: &TestApp, key: &str) -> reqwest::Response {
    client
        .get(format!("{}/v1/notifications", app.base))
        .bearer_auth(key)
        .send()
        .await
        .expect("answered")
}

#[tokio::test]
async fn wrong_keys_from_one_address_are_limited_and_other_addresses_are_not() {
    let app = TestApp::spawn_with(|c| {
        c.http.auth_failures_per_second = 1;
        c.http.auth_failure_burst = 3;
    })
    .await;
    let guesser = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let neighbour = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let wrong = "mr_0000000000000000000000000000000000000000000000000000000000000000";

    // Checks that succeed are not counted.
    for _ in 0..10 {
        assert_eq!(
            list_with(&guesser, &app, &app.key).await.status(),
            StatusCode::OK
        );
    }
    for _ in 0..3 {
        assert_eq!(
            list_with(&guesser, &app, wrong).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The burst is spent; at one failure a second, the next few tries cannot all be let through.
    let mut limited = list_with(&guesser, &app, wrong).await;
    for _ in 0..20 {
        if limited.status() != StatusCode::UNAUTHORIZED {
            break;
        }
        limited = list_with(&guesser, &app, wrong).await;
    }
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let problem: Value = limited.json().await.expect("problem");
    assert_eq!(problem["reason"], "auth_failures");

    assert_eq!(
        list_with(&neighbour, &app, wrong).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        list_with(&neighbour, &app, &app.key).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}
