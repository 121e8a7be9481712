use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(example = json!(concat!($prefix, "_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b")))]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id; time-ordered (UUIDv7), so ids sort by creation.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// An id read back from storage or a URL; `None` when it lacks this type's prefix.
            pub fn parse(s: &str) -> Option<Self> {
                s.strip_prefix(concat!($prefix, "_"))
                    .filter(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
                    .map(|_| Self(s.to_owned()))
            }

            pub fn from_stored(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(ClinicId, "clc");
id_type!(
    /// Our own patient id; the booking system's id is `Patient::external_id`.
    PatientId,
    "pat"
);
id_type!(NotificationId, "ntf");
id_type!(AttemptId, "att");
id_type!(ApiKeyId, "key");
id_type!(
    /// A person of a clinic with a console account.
    StaffId,
    "stf"
);
id_type!(CallbackTaskId, "cbk");
id_type!(AppointmentId, "apt");
id_type!(SecureLinkId, "lnk");
id_type!(
    /// A message a patient sent us.
    InboundMessageId,
    "msg"
);
id_type!(
    /// A booking system's webhook endpoint.
    WebhookEndpointId,
    "ep"
);
id_type!(
    /// One entry of the audit trail.
    AuditEntryId,
    "aud"
);
id_type!(
    /// One event as the booking system's webhooks carry it: the `webhook-id` of every try.
    WebhookEventId,
    "evt"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_reject_others() {
        let id = NotificationId::generate();
        assert!(id.as_str().starts_with("ntf_"));
        assert_eq!(NotificationId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(NotificationId::parse("att_0190"), None);
        assert_eq!(NotificationId::parse("ntf_"), None);
        assert_eq!(NotificationId::parse("ntf_../x"), None);
    }
}
