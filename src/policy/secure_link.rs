//! Secure message links, as pure rules: whether a link still opens, what a proof of identity
//! earns, and when another SMS code may go. The service in `secure_link` does the I/O.
//!
//! "One-time" means: the first proof of identity opens a session of [`SESSION_FOR`] in that
//! browser, in which the message may be read again; after that the link opens no more, for
//! anyone. Until the proof, the link works until it expires (the clinic's setting, 72 hours by
//! default) or [`MAX_WRONG_ANSWERS`] wrong answers lock it.

use std::time::Duration;

use jiff::Timestamp;

use crate::domain::Proof;

/// Wrong codes and dates together, after which the link is locked.
pub const MAX_WRONG_ANSWERS: u32 = 5;
/// SMS codes one link may send: each one costs the clinic and reaches the patient's phone.
pub const MAX_CODES: u32 = 3;
/// How long an SMS code is good for.
pub const CODE_VALID_FOR: Duration = Duration::from_secs(10 * 60);
/// How long the browser that proved who it is may read the message again.
pub const SESSION_FOR: Duration = Duration::from_secs(15 * 60);
/// Digits of an SMS code.
pub const CODE_DIGITS: usize = 6;
/// A link's lifetime a clinic may choose, in hours: up to 30 days.
pub const EXPIRY_HOURS: std::ops::RangeInclusive<u32> = 1..=720;
pub const EXPIRY_HOURS_RULE: &str = "must be a whole number of hours from 1 to 720";
/// A link's lifetime until its clinic chooses.
pub const DEFAULT_EXPIRY_HOURS: u32 = 72;

/// What is known about a link when someone uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub expires_at: Timestamp,
    pub wrong_answers: u32,
    pub codes_sent: u32,
    pub code_expires_at: Option<Timestamp>,
    pub locked: bool,
    /// Someone proved who they are: the link's one opening is used.
    pub verified: bool,
    /// Until when the request's own session (its cookie matched) may read the message.
    pub session_until: Option<Timestamp>,
}

/// Why a link opens no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Expired,
    Locked,
    /// Read once already, and this request is not that reader's session.
    Used,
}

/// What a request on a link may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Its session is live: show the message.
    Read,
    /// Ask for proof of identity.
    Prove,
    Closed(Closed),
}

/// What the link allows now. A live session reads even past the link's expiry: it began before.
pub fn access(link: &LinkState, now: Timestamp) -> Access {
    if link.session_until.is_some_and(|until| now < until) {
        Access::Read
    } else if link.locked {
        Access::Closed(Closed::Locked)
    } else if link.verified {
        Access::Closed(Closed::Used)
    } else if now >= link.expires_at {
        Access::Closed(Closed::Expired)
    } else {
        Access::Prove
    }
}

/// What one answer earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    /// Counted against [`MAX_WRONG_ANSWERS`].
    Wrong,
    /// The right code, too late: not counted, a new code may be asked for.
    CodeExpired,
}

/// Judges an answer the service compared (`matches`) with the code's hash or the birth date.
pub fn judge(link: &LinkState, proof: Proof, matches: bool, now: Timestamp) -> Verdict {
    let code_live = link.code_expires_at.is_some_and(|until| now < until);
    match (matches, proof) {
        (true, Proof::SmsCode) if !code_live => Verdict::CodeExpired,
        (true, _) => Verdict::Verified,
        (false, _) => Verdict::Wrong,
    }
}

/// Answers still allowed after `wrong_answers` wrong ones; none left means the link is locked.
pub fn answers_left(wrong_answers: u32) -> u32 {
    MAX_WRONG_ANSWERS.saturating_sub(wrong_answers)
}

/// Whether another SMS code may be sent.
pub fn may_send_code(link: &LinkState) -> bool {
    link.codes_sent < MAX_CODES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    /// Issued Sunday 10:00 in Jerusalem (07:00 UTC) for 72 hours.
    fn fresh() -> LinkState {
        LinkState {
            expires_at: at("2026-12-09T07:00:00Z"),
            wrong_answers: 0,
            codes_sent: 0,
            code_expires_at: None,
            locked: false,
            verified: false,
            session_until: None,
        }
    }

    #[test]
    fn a_fresh_link_asks_for_proof_until_it_expires() {
        assert_eq!(access(&fresh(), at("2026-12-06T07:00:00Z")), Access::Prove);
        assert_eq!(
            access(&fresh(), at("2026-12-09T07:00:00Z")),
            Access::Closed(Closed::Expired)
        );
    }

    #[test]
    fn after_the_proof_only_the_session_reads_and_only_for_a_while() {
        let read = LinkState {
            verified: true,
            session_until: Some(at("2026-12-06T07:15:00Z")),
            ..fresh()
        };
        assert_eq!(access(&read, at("2026-12-06T07:14:59Z")), Access::Read);
        assert_eq!(
            access(&read, at("2026-12-06T07:15:00Z")),
            Access::Closed(Closed::Used)
        );
        let other_browser = LinkState {
            session_until: None,
            ..read
        };
        assert_eq!(
            access(&other_browser, at("2026-12-06T07:01:00Z")),
            Access::Closed(Closed::Used)
        );
    }

    #[test]
    fn the_fifth_wrong_answer_locks_the_link() {
        let now = at("2026-12-06T07:00:00Z");
        assert_eq!(
            judge(&fresh(), Proof::BirthDate, false, now),
            Verdict::Wrong
        );
        assert_eq!(answers_left(1), 4);
        assert_eq!(answers_left(MAX_WRONG_ANSWERS), 0);
        let locked = LinkState {
            wrong_answers: MAX_WRONG_ANSWERS,
            locked: true,
            ..fresh()
        };
        assert_eq!(access(&locked, now), Access::Closed(Closed::Locked));
    }

    #[test]
    fn a_code_is_good_for_ten_minutes() {
        let sent = at("2026-12-06T07:00:00Z");
        let link = LinkState {
            code_expires_at: Some(sent + CODE_VALID_FOR),
            ..fresh()
        };
        let in_time = at("2026-12-06T07:09:59Z");
        let too_late = at("2026-12-06T07:10:00Z");
        assert_eq!(
            judge(&link, Proof::SmsCode, true, in_time),
            Verdict::Verified
        );
        assert_eq!(
            judge(&link, Proof::SmsCode, true, too_late),
            Verdict::CodeExpired
        );
    }

    #[test]
    fn three_codes_at_most() {
        let mut link = fresh();
        link.codes_sent = MAX_CODES - 1;
        assert!(may_send_code(&link));
        link.codes_sent = MAX_CODES;
        assert!(!may_send_code(&link));
    }
}
