//! Meta error codes → [`SendOutcome`] (providers.md §1.6). Meta asks callers to key on `code`,
//! not on the HTTP status, so the HTTP status only decides when there is no code to read.

use std::time::Duration;

use reqwest::StatusCode;

use super::wire::{ErrorResponse, GraphError, SendResponse};
use crate::{RecipientFact, SendOutcome};

/// Pause after a throughput error (130429): the limit is per second.
const THROUGHPUT_PAUSE: Duration = Duration::from_secs(1);
/// Pause after a pair-rate error (131056): about one message per 6 s to the same user.
const PAIR_RATE_PAUSE: Duration = Duration::from_secs(6);
/// Pause after an app/WABA call-rate error (4, 80007): those windows are long, so back off well.
const CALL_RATE_PAUSE: Duration = Duration::from_secs(60);
/// Provider text is kept to this many characters in reasons and status texts.
const MAX_TEXT_CHARS: usize = 300;

/// What a Meta error `code` means for the gateway, or `None` for a code this table does not
/// know (the caller then decides by HTTP status). `reason` becomes the outcome's reason.
///
/// Also for the `errors[0].code` of a failed status webhook, so a late failure is acted on the
/// same way as a synchronous one.
pub fn classify_code(code: i64, reason: String) -> Option<SendOutcome> {
    let code_text = code.to_string();
    let permanent = |fact| SendOutcome::Permanent {
        code: code_text.clone(),
        reason: reason.clone(),
        fact,
    };
    let outcome = match code {
        // Not a WhatsApp user (or an app that cannot receive): worth remembering for the number.
        131026 => permanent(Some(RecipientFact::NotOnWhatsapp)),
        131050 => permanent(Some(RecipientFact::OptedOut)),
        // This message cannot go on WhatsApp, but nothing lasting is known about the number:
        // a Meta experiment (130472), recipient equals sender (131021), outside the 24 h window
        // (131047: the code tells the gateway to use a template next time), Meta chose not to
        // deliver (131049), unsupported type (131051), and bad parameters or templates (100,
        // 131008, 131009, 132xxx), which the operator must fix but need not stop other sends.
        130472 | 131021 | 131047 | 131049 | 131051 | 100 | 131008 | 131009 | 132000..=132999 => {
            permanent(None)
        }
        130429 => SendOutcome::RateLimited {
            after: THROUGHPUT_PAUSE,
        },
        131056 => SendOutcome::RateLimited {
            after: PAIR_RATE_PAUSE,
        },
        4 | 80007 => SendOutcome::RateLimited {
            after: CALL_RATE_PAUSE,
        },
        // Meta says the service failed and did not take the message; the dispatcher bounds
        // the retries. Media errors (131052/131053) are transient too.
        1 | 2 | 131000 | 131016 | 131052 | 131053 => SendOutcome::RetryLater {
            code: code_text,
            reason,
            after: None,
        },
        // Credentials, permissions, account, billing, quality and registration: every later
        // message would fail the same way until the operator acts.
        0
        | 3
        | 10
        | 190
        | 200..=299
        | 368
        | 130497
        | 131030
        | 131031
        | 131042
        | 131048
        | 133010 => SendOutcome::ChannelDown {
            code: code_text,
            reason,
        },
        _ => return None,
    };
    Some(outcome)
}

/// What a failed status's error code says about the recipient, if anything lasting.
pub(super) fn recipient_fact(code: i64) -> Option<RecipientFact> {
    match classify_code(code, String::new()) {
        Some(SendOutcome::Permanent { fact, .. }) => fact,
        _ => None,
    }
}

/// Classifies a complete HTTP answer to a send. `body` is `None` when it could not be read.
pub(super) fn classify_response(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Option<&[u8]>,
) -> SendOutcome {
    if status.is_success() {
        return match body.and_then(|b| serde_json::from_slice::<SendResponse>(b).ok()) {
            Some(SendResponse { messages }) => match messages.into_iter().next() {
                Some(sent) if !sent.id.is_empty() => SendOutcome::Accepted {
                    provider_message_id: sent.id,
                },
                // Meta answered 200 yet named no message: it may well be on its way.
                _ => ambiguous(format!("HTTP {status} without a message id")),
            },
            None => ambiguous(format!("HTTP {status} with an unreadable body")),
        };
    }
    let error = body.and_then(|b| serde_json::from_slice::<ErrorResponse>(b).ok());
    if let Some(ErrorResponse { error }) = error {
        return classify_graph_error(status, retry_after, &error);
    }
    classify_status(
        status,
        retry_after,
        format!("HTTP {status} without a Meta error code"),
    )
}

fn classify_graph_error(
    status: StatusCode,
    retry_after: Option<Duration>,
    error: &GraphError,
) -> SendOutcome {
    let reason = scrub(&error.text());
    match classify_code(error.code, reason.clone()) {
        // Meta may name a longer pause than our table; never retry sooner than it asks.
        Some(SendOutcome::RateLimited { after }) => SendOutcome::RateLimited {
            after: after.max(retry_after.unwrap_or_default()),
        },
        Some(outcome) => outcome,
        None => match classify_status(status, retry_after, reason.clone()) {
            // An unknown code on a 4xx: the request was refused; keep Meta's code for the record.
            SendOutcome::Permanent { fact, .. } => SendOutcome::Permanent {
                code: error.code.to_string(),
                reason,
                fact,
            },
            SendOutcome::Ambiguous { reason } => {
                ambiguous(format!("Meta error {}: {reason}", error.code))
            }
            other => other,
        },
    }
}

/// Decides by HTTP status alone, when the answer carries no known code.
fn classify_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    reason: String,
) -> SendOutcome {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return SendOutcome::RateLimited {
            after: retry_after.unwrap_or_default().max(THROUGHPUT_PAUSE),
        };
    }
    if status.is_server_error() {
        // A 5xx may come after Meta queued the message; resending could duplicate it.
        return ambiguous(reason);
    }
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return SendOutcome::ChannelDown {
            code: format!("http_{}", status.as_u16()),
            reason,
        };
    }
    SendOutcome::Permanent {
        code: format!("http_{}", status.as_u16()),
        reason,
        fact: None,
    }
}

/// Classifies a request that got no HTTP answer.
pub(super) fn classify_transport_error(error: &reqwest::Error) -> SendOutcome {
    let reason = error_chain(error);
    if error.is_builder() {
        // Nothing left this process, and no later message would build either.
        SendOutcome::ChannelDown {
            code: "request".to_owned(),
            reason,
        }
    } else if error.is_connect() {
        // No connection, so no request was written: resending cannot duplicate.
        SendOutcome::RetryLater {
            code: "connect".to_owned(),
            reason,
            after: None,
        }
    } else if error.is_timeout() {
        ambiguous(format!("no answer in time: {reason}"))
    } else {
        // Connection lost while sending or waiting: Meta may have the message.
        ambiguous(reason)
    }
}

fn ambiguous(reason: String) -> SendOutcome {
    SendOutcome::Ambiguous { reason }
}

/// The error with its causes: reqwest's own text names only the URL.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    scrub(&text)
}

/// Provider text ends up in the audit trail: hide anything that looks like a phone number
/// (Meta sometimes echoes parameters) and keep it short.
pub(super) fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TEXT_CHARS));
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 7 {
            out.push_str("***");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars().take(MAX_TEXT_CHARS) {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gateway's reading of one row of providers.md §1.6.
    #[derive(Debug, PartialEq)]
    enum Action {
        Fallback(Option<RecipientFact>),
        Retry,
        SlowDown(Duration),
        OperatorMustAct,
    }

    fn action(code: i64) -> Action {
        match classify_code(code, "reason".to_owned()) {
            Some(SendOutcome::Permanent { code: c, fact, .. }) => {
                assert_eq!(c, code.to_string(), "the code is kept");
                Action::Fallback(fact)
            }
            Some(SendOutcome::RetryLater { code: c, .. }) => {
                assert_eq!(c, code.to_string(), "the code is kept");
                Action::Retry
            }
            Some(SendOutcome::RateLimited { after }) => Action::SlowDown(after),
            Some(SendOutcome::ChannelDown { code: c, .. }) => {
                assert_eq!(c, code.to_string(), "the code is kept");
                Action::OperatorMustAct
            }
            other => panic!("code {code} classified as {other:?}"),
        }
    }

    #[test]
    fn every_error_code_in_the_provider_table_has_its_action() {
        use Action::*;
        let secs = Duration::from_secs;
        let table: &[(&[i64], Action)] = &[
            (&[0, 190], OperatorMustAct),
            (&[3, 10, 200, 250, 299], OperatorMustAct),
            (&[4, 80007], SlowDown(secs(60))),
            (&[1, 2], Retry),
            (&[100], Fallback(None)),
            (&[130429], SlowDown(secs(1))),
            (&[130472], Fallback(None)),
            (&[131000], Retry),
            (&[131008, 131009], Fallback(None)),
            (&[131016], Retry),
            (&[131021], Fallback(None)),
            (&[131026], Fallback(Some(RecipientFact::NotOnWhatsapp))),
            (&[131030], OperatorMustAct),
            (&[131031, 131042], OperatorMustAct),
            (&[131047], Fallback(None)),
            (&[131048], OperatorMustAct),
            (&[131049], Fallback(None)),
            (&[131050], Fallback(Some(RecipientFact::OptedOut))),
            (&[131051], Fallback(None)),
            (&[131052, 131053], Retry),
            (&[131056], SlowDown(secs(6))),
            (
                &[132000, 132001, 132005, 132007, 132012, 132015, 132016],
                Fallback(None),
            ),
            (&[133010], OperatorMustAct),
            (&[368, 130497], OperatorMustAct),
        ];
        for (codes, expected) in table {
            for &code in *codes {
                assert_eq!(&action(code), expected, "code {code}");
            }
        }
    }

    #[test]
    fn rate_limits_never_ask_for_less_than_a_second() {
        for code in [4, 80007, 130429, 131056] {
            let Action::SlowDown(after) = action(code) else {
                panic!("{code} is a rate limit");
            };
            assert!(after >= Duration::from_secs(1), "{code}: {after:?}");
        }
    }

    #[test]
    fn codes_outside_the_table_are_left_to_the_http_status() {
        for code in [5, 131999, 133000, 999_999] {
            assert_eq!(classify_code(code, String::new()), None, "code {code}");
        }
        let body = br#"{"error":{"code":131999,"message":"new"}}"#;
        assert!(matches!(
            classify_response(StatusCode::BAD_REQUEST, None, Some(body)),
            SendOutcome::Permanent { ref code, .. } if code == "131999"
        ));
        assert!(matches!(
            classify_response(StatusCode::BAD_GATEWAY, None, Some(body)),
            SendOutcome::Ambiguous { .. }
        ));
    }

    #[test]
    fn a_known_code_decides_even_on_a_server_error_status() {
        let body = br#"{"error":{"code":131016,"message":"Service unavailable"}}"#;
        assert!(matches!(
            classify_response(StatusCode::SERVICE_UNAVAILABLE, None, Some(body)),
            SendOutcome::RetryLater { ref code, .. } if code == "131016"
        ));
    }

    #[test]
    fn a_server_error_without_a_code_is_ambiguous_because_meta_may_have_queued_it() {
        for body in [
            None,
            Some(&b"<html>Bad Gateway</html>"[..]),
            Some(&b"{}"[..]),
        ] {
            assert!(matches!(
                classify_response(StatusCode::INTERNAL_SERVER_ERROR, None, body),
                SendOutcome::Ambiguous { .. }
            ));
        }
    }

    #[test]
    fn too_many_requests_without_a_code_waits_at_least_what_meta_asks() {
        assert_eq!(
            classify_response(StatusCode::TOO_MANY_REQUESTS, None, None),
            SendOutcome::RateLimited {
                after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            classify_response(
                StatusCode::TOO_MANY_REQUESTS,
                Some(Duration::from_secs(30)),
                None
            ),
            SendOutcome::RateLimited {
                after: Duration::from_secs(30)
            }
        );
    }

    #[test]
    fn a_success_without_a_message_id_is_ambiguous_not_accepted() {
        for body in [
            &br#"{"messages":[]}"#[..],
            b"not json",
            br#"{"messages":[{"id":""}]}"#,
        ] {
            assert!(matches!(
                classify_response(StatusCode::OK, None, Some(body)),
                SendOutcome::Ambiguous { .. }
            ));
        }
    }

    #[test]
    fn provider_text_loses_anything_that_looks_like_a_phone_number() {
        assert_eq!(
            scrub("(#100) Invalid parameter: to 972541234567 is bad, code 131026"),
            "(#100) Invalid parameter: to *** is bad, code 131026"
        );
        assert_eq!(scrub(&"x".repeat(1000)).chars().count(), MAX_TEXT_CHARS);
    }
}
