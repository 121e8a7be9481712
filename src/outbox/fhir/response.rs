//! What the clinic's server answered a push: a 2xx `transaction-response` Bundle with one entry
//! per entry sent, each with a 2xx status, means every record is there. Anything else failed the
//! try, described in a few words: the status, the first issue code of an OperationOutcome, the
//! status of the entry that failed. Never the server's text, which may quote a record.

use fhirbolt::model::r4::Resource;
use fhirbolt::model::r4::resources::Bundle;
use fhirbolt::serde::{DeserializationConfig, DeserializationMode};

/// The longest answer read: a transaction-response of a push is a few hundred bytes per entry.
const MOST_BYTES: usize = 1 << 20;

/// The answer's body, up to [`MOST_BYTES`].
pub(super) async fn read(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("answer cut off ({})", crate::outbox::failure(&e)))?
    {
        if body.len() + chunk.len() > MOST_BYTES {
            return Err("answer too large".to_owned());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether the server took each of the `sent` entries.
pub(super) fn check(status: u16, body: &[u8], sent: usize) -> Result<(), String> {
    let lenient = Some(DeserializationConfig {
        mode: DeserializationMode::Lax,
    });
    let answer: Option<Resource> = fhirbolt::json::from_slice(body, lenient).ok();
    if !(200..300).contains(&status) {
        let issue = match &answer {
            Some(Resource::OperationOutcome(outcome)) => outcome
                .issue
                .first()
                .and_then(|issue| issue.code.value.clone())
                .map(|code| format!(" (OperationOutcome: {code})")),
            _ => None,
        };
        return Err(format!("status {status}{}", issue.unwrap_or_default()));
    }
    let Some(Resource::Bundle(bundle)) = answer else {
        return Err("answer is not a Bundle".to_owned());
    };
    entries_taken(&bundle, sent)
}

fn entries_taken(bundle: &Bundle, sent: usize) -> Result<(), String> {
    if bundle.r#type.value.as_deref() != Some("transaction-response") {
        return Err("answer is not a transaction-response".to_owned());
    }
    if bundle.entry.len() != sent {
        return Err(format!(
            "answer has {} entries for {sent} sent",
            bundle.entry.len()
        ));
    }
    for (i, entry) in bundle.entry.iter().enumerate() {
        let status = entry
            .response
            .as_ref()
            .and_then(|r| r.status.value.as_deref())
            .unwrap_or("no status");
        if !status.starts_with('2') {
            return Err(format!("entry {i}: {status}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAKEN: &str = r#"{"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "201 Created", "location": "CommunicationRequest/1/_history/1"}},
        {"response": {"status": "200 OK", "location": "Communication/2/_history/3"}}]}"#;

    #[test]
    fn every_entry_taken_is_a_push() {
        assert_eq!(check(200, TAKEN.as_bytes(), 2), Ok(()));
    }

    #[test]
    fn a_missing_or_refused_entry_fails_the_try() {
        assert_eq!(
            check(200, TAKEN.as_bytes(), 3),
            Err("answer has 2 entries for 3 sent".to_owned())
        );
        let refused = TAKEN.replace("200 OK", "412 Precondition Failed");
        assert_eq!(
            check(200, refused.as_bytes(), 2),
            Err("entry 1: 412 Precondition Failed".to_owned())
        );
        assert_eq!(
            check(200, b"{}", 2),
            Err("answer is not a Bundle".to_owned())
        );
    }

    #[test]
    fn an_error_names_its_status_and_issue_code_only() {
        let outcome = r#"{"resourceType": "OperationOutcome", "issue": [{"severity": "error",
            "code": "invalid", "diagnostics": "Communication.payload: 'Your results…' is bad"}]}"#;
        assert_eq!(
            check(422, outcome.as_bytes(), 2),
            Err("status 422 (OperationOutcome: invalid)".to_owned())
        );
        assert_eq!(
            check(503, b"<html>down</html>", 2),
            Err("status 503".to_owned())
        );
    }
}
