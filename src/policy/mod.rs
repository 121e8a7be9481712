//! Routing rules as pure functions: facts in, a decision and its reasons out. No I/O and no clock
//! of its own; `now` is an argument, so every rule is tested with a fixed time.
//!
//! - [`channel_plan`]: which channels may carry a notification, in order, and why others may not.
//! - [`decide`]: given the plan and the attempts so far, what happens next (send, wait, finish);
//!   [`decide_in_parts`] for a sensitive topic: its content, then a notice that says where it went.
//! - [`MessagingHours`]: when a normal notification may go: clinic hours, holidays, quiet hours;
//!   [`after_open_minutes`]: a response target counted in the clinic's open hours.
//! - [`retry_delay`]: the backoff between tries on one channel.
//! - [`privacy`]: what a message on a topic may say on each channel; restricted topics' callbacks.
//! - [`templates`]: which template copy (the clinic's own or the built-in) and language a patient
//!   gets, its rendering per channel, and the checks on a clinic's templates and quick replies.
//! - [`PatientCap`]: how many non-urgent notifications one patient may get in 24 hours.
//! - [`plan_reminders`]: when each reminder of an appointment's series goes.
//! - [`notice_priority`]: whether a notice that an appointment changed waits for the hours.
//! - [`secure_link`]: whether a secure message link opens, and what a proof of identity earns.
//! - [`stats`]: the statistics report from grouped counts: percentiles, peak and best hours.
//! - [`inbound`]: what a patient's message asks for and which automatic answers it gets.

mod appointment_notices;
mod channel_plan;
mod decide;
mod hours;
pub mod inbound;
mod patient_cap;
pub mod privacy;
mod reminders;
mod retry;
pub mod secure_link;
pub mod stats;
pub mod templates;

pub use appointment_notices::{NOTICE_LEAD, notice_priority};
pub use channel_plan::{
    ChannelPlan, ChannelSuspension, KnownFact, PlannedChannel, WHATSAPP_WINDOW, WhatsAppContent,
    callback_when_unreached, channel_plan, patient_for_plan, skip_sms_for_overlong_text,
};
pub use decide::{
    AttemptFacts, AttemptVerdict, Decision, DeliveryRules, NotificationFacts, Step, decide,
    decide_in_parts,
};
pub use hours::{HORIZON_DAYS, MessagingHours, SendTime, after_open_minutes};
pub use patient_cap::{PatientCap, PatientCaps};
pub use reminders::{
    FILLED_FROM_STARTS_AT, PlannedReminder, ReminderTime, plan_reminders, reminder_params,
};
pub use retry::retry_delay;
