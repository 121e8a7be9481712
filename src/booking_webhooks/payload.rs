//! The body of a webhook, in the Standard Webhooks shape `{"type", "timestamp", "data"}`. Built
//! from the stored message alone, so every try of a message sends the same bytes.

use serde_json::{Map, Value, json};

use crate::store::{ClaimedWebhook, StoreError};

pub fn body(message: &ClaimedWebhook) -> Result<String, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("webhook {}: {what}", message.event_id));
    let mut data: Map<String, Value> =
        serde_json::from_str(&message.data).map_err(|_| corrupt("data"))?;
    let metadata = |text: &Option<String>| -> Result<Value, StoreError> {
        text.as_deref()
            .map_or(Ok(Value::Null), serde_json::from_str)
            .map_err(|_| corrupt("metadata"))
    };
    data.insert("patient_id".into(), json!(message.patient_external_id));
    if data.contains_key("notification_id") {
        data.insert("reference".into(), json!(message.notification_reference));
        data.insert("metadata".into(), metadata(&message.notification_metadata)?);
    }
    let appointment = match &message.appointment_id {
        Some(id) => json!({
            "id": id,
            "reference": message.appointment_reference,
            "metadata": metadata(&message.appointment_metadata)?,
        }),
        None => Value::Null,
    };
    data.insert("appointment".into(), appointment);
    let body = json!({
        "type": message.event_type,
        "timestamp": message.occurred_at()?.to_string(),
        "data": data,
    });
    serde_json::to_string(&body).map_err(|_| corrupt("body"))
}
