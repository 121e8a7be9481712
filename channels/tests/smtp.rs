//! The email channel against real SMTP servers on 127.0.0.1: the crate's own receiver, and
//! scripted servers for the failures a receiver that behaves cannot produce.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use medrelay_channels::smtp::{ReceivedMail, ReceiverRules, SmtpConfig, SmtpEmail, SmtpReceiver};
use medrelay_channels::{Channel, ChannelKind, OutgoingMessage, Recipient, SendOutcome};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

fn config(addr: SocketAddr, timeout_ms: u64) -> SmtpConfig {
    let json = serde_json::json!({
        "host": addr.ip().to_string(),
        "port": addr.port(),
        "security": "none",
        "from": "Clinic <noreply@clinic.example>",
        "bounce_domain": "bounce.clinic.example",
        "pool_size": 2,
        "timeout_ms": timeout_ms,
    });
    serde_json::from_value(json).expect("the test config is valid")
}

fn channel(addr: SocketAddr, timeout_ms: u64) -> SmtpEmail {
    SmtpEmail::new(&config(addr, timeout_ms)).expect("the test config is usable")
}

fn message(to: &str, language: &str, body: &str, callback_ref: &str) -> OutgoingMessage {
    OutgoingMessage {
        to: Recipient::Email(to.into()),
        subject: Some("Appointment reminder".into()),
        body: body.into(),
        language: language.into(),
        callback_ref: callback_ref.into(),
        template: None,
        valid_for: None,
    }
}

async fn receiver() -> (SmtpReceiver, mpsc::Receiver<ReceivedMail>) {
    let bind = "127.0.0.1:0".parse().expect("a literal address");
    SmtpReceiver::start(bind, ReceiverRules::default())
        .await
        .expect("the receiver binds a free port")
}

async fn next_mail(mail: &mut mpsc::Receiver<ReceivedMail>) -> ReceivedMail {
    tokio::time::timeout(Duration::from_secs(5), mail.recv())
        .await
        .expect("the mail arrives in time")
        .expect("the receiver is still running")
}

/// The header block of `raw` (up to the first empty line), unfolded.
fn headers(raw: &str) -> String {
    raw.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ")
}

fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex digits are ASCII");
                out.push(u8::from_str_radix(hex, 16).expect("a quoted-printable escape"));
                i += 3;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// The decoded body of the MIME part with this content type, whatever transfer encoding lettre chose.
fn part(raw: &str, content_type: &str) -> String {
    let top = headers(raw);
    let boundary = top
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a multipart message names its boundary");
    let wanted = format!("content-type: {content_type}");
    for section in raw.split(&format!("--{boundary}")).skip(1) {
        let (head, body) = section.split_once("\r\n\r\n").unwrap_or((section, ""));
        let head = head.to_ascii_lowercase();
        if !head.contains(&wanted) {
            continue;
        }
        let body = body.trim_end_matches("\r\n");
        let bytes = if head.contains("content-transfer-encoding: base64") {
            base64::engine::general_purpose::STANDARD
                .decode(body.replace("\r\n", ""))
                .expect("valid base64")
        } else if head.contains("content-transfer-encoding: quoted-printable") {
            decode_quoted_printable(body)
        } else {
            body.as_bytes().to_vec()
        };
        return String::from_utf8(bytes).expect("the part is UTF-8");
    }
    panic!("no {content_type} part in:\n{raw}");
}

#[tokio::test]
async fn an_accepted_email_arrives_with_the_verp_sender_both_parts_and_the_subject() {
    let (server, mut mail) = receiver().await;
    let email = channel(server.local_addr(), 5_000);
    assert_eq!(email.kind(), ChannelKind::Email);
    assert_eq!(email.sender_id(), server.local_addr().to_string());

    let body = "Dear Dana,\nyour appointment is tomorrow at 10:00 <room 3> & bring your card.";
    let outcome = email
        .send(&message("dana@example.org", "en", body, "att_1"))
        .await;
    let SendOutcome::Accepted {
        provider_message_id,
    } = outcome
    else {
        panic!("expected Accepted, got {outcome:?}");
    };
    assert!(
        provider_message_id.contains("att_1"),
        "{provider_message_id}"
    );

    let received = next_mail(&mut mail).await;
    assert_eq!(received.envelope_from, "bounce+att_1@bounce.clinic.example");
    assert_eq!(received.recipients, vec!["dana@example.org".to_owned()]);
    let raw = String::from_utf8(received.data).expect("the message is 7-bit");
    let top = headers(&raw);
    assert!(top.contains("Subject: Appointment reminder"), "{top}");
    assert!(
        top.contains("From: Clinic <noreply@clinic.example>"),
        "{top}"
    );
    assert!(
        top.contains(&format!("Message-ID: <{provider_message_id}>")),
        "{top}"
    );
    assert!(top.contains("multipart/alternative"), "{top}");
    assert!(top.contains("Auto-Submitted: auto-generated"), "{top}");
    assert_eq!(part(&raw, "text/plain").replace("\r\n", "\n"), body);
    let html = part(&raw, "text/html");
    assert!(html.contains("<html lang=\"en\" dir=\"ltr\">"), "{html}");
    assert!(
        html.contains("&lt;room 3&gt; &amp; bring your card."),
        "{html}"
    );
}

#[tokio::test]
async fn a_hebrew_email_is_right_to_left_and_survives_the_transfer_encoding() {
    let (server, mut mail) = receiver().await;
    let email = channel(server.local_addr(), 5_000);
    let body = "שלום דנה,\nהתור שלך מחר בשעה 10:00 <חדר 3>.";
    let mut hebrew = message("dana@example.org", "he", body, "att_he");
    hebrew.subject = Some("תזכורת לתור".into());

    let outcome = email.send(&hebrew).await;
    assert!(
        matches!(outcome, SendOutcome::Accepted { .. }),
        "{outcome:?}"
    );

    let raw = String::from_utf8(next_mail(&mut mail).await.data).expect("the message is 7-bit");
    // A non-ASCII subject travels RFC 2047-encoded, never raw.
    assert!(headers(&raw).contains("Subject: =?utf-8?"), "{raw}");
    assert_eq!(part(&raw, "text/plain").replace("\r\n", "\n"), body);
    let html = part(&raw, "text/html");
    assert!(html.contains("<html lang=\"he\" dir=\"rtl\">"), "{html}");
    assert!(
        html.contains("התור שלך מחר בשעה 10:00 &lt;חדר 3&gt;."),
        "{html}"
    );
}

#[tokio::test]
async fn a_recipient_at_bounce_test_is_a_permanent_550_and_the_channel_keeps_working() {
    let (server, mut mail) = receiver().await;
    let email = channel(server.local_addr(), 5_000);

    let outcome = email
        .send(&message("dana@bounce.test", "en", "Hello", "att_2"))
        .await;
    let SendOutcome::Permanent { code, reason, .. } = outcome else {
        panic!("expected Permanent, got {outcome:?}");
    };
    assert_eq!(code, "550");
    assert!(reason.contains("mailbox unavailable"), "{reason}");

    let outcome = email
        .send(&message("dana@example.org", "en", "Hello", "att_3"))
        .await;
    assert!(
        matches!(outcome, SendOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        next_mail(&mut mail).await.envelope_from,
        "bounce+att_3@bounce.clinic.example"
    );
}

#[tokio::test]
async fn a_recipient_at_defer_test_is_a_transient_451() {
    let (server, _mail) = receiver().await;
    let email = channel(server.local_addr(), 5_000);
    let outcome = email
        .send(&message("dana@defer.test", "en", "Hello", "att_4"))
        .await;
    assert!(
        matches!(&outcome, SendOutcome::RetryLater { code, .. } if code == "451"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn concurrent_sends_share_a_small_pool_and_all_arrive() {
    let (server, mut mail) = receiver().await;
    let email = Arc::new(channel(server.local_addr(), 5_000));
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..8 {
        let email = Arc::clone(&email);
        let message = message("dana@example.org", "en", "Hello", &format!("att_c{i}"));
        sends.spawn(async move { email.send(&message).await });
    }
    while let Some(outcome) = sends.join_next().await {
        let outcome = outcome.expect("the send task does not panic");
        assert!(
            matches!(outcome, SendOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
    let mut senders = Vec::new();
    for _ in 0..8 {
        senders.push(next_mail(&mut mail).await.envelope_from);
    }
    senders.sort();
    senders.dedup();
    assert_eq!(senders.len(), 8, "each attempt has its own envelope sender");
}

#[tokio::test]
async fn a_server_that_is_not_listening_means_retry_later() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    drop(listener);
    let outcome = channel(addr, 2_000)
        .send(&message("dana@example.org", "en", "Hi", "att_5"))
        .await;
    assert!(
        matches!(&outcome, SendOutcome::RetryLater { code, .. } if code == "network"),
        "{outcome:?}"
    );
}

/// A server that follows a script: `reply` gets each command line ("" for the greeting, "." for
/// the end of the message content) and answers with its text, or with silence for `None`.
async fn scripted(reply: fn(&str) -> Option<&'static str>) -> SocketAddr {
    scripted_counting(reply).await.0
}

/// [`scripted`], also counting the connections it accepted.
async fn scripted_counting(
    reply: fn(&str) -> Option<&'static str>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut in_data = false;
                let mut command = String::new();
                loop {
                    match reply(&command) {
                        Some(text) => {
                            if write.write_all(text.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        // Silent, but holding the connection open, like a hung server.
                        None => tokio::time::sleep(Duration::from_secs(3600)).await,
                    }
                    in_data = in_data || command.eq_ignore_ascii_case("DATA");
                    loop {
                        let Ok(Some(line)) = lines.next_line().await else {
                            return;
                        };
                        if !in_data {
                            command = line;
                            break;
                        }
                        if line == "." {
                            in_data = false;
                            command = line;
                            break;
                        }
                    }
                }
            });
        }
    });
    (addr, connections)
}

fn well_behaved(command: &str) -> &'static str {
    match command
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "" => "220 scripted ready\r\n",
        "EHLO" => "250-scripted\r\n250 AUTH PLAIN LOGIN\r\n",
        "DATA" => "354 go on\r\n",
        "QUIT" => "221 bye\r\n",
        _ => "250 ok\r\n",
    }
}

#[tokio::test]
async fn a_server_silent_from_the_start_means_retry_later_because_nothing_was_sent() {
    let addr = scripted(|_| None).await;
    let started = std::time::Instant::now();
    let outcome = channel(addr, 300)
        .send(&message("dana@example.org", "en", "Hi", "att_6"))
        .await;
    assert!(
        matches!(&outcome, SendOutcome::RetryLater { code, .. } if code == "timeout"),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout bounds the wait"
    );
}

#[tokio::test]
async fn a_server_silent_after_the_message_content_means_ambiguous_because_it_may_have_queued_it() {
    let addr = scripted(|command| (command != ".").then(|| well_behaved(command))).await;
    let outcome = channel(addr, 300)
        .send(&message("dana@example.org", "en", "Hi", "att_7"))
        .await;
    assert!(
        matches!(outcome, SendOutcome::Ambiguous { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn sequential_sends_reuse_one_connection_and_concurrent_ones_stay_within_the_pool_size() {
    let (addr, connections) = scripted_counting(|command| Some(well_behaved(command))).await;
    let email = Arc::new(channel(addr, 2_000));
    for i in 0..3 {
        let outcome = email
            .send(&message(
                "dana@example.org",
                "en",
                "Hi",
                &format!("att_s{i}"),
            ))
            .await;
        assert!(
            matches!(outcome, SendOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    let mut sends = tokio::task::JoinSet::new();
    for i in 0..6 {
        let email = Arc::clone(&email);
        let message = message("dana@example.org", "en", "Hi", &format!("att_p{i}"));
        sends.spawn(async move { email.send(&message).await });
    }
    while let Some(outcome) = sends.join_next().await {
        let outcome = outcome.expect("the send task does not panic");
        assert!(
            matches!(outcome, SendOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
    // pool_size is 2 in the test config.
    assert!(connections.load(Ordering::SeqCst) <= 2);
}

#[tokio::test]
async fn a_relay_without_starttls_is_refused_before_anything_is_sent_and_the_channel_is_down() {
    let addr = scripted(|command| Some(well_behaved(command))).await;
    let mut config = config(addr, 2_000);
    config.security = medrelay_channels::smtp::Security::Starttls;
    let email = SmtpEmail::new(&config).expect("a usable config");
    let outcome = email
        .send(&message("dana@example.org", "en", "Hi", "att_9"))
        .await;
    assert!(
        matches!(&outcome, SendOutcome::ChannelDown { code, .. } if code == "smtp-client"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn rejected_credentials_mean_the_channel_is_down() {
    let addr = scripted(|command| {
        Some(if command.starts_with("AUTH") {
            "535 5.7.8 authentication failed\r\n"
        } else {
            well_behaved(command)
        })
    })
    .await;
    let mut config = config(addr, 2_000);
    config.username = Some("clinic".into());
    config.password = Some(medrelay_channels::Secret::new("wrong"));
    let email = SmtpEmail::new(&config).expect("credentials to a loopback relay are allowed");
    let outcome = email
        .send(&message("dana@example.org", "en", "Hi", "att_8"))
        .await;
    assert!(
        matches!(&outcome, SendOutcome::ChannelDown { code, .. } if code == "535"),
        "{outcome:?}"
    );
}

#[test]
fn debug_of_the_config_never_prints_the_password() {
    let config: SmtpConfig = serde_json::from_value(serde_json::json!({
        "host": "smtp.clinic.example",
        "port": 587,
        "security": "starttls",
        "username": "clinic",
        "password": "hunter2-very-secret",
        "from": "Clinic <noreply@clinic.example>",
        "bounce_domain": "bounce.clinic.example",
    }))
    .expect("a valid config");
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
    let email = SmtpEmail::new(&config).expect("a usable config");
    assert!(!format!("{email:?}").contains("hunter2"));
}

#[test]
fn unknown_config_fields_and_plaintext_credentials_to_a_remote_host_are_refused() {
    let typo = serde_json::from_value::<SmtpConfig>(serde_json::json!({
        "host": "smtp.clinic.example", "port": 587, "security": "starttls",
        "from": "Clinic <noreply@clinic.example>", "bounce_domain": "b.example", "pasword": "x",
    }));
    assert!(typo.is_err());
    let plaintext: SmtpConfig = serde_json::from_value(serde_json::json!({
        "host": "smtp.clinic.example", "port": 25, "security": "none",
        "username": "clinic", "password": "secret",
        "from": "Clinic <noreply@clinic.example>", "bounce_domain": "b.example",
    }))
    .expect("a well-formed config");
    assert!(SmtpEmail::new(&plaintext).is_err());
}

/// Sends one line to a raw SMTP session and returns the first line of the reply.
async fn say(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    line: &str,
) -> String {
    write
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .expect("the receiver reads");
    lines
        .next_line()
        .await
        .expect("the receiver answers")
        .expect("the session is open")
}

#[tokio::test]
async fn the_receiver_enforces_command_order_and_resets_on_rset() {
    let (server, _mail) = receiver().await;
    let stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .expect("the receiver accepts");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let greeting = lines.next_line().await.expect("a greeting").expect("open");
    assert!(greeting.starts_with("220 "), "{greeting}");
    let conversation = [
        ("HELO client.example", "250"),
        ("RCPT TO:<dana@example.org>", "503"),
        ("MAIL FROM:<>", "250"),
        ("MAIL FROM:<a@example.org>", "503"),
        ("RCPT TO:dana@example.org", "501"),
        ("RCPT TO:<dana@example.org>", "250"),
        ("RSET", "250"),
        ("DATA", "503"),
        ("NOOP", "250"),
        ("STARTTLS", "502"),
        ("QUIT", "221"),
    ];
    for (command, code) in conversation {
        let reply = say(&mut lines, &mut write, command).await;
        assert!(reply.starts_with(code), "{command} → {reply}");
    }
}

#[tokio::test]
async fn the_receiver_hangs_up_on_idle_clients() {
    let rules = ReceiverRules {
        idle_timeout: Duration::from_millis(200),
        ..ReceiverRules::default()
    };
    let bind = "127.0.0.1:0".parse().expect("a literal address");
    let (server, _mail) = SmtpReceiver::start(bind, rules)
        .await
        .expect("the receiver binds a free port");
    let stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .expect("the receiver accepts");
    let mut lines = BufReader::new(stream).lines();
    let greeting = lines.next_line().await.expect("a greeting").expect("open");
    assert!(greeting.starts_with("220 "), "{greeting}");
    let farewell = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .expect("the receiver does not wait forever")
        .expect("a reply")
        .expect("open");
    assert!(farewell.starts_with("421 "), "{farewell}");
}

#[tokio::test]
async fn dropping_the_receiver_stops_it() {
    let (server, mut mail) = receiver().await;
    let addr = server.local_addr();
    drop(server);
    let end = tokio::time::timeout(Duration::from_secs(5), mail.recv())
        .await
        .expect("the mail channel closes");
    assert!(end.is_none());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_keeping_receiver_answers_only_once_its_collector_kept_the_mail() {
    let bind = "127.0.0.1:0".parse().expect("a literal address");
    let (server, mut to_keep) = SmtpReceiver::start_keeping(bind, ReceiverRules::default())
        .await
        .expect("the receiver binds a free port");
    let email = Arc::new(channel(server.local_addr(), 5_000));
    let send = |callback_ref: &'static str| {
        let email = Arc::clone(&email);
        tokio::spawn(async move {
            email
                .send(&message("dana@example.org", "en", "Hello", callback_ref))
                .await
        })
    };
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), to_keep.recv())
            .await
            .expect("the mail arrives in time")
            .expect("the receiver is still running")
    };

    let sending = send("att_k1");
    let arrived = next().await;
    assert!(
        !sending.is_finished(),
        "the client heard back before the mail was kept"
    );
    arrived.kept();
    let outcome = sending.await.expect("the send task");
    assert!(
        matches!(outcome, SendOutcome::Accepted { .. }),
        "{outcome:?}"
    );

    let sending = send("att_k2");
    next().await.not_kept();
    let outcome = sending.await.expect("the send task");
    assert!(
        matches!(&outcome, SendOutcome::RetryLater { code, .. } if code == "451"),
        "{outcome:?}"
    );
}
