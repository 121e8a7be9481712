//! The clinic's words as types: ids, contacts, patients, notifications, attempts and their states.
//! Values here are already valid; raw input becomes these types at the API edge.

mod contact;
mod ids;
mod notification;
mod patient;
mod topic;

pub use contact::{EmailAddress, Language, Phone, TimeZoneName};
pub use ids::{ApiKeyId, AttemptId, ClinicId, NotificationId, PatientId};
pub use notification::{AttemptStatus, NotificationStatus, Priority};
pub use patient::{Clinic, Patient};
pub use topic::{Sensitivity, Topic};
