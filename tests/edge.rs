//! The real binary at its edge, as an operator runs it: stopped with SIGTERM (what systemd,
//! Docker and Kubernetes send) while requests are in flight, and flooded with connections that
//! never finish their headers under a low open-file limit.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medrelay_testkit::process::{self, Process};
use medrelay_testkit::{free_port, wait};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough that only a hung process hits it: it proves "not hung", it times nothing.
const HUNG: Duration = Duration::from_secs(60);

/// The binary on a free port, with its log in the test's directory.
struct Gateway {
    process: Process,
    addr: SocketAddr,
}

impl Gateway {
    /// The binary on a free port with `database_url`; `wrap` runs it under another command
    /// (e.g. `prlimit`). `run` numbers the starts in one directory, for their logs.
    fn start(
        dir: &Path,
        run: u32,
        database_url: &str,
        env: &[(&str, &str)],
        wrap: &[&str],
    ) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = process::command(&[wrap, &[env!("CARGO_BIN_EXE_medrelay")]].concat());
        command
            .current_dir(dir)
            .env("MEDRELAY_DATABASE_URL", database_url)
            .env("MEDRELAY_LISTEN", addr.to_string())
            .envs(env.iter().copied());
        let log = dir.join(format!("medrelay-run-{run}.log"));
        let process = Process::spawn(command, &format!("run {run} of medrelay"), Some(log));
        Self { process, addr }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn ready(&mut self, client: &Client) {
        let base = self.base();
        self.process.wait_until_ready(client, &base).await;
    }

    /// Waits for the process to exit after SIGTERM; fails if it has not within [`HUNG`].
    async fn exit(self) -> ExitStatus {
        self.process.exit(HUNG).await
    }

    /// Waits until the port refuses new connections: the gateway has stopped accepting.
    async fn refusing(&self) {
        wait::within(HUNG)
            .every(Duration::from_millis(10))
            .until(async || match TcpStream::connect(self.addr).await {
                Ok(_) => Err("still accepting connections".to_owned()),
                Err(_) => Ok(()),
            })
            .await;
    }
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("medrelay.db").display())
}

async fn put_patient(client: &Client, base: &str, key: &str) {
    let response = client
        .put(format!("{base}/v1/patients/p-1"))
        .bearer_auth(key)
        .json(&json!({ "name": "Dana", "phone": "+972541234567" }))
        .send()
        .await
        .expect("patient");
    assert!(response.status().is_success());
}

fn reminder() -> Value {
    json!({
        "patient_id": "p-1", "topic": "appointment_reminder",
        "template": "appointment_reminder", "params": { "date": "01.12", "time": "09:30" }
    })
}

async fn status_of(client: &Client, base: &str, key: &str, id: &str) -> StatusCode {
    client
        .get(format!("{base}/v1/notifications/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("answered")
        .status()
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = Client::new();
    let mut gateway = Gateway::start(dir.path(), 1, &sqlite(dir.path()), &[], &[]);
    gateway.ready(&client).await;
    let key = gateway.process.admin_key();
    let base = gateway.base();
    put_patient(&client, &base, &key).await;

    // A request whose handler is waiting for its body when SIGTERM arrives: `100 Continue` says
    // the handler has started reading it.
    let body = reminder().to_string();
    let mut in_flight = TcpStream::connect(gateway.addr).await.expect("connect");
    in_flight
        .write_all(
            format!(
                "POST /v1/notifications HTTP/1.1\r\nHost: medrelay\r\nAuthorization: Bearer {key}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\
                 Expect: 100-continue\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let n = in_flight.read(&mut buf).await.expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"));
    gateway.process.sigterm();
    gateway.refusing().await;
    in_flight
        .write_all(body.as_bytes())
        .await
        .expect("the body, after SIGTERM");
    let mut answer = String::new();
    in_flight
        .read_to_string(&mut answer)
        .await
        .expect("the answer, then the connection closes");

    assert!(answer.starts_with("HTTP/1.1 202 "), "{answer}");
    let receipt: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default())
        .expect("a receipt");
    let id = receipt["id"].as_str().expect("id").to_owned();
    assert_eq!(gateway.exit().await.code(), Some(0));

    let mut again = Gateway::start(dir.path(), 2, &sqlite(dir.path()), &[], &[]);
    again.ready(&client).await;
    assert_eq!(
        status_of(&client, &again.base(), &key, &id).await,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_exits_0_and_every_acknowledged_notification_reads_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = Client::new();
    let no_caps = [
        ("MEDRELAY_API__KEY_RATE_PER_SECOND", "100000"),
        ("MEDRELAY_API__KEY_BURST", "100000"),
        ("MEDRELAY_API__PATIENT_DAILY_CAP", "0"),
    ];
    let mut gateway = Gateway::start(dir.path(), 1, &sqlite(dir.path()), &no_caps, &[]);
    gateway.ready(&client).await;
    let key = gateway.process.admin_key();
    let base = gateway.base();
    put_patient(&client, &base, &key).await;

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(Vec::<StatusCode>::new()));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (client, base, key) = (client.clone(), base.clone(), key.clone());
            let (acked, refused) = (Arc::clone(&acked), Arc::clone(&refused));
            tokio::spawn(async move {
                // Until the gateway stops answering: a connection it closed, or one refused.
                while let Ok(response) = client
                    .post(format!("{base}/v1/notifications"))
                    .bearer_auth(&key)
                    .json(&reminder())
                    .send()
                    .await
                {
                    let status = response.status();
                    let Ok(receipt) = response.json::<Value>().await else {
                        break;
                    };
                    match receipt["id"].as_str() {
                        Some(id) if status == StatusCode::ACCEPTED => {
                            acked.lock().expect("acked").push(id.to_owned());
                        }
                        _ => refused.lock().expect("refused").push(status),
                    }
                }
            })
        })
        .collect();
    wait::within(HUNG)
        .every(Duration::from_millis(5))
        .until(async || match acked.lock().expect("acked").len() {
            200.. => Ok(()),
            n => Err(format!("{n} acknowledged")),
        })
        .await;
    gateway.process.sigterm();
    let exit = gateway.exit().await;
    for client in clients {
        client.await.expect("a client panicked");
    }

    assert_eq!(exit.code(), Some(0));
    assert_eq!(*refused.lock().expect("refused"), Vec::<StatusCode>::new());
    let acked = acked.lock().expect("acked").clone();
    let mut again = Gateway::start(dir.path(), 2, &sqlite(dir.path()), &no_caps, &[]);
    again.ready(&client).await;
    for id in &acked {
        assert_eq!(
            status_of(&client, &again.base(), &key, id).await,
            StatusCode::OK,
            "{id} was acknowledged"
        );
    }
}

#[tokio::test]
async fn a_flood_of_connections_that_never_finish_their_headers_leaves_the_api_reachable() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        panic!("this test runs the gateway under `prlimit` (util-linux); install it");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let client = Client::new();
    // 256 open files at most, so the flood below is more than the process could hold.
    let mut gateway = Gateway::start(
        dir.path(),
        1,
        &sqlite(dir.path()),
        &[("MEDRELAY_HTTP__HEADER_READ_TIMEOUT_MS", "1000")],
        &["prlimit", "--nofile=256:256"],
    );
    gateway.ready(&client).await;
    let key = gateway.process.admin_key();

    let mut flood = Vec::new();
    for _ in 0..400 {
        let mut stream = TcpStream::connect(gateway.addr).await.expect("connect");
        stream
            .write_all(b"GET /v1/notifications HTTP/1.1\r\nHost: medrelay\r\n")
            .await
            .expect("write");
        flood.push(stream);
    }
    let response = client
        .get(format!("{}/v1/notifications", gateway.base()))
        .bearer_auth(&key)
        .timeout(HUNG)
        .send()
        .await
        .expect("answered while 400 stalled connections wait");

    assert_eq!(response.status(), StatusCode::OK);
    drop(flood);
    gateway.process.sigterm();
    assert_eq!(gateway.exit().await.code(), Some(0));
}
