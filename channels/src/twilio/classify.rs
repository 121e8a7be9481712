//! Twilio error codes → what the gateway should do (providers.md §2.5), for synchronous API
//! rejections and for asynchronous `ErrorCode`s in status callbacks alike.

use std::time::Duration;

use serde::Deserialize;

use crate::{RecipientFact, SendOutcome};

/// What a Twilio error code means for the message and the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Transient: the same message may go again later.
    RetryLater { after: Option<Duration> },
    /// Twilio did not process the request because we were too fast; retrying is safe.
    RateLimited,
    /// This channel will not carry this message: fall back.
    Permanent { fact: Option<RecipientFact> },
    /// Account or sender configuration is broken: every message will fail until someone acts.
    ChannelDown,
}

/// A Twilio error code we know, with a short meaning for audit text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownError {
    pub code: u32,
    pub meaning: &'static str,
    pub action: ErrorAction,
}

const fn known(code: u32, meaning: &'static str, action: ErrorAction) -> KnownError {
    KnownError {
        code,
        meaning,
        action,
    }
}

const RETRY: ErrorAction = ErrorAction::RetryLater { after: None };
const FALL_BACK: ErrorAction = ErrorAction::Permanent { fact: None };
const LANDLINE: ErrorAction = ErrorAction::Permanent {
    fact: Some(RecipientFact::Landline),
};

const KNOWN_ERRORS: &[KnownError] = &[
    known(
        14107,
        "reply loop guard: sending paused for 30 s",
        ErrorAction::RetryLater {
            after: Some(Duration::from_secs(30)),
        },
    ),
    known(20003, "authentication failed", ErrorAction::ChannelDown),
    // On a create call the only resource that can be missing is the account itself.
    known(
        20404,
        "account or resource not found",
        ErrorAction::ChannelDown,
    ),
    known(
        20429,
        "too many concurrent requests",
        ErrorAction::RateLimited,
    ),
    // Voice: the caller id is not ours, or the destination country is not enabled.
    known(21210, "caller id not verified", ErrorAction::ChannelDown),
    known(21211, "invalid To number", FALL_BACK),
    known(
        21215,
        "geo permissions do not allow this call",
        ErrorAction::ChannelDown,
    ),
    known(
        21408,
        "region not enabled in geo permissions",
        ErrorAction::ChannelDown,
    ),
    known(
        21606,
        "From is not an SMS-capable number",
        ErrorAction::ChannelDown,
    ),
    known(
        21608,
        "trial account or no compliance profile",
        ErrorAction::ChannelDown,
    ),
    known(
        21610,
        "recipient unsubscribed (STOP)",
        ErrorAction::Permanent {
            fact: Some(RecipientFact::OptedOut),
        },
    ),
    known(21611, "sender queue holds over 10 h of backlog", RETRY),
    known(
        21612,
        "To/From combination cannot be routed",
        ErrorAction::ChannelDown,
    ),
    known(21614, "To cannot receive SMS", LANDLINE),
    known(21617, "body longer than 1,600 characters", FALL_BACK),
    known(21635, "To is a landline", LANDLINE),
    known(30001, "queue overflow", RETRY),
    known(30003, "handset unreachable", RETRY),
    known(30005, "unknown or non-existent destination", FALL_BACK),
    known(30006, "landline or unreachable carrier", LANDLINE),
    // Resending the same content would be filtered again.
    known(30007, "carrier filtered the message", FALL_BACK),
    // Retry once, then fall back: the gateway bounds retries.
    known(30008, "unknown delivery error", RETRY),
    known(30036, "validity period expired in queue", FALL_BACK),
    known(
        63016,
        "outside the WhatsApp window: template needed",
        FALL_BACK,
    ),
    known(63017, "account sending above its rate", RETRY),
];

/// Looks a Twilio error code up; `None` when we have no rule for it.
pub fn known_error(code: &str) -> Option<KnownError> {
    let code: u32 = code.trim().parse().ok()?;
    KNOWN_ERRORS
        .iter()
        .find(|known| known.code == code)
        .copied()
}

/// Used when Twilio answers 429 without a `Retry-After`.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

/// Classifies a non-2xx answer to a create request.
pub(crate) fn rejection(
    http_status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> SendOutcome {
    let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code);
    let message = parsed
        .and_then(|b| b.message)
        .map(|m| redact_numbers(&m))
        .unwrap_or_else(|| format!("HTTP {http_status}"));
    let code_text = code.map_or_else(|| format!("http-{http_status}"), |c| c.to_string());
    if http_status >= 500 {
        // The request may have been stored before the error; without an idempotency key a
        // resend risks a duplicate, whatever the code says.
        return SendOutcome::Ambiguous {
            reason: format!("Twilio answered {http_status}: {message} ({code_text})"),
        };
    }
    let known = code.and_then(|c| KNOWN_ERRORS.iter().find(|known| known.code == c));
    let action = match (known, http_status) {
        (Some(known), _) => known.action,
        (None, 429) => ErrorAction::RateLimited,
        (None, 401 | 403) => ErrorAction::ChannelDown,
        // Twilio explains a 404 in JSON; a bare one, or a redirect, means the base URL is wrong,
        // not the recipient.
        (None, 404) if code.is_none() => ErrorAction::ChannelDown,
        (None, 300..=399) => ErrorAction::ChannelDown,
        (None, _) => FALL_BACK,
    };
    outcome(action, code_text, message, retry_after)
}

fn outcome(
    action: ErrorAction,
    code: String,
    reason: String,
    retry_after: Option<Duration>,
) -> SendOutcome {
    match action {
        ErrorAction::RetryLater { after } => SendOutcome::RetryLater {
            code,
            reason,
            after: retry_after.or(after),
        },
        ErrorAction::RateLimited => SendOutcome::RateLimited {
            after: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
        },
        ErrorAction::Permanent { fact } => SendOutcome::Permanent { code, reason, fact },
        ErrorAction::ChannelDown => SendOutcome::ChannelDown { code, reason },
    }
}

/// Twilio's error messages quote the phone numbers involved; audit text and logs must not hold
/// them. Digit runs of 7 or more that do not belong to a word (SIDs) keep their last 3 digits.
pub(crate) fn redact_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut previous: Option<char> = None;
    while let Some((start, c)) = chars.next() {
        let starts_number =
            (c == '+' || c.is_ascii_digit()) && !previous.is_some_and(|p| p.is_alphanumeric());
        if !starts_number {
            out.push(c);
            previous = Some(c);
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(i, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            end = i + d.len_utf8();
            chars.next();
        }
        let run = &text[start..end];
        let digits = run.trim_start_matches('+');
        let glued_to_word = chars.peek().is_some_and(|&(_, next)| next.is_alphabetic());
        if digits.len() >= 7 && !glued_to_word {
            out.push_str("***");
            out.push_str(&digits[digits.len() - 3..]);
        } else {
            out.push_str(run);
        }
        previous = run.chars().last();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_in_twilio_messages_are_masked_but_codes_and_sids_stay() {
        let cases = [
            (
                "The 'To' number +972541234567 is not a valid phone number.",
                "The 'To' number ***567 is not a valid phone number.",
            ),
            (
                "Attempt to send to 0541234567 failed",
                "Attempt to send to ***567 failed",
            ),
            (
                "see https://www.twilio.com/docs/errors/21211",
                "see https://www.twilio.com/docs/errors/21211",
            ),
            ("Account AC1234567890abcdef", "Account AC1234567890abcdef"),
            ("call 12345678abc", "call 12345678abc"),
            ("שלום 1234567", "שלום ***567"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_numbers(input), expected, "{input}");
        }
    }
}
