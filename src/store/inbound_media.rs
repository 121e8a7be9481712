//! What staff need to fetch the media of a patient's message: which number received it, when,
//! and the provider's reference. The bytes themselves are never stored.

use jiff::Timestamp;

use super::{Store, StoreError, timestamp};
use crate::domain::{ClinicId, InboundMedia, InboundMessageId};

/// The media of one inbound message, as stored.
#[derive(Debug, Clone)]
pub struct MessageMedia {
    /// Our number that received it: the WhatsApp `phone_number_id` or the Twilio `To`. Its
    /// account's credentials fetch the media.
    pub sender: String,
    pub received_at: Timestamp,
    /// `None` for a message that carried only text.
    pub media: Option<InboundMedia>,
    /// The clinic's media retention (`/v1/clinic/retention`), in days.
    pub media_days: u32,
}

#[derive(sqlx::FromRow)]
struct MediaRow {
    sender: String,
    received_at: i64,
    media: Option<String>,
    media_days: i64,
}

impl Store {
    /// The media of `clinic`'s inbound message `id`; `None` when the clinic has no such message.
    pub async fn inbound_message_media(
        &self,
        clinic: &ClinicId,
        id: &InboundMessageId,
    ) -> Result<Option<MessageMedia>, StoreError> {
        let row: Option<MediaRow> = sqlx::query_as(
            "SELECT m.sender, m.received_at, m.media, c.media_days \
             FROM inbound_messages m JOIN clinics c ON c.id = m.clinic_id \
             WHERE m.clinic_id = $1 AND m.id = $2",
        )
        .bind(clinic.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| {
            let media = row
                .media
                .map(|json| serde_json::from_str::<InboundMedia>(&json))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("inbound_messages.media: {e}")))?;
            Ok(MessageMedia {
                sender: row.sender,
                received_at: timestamp(row.received_at)?,
                media,
                media_days: u32::try_from(row.media_days).unwrap_or(u32::MAX),
            })
        })
        .transpose()
    }
}
