//! Secure message links: the clinic's switch, the links themselves (token, code and session
//! stored only as hashes) and every step on them, each written with its event.

use jiff::Timestamp;

use super::events::EventBatch;
use super::{Store, StoreError, millis, opt_timestamp, timestamp};
use crate::domain::{
    Actor, ClinicId, Event, LinkEvent, NotificationId, PatientId, Proof, SecureLinkId,
};
use crate::policy::secure_link::LinkState;

/// A clinic's secure links: whether its notices may carry them, and for how long they open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecureLinkSettings {
    pub enabled: bool,
    pub expiry_hours: u32,
}

/// A link about to be handed out: only its token's hash is kept.
#[derive(Debug)]
pub struct NewSecureLink<'a> {
    pub clinic: &'a ClinicId,
    pub notification: &'a NotificationId,
    pub token_hash: String,
    pub expires_at: Timestamp,
}

/// What a notification says, as its secure link's page shows it.
#[derive(Debug, Clone)]
pub struct LinkedMessage {
    pub body: Option<String>,
    pub template: Option<String>,
    /// JSON object of the template's parameters.
    pub params: Option<String>,
}

/// A link found by its token, with what its page needs to know.
#[derive(Debug, Clone)]
pub struct SecureLinkRecord {
    pub id: SecureLinkId,
    pub clinic: ClinicId,
    pub notification: NotificationId,
    pub patient: PatientId,
    /// Its state as the rules read it; `session_until` is the stored session's, whoever's it is.
    pub state: LinkState,
    pub code_hash: Option<String>,
    pub session_hash: Option<String>,
    pub message: LinkedMessage,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: String,
    clinic_id: String,
    notification_id: String,
    patient_id: String,
    expires_at: i64,
    wrong_answers: i64,
    codes_sent: i64,
    code_hash: Option<String>,
    code_expires_at: Option<i64>,
    locked_at: Option<i64>,
    verified_at: Option<i64>,
    session_hash: Option<String>,
    session_until: Option<i64>,
    body: Option<String>,
    template: Option<String>,
    params: Option<String>,
}

fn count(stored: i64) -> u32 {
    u32::try_from(stored).unwrap_or(u32::MAX)
}

impl TryFrom<LinkRow> for SecureLinkRecord {
    type Error = StoreError;

    fn try_from(row: LinkRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: SecureLinkId::from_stored(row.id),
            clinic: ClinicId::from_stored(row.clinic_id),
            notification: NotificationId::from_stored(row.notification_id),
            patient: PatientId::from_stored(row.patient_id),
            state: LinkState {
                expires_at: timestamp(row.expires_at)?,
                wrong_answers: count(row.wrong_answers),
                codes_sent: count(row.codes_sent),
                code_expires_at: opt_timestamp(row.code_expires_at)?,
                locked: row.locked_at.is_some(),
                verified: row.verified_at.is_some(),
                session_until: opt_timestamp(row.session_until)?,
            },
            code_hash: row.code_hash,
            session_hash: row.session_hash,
            message: LinkedMessage {
                body: row.body,
                template: row.template,
                params: row.params,
            },
        })
    }
}

/// Wrong answers so far, and whether this one locked the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongAnswers {
    pub count: u32,
    pub locked: bool,
}

impl Store {
    pub async fn secure_link_settings(
        &self,
        clinic: &ClinicId,
    ) -> Result<SecureLinkSettings, StoreError> {
        let (enabled, hours): (i64, i64) =
            sqlx::query_as("SELECT secure_links, secure_link_hours FROM clinics WHERE id = $1")
                .bind(clinic.as_str())
                .fetch_optional(&self.read)
                .await?
                .ok_or(StoreError::NotFound)?;
        Ok(SecureLinkSettings {
            enabled: enabled != 0,
            expiry_hours: count(hours),
        })
    }

    pub async fn set_secure_link_settings(
        &self,
        clinic: &ClinicId,
        settings: SecureLinkSettings,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE clinics SET secure_links = $2, secure_link_hours = $3 WHERE id = $1")
            .bind(clinic.as_str())
            .bind(i64::from(settings.enabled))
            .bind(i64::from(settings.expiry_hours))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Whether `topic`'s notices carry a link: the clinic has links on and the topic asks for one.
    pub async fn wants_secure_link(
        &self,
        clinic: &ClinicId,
        topic: &str,
    ) -> Result<Option<SecureLinkSettings>, StoreError> {
        let settings = self.secure_link_settings(clinic).await?;
        if !settings.enabled {
            return Ok(None);
        }
        let on: Option<i64> = sqlx::query_scalar(
            "SELECT secure_link FROM clinic_topics WHERE clinic_id = $1 AND name = $2",
        )
        .bind(clinic.as_str())
        .bind(topic)
        .fetch_optional(&self.read)
        .await?;
        Ok((on == Some(1)).then_some(settings))
    }

    /// Makes the notification's link, or gives its link a new token: the earlier token stops
    /// working, while wrong answers, the lock and a proof already given stay.
    pub async fn issue_secure_link(
        &self,
        link: NewSecureLink<'_>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO secure_links (id, clinic_id, notification_id, token_hash, expires_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (notification_id) DO UPDATE SET token_hash = excluded.token_hash, \
             expires_at = excluded.expires_at, code_hash = NULL, code_expires_at = NULL, \
             expiry_recorded = 0, updated_at = excluded.updated_at",
        )
        .bind(SecureLinkId::generate().as_str())
        .bind(link.clinic.as_str())
        .bind(link.notification.as_str())
        .bind(&link.token_hash)
        .bind(millis(link.expires_at))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        let event = LinkEvent::Issued {
            expires_at: link.expires_at,
        };
        write_event(&mut tx, link.notification, &Actor::System, event, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The link of `clinic_slug` whose token hashes to `token_hash`.
    pub async fn secure_link(
        &self,
        clinic_slug: &str,
        token_hash: &str,
    ) -> Result<Option<SecureLinkRecord>, StoreError> {
        sqlx::query_as::<_, LinkRow>(
            "SELECT l.id, l.clinic_id, l.notification_id, n.patient_id, l.expires_at, l.wrong_answers, \
             l.codes_sent, l.code_hash, l.code_expires_at, l.locked_at, l.verified_at, l.session_hash, \
             l.session_until, n.body, n.template, n.params \
             FROM secure_links l JOIN clinics c ON c.id = l.clinic_id \
             JOIN notifications n ON n.id = l.notification_id AND n.clinic_id = l.clinic_id \
             WHERE c.slug = $1 AND l.token_hash = $2",
        )
        .bind(clinic_slug)
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await?
        .map(SecureLinkRecord::try_from)
        .transpose()
    }

    /// A step that changes nothing but the audit trail: the page opened, the message read.
    pub async fn record_link_step(
        &self,
        link: &SecureLinkRecord,
        step: LinkEvent,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        write_event(&mut tx, &link.notification, &Actor::LinkHolder, step, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the expiry of links that expired unread and unlocked, at most `limit` of them;
    /// says how many. Each link's expiry is recorded once, by whichever instance gets it.
    pub async fn record_expired_links(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<usize, StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        let expired: Vec<(String, i64)> = sqlx::query_as(
            "UPDATE secure_links SET expiry_recorded = 1, updated_at = $1 WHERE id IN \
             (SELECT id FROM secure_links WHERE expiry_recorded = 0 AND expires_at <= $1 \
             AND verified_at IS NULL AND locked_at IS NULL ORDER BY expires_at LIMIT $2) \
             AND expiry_recorded = 0 RETURNING notification_id, expires_at",
        )
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut events = EventBatch::default();
        for (notification, expires_at) in &expired {
            let step = LinkEvent::Expired {
                expired_at: timestamp(*expires_at)?,
            };
            events.add(
                notification,
                None,
                now,
                &Actor::System,
                &Event::SecureLink(step),
            )?;
        }
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(expired.len())
    }

    /// Keeps the hash of the code just sent (it replaces an earlier one) and counts it.
    pub async fn record_link_code(
        &self,
        link: &SecureLinkRecord,
        code_hash: &str,
        valid_until: Timestamp,
        to_masked: String,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "UPDATE secure_links SET code_hash = $2, code_expires_at = $3, codes_sent = codes_sent + 1, \
             updated_at = $4 WHERE id = $1",
        )
        .bind(link.id.as_str())
        .bind(code_hash)
        .bind(millis(valid_until))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        let event = LinkEvent::CodeSent { to: to_masked };
        write_event(&mut tx, &link.notification, &Actor::LinkHolder, event, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts a wrong answer; the `lock_at`-th locks the link. Counted in the database, so
    /// answers sent side by side are all counted.
    pub async fn record_wrong_answer(
        &self,
        link: &SecureLinkRecord,
        proof: Proof,
        lock_at: u32,
        now: Timestamp,
    ) -> Result<WrongAnswers, StoreError> {
        let mut tx = self.write.begin().await?;
        let wrong: i64 = sqlx::query_scalar(
            "UPDATE secure_links SET wrong_answers = wrong_answers + 1, \
             locked_at = CASE WHEN locked_at IS NULL AND wrong_answers + 1 >= $2 THEN $3 ELSE locked_at END, \
             updated_at = $3 WHERE id = $1 RETURNING wrong_answers",
        )
        .bind(link.id.as_str())
        .bind(i64::from(lock_at))
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await?;
        // Answers past the lock are refused before they reach here: the lock-th one locked it.
        let wrong = WrongAnswers {
            count: count(wrong),
            locked: count(wrong) == lock_at,
        };
        let mut events = EventBatch::default();
        let holder = &Actor::LinkHolder;
        let notification = link.notification.as_str();
        let step = LinkEvent::WrongAnswer {
            proof,
            wrong_answers: wrong.count,
        };
        events.add(notification, None, now, holder, &Event::SecureLink(step))?;
        if wrong.locked {
            let step = LinkEvent::Locked {
                wrong_answers: wrong.count,
            };
            events.add(notification, None, now, holder, &Event::SecureLink(step))?;
        }
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(wrong)
    }

    /// Marks the link proven and opens the session whose cookie hashes to `session_hash`.
    /// `false` when the link was locked or proven meanwhile: only one proof opens a link.
    pub async fn record_link_proven(
        &self,
        link: &SecureLinkRecord,
        proof: Proof,
        session_hash: &str,
        session_until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        let won = sqlx::query(
            "UPDATE secure_links SET verified_at = $2, session_hash = $3, session_until = $4, \
             code_hash = NULL, code_expires_at = NULL, updated_at = $2 \
             WHERE id = $1 AND verified_at IS NULL AND locked_at IS NULL",
        )
        .bind(link.id.as_str())
        .bind(millis(now))
        .bind(session_hash)
        .bind(millis(session_until))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if won {
            let event = LinkEvent::Verified { proof };
            write_event(&mut tx, &link.notification, &Actor::LinkHolder, event, now).await?;
        }
        tx.commit().await?;
        Ok(won)
    }
}

async fn write_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    notification: &NotificationId,
    actor: &Actor,
    step: LinkEvent,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut events = EventBatch::default();
    events.add(
        notification.as_str(),
        None,
        now,
        actor,
        &Event::SecureLink(step),
    )?;
    events.write(tx).await
}
