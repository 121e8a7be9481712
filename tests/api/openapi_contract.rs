//! The contract: the running gateway, driven from its own `/openapi.json`. Every operation gets
//! input made from its schemas (examples first) and input that breaks them (no key, a body of
//! the wrong type, a required field missing, another content type, a path value no record has,
//! query values of the wrong type); every answer must be a status the operation documents, with
//! a body of the documented shape, and never a 5xx it does not document.

use std::collections::BTreeSet;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Map, Value, json};

use crate::harness::TestApp;
use crate::openapi::{document, operations};

/// One request the contract sends, and what it is meant to break.
struct Case {
    what: &'static str,
    key: Caller,
    path: String,
    query: Vec<(String, String)>,
    body: Option<(String, String)>,
}

/// Bodies that break every JSON operation's schema, and what each breaks.
const BROKEN_BODIES: [(&str, &str, &str); 4] = [
    (
        "a body of the wrong type",
        "application/json",
        "[1, \"two\"]",
    ),
    ("required fields missing", "application/json", "{}"),
    ("not JSON", "application/json", "{\"a\":"),
    ("another content type", "text/plain", "hello"),
];

/// Who sends a case: the clinic's admin, its booking system, or nobody known.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Admin,
    Booking,
    Nobody,
}

pub struct Contract {
    document: Value,
    admin_key: String,
    booking_key: String,
    base: String,
    client: reqwest::Client,
}

impl Contract {
    /// The contract of `app`'s document, sent as its clinic's admin (`admin_key`) or booking
    /// system.
    pub async fn of(app: &TestApp, admin_key: String) -> Self {
        Self {
            document: document(app).await,
            admin_key,
            booking_key: app.key.clone(),
            base: app.base.clone(),
            client: app.client().clone(),
        }
    }

    pub fn document(&self) -> &Value {
        &self.document
    }

    /// A request to `operation` on `path` made from its schemas, sent with the admin key.
    pub fn valid_request(&self, method: &Method, path: &str, operation: &Value) -> RequestBuilder {
        let input = Input::of(self, path, operation);
        let case = Case {
            what: "valid",
            key: Caller::Admin,
            path: input.valid_path(),
            query: input.query.clone(),
            body: input.body.clone(),
        };
        self.request(method, &case)
    }

    /// `schema` with its `$ref` followed.
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                self.resolve(&self.document["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// A value `schema` describes: its example, else its first choice, else one of its type.
    fn sample(&self, schema: &Value, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if let Some(example) = schema.get("example").or_else(|| schema["examples"].get(0)) {
            return example.clone();
        }
        if let Some(first) = schema["enum"].get(0) {
            return first.clone();
        }
        for choice in ["oneOf", "anyOf", "allOf"] {
            if let Some(first) = schema[choice].as_array().and_then(|c| c.first()) {
                return self.sample(first, depth + 1);
            }
        }
        let kind = match &schema["type"] {
            Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned(),
            other => Some(other.clone()),
        };
        match kind.as_ref().and_then(Value::as_str) {
            Some("object") if depth < 6 => {
                let required: BTreeSet<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let fields: Map<String, Value> = schema["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(name, _)| required.contains(name.as_str()))
                    .map(|(name, field)| (name.clone(), self.sample(field, depth + 1)))
                    .collect();
                Value::Object(fields)
            }
            Some("array") => json!([]),
            Some("integer") | Some("number") => json!(schema["minimum"].as_i64().unwrap_or(1)),
            Some("boolean") => json!(false),
            Some("string") if schema["format"] == "date-time" => {
                json!((jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72)).to_string())
            }
            Some("string") => json!("P-1042"),
            _ => Value::Null,
        }
    }

    /// Where `value` breaks `schema`, if it does.
    fn breaks(&self, value: &Value, schema: &Value, at: &str) -> Option<String> {
        let schema = self.resolve(schema);
        if let Some(all) = schema["allOf"].as_array() {
            return all.iter().find_map(|s| self.breaks(value, s, at));
        }
        for choice in ["oneOf", "anyOf"] {
            if let Some(choices) = schema[choice].as_array() {
                let all_break = choices.iter().all(|s| self.breaks(value, s, at).is_some());
                return all_break.then(|| format!("{at}: matches none of {choice}"));
            }
        }
        if let Some(kinds) = type_names(&schema["type"])
            && !kinds.iter().any(|kind| is_of_type(value, kind))
        {
            return Some(format!("{at}: {value} is not {kinds:?}"));
        }
        if let Some(choices) = schema["enum"].as_array()
            && !choices.contains(value)
        {
            return Some(format!("{at}: {value} is not one of {choices:?}"));
        }
        match value {
            Value::Object(fields) => self.object_breaks(fields, schema, at),
            Value::Array(items) if schema.get("items").is_some() => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| self.breaks(item, &schema["items"], &format!("{at}[{i}]"))),
            _ => None,
        }
    }

    /// Where an object breaks its schema: a required field missing, one not described where
    /// none may be added, or a field breaking its own schema.
    fn object_breaks(
        &self,
        fields: &Map<String, Value>,
        schema: &Value,
        at: &str,
    ) -> Option<String> {
        let required = schema["required"].as_array().into_iter().flatten();
        if let Some(missing) = required
            .filter_map(Value::as_str)
            .find(|name| !fields.contains_key(*name))
        {
            return Some(format!("{at}.{missing}: required, missing"));
        }
        let properties = schema["properties"].as_object();
        if schema["additionalProperties"] == Value::Bool(false)
            && let Some(extra) = fields
                .keys()
                .find(|name| !properties.is_some_and(|p| p.contains_key(*name)))
        {
            return Some(format!("{at}.{extra}: not a documented field"));
        }
        fields.iter().find_map(|(name, field)| {
            let described = properties.and_then(|p| p.get(name))?;
            self.breaks(field, described, &format!("{at}.{name}"))
        })
    }

    fn request(&self, method: &Method, case: &Case) -> RequestBuilder {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{}", self.base, case.path))
            .query(&case.query)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
        match case.key {
            Caller::Admin => request = request.bearer_auth(&self.admin_key),
            Caller::Booking => request = request.bearer_auth(&self.booking_key),
            Caller::Nobody => {}
        }
        if let Some((content_type, body)) = &case.body {
            request = request
                .header("Content-Type", content_type)
                .body(body.clone());
        }
        request
    }

    /// What is wrong with the answer to `case`, if anything.
    async fn check(
        &self,
        method: &Method,
        template: &str,
        operation: &Value,
        case: Case,
    ) -> Option<String> {
        let response = self.request(method, &case).send().await.expect("sent");
        let status = response.status().as_u16().to_string();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let name = format!("{method} {template} ({}) {}", case.what, case.path);
        self.judge(&name, operation, &status, &headers, &text)
    }

    /// What is wrong with an answer `status` with `headers` and body `text` to `operation`.
    fn judge(
        &self,
        name: &str,
        operation: &Value,
        status: &str,
        headers: &HeaderMap,
        text: &str,
    ) -> Option<String> {
        if status.starts_with('5') {
            return Some(format!("{name}: {status}: {text}"));
        }
        let Some(answer) = operation["responses"].get(status) else {
            return Some(format!("{name}: undocumented {status}: {text}"));
        };
        let mut documented_headers = answer["headers"].as_object().into_iter().flatten();
        if let Some((missing, _)) =
            documented_headers.find(|(h, _)| !headers.contains_key(h.as_str()))
        {
            return Some(format!("{name}: {status} without its documented {missing}"));
        }
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
        let media = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !media.contains("json") {
            return None;
        }
        let Some(described) = answer["content"].get(media) else {
            return Some(format!(
                "{name}: {status} as {media}, documented as {}",
                answer["content"]
            ));
        };
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        self.breaks(&value, &described["schema"], "body")
            .map(|broken| format!("{name}: {status} body breaks its schema: {broken}\n{value:#}"))
    }

    /// The requests the contract sends to one operation.
    fn cases(&self, path: &str, operation: &Value) -> Vec<Case> {
        let input = Input::of(self, path, operation);
        let valid = |what, key, path: String| Case {
            what,
            key,
            path,
            query: input.query.clone(),
            body: input.body.clone(),
        };
        let sampled = input.valid_path();
        let mut cases = vec![
            valid("valid", Caller::Admin, sampled.clone()),
            valid("a booking key", Caller::Booking, sampled.clone()),
            valid("no key", Caller::Nobody, sampled.clone()),
            valid(
                "unknown path values",
                Caller::Admin,
                input.path(&|_| "no-such-record".to_owned()),
            ),
            valid(
                "path values of the wrong kind",
                Caller::Admin,
                input.path(&|_| "%20%7Bx%7D".to_owned()),
            ),
        ];
        if !input.every_query.is_empty() {
            cases.push(Case {
                query: input.every_query.clone(),
                ..valid(
                    "query values of the wrong type",
                    Caller::Admin,
                    input.valid_path(),
                )
            });
        }
        if input.takes_json() {
            cases.extend(BROKEN_BODIES.map(|(what, media, text)| Case {
                body: Some((media.to_owned(), text.to_owned())),
                ..valid(what, Caller::Admin, sampled.clone())
            }));
        }
        cases
    }
}

/// What one operation takes, read from its parameters and body.
struct Input<'c> {
    contract: &'c Contract,
    template: String,
    parameters: Vec<Value>,
    query: Vec<(String, String)>,
    every_query: Vec<(String, String)>,
    body: Option<(String, String)>,
}

impl<'c> Input<'c> {
    fn of(contract: &'c Contract, template: &str, operation: &Value) -> Self {
        let parameters = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut input = Self {
            contract,
            template: template.to_owned(),
            parameters,
            query: Vec::new(),
            every_query: Vec::new(),
            body: None,
        };
        let of_query = |p: &&Value| p["in"] == "query";
        let name = |p: &Value| p["name"].as_str().unwrap_or("").to_owned();
        input.query = (input.parameters.iter().filter(of_query))
            .filter(|p| p["required"] == true)
            .map(|p| (name(p), input.sample_of(p)))
            .collect();
        input.every_query = (input.parameters.iter().filter(of_query))
            .map(|p| (name(p), "-1.5e".to_owned()))
            .collect();
        input.body = operation["requestBody"]["content"]
            .as_object()
            .and_then(|c| c.iter().next())
            .map(|(media, content)| {
                let sample = contract.sample(&content["schema"], 0);
                let text = if media.contains("json") {
                    sample.to_string()
                } else {
                    form_of(&sample)
                };
                (media.clone(), text)
            });
        input
    }

    /// A parameter's value as text: its example, else a sample of its schema.
    fn sample_of(&self, parameter: &Value) -> String {
        let sample = self.contract.sample(&parameter["schema"], 0);
        let value = parameter.get("example").unwrap_or(&sample);
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    }

    /// The path with each parameter filled by `value_of`.
    fn path(&self, value_of: &dyn Fn(&Value) -> String) -> String {
        (self.parameters.iter().filter(|p| p["in"] == "path")).fold(
            self.template.clone(),
            |path, p| {
                let name = p["name"].as_str().unwrap_or("");
                path.replace(&format!("{{{name}}}"), &value_of(p))
            },
        )
    }

    fn valid_path(&self) -> String {
        self.path(&|p| self.sample_of(p))
    }

    fn takes_json(&self) -> bool {
        self.body
            .as_ref()
            .is_some_and(|(media, _)| media.contains("json"))
    }
}

fn type_names(kind: &Value) -> Option<Vec<String>> {
    match kind {
        Value::String(one) => Some(vec![one.clone()]),
        Value::Array(many) => Some(
            many.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

fn is_of_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn form_of(sample: &Value) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in sample.as_object().into_iter().flatten() {
        form.append_pair(
            name,
            &value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
        );
    }
    form.finish()
}

#[tokio::test]
async fn every_operation_answers_only_what_it_documents_and_never_an_undocumented_5xx() {
    let app = TestApp::spawn_with(|config| {
        // The contract sends a few hundred requests at once; the key's rate is not its subject.
        config.api.key_rate_per_second = 100_000;
        config.api.key_burst = 100_000;
    })
    .await;
    let admin_key = app.admin_key().await;
    app.patient(
        "P-1042",
        json!({"name": "Dana Levi", "phone": "+972541234567"}),
    )
    .await;
    let contract = Contract::of(&app, admin_key).await;

    let mut failures = Vec::new();
    let mut sent = 0;
    for (method, path, operation) in operations(&contract.document) {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        for case in contract.cases(&path, &operation) {
            sent += 1;
            failures.extend(contract.check(&method, &path, &operation, case).await);
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {sent} answers break the contract:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(sent > 250, "only {sent} requests sent");
    app.stop().await;
}
