//! A person of a clinic with a console account.

use jiff::Timestamp;

use super::{ClinicId, StaffId};
use crate::store::ApiKeyRole;

/// Someone who signs in to the console: every change they make names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: StaffId,
    pub clinic: ClinicId,
    /// The sign-in name, lower-cased.
    pub email: String,
    pub name: String,
    /// `Staff` or `Admin`, as for keys.
    pub role: ApiKeyRole,
    pub language: UiLanguage,
    /// A TOTP code is asked after the password.
    pub second_factor: bool,
    pub disabled: bool,
    pub created_at: Timestamp,
}

/// The languages the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UiLanguage {
    #[default]
    He,
    En,
}

impl UiLanguage {
    pub const ALL: [Self; 2] = [Self::He, Self::En];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::He => "he",
            Self::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Hebrew is written right to left.
    pub fn is_rtl(self) -> bool {
        self == Self::He
    }
}
