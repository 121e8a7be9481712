//! The optional second factor: TOTP (RFC 6238) as authenticator apps read it, SHA-1, 6 digits,
//! 30-second steps, one step of clock drift allowed either way. A code is good once: the step it
//! belongs to is stored when used.

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

const STEP_SECONDS: u64 = 30;

/// A new random secret, base32 as apps take it.
pub fn new_secret() -> String {
    Secret::generate_secret().to_encoded().to_string()
}

fn totp(secret: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().ok()?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECONDS,
        bytes,
        Some("medrelay".to_owned()),
        account.to_owned(),
    )
    .ok()
}

/// The `otpauth://` address an app scans, for `account` (the person's email).
pub fn setup_url(secret: &str, account: &str) -> Option<String> {
    Some(totp(secret, account)?.get_url())
}

/// The set-up address as a QR code, an SVG to put in the page.
pub fn setup_qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // The XML declaration has no place inside HTML.
    svg.find("<svg").map(|start| svg[start..].to_owned())
}

/// The time step `code` is right for at `unix_seconds`, if any (the step before, now or after).
pub fn matching_step(secret: &str, code: &str, unix_seconds: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "")?;
    let now = unix_seconds / STEP_SECONDS;
    [now.saturating_sub(1), now, now + 1]
        .into_iter()
        .find(|step| {
            let expected = totp.generate(step * STEP_SECONDS);
            bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
        })
}

/// The code an app shows at `unix_seconds` (tests and the sandbox's helpers sign in with it).
pub fn code_at(secret: &str, unix_seconds: u64) -> Option<String> {
    Some(totp(secret, "")?.generate(unix_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6238_test_vector_gives_its_code() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (its last six digits here).
        let secret = totp_rs::Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        assert_eq!(code_at(&secret, 59).as_deref(), Some("287082"));
    }

    #[test]
    fn a_code_from_the_step_before_still_counts_but_not_from_two_steps_before() {
        let secret = new_secret();
        let now = 1_764_000_000;
        let previous = code_at(&secret, now - 30).expect("code");
        assert_eq!(matching_step(&secret, &previous, now), Some(now / 30 - 1));
        let older = code_at(&secret, now - 90).expect("code");
        assert_ne!(older, previous);
        assert_eq!(matching_step(&secret, &older, now), None);
        assert_eq!(matching_step(&secret, "12a456", now), None);
    }

    #[test]
    fn the_setup_address_names_medrelay_and_the_person() {
        let url = setup_url(&new_secret(), "dana@clinic.example").expect("url");
        assert!(
            url.starts_with("otpauth://totp/medrelay:dana%40clinic.example?"),
            "{url}"
        );
        assert!(setup_qr_svg(&url).expect("qr").starts_with("<svg"));
    }
}
