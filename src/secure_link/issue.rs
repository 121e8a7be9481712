//! Making links: where they point, issuing one for a notice (its token stored only as a hash),
//! hiding a token from what is kept, and recording expiries as they happen.

use std::sync::Arc;
use std::time::Duration;

use medrelay_channels::ChannelKind;
use url::Url;

use super::{SecureLinkError, SecureLinks, fingerprint, random_secret};
use crate::clock::later;
use crate::domain::{Clinic, NotificationId, Sensitivity};
use crate::policy::privacy;
use crate::store::NewSecureLink;

/// How often expired links are looked for: an expiry event is at most this late.
const EXPIRY_CHECK_EVERY: Duration = Duration::from_secs(1);
const EXPIRIES_PER_ROUND: u32 = 500;

impl SecureLinks {
    /// Where `clinic`'s links point. Without `public_url` only a clinic whose WhatsApp and SMS
    /// both go to the sandbox may have links: nothing it sends reaches a real phone.
    pub fn link_base(&self, clinic_slug: &str) -> Result<&Url, SecureLinkError> {
        let sandboxed = [ChannelKind::Whatsapp, ChannelKind::Sms]
            .into_iter()
            .all(|channel| self.providers.is_sandboxed(clinic_slug, channel));
        match &self.configured_url {
            Some(url) => Ok(url),
            None if sandboxed => Ok(&self.own_url),
            None => Err(SecureLinkError::NoPublicUrl),
        }
    }

    /// The path of a link's page as the patient's browser sees it: under `public_url`'s path.
    pub fn link_path(&self, clinic_slug: &str, token: &str) -> String {
        let base = self.link_base(clinic_slug).unwrap_or(&self.own_url);
        format!(
            "{}/s/{clinic_slug}/{token}",
            base.path().trim_end_matches('/')
        )
    }

    /// Whether cookies must be `Secure`: the links are https.
    pub fn is_https(&self) -> bool {
        self.configured_url
            .as_ref()
            .is_some_and(|url| url.scheme() == "https")
    }

    /// A link for the notification's notice when its clinic and topic want one, else `None`.
    /// Issuing again replaces the notification's earlier link.
    async fn issue_for(
        &self,
        clinic: &Clinic,
        notification: &NotificationId,
        topic: &str,
    ) -> Result<Option<Url>, SecureLinkError> {
        let Some(settings) = self.store.wants_secure_link(&clinic.id, topic).await? else {
            return Ok(None);
        };
        let token = random_secret();
        let mut url = self.link_base(&clinic.slug)?.clone();
        url.path_segments_mut()
            .map_err(|()| SecureLinkError::NoPublicUrl)?
            .pop_if_empty()
            .extend(["s", clinic.slug.as_str(), token.as_str()]);
        let now = self.clock.now();
        let lifetime = std::time::Duration::from_secs(u64::from(settings.expiry_hours) * 3600);
        let link = NewSecureLink {
            clinic: &clinic.id,
            notification,
            token_hash: fingerprint(&token),
            expires_at: later(now, lifetime),
        };
        self.store.issue_secure_link(link, now).await?;
        Ok(Some(url))
    }

    /// The link a notice on `channel` carries, when the notification's topic is sensitive (so
    /// the channel gets a notice, not the content) and its clinic and topic want links. A link
    /// that cannot be made leaves the notice without one ("please call the clinic"): the notice
    /// still goes.
    pub async fn link_for_notice(
        &self,
        clinic: &Clinic,
        notification: &NotificationId,
        topic: &str,
        sensitivity: Sensitivity,
        channel: ChannelKind,
    ) -> Option<Url> {
        let notice = privacy::carries(sensitivity, channel) == privacy::Carries::Notice;
        if sensitivity != Sensitivity::Sensitive || !notice {
            return None;
        }
        self.issue_for(clinic, notification, topic)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(clinic = %clinic.slug, %notification, %error, "notice sent without its secure link");
                None
            })
    }

    /// Records every link that expired unread as it expires, until `stop` turns true.
    pub async fn record_expiries_until_stopped(
        self: Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        while !*stop.borrow() {
            let now = self.clock.now();
            match self
                .store
                .record_expired_links(now, EXPIRIES_PER_ROUND)
                .await
            {
                Ok(n) if n == EXPIRIES_PER_ROUND as usize => continue,
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "recording expired secure links failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(EXPIRY_CHECK_EVERY) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// A link as records show it: its token hidden, so what is kept of a notice cannot open it.
pub fn hidden(link: &Url) -> String {
    let (page, _token) = link.as_str().rsplit_once('/').unwrap_or_default();
    format!("{page}/…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_link_keeps_its_clinic_and_loses_its_token() {
        let link =
            Url::parse("https://medrelay.clinic.example/s/hadar/3q2-7wX_token").expect("url");
        assert_eq!(hidden(&link), "https://medrelay.clinic.example/s/hadar/…");
    }
}
