//! The Twilio look-alike, as `run.py sink` plays it: the same routes, the same answers, the same
//! state for the checks (`GET /_sink/state`).
//!
//! - `POST /2010-04-01/Accounts/{sid}/Messages.json` checks the Basic auth, answers Twilio's
//!   `201` with an `SM…` sid, and (unless `--no-receipts`) posts the status callback to the
//!   message's `StatusCallback` after `--receipt-delay-ms`, form-encoded and signed with
//!   `X-Twilio-Signature` as Twilio publishes it (HMAC-SHA1 of the URL and the sorted
//!   parameters). A callback not answered `2xx` is tried up to 8 times; every answer is counted.
//! - `PUT /_sink/webhook-secret` takes the booking system's `whsec_` secret, and
//!   `POST /booking/webhooks` verifies each webhook as docs/webhooks.md tells a booking system to
//!   (Standard Webhooks), keeps each `webhook-id` once and answers `204` (`401` if it does not
//!   verify).
//!
//! Messages are told apart by the `ref` the load writes at the end of each body, so a second send
//! of one notification shows even under a new attempt id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;

use super::{BoxError, error_kind, monotonic};

const ACCOUNT_SID: &str = "ACe5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5";
const WEBHOOK_PATH: &str = "/booking/webhooks";
/// Standard Webhooks: a timestamp further off than this is refused.
const WEBHOOK_TOLERANCE_S: u64 = 300;
const CALLBACK_TRIES: u32 = 8;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The port on 127.0.0.1; 0 for any free one. The first line printed names it.
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, default_value = "sink-auth-token")]
    auth_token: String,
    /// Post `sent` before `delivered`.
    #[arg(long)]
    sent_callback: bool,
    /// Post no status callback: each message stays `sent`.
    #[arg(long)]
    no_receipts: bool,
    /// From the send answered to its status callback.
    #[arg(long, default_value_t = 50)]
    receipt_delay_ms: u64,
    /// Status callbacks posted at once.
    #[arg(long, default_value_t = 64)]
    callbacks_in_flight: usize,
}

/// What the provider (and the booking system) saw; the keys are `run.py`'s.
#[derive(Debug, Default, Serialize)]
struct Seen {
    /// ref -> send requests
    sends: HashMap<String, u64>,
    /// attempt id -> send requests
    attempts: HashMap<String, u64>,
    /// ref -> monotonic time of its first send
    first_send: HashMap<String, f64>,
    /// ref -> time its `delivered` callback was answered 2xx
    delivered_ok: HashMap<String, f64>,
    /// "delivered 200", "sent 503", … -> answers
    answers: HashMap<String, u64>,
    /// webhook-id -> requests that verified
    webhook_ids: HashMap<String, u64>,
    /// "notification.status_changed sent>delivered" -> events
    webhook_kinds: HashMap<String, u64>,
    /// why a request did not verify -> requests
    forged: HashMap<String, u64>,
    /// notification id -> distinct delivered events
    delivered_events: HashMap<String, u64>,
    /// notification id -> time its first delivered webhook arrived
    delivered_hook_at: HashMap<String, f64>,
    /// notification id -> [[from, to], …] as they came
    transitions: HashMap<String, Vec<[Option<String>; 2]>>,
    #[serde(skip)]
    webhook_key: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Sink {
    auth_token: String,
    /// The `Authorization` header a send must carry.
    expected_auth: String,
    sent_callback: bool,
    receipts: bool,
    receipt_delay: Duration,
    callbacks: Semaphore,
    client: reqwest::Client,
    seen: Mutex<Seen>,
}

impl Sink {
    fn seen(&self) -> MutexGuard<'_, Seen> {
        // A panic while counting would leave counts the checks cannot trust anyway.
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(crate) async fn serve(args: Args) -> Result<(), BoxError> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.callbacks_in_flight)
        .timeout(Duration::from_secs(30))
        .build()?;
    let sink = Arc::new(Sink {
        expected_auth: format!(
            "Basic {}",
            BASE64.encode(format!("{ACCOUNT_SID}:{}", args.auth_token))
        ),
        auth_token: args.auth_token,
        sent_callback: args.sent_callback,
        receipts: !args.no_receipts,
        receipt_delay: Duration::from_millis(args.receipt_delay_ms),
        callbacks: Semaphore::new(args.callbacks_in_flight),
        client,
        seen: Mutex::default(),
    });
    let app = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
        .route("/_sink/state", get(state))
        .route("/_sink/webhook-secret", put(set_webhook_secret))
        .route(WEBHOOK_PATH, post(booking_webhook))
        .with_state(sink);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("sink listening on {}", listener.local_addr()?.port());
    axum::serve(listener, app).await?;
    Ok(())
}

async fn messages(
    State(sink): State<Arc<Sink>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if sid != ACCOUNT_SID || authorization != Some(sink.expected_auth.as_bytes()) {
        let refused = json!({"code": 20003, "message": "Authenticate", "status": 401,
                             "more_info": "https://www.twilio.com/docs/errors/20003"});
        return (StatusCode::UNAUTHORIZED, axum::Json(refused)).into_response();
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    let reference = message_ref(field("Body"));
    let callback = field("StatusCallback").to_owned();
    let attempt = callback
        .split_once('?')
        .and_then(|(_, query)| {
            form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "attempt")
        })
        .map_or_else(|| "?".to_owned(), |(_, value)| value.into_owned());
    let message_sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    {
        let now = monotonic();
        let mut seen = sink.seen();
        *seen.sends.entry(reference.clone()).or_default() += 1;
        seen.first_send.entry(reference.clone()).or_insert(now);
        *seen.attempts.entry(attempt).or_default() += 1;
    }
    let created = jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string();
    let uri = format!("/2010-04-01/Accounts/{sid}/Messages/{message_sid}");
    // Twilio's answer to a created message (the adapter reads only `sid`).
    let answer = json!({
        "account_sid": sid, "api_version": "2010-04-01", "body": form.get("Body"),
        "date_created": created, "date_updated": created, "date_sent": null,
        "direction": "outbound-api", "error_code": null, "error_message": null,
        "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0", "num_segments": "1", "price": null, "price_unit": "USD",
        "sid": message_sid, "status": "queued", "to": form.get("To"),
        "subresource_uris": {"media": format!("{uri}/Media.json")}, "uri": format!("{uri}.json"),
    });
    if !callback.is_empty() && sink.receipts {
        let receipt = Receipt {
            url: callback,
            message_sid,
            reference,
            from: field("From").to_owned(),
            to: field("To").to_owned(),
        };
        tokio::spawn(report(Arc::clone(&sink), receipt));
    }
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

/// What the harness wrote after the last `ref ` of a body (the whole body without one), as
/// `run.py`'s sink reads it.
fn message_ref(body: &str) -> String {
    let reference = body.rsplit_once("ref ").map_or(body, |(_, r)| r);
    if reference.is_empty() { "?" } else { reference }.to_owned()
}

#[derive(Debug)]
struct Receipt {
    url: String,
    message_sid: String,
    reference: String,
    from: String,
    to: String,
}

async fn report(sink: Arc<Sink>, receipt: Receipt) {
    tokio::time::sleep(sink.receipt_delay).await;
    let statuses: &[&str] = if sink.sent_callback {
        &["sent", "delivered"]
    } else {
        &["delivered"]
    };
    for status in statuses {
        let mut params = vec![
            ("AccountSid", ACCOUNT_SID.to_owned()),
            ("ApiVersion", "2010-04-01".to_owned()),
            ("From", receipt.from.clone()),
            ("To", receipt.to.clone()),
            ("MessageSid", receipt.message_sid.clone()),
            ("SmsSid", receipt.message_sid.clone()),
            ("MessageStatus", (*status).to_owned()),
            ("SmsStatus", (*status).to_owned()),
        ];
        if *status == "delivered" {
            let done = jiff::Timestamp::now().strftime("%y%m%d%H%M").to_string();
            params.push(("RawDlrDoneDate", done));
        }
        if post_signed(&sink, &receipt.url, status, &params).await && *status == "delivered" {
            let now = monotonic();
            sink.seen()
                .delivered_ok
                .insert(receipt.reference.clone(), now);
        }
    }
}

/// Posts one status callback, tried again (after 0.2 s, 0.4 s, …) while it finds no server or a
/// busy one, as Twilio retries; each answer is counted. Whether it was answered `2xx`.
async fn post_signed(sink: &Sink, url: &str, status: &str, params: &[(&str, String)]) -> bool {
    let signature = twilio_signature(&sink.auth_token, url, params);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(name, value)| (*name, value.as_str())))
        .finish();
    for attempt in 0..CALLBACK_TRIES {
        let answer = {
            let _slot = sink.callbacks.acquire().await;
            sink.client
                .post(url)
                .header("X-Twilio-Signature", &signature)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
        };
        let (counted, ok) = match answer {
            Ok(response) => {
                let code = response.status();
                // Read to the end, so the connection goes back to the pool.
                let _ = response.bytes().await;
                (code.as_u16().to_string(), code.is_success())
            }
            Err(error) => (error_kind(&error).to_owned(), false),
        };
        *sink
            .seen()
            .answers
            .entry(format!("{status} {counted}"))
            .or_default() += 1;
        if ok {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
    false
}

/// Twilio's published scheme: HMAC-SHA1 over the full URL, then each POST parameter sorted by
/// name as name+value, base64.
fn twilio_signature(auth_token: &str, url: &str, params: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = params.iter().collect();
    sorted.sort_by_key(|(name, _)| *name);
    let mut mac = <Hmac<sha1::Sha1>>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

async fn set_webhook_secret(State(sink): State<Arc<Sink>>, body: String) -> Response {
    let key = body
        .trim()
        .strip_prefix("whsec_")
        .and_then(|secret| BASE64.decode(secret).ok());
    match key {
        Some(key) => {
            sink.seen().webhook_key = Some(key);
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::BAD_REQUEST, "not a whsec_ secret").into_response(),
    }
}

/// As a booking system should: verify, keep each webhook-id once, answer 2xx fast.
async fn booking_webhook(
    State(sink): State<Arc<Sink>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let now = monotonic();
    let mut seen = sink.seen();
    let verified = match &seen.webhook_key {
        None => Err("no secret yet"),
        Some(key) => verify(key, &headers, &body),
    };
    let event_id = match verified {
        Ok(event_id) => event_id,
        Err(why) => {
            *seen.forged.entry(why.to_owned()).or_default() += 1;
            return StatusCode::UNAUTHORIZED; // the gateway retries it: counted, a failed check
        }
    };
    let repeats = seen.webhook_ids.entry(event_id).or_default();
    *repeats += 1;
    if *repeats > 1 {
        return StatusCode::NO_CONTENT; // at least once: a repeat is answered, not counted again
    }
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
    let data = &event["data"];
    let (from, to) = (text(&data["from"]), text(&data["to"]));
    let kind = format!(
        "{} {}>{}",
        event["type"].as_str().unwrap_or("None"),
        from.as_deref().unwrap_or("None"),
        to.as_deref().unwrap_or("None")
    );
    *seen.webhook_kinds.entry(kind).or_default() += 1;
    if event["type"] == "notification.status_changed" {
        let notification = text(&data["notification_id"]).unwrap_or_else(|| "?".to_owned());
        let delivered = to.as_deref() == Some("delivered");
        seen.transitions
            .entry(notification.clone())
            .or_default()
            .push([from, to]);
        if delivered {
            *seen
                .delivered_events
                .entry(notification.clone())
                .or_default() += 1;
            seen.delivered_hook_at.entry(notification).or_insert(now);
        }
    }
    StatusCode::NO_CONTENT
}

/// Standard Webhooks, as the gateway's docs tell a receiver: `v1,` + base64 HMAC-SHA256 of
/// "{webhook-id}.{webhook-timestamp}.{body}" keyed with the secret's decoded bytes, any of the
/// space-separated signatures (a rotation sends two), the timestamp within five minutes. The
/// webhook-id when it verifies, or why not.
fn verify(key: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<String, &'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(event_id), Some(signatures)) = (header("webhook-id"), header("webhook-signature"))
    else {
        return Err("header missing");
    };
    let stamp: u64 = header("webhook-timestamp")
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or("timestamp not a number")?;
    let now = jiff::Timestamp::now().as_second().unsigned_abs();
    if now.abs_diff(stamp) > WEBHOOK_TOLERANCE_S {
        return Err("timestamp off by more than 5 min");
    }
    let mut mac =
        <Hmac<sha2::Sha256>>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(format!("{event_id}.{stamp}.").as_bytes());
    mac.update(body);
    let verifies = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| BASE64.decode(s).ok())
        .any(|offered| mac.clone().verify_slice(&offered).is_ok());
    if verifies {
        Ok(event_id.to_owned())
    } else {
        Err("signature does not match")
    }
}

#[derive(Debug, serde::Deserialize)]
struct StateQuery {
    full: Option<String>,
}

async fn state(State(sink): State<Arc<Sink>>, Query(query): Query<StateQuery>) -> Response {
    let seen = sink.seen();
    let body = if query.full.is_some_and(|f| !f.is_empty()) {
        serde_json::to_value(&*seen).unwrap_or_default()
    } else {
        json!({"sends": seen.sends.values().sum::<u64>(),
               "delivered_ok": seen.delivered_ok.len(),
               "delivered_hooks": seen.delivered_hook_at.len(),
               "answers": seen.answers})
    };
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_twilios_published_example() {
        // Twilio's documentation's example: this URL, these parameters, token 12345.
        let params = [
            ("CallSid", "CA1234567890ABCDE".to_owned()),
            ("Caller", "+12349013030".to_owned()),
            ("Digits", "1234".to_owned()),
            ("From", "+12349013030".to_owned()),
            ("To", "+18005551212".to_owned()),
        ];
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            twilio_signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    fn webhook_headers(id: &str, stamp: u64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", stamp.to_string()),
            ("webhook-signature", signature.to_owned()),
        ] {
            headers.insert(name, value.parse().expect("a header value"));
        }
        headers
    }

    fn signed(key: &[u8], id: &str, stamp: u64, body: &[u8]) -> String {
        let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(key).expect("any key length");
        mac.update(format!("{id}.{stamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_webhook_verifies_by_any_of_its_signatures_and_not_once_changed_or_late() {
        let key = b"booking system's secret";
        let body = br#"{"type":"notification.status_changed"}"#;
        let now = jiff::Timestamp::now().as_second().unsigned_abs();
        let good = signed(key, "msg_1", now, body);
        let rotated = format!("v1,AAAA {good}");
        assert_eq!(
            verify(key, &webhook_headers("msg_1", now, &rotated), body),
            Ok("msg_1".to_owned())
        );
        let changed = br#"{"type":"notification.status_changed","x":1}"#;
        assert_eq!(
            verify(key, &webhook_headers("msg_1", now, &good), changed),
            Err("signature does not match")
        );
        assert_eq!(
            verify(key, &webhook_headers("msg_2", now, &good), body),
            Err("signature does not match")
        );
        let late = now - 301;
        assert_eq!(
            verify(
                key,
                &webhook_headers("msg_1", late, &signed(key, "msg_1", late, body)),
                body
            ),
            Err("timestamp off by more than 5 min")
        );
        assert_eq!(verify(key, &HeaderMap::new(), body), Err("header missing"));
    }

    #[test]
    fn a_message_is_told_by_the_text_after_its_last_ref() {
        assert_eq!(message_ref("Reminder: ref a ref r1-7"), "r1-7");
        assert_eq!(message_ref("no marker"), "no marker");
        assert_eq!(message_ref(""), "?");
    }
}
