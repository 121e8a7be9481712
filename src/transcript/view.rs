//! The transcript as a doctor reads it, before it becomes HTML or PDF: every item in the order
//! it happened, each said in the clinic's language, times in the clinic's zone. The messages
//! themselves stay exactly as they were (in their own language and direction); what the
//! patient was not sent is said beside the notice they got instead.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::texts::{self, MediaKind, Texts};
use crate::domain::{
    Actor, CallbackStatus, Clinic, ContentKind, InboundMedia, Origin, Sensitivity,
};
use crate::store::{CallbackView, InboundRecord, SentMessage, TranscriptRecords};

/// What frames the records: whose they are, the period asked for, and what each topic is.
pub struct TranscriptContext<'a> {
    pub clinic: &'a Clinic,
    /// `None`: from the first message.
    pub from: Option<Timestamp>,
    pub to: Timestamp,
    pub generated_at: Timestamp,
    /// The sensitivity of a topic, as the clinic has it now.
    pub sensitivity: &'a dyn Fn(&str) -> Sensitivity,
}

/// A transcript ready to be laid out.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// The language its own words are in (`he`, `ar`, `ru` or `en`).
    pub language: &'static str,
    pub rtl: bool,
    pub title: String,
    /// Clinic, patient, period, time zone, generation time.
    pub heading: Vec<Field>,
    /// Oldest first.
    pub entries: Vec<Entry>,
    /// Said when there are no entries.
    pub no_messages: &'static str,
    texts: &'static Texts,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

/// Which way an entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    ToPatient,
    FromPatient,
    /// Staff work about the patient: a callback task.
    Clinic,
}

impl Side {
    /// The entry's class in the HTML page.
    pub fn class(self) -> &'static str {
        match self {
            Self::ToPatient => "to-patient",
            Self::FromPatient => "from-patient",
            Self::Clinic => "clinic",
        }
    }
}

/// One message, or one callback task.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: Timestamp,
    /// `at` in the clinic's zone.
    pub time: String,
    pub side: Side,
    /// Which way and on which channel.
    pub heading: String,
    /// Status, receipts, who sent it; or the callback's course.
    pub facts: Vec<String>,
    pub subject: Option<String>,
    /// Exactly what the patient got or sent.
    pub text: Option<MessageText>,
    /// What came with a patient's message: `photo (image/jpeg)`.
    pub media: Option<String>,
    /// Why the text is not here: removed by retention, or erased.
    pub removed: Option<&'static str>,
    /// What the patient was not sent on this channel, and why.
    pub withheld: Option<String>,
}

/// A message's words, in the language they were written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText {
    pub text: String,
    /// `None`: not known (what a patient wrote).
    pub language: Option<String>,
}

impl Transcript {
    /// The transcript of `records`, said in the clinic's language.
    pub fn new(records: TranscriptRecords, context: &TranscriptContext<'_>) -> Self {
        let (language, texts) = texts::for_language(context.clinic.default_language.as_str());
        let writer = Writer {
            texts,
            zone: context.clinic.timezone.zone(),
            erased: records.patient.erased,
        };
        let mut entries: Vec<Entry> = records
            .sent
            .iter()
            .map(|sent| writer.sent(sent, context.sensitivity))
            .chain(
                records
                    .received
                    .iter()
                    .map(|received| writer.received(received)),
            )
            .chain(records.callbacks.iter().map(|task| writer.callback(task)))
            .collect();
        // Stable: entries of the same instant keep the order sent, received, callbacks.
        entries.sort_by_key(|entry| entry.at);
        let patient = &records.patient;
        let period = match context.from {
            Some(from) => format!("{} – {}", writer.time(from), writer.time(context.to)),
            None => texts.until(&writer.time(context.to)),
        };
        let heading = vec![
            field(texts.clinic, context.clinic.name.clone()),
            field(
                texts.patient,
                format!("{} ({})", patient.name, patient.external_id),
            ),
            field(texts.period, period),
            field(texts.times_in, context.clinic.timezone.as_str().to_owned()),
            field(texts.generated, writer.time(context.generated_at)),
        ];
        Self {
            language,
            rtl: matches!(language, "he" | "ar"),
            title: format!("{} · {}", texts.title, context.clinic.name),
            heading,
            entries,
            no_messages: texts.no_messages,
            texts,
        }
    }

    /// "Page 2 of 5", in the transcript's language.
    pub fn page_label(&self, n: usize, of: usize) -> String {
        self.texts.page(n, of)
    }

    /// The labels for a message's subject and a callback's note.
    pub fn subject_label(&self) -> &'static str {
        self.texts.subject
    }
}

fn field(label: &'static str, value: String) -> Field {
    Field { label, value }
}

/// Says records in one language and zone.
struct Writer {
    texts: &'static Texts,
    zone: TimeZone,
    /// The patient was erased: a missing text was erased, not redacted by retention.
    erased: bool,
}

impl Writer {
    /// `at` in the clinic's zone, to the minute. The space is a no-break space: a common
    /// separator between two numbers, so right-to-left text keeps the date before the time.
    fn time(&self, at: Timestamp) -> String {
        at.to_zoned(self.zone.clone())
            .strftime("%Y-%m-%d\u{a0}%H:%M")
            .to_string()
    }

    fn labelled(&self, label: &str, value: &str) -> String {
        format!("{label}: {value}")
    }

    /// Why a text the patient had is not in the record.
    fn removed(&self) -> &'static str {
        if self.erased {
            self.texts.erased
        } else {
            self.texts.redacted
        }
    }

    fn sent(&self, sent: &SentMessage, sensitivity: &dyn Fn(&str) -> Sensitivity) -> Entry {
        let texts = self.texts;
        let mut facts = vec![self.labelled(texts.status, texts.status(sent.status))];
        for (label, at) in [
            (texts.delivered, sent.delivered_at),
            (texts.read, sent.read_at),
        ] {
            if let Some(at) = at {
                facts.push(self.labelled(label, &self.time(at)));
            }
        }
        if let Some(by) = self.sent_by(sent) {
            facts.push(self.labelled(texts.sent_by, &by));
        }
        if sent.sandbox {
            facts.push(texts.sandbox.to_owned());
        }
        let content = sent.content.as_ref();
        let text = content.and_then(|c| {
            c.text.clone().map(|text| MessageText {
                text,
                language: Some(c.language.clone()),
            })
        });
        let withheld = content.filter(|c| c.kind == ContentKind::Notice).map(|_| {
            let sensitive = sensitivity(&sent.topic) == Sensitivity::Sensitive;
            texts.withheld(sent.channel, &sent.topic, sensitive)
        });
        Entry {
            at: sent.handed_over_at,
            time: self.time(sent.handed_over_at),
            side: Side::ToPatient,
            heading: format!("{} · {}", texts.to_patient, texts.channel(sent.channel)),
            facts,
            subject: content.and_then(|c| c.subject.clone()),
            removed: (content.is_some() && text.is_none()).then(|| self.removed()),
            text,
            media: None,
            withheld,
        }
    }

    /// Who sent it: the key or staff member who asked for it, or medrelay answering on its own.
    fn sent_by(&self, sent: &SentMessage) -> Option<String> {
        if let Origin::Auto(_) = sent.origin {
            return Some(self.texts.auto_reply.to_owned());
        }
        Some(match sent.requested_by.as_ref()? {
            Actor::Key { id, role } => self.texts.key(id.as_str(), role),
            Actor::Staff(name) => self.texts.staff(name),
            Actor::System | Actor::LinkHolder => "medrelay".to_owned(),
        })
    }

    fn received(&self, message: &InboundRecord) -> Entry {
        let media = message
            .media
            .as_ref()
            .map(|media| self.media(&message.kind, media));
        let text = message.text.clone().map(|text| MessageText {
            text,
            language: None,
        });
        Entry {
            at: message.received_at,
            time: self.time(message.received_at),
            side: Side::FromPatient,
            heading: format!(
                "{} · {}",
                self.texts.from_patient,
                self.texts.channel(message.channel)
            ),
            facts: Vec::new(),
            subject: None,
            removed: (text.is_none() && media.is_none()).then(|| self.removed()),
            text,
            media,
            withheld: None,
        }
    }

    /// A line for what came with a message: `photo (image/jpeg)`, a file's name, a place.
    fn media(&self, kind: &str, media: &InboundMedia) -> String {
        let named = |kind: MediaKind, mime: &Option<String>, file: &Option<String>| {
            let mut line = self.texts.media(kind).to_owned();
            if let Some(mime) = mime {
                line.push_str(&format!(" ({mime})"));
            }
            if let Some(file) = file {
                line.push_str(&format!(": {file}"));
            }
            line
        };
        match media {
            InboundMedia::WhatsApp {
                mime_type,
                filename,
                ..
            } => named(MediaKind::of(kind), mime_type, filename),
            // Retention or an erasure took the reference; what kind of file it was stays.
            InboundMedia::Removed { mime_type } => named(MediaKind::of(kind), mime_type, &None),
            InboundMedia::Twilio { mime_type, .. } => {
                let kind = match mime_type.as_deref() {
                    Some(m) if m.starts_with("image/") => MediaKind::Photo,
                    Some(m) if m.starts_with("video/") => MediaKind::Video,
                    Some(m) if m.starts_with("audio/") => MediaKind::Audio,
                    _ => MediaKind::Other,
                };
                named(kind, mime_type, &None)
            }
            InboundMedia::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                let place = [name, address]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                let at = format!("{latitude:.5}, {longitude:.5}");
                let line = format!("{}: {at}", self.texts.media(MediaKind::Location));
                if place.is_empty() {
                    line
                } else {
                    format!("{line} ({place})")
                }
            }
        }
    }

    fn callback(&self, task: &CallbackView) -> Entry {
        let texts = self.texts;
        let mut facts = vec![texts.callback_opened(&task.reason)];
        let who = task.claimed_by.as_deref().unwrap_or("—");
        if let Some(at) = task.claimed_at {
            facts.push(texts.callback_claimed(who, &self.time(at)));
        }
        match (task.status, task.closed_at, task.outcome) {
            (CallbackStatus::Closed, Some(at), Some(outcome)) => {
                facts.push(texts.callback_closed(who, &self.time(at), outcome));
            }
            _ => facts.push(texts.callback_open.to_owned()),
        }
        if let Some(note) = &task.note {
            facts.push(self.labelled(texts.note, note));
        }
        Entry {
            at: task.created_at,
            time: self.time(task.created_at),
            side: Side::Clinic,
            heading: texts.callback.to_owned(),
            facts,
            subject: None,
            text: None,
            media: None,
            removed: None,
            withheld: None,
        }
    }
}
