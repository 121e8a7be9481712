//! The FHIR R4 transaction semantics the test FHIR server implements (R4 http.html#transaction),
//! over an in-memory store of resources:
//!
//! - `PUT Type?identifier=system|value`, a conditional update: no match creates (201), one
//!   updates it (200), more than one fails the whole transaction (412);
//! - `PUT Type/id`: creates or updates that resource;
//! - `POST` with `ifNoneExist`: no match creates (201), one is left as it is (200), more fail
//!   (412); `POST` alone creates;
//! - `urn:uuid:` references to the Bundle's entries' `fullUrl`s become `Type/id`, and
//!   conditional references (`Type?identifier=…`) become the one resource they match;
//! - all or nothing: the store changes only when every entry succeeded.
//!
//! It works on `serde_json::Value`s: the server has parsed the Bundle strictly with fhirbolt
//! first, so what arrives here is valid R4.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

/// One stored resource, with the version the server gave it.
#[derive(Debug, Clone)]
pub struct StoredResource {
    pub resource_type: String,
    pub id: String,
    /// 1 when created; each update adds one.
    pub version: u32,
    pub resource: Value,
    /// Every version, the first first (the last is `resource`).
    pub history: Vec<Value>,
}

impl StoredResource {
    /// Whether one of its identifiers is `system|value`.
    pub fn has_identifier(&self, system: &str, value: &str) -> bool {
        self.resource["identifier"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["system"] == system && i["value"] == value)
    }
}

/// The server's resources, by type and id.
#[derive(Debug, Default, Clone)]
pub struct ResourceStore {
    pub(crate) resources: BTreeMap<(String, String), StoredResource>,
    next_id: u64,
}

/// Why a transaction failed: its HTTP status and the OperationOutcome's issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// An R4 issue-type code: `invalid`, `not-supported`, `multiple-matches`, `not-found`.
    pub code: &'static str,
    pub diagnostics: String,
}

fn refuse(status: u16, code: &'static str, diagnostics: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        diagnostics: diagnostics.into(),
    }
}

/// What became of one entry: its status line and where the resource is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryResult {
    pub status: &'static str,
    pub location: String,
    pub version: u32,
}

/// One entry as it is resolved before anything is stored.
struct Planned {
    resource_type: String,
    id: String,
    /// `None`: a `POST` with `ifNoneExist` that matched; nothing is written.
    resource: Option<Value>,
    created: bool,
}

impl ResourceStore {
    pub fn all(&self, resource_type: &str) -> Vec<StoredResource> {
        self.resources
            .values()
            .filter(|r| r.resource_type == resource_type)
            .cloned()
            .collect()
    }

    /// The resources of `resource_type` with the identifier `system|value`.
    pub fn matching(&self, resource_type: &str, system: &str, value: &str) -> Vec<StoredResource> {
        self.resources
            .values()
            .filter(|r| r.resource_type == resource_type && r.has_identifier(system, value))
            .cloned()
            .collect()
    }

    /// Applies the transaction `bundle` (a JSON Bundle of type `transaction`) all or nothing.
    pub fn transact(&mut self, bundle: &Value) -> Result<Vec<EntryResult>, Refusal> {
        if bundle["type"] != "transaction" {
            return Err(refuse(400, "invalid", "Bundle.type must be transaction"));
        }
        let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
        let mut working = self.clone();
        let mut planned = Vec::new();
        let mut full_urls = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            let plan = working.plan(entry).map_err(|r| Refusal {
                diagnostics: format!("entry {i}: {}", r.diagnostics),
                ..r
            })?;
            if let Some(full_url) = entry["fullUrl"].as_str() {
                full_urls.insert(
                    full_url.to_owned(),
                    format!("{}/{}", plan.resource_type, plan.id),
                );
            }
            // Later entries' conditions see this one as taken.
            working.reserve(&plan);
            planned.push(plan);
        }
        let mut results = Vec::new();
        for mut plan in planned {
            if let Some(resource) = plan.resource.as_mut() {
                working.resolve_references(resource, &full_urls)?;
            }
            results.push(working.write(plan));
        }
        *self = working;
        Ok(results)
    }

    fn plan(&mut self, entry: &Value) -> Result<Planned, Refusal> {
        let request = &entry["request"];
        let method = request["method"].as_str().unwrap_or_default();
        let url = request["url"].as_str().unwrap_or_default();
        let resource = entry["resource"].clone();
        let resource_type = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let url_type = url.split(['?', '/']).next().unwrap_or_default();
        if resource.is_null() || url_type != resource_type {
            return Err(refuse(
                400,
                "invalid",
                "request.url must name the resource's type",
            ));
        }
        match (method, url.split_once('?')) {
            ("PUT", Some((_, query))) => {
                let found = self.search(&resource_type, query)?;
                self.conditional_update(resource_type, resource, found)
            }
            ("PUT", None) => {
                let id = url
                    .split_once('/')
                    .map(|(_, id)| id.to_owned())
                    .unwrap_or_default();
                if id.is_empty() || resource["id"].as_str() != Some(id.as_str()) {
                    return Err(refuse(
                        400,
                        "invalid",
                        "PUT Type/id needs the same id in the resource",
                    ));
                }
                let created = !self
                    .resources
                    .contains_key(&(resource_type.clone(), id.clone()));
                Ok(Planned {
                    resource_type,
                    id,
                    resource: Some(resource),
                    created,
                })
            }
            ("POST", None) => {
                let exists = match request["ifNoneExist"].as_str() {
                    Some(query) => self.search(&resource_type, query)?,
                    None => Vec::new(),
                };
                match exists.as_slice() {
                    [] => Ok(self.create(resource_type, resource)),
                    [one] => Ok(Planned {
                        resource_type,
                        id: one.id.clone(),
                        resource: None,
                        created: false,
                    }),
                    _ => Err(refuse(
                        412,
                        "multiple-matches",
                        "ifNoneExist matches more than one",
                    )),
                }
            }
            _ => Err(refuse(
                400,
                "not-supported",
                format!("{method} {url} is not supported here"),
            )),
        }
    }

    fn conditional_update(
        &mut self,
        resource_type: String,
        resource: Value,
        found: Vec<StoredResource>,
    ) -> Result<Planned, Refusal> {
        match found.as_slice() {
            [] => {
                if resource.get("id").is_some() {
                    return Err(refuse(400, "invalid", "a conditional create takes no id"));
                }
                Ok(self.create(resource_type, resource))
            }
            [one] => {
                if resource["id"].as_str().is_some_and(|id| id != one.id) {
                    return Err(refuse(
                        400,
                        "invalid",
                        "the resource's id is not the match's",
                    ));
                }
                Ok(Planned {
                    resource_type,
                    id: one.id.clone(),
                    resource: Some(resource),
                    created: false,
                })
            }
            _ => Err(refuse(
                412,
                "multiple-matches",
                "the condition matches more than one resource",
            )),
        }
    }

    fn create(&mut self, resource_type: String, resource: Value) -> Planned {
        self.next_id += 1;
        Planned {
            resource_type,
            id: self.next_id.to_string(),
            resource: Some(resource),
            created: true,
        }
    }

    /// Holds the id of a resource a later entry of the transaction may match.
    fn reserve(&mut self, plan: &Planned) {
        if let (Some(resource), true) = (&plan.resource, plan.created) {
            let key = (plan.resource_type.clone(), plan.id.clone());
            self.resources.insert(
                key,
                StoredResource {
                    resource_type: plan.resource_type.clone(),
                    id: plan.id.clone(),
                    version: 0,
                    resource: resource.clone(),
                    history: Vec::new(),
                },
            );
        }
    }

    /// The resources a search like `identifier=system|value` finds (only `identifier` is known).
    fn search(&self, resource_type: &str, query: &str) -> Result<Vec<StoredResource>, Refusal> {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let [(name, token)] = params.as_slice() else {
            return Err(refuse(
                400,
                "not-supported",
                "only one search parameter is supported",
            ));
        };
        let Some((system, value)) = token.split_once('|').filter(|_| name == "identifier") else {
            return Err(refuse(
                400,
                "not-supported",
                "only identifier=system|value is supported",
            ));
        };
        Ok(self.matching(resource_type, system, value))
    }

    /// Replaces `urn:uuid:` and conditional references, anywhere in the resource.
    fn resolve_references(
        &self,
        value: &mut Value,
        full_urls: &HashMap<String, String>,
    ) -> Result<(), Refusal> {
        match value {
            Value::Object(fields) => {
                if let Some(Value::String(target)) = fields.get("reference")
                    && let Some(resolved) = self.resolve(target, full_urls)?
                {
                    fields.insert("reference".into(), Value::String(resolved));
                }
                fields
                    .values_mut()
                    .try_for_each(|v| self.resolve_references(v, full_urls))
            }
            Value::Array(items) => items
                .iter_mut()
                .try_for_each(|v| self.resolve_references(v, full_urls)),
            _ => Ok(()),
        }
    }

    fn resolve(
        &self,
        target: &str,
        full_urls: &HashMap<String, String>,
    ) -> Result<Option<String>, Refusal> {
        if target.starts_with("urn:uuid:") {
            return full_urls.get(target).cloned().map(Some).ok_or_else(|| {
                refuse(400, "not-found", format!("{target} is no entry's fullUrl"))
            });
        }
        let Some((resource_type, query)) = target.split_once('?') else {
            return Ok(None);
        };
        match self.search(resource_type, query)?.as_slice() {
            [one] => Ok(Some(format!("{resource_type}/{}", one.id))),
            [] => Err(refuse(
                412,
                "not-found",
                "a conditional reference matches nothing",
            )),
            _ => Err(refuse(
                412,
                "multiple-matches",
                "a conditional reference matches more than one",
            )),
        }
    }

    fn write(&mut self, plan: Planned) -> EntryResult {
        let key = (plan.resource_type.clone(), plan.id.clone());
        let (previous, mut history) = self
            .resources
            .get(&key)
            .map_or((0, Vec::new()), |r| (r.version, r.history.clone()));
        let version = match plan.resource {
            Some(mut resource) => {
                let version = previous + 1;
                resource["id"] = json!(plan.id);
                resource["meta"] = json!({ "versionId": version.to_string() });
                history.push(resource.clone());
                self.resources.insert(
                    key,
                    StoredResource {
                        resource_type: plan.resource_type.clone(),
                        id: plan.id.clone(),
                        version,
                        resource,
                        history,
                    },
                );
                version
            }
            None => previous,
        };
        EntryResult {
            status: if plan.created {
                "201 Created"
            } else {
                "200 OK"
            },
            location: format!("{}/{}/_history/{version}", plan.resource_type, plan.id),
            version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = "urn:medrelay:clinic:hadar/notification";

    fn put(full_url: &str, resource: Value) -> Value {
        let resource_type = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let value = resource["identifier"][0]["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let system = resource["identifier"][0]["system"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        json!({
            "fullUrl": full_url,
            "resource": resource,
            "request": { "method": "PUT", "url": format!("{resource_type}?identifier={system}|{value}") },
        })
    }

    fn request(value: &str) -> Value {
        json!({ "resourceType": "CommunicationRequest", "status": "active",
            "identifier": [{ "system": SYSTEM, "value": value }] })
    }

    fn communication(value: &str, based_on: &str) -> Value {
        json!({ "resourceType": "Communication", "status": "in-progress",
            "identifier": [{ "system": "urn:medrelay:clinic:hadar/attempt", "value": value }],
            "basedOn": [{ "reference": based_on }] })
    }

    fn transaction(entries: Vec<Value>) -> Value {
        json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries })
    }

    #[test]
    fn a_conditional_update_creates_once_then_updates_the_same_resource() {
        let mut store = ResourceStore::default();
        let bundle = transaction(vec![
            put("urn:uuid:1", request("ntf_1")),
            put("urn:uuid:2", communication("att_1", "urn:uuid:1")),
        ]);
        let first = store.transact(&bundle).expect("first");
        let again = store.transact(&bundle).expect("again");
        assert_eq!(first[0].status, "201 Created");
        assert_eq!(again[0].status, "200 OK");
        assert_eq!(store.all("CommunicationRequest").len(), 1);
        let communications = store.all("Communication");
        assert_eq!(communications.len(), 1);
        assert_eq!(communications[0].version, 2);
        let request_id = &store.all("CommunicationRequest")[0].id;
        assert_eq!(
            communications[0].resource["basedOn"][0]["reference"],
            format!("CommunicationRequest/{request_id}")
        );
    }

    #[test]
    fn a_failing_entry_leaves_nothing_behind() {
        let mut store = ResourceStore::default();
        let bundle = transaction(vec![
            put("urn:uuid:1", request("ntf_1")),
            put("urn:uuid:2", communication("att_1", "urn:uuid:unknown")),
        ]);
        assert_eq!(store.transact(&bundle).map_err(|r| r.status), Err(400));
        assert!(store.all("CommunicationRequest").is_empty());
    }

    #[test]
    fn two_matches_fail_a_conditional_update() {
        let mut store = ResourceStore::default();
        for n in ["1", "2"] {
            let post = json!({ "resource": request("ntf_1"), "request": { "method": "POST", "url": "CommunicationRequest" }, "fullUrl": format!("urn:uuid:{n}") });
            store.transact(&transaction(vec![post])).expect("created");
        }
        let update = transaction(vec![put("urn:uuid:3", request("ntf_1"))]);
        assert_eq!(store.transact(&update).map_err(|r| r.status), Err(412));
    }

    #[test]
    fn post_if_none_exist_creates_only_the_first_time() {
        let mut store = ResourceStore::default();
        let post = json!({ "resource": request("ntf_1"), "fullUrl": "urn:uuid:1",
            "request": { "method": "POST", "url": "CommunicationRequest", "ifNoneExist": format!("identifier={SYSTEM}|ntf_1") } });
        let first = store
            .transact(&transaction(vec![post.clone()]))
            .expect("first");
        let second = store.transact(&transaction(vec![post])).expect("second");
        assert_eq!(
            (first[0].status, second[0].status),
            ("201 Created", "200 OK")
        );
        assert_eq!(store.all("CommunicationRequest").len(), 1);
    }
}
