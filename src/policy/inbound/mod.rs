//! Reading what a patient wrote: what it asks for (stop, start, confirm or cancel the appointment
//! of the reminder it answers, urgent help, or nothing staff need not read) and which automatic
//! answers it gets now, with a reason for every answer it does not get. Pure: the caller gives
//! the facts, stores the message and applies the plan in one transaction.
//!
//! The order of reading: urgent phrases first (anywhere in the message, every language), then
//! the whole message as a stop word, a start word, and, only in reply to a reminder, a yes or a
//! no (or the reminder's quick-reply button). A short reply to a reminder that is none of these
//! is ambiguous: staff decide.

mod defaults;
mod keywords;
mod params;
mod settings;
#[cfg(test)]
mod tests;

use std::fmt;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use crate::domain::{AppointmentId, AppointmentStatus, AutoReply, Intent};
use defaults::{CANCEL_PAYLOAD, CONFIRM_PAYLOAD, TWILIO_START_WORDS, TWILIO_STOP_WORDS};
use keywords::{contains_phrase, is_one_of, normalise};

pub use params::{reply_params, reply_template};
pub use settings::{InboundSettings, Keywords};

/// The most words a reply to a reminder may have to be taken as an attempt to answer it ("ok
/// see you", "כן תודה רבה"); longer messages are messages.
const SHORT_REPLY_WORDS: usize = 3;

/// When the patient last got each automatic answer, and when staff last answered them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversationClocks {
    pub last_receipt_at: Option<Timestamp>,
    pub last_away_at: Option<Timestamp>,
    pub last_staff_reply_at: Option<Timestamp>,
}

/// The appointment a reply may answer: the latest reminder sent to the patient (last 7 days)
/// whose appointment is still booked or confirmed and in the future.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsweredReminder {
    pub appointment: AppointmentId,
    pub starts_at: Timestamp,
    pub status: AppointmentStatus,
}

/// Everything `read_inbound` looks at, for one inbound message.
#[derive(Debug, Clone)]
pub struct InboundFacts<'a> {
    /// The channel the patient wrote on, which the answers go back on.
    pub channel: ChannelKind,
    /// What they wrote (a caption, a button's title); none for bare media.
    pub text: Option<&'a str>,
    /// The quick-reply button's payload, when they tapped one.
    pub reply_payload: Option<&'a str>,
    pub opted_out: &'a [ChannelKind],
    pub now: Timestamp,
    /// Whether the clinic is within its messaging hours now: a receipt, else an away message.
    pub in_messaging_hours: bool,
    pub clocks: ConversationClocks,
    pub reminder: Option<AnsweredReminder>,
    pub settings: &'a InboundSettings,
}

/// What a reply to a reminder does to its appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentAnswer {
    Confirmed,
    CancellationRequested,
}

impl AppointmentAnswer {
    pub fn status(self) -> AppointmentStatus {
        match self {
            Self::Confirmed => AppointmentStatus::Confirmed,
            Self::CancellationRequested => AppointmentStatus::CancellationRequested,
        }
    }
}

/// Why an automatic answer was not sent; shown in the conversation's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldBack {
    /// One of the same kind went within the clinic's period.
    SentRecently { minutes_ago: i64 },
    /// Staff answered the patient within the clinic's quiet minutes.
    StaffAnswered { minutes_ago: i64 },
    /// The patient opted out of the channel they wrote on.
    OptedOut(ChannelKind),
    /// A stop word on a channel already stopped: the stop was confirmed then.
    AlreadyOptedOut(ChannelKind),
    /// In hours an urgent message gets the urgent answer, which says more than a receipt.
    UrgentAnswerSent,
    /// The message was a keyword, answered by its own reply.
    AnsweredByKeyword(Intent),
    /// The message was a keyword whose own reply was held back too (a second stop, a stop Twilio
    /// answers): a receipt or an away message does not answer a keyword either.
    KeywordUnanswered(Intent),
    /// Twilio took an SMS stop word: it answers the patient itself and refuses our messages.
    TwilioStopped,
    /// Twilio took an SMS start word and answers the patient itself.
    TwilioAnswers,
}

impl fmt::Display for HeldBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SentRecently { minutes_ago } => write!(f, "one went {minutes_ago} min ago"),
            Self::StaffAnswered { minutes_ago } => {
                write!(f, "staff answered {minutes_ago} min ago")
            }
            Self::OptedOut(channel) => write!(f, "the patient opted out of {channel}"),
            Self::AlreadyOptedOut(channel) => {
                write!(f, "{channel} was already opted out and the stop confirmed then")
            }
            Self::UrgentAnswerSent => f.write_str("the urgent answer went instead"),
            Self::AnsweredByKeyword(intent) => write!(f, "the {} answer went instead", intent.as_str()),
            Self::KeywordUnanswered(intent) => write!(
                f,
                "the message was read as the {} keyword; no receipt or away message answers a keyword",
                intent.as_str()
            ),
            Self::TwilioStopped => f.write_str(
                "Twilio took this SMS as a stop: it answers the patient itself and refuses our messages until they send START",
            ),
            Self::TwilioAnswers => {
                f.write_str("Twilio answers its own start words on SMS")
            }
        }
    }
}

/// What to do about one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPlan {
    pub intent: Intent,
    /// The channel to opt the patient out of.
    pub opt_out: Option<ChannelKind>,
    /// The channel to open again.
    pub opt_in: Option<ChannelKind>,
    /// The appointment's new status; none when it has it already.
    pub appointment: Option<(AppointmentId, AppointmentAnswer)>,
    /// Label the conversation urgent, put it first and alert staff.
    pub urgent: bool,
    /// Auto replies to queue, in sending order (urgent answer first), on the channel the
    /// patient wrote on.
    pub replies: Vec<AutoReply>,
    /// The answers not sent and why, for the events.
    pub held_back: Vec<(AutoReply, HeldBack)>,
}

/// Whether a message read as `intent` waits for staff to answer or mark it handled. A
/// confirmation and a stop or start word are done once medrelay acted on them and answered;
/// everything else (a question, an urgent message, a request to cancel, an unclear reply) needs a
/// person.
pub fn waits_for_staff(intent: Intent) -> bool {
    !matches!(intent, Intent::Confirm | Intent::OptOut | Intent::OptIn)
}

/// Reads one inbound message into what to do about it.
pub fn read_inbound(facts: &InboundFacts) -> InboundPlan {
    let message = facts.text.map(normalise).unwrap_or_default();
    let mut plan = InboundPlan {
        intent: read_intent(facts, &message),
        opt_out: None,
        opt_in: None,
        appointment: None,
        urgent: false,
        replies: Vec::new(),
        held_back: Vec::new(),
    };
    match plan.intent {
        Intent::Urgent => {
            plan.urgent = true;
            plan.offer(AutoReply::Urgent, facts);
        }
        Intent::OptOut => plan.stop(facts),
        Intent::OptIn => plan.start(facts),
        Intent::Confirm | Intent::Cancel => plan.answer_reminder(facts),
        Intent::None | Intent::AmbiguousReply => {}
    }
    plan.receipt_or_away(facts);
    if facts.channel == ChannelKind::Sms {
        plan.follow_twilio(facts, &message);
    }
    plan
}

fn read_intent(facts: &InboundFacts, message: &str) -> Intent {
    let settings = facts.settings;
    let keywords = &settings.keywords;
    let mut urgent_phrases = settings.urgent_phrases.values().flatten();
    if urgent_phrases.any(|phrase| contains_phrase(message, phrase)) {
        return Intent::Urgent;
    }
    if is_one_of(message, &keywords.opt_out) {
        return Intent::OptOut;
    }
    if is_one_of(message, &keywords.opt_in) {
        return Intent::OptIn;
    }
    let Some(reminder) = &facts.reminder else {
        return Intent::None;
    };
    let button = facts
        .reply_payload
        .and_then(|p| payload_answer(p, reminder));
    if let Some(answer) = button {
        answer
    } else if is_one_of(message, &keywords.confirm) {
        Intent::Confirm
    } else if is_one_of(message, &keywords.cancel) {
        Intent::Cancel
    } else if (1..=SHORT_REPLY_WORDS).contains(&message.split_whitespace().count()) {
        Intent::AmbiguousReply
    } else {
        Intent::None
    }
}

/// The reminder template's buttons: `CONFIRM:<appointment>` and `CANCEL:<appointment>`. A
/// button of an older reminder, for another appointment, is for staff to read.
fn payload_answer(payload: &str, reminder: &AnsweredReminder) -> Option<Intent> {
    let (word, appointment) = payload.split_once(':').unwrap_or((payload, ""));
    let intent = if word.eq_ignore_ascii_case(CONFIRM_PAYLOAD) {
        Intent::Confirm
    } else if word.eq_ignore_ascii_case(CANCEL_PAYLOAD) {
        Intent::Cancel
    } else {
        return None;
    };
    let for_this_one = appointment.is_empty() || appointment == reminder.appointment.as_str();
    Some(if for_this_one {
        intent
    } else {
        Intent::AmbiguousReply
    })
}

impl InboundPlan {
    fn hold(&mut self, reply: AutoReply, why: HeldBack) {
        self.held_back.push((reply, why));
    }

    /// Queues a reply, unless the patient opted out of the channel.
    fn offer(&mut self, reply: AutoReply, facts: &InboundFacts) {
        if facts.opted_out.contains(&facts.channel) {
            self.hold(reply, HeldBack::OptedOut(facts.channel));
        } else {
            self.replies.push(reply);
        }
    }

    /// A stop word closes the channel and is confirmed on it, once: the confirmation is the one
    /// message an opted-out channel still carries.
    fn stop(&mut self, facts: &InboundFacts) {
        if facts.opted_out.contains(&facts.channel) {
            self.hold(AutoReply::OptOut, HeldBack::AlreadyOptedOut(facts.channel));
        } else {
            self.opt_out = Some(facts.channel);
            self.replies.push(AutoReply::OptOut);
        }
    }

    /// A start word opens the channel again; confirming it twice does no harm.
    fn start(&mut self, facts: &InboundFacts) {
        if facts.opted_out.contains(&facts.channel) {
            self.opt_in = Some(facts.channel);
        }
        self.replies.push(AutoReply::OptIn);
    }

    /// A yes or a no to the reminder: the appointment's status, unless it has it already (the
    /// answer is sent again all the same: the patient asked).
    fn answer_reminder(&mut self, facts: &InboundFacts) {
        let Some(reminder) = &facts.reminder else {
            return;
        };
        let (answer, reply) = if self.intent == Intent::Confirm {
            (AppointmentAnswer::Confirmed, AutoReply::Confirmed)
        } else {
            let requested = AppointmentAnswer::CancellationRequested;
            (requested, AutoReply::CancellationRequested)
        };
        if reminder.status != answer.status() {
            self.appointment = Some((reminder.appointment.clone(), answer));
        }
        self.offer(reply, facts);
    }

    /// A receipt in messaging hours, an away message outside them: at most one of each per
    /// period, not while staff are talking with the patient, and not when the message got an
    /// answer of its own. Outside hours an urgent message gets the away message too: its hours
    /// and emergency number add to the urgent answer.
    fn receipt_or_away(&mut self, facts: &InboundFacts) {
        let (reply, last) = if facts.in_messaging_hours {
            (AutoReply::Receipt, facts.clocks.last_receipt_at)
        } else {
            (AutoReply::Away, facts.clocks.last_away_at)
        };
        let answered = match self.intent {
            Intent::Urgent if reply == AutoReply::Receipt => Some(HeldBack::UrgentAnswerSent),
            Intent::Urgent | Intent::None | Intent::AmbiguousReply => None,
            // Only the keyword's own answer can be queued by now.
            keyword if self.replies.is_empty() => Some(HeldBack::KeywordUnanswered(keyword)),
            keyword => Some(HeldBack::AnsweredByKeyword(keyword)),
        };
        let settings = facts.settings;
        let minutes_ago = |at: Timestamp| facts.now.duration_since(at).as_mins();
        let staff = facts.clocks.last_staff_reply_at.map(minutes_ago);
        let previous = last.map(minutes_ago);
        let why = answered
            .or(staff
                .filter(|m| *m < i64::from(settings.staff_answered_quiet_minutes))
                .map(|minutes_ago| HeldBack::StaffAnswered { minutes_ago }))
            .or(previous
                .filter(|m| *m < i64::from(settings.auto_reply_every_hours) * 60)
                .map(|minutes_ago| HeldBack::SentRecently { minutes_ago }));
        match why {
            Some(why) => self.hold(reply, why),
            None => self.offer(reply, facts),
        }
    }

    /// Twilio's Advanced Opt-Out acts on the English stop and start words before we see them.
    /// After a stop Twilio refuses our SMS (21610), so the opt-out is recorded here too — the
    /// next notification skips SMS with a reason instead of failing — and nothing is queued on
    /// SMS. Its start words it confirms itself. Our registry is never opened by Twilio's words
    /// alone ("yes" confirms an appointment): that errs towards sending less.
    fn follow_twilio(&mut self, facts: &InboundFacts, message: &str) {
        if TWILIO_STOP_WORDS.contains(&message) {
            if !facts.opted_out.contains(&ChannelKind::Sms) {
                self.opt_out = Some(ChannelKind::Sms);
            }
            if self.intent == Intent::None {
                self.intent = Intent::OptOut;
            }
            for reply in std::mem::take(&mut self.replies) {
                self.hold(reply, HeldBack::TwilioStopped);
            }
            self.keyword_unanswered();
        } else if TWILIO_START_WORDS.contains(&message) && self.intent == Intent::OptIn {
            self.replies.retain(|reply| *reply != AutoReply::OptIn);
            self.hold(AutoReply::OptIn, HeldBack::TwilioAnswers);
            self.keyword_unanswered();
        }
    }

    /// The keyword's own answer is not sent after all, so a receipt or an away message held back
    /// for it must not say that answer went.
    fn keyword_unanswered(&mut self) {
        for (_, why) in &mut self.held_back {
            if let HeldBack::AnsweredByKeyword(intent) = *why {
                *why = HeldBack::KeywordUnanswered(intent);
            }
        }
    }
}
