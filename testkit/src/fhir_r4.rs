//! Checks that a resource medrelay emitted is valid FHIR R4, independently of how medrelay built
//! it: parsed back by fhirbolt in strict mode (no unknown element, every required one, every
//! value of its type), every id as R4 writes ids, no empty string, and every code of the value
//! sets medrelay uses in its value set. The codes are the official R4 definitions' (the fixture
//! `fixtures/fhir-r4-codes.json` names its source). Each checked resource can be kept in a
//! folder for the second, independent check: FHIR.js (`.ci/fhir-validate.js`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use fhirbolt::model::r4::Resource;
use serde_json::Value;

const CODES: &str = include_str!("../fixtures/fhir-r4-codes.json");

/// Where a code must come from: the element (`Type.path`, arrays flattened) and its value set.
const BOUND: &[(&str, &str)] = &[
    ("Communication.status", "event-status"),
    ("Communication.priority", "request-priority"),
    ("CommunicationRequest.status", "request-status"),
    ("CommunicationRequest.priority", "request-priority"),
    ("OperationOutcome.issue.severity", "issue-severity"),
    ("OperationOutcome.issue.code", "issue-type"),
    ("Bundle.type", "bundle-type"),
    ("Bundle.entry.search.mode", "search-entry-mode"),
    ("CapabilityStatement.status", "publication-status"),
    ("CapabilityStatement.kind", "capability-statement-kind"),
    ("CapabilityStatement.fhirVersion", "FHIR-version"),
    ("CapabilityStatement.rest.mode", "restful-capability-mode"),
    (
        "CapabilityStatement.rest.resource.interaction.code",
        "type-restful-interaction",
    ),
    (
        "CapabilityStatement.rest.resource.searchParam.type",
        "search-param-type",
    ),
    (
        "CapabilityStatement.rest.resource.versioning",
        "versioning-policy",
    ),
];

struct ValueSets {
    /// Value set name → codes.
    by_name: HashMap<String, Vec<String>>,
    /// Code system → codes, for codings.
    by_system: HashMap<String, Vec<String>>,
}

fn value_sets() -> &'static ValueSets {
    static SETS: OnceLock<ValueSets> = OnceLock::new();
    SETS.get_or_init(|| {
        let fixture: Value = serde_json::from_str(CODES).expect("the R4 codes fixture is JSON");
        let mut sets = ValueSets {
            by_name: HashMap::new(),
            by_system: HashMap::new(),
        };
        for (name, set) in fixture["value_sets"].as_object().expect("value_sets") {
            let codes: Vec<String> = set["codes"]
                .as_array()
                .expect("codes")
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
            let system = set["system"].as_str().expect("system").to_owned();
            sets.by_system.insert(system, codes.clone());
            sets.by_name.insert(name.clone(), codes);
        }
        sets
    })
}

/// Every way `resource` (JSON as medrelay sent it) is not valid R4; empty when it is.
pub fn problems(resource: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let text = resource.to_string();
    if let Err(error) = fhirbolt::json::from_str::<Resource>(&text, None) {
        found.push(format!("fhirbolt (strict) refuses it: {error}"));
    }
    match resource["resourceType"].as_str() {
        Some(kind) => walk(resource, kind, kind, &mut found),
        None => found.push("no resourceType".to_owned()),
    }
    found
}

/// Panics naming every problem of `resource`, and keeps it in `keep_in` for FHIR.js.
pub fn assert_valid(resource: &Value, keep_in: &Path) {
    let found = problems(resource);
    assert!(found.is_empty(), "not valid R4: {found:#?}\n{resource:#}");
    keep(resource, keep_in);
}

/// Writes `resource` into `folder` under a name of its own.
pub fn keep(resource: &Value, folder: &Path) {
    std::fs::create_dir_all(folder).expect("folder for emitted resources");
    let kind = resource["resourceType"].as_str().unwrap_or("Unknown");
    let name = format!("{kind}-{}.json", uuid::Uuid::new_v4().simple());
    std::fs::write(folder.join(name), resource.to_string()).expect("resource written");
}

fn walk(value: &Value, resource_type: &str, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(kind) = fields.get("resourceType").and_then(Value::as_str)
                && path != resource_type
            {
                // A resource inside another (a Bundle's entry): its own paths start again.
                return walk(value, kind, kind, &mut *found);
            }
            check_coding(fields, path, found);
            for (name, field) in fields {
                let here = format!("{path}.{name}");
                if name == "id" && path == resource_type {
                    check_id(field, &here, found);
                }
                if name == "status" && path.ends_with(".text") {
                    check_code(field, "narrative-status", &here, found);
                }
                walk(field, resource_type, &here, found);
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                found.push(format!("{path}: an empty array (leave the element out)"));
            }
            for item in items {
                walk(item, resource_type, path, found);
            }
        }
        Value::String(text) => {
            if text.is_empty() {
                found.push(format!("{path}: an empty string"));
            }
            if let Some((_, set)) = BOUND.iter().find(|(bound, _)| *bound == path) {
                check_code(value, set, path, found);
            }
        }
        _ => {}
    }
}

/// A coding of a code system the fixture has must hold one of its codes.
fn check_coding(fields: &serde_json::Map<String, Value>, path: &str, found: &mut Vec<String>) {
    let (Some(system), Some(code)) = (
        fields.get("system").and_then(Value::as_str),
        fields.get("code").and_then(Value::as_str),
    ) else {
        return;
    };
    if let Some(codes) = value_sets().by_system.get(system)
        && !codes.iter().any(|c| c == code)
    {
        found.push(format!("{path}: {code} is not a code of {system}"));
    }
}

fn check_code(value: &Value, set: &str, path: &str, found: &mut Vec<String>) {
    let codes = &value_sets().by_name[set];
    match value.as_str() {
        Some(code) if codes.iter().any(|c| c == code) => {}
        _ => found.push(format!("{path}: {value} is not in the R4 value set {set}")),
    }
}

/// R4 ids: 1 to 64 of letters, digits, `-` and `.`.
fn check_id(value: &Value, path: &str, found: &mut Vec<String>) {
    let valid = value.as_str().is_some_and(|id| {
        (1..=64).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    });
    if !valid {
        found.push(format!("{path}: {value} is not an R4 id"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_valid_communication_passes_and_each_kind_of_fault_is_named() {
        let valid = json!({
            "resourceType": "Communication", "id": "att-01", "status": "completed",
            "medium": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode", "code": "WRITTEN"}]}]
        });
        let faulty = json!({
            "resourceType": "Communication", "id": "att_01", "status": "sent", "note": [],
            "medium": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode", "code": "SMS"}]}],
            "payload": [{"contentString": ""}], "colour": "red"
        });

        assert_eq!(problems(&valid), Vec::<String>::new());
        let found = problems(&faulty).join("\n");
        for fault in [
            "fhirbolt",
            "att_01",
            "sent",
            "SMS",
            "empty string",
            "empty array",
        ] {
            assert!(found.contains(fault), "{fault} not found in:\n{found}");
        }
    }
}
