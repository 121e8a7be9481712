//! An element of the page a [`Browser`] has open: click it, type into it, read it.

use serde_json::{Value, json};

use super::{Browser, ELEMENT, command, command_answer};

/// An element of the open page. It goes stale when the page it was found on is left.
pub struct Element<'b> {
    pub(super) browser: &'b Browser,
    pub(super) id: String,
    /// What found it, for messages.
    pub(super) selector: String,
}

impl Element<'_> {
    /// The element as a script argument.
    pub fn reference(&self) -> Value {
        json!({ ELEMENT: self.id })
    }

    fn at(&self, what: &str) -> String {
        format!("{}/element/{}/{what}", self.browser.session, self.id)
    }

    /// Clicks it as a person would (scrolled into view; fails if something covers it).
    pub async fn click(&self) {
        let answer = command(self.browser.http.post(self.at("click")).json(&json!({}))).await;
        if let Err(error) = answer {
            panic!("clicking {:?}: {error}", self.selector);
        }
    }

    /// Types `text` into it, key by key.
    pub async fn send_keys(&self, text: &str) {
        command_answer(
            self.browser
                .http
                .post(self.at("value"))
                .json(&json!({ "text": text })),
        )
        .await;
    }

    /// Empties a field.
    pub async fn clear(&self) {
        command_answer(self.browser.http.post(self.at("clear")).json(&json!({}))).await;
    }

    /// Its visible text.
    pub async fn text(&self) -> String {
        let text = command_answer(self.browser.http.get(self.at("text"))).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The value of its attribute `name`, if it has one.
    pub async fn attribute(&self, name: &str) -> Option<String> {
        let value =
            command_answer(self.browser.http.get(self.at(&format!("attribute/{name}")))).await;
        value.as_str().map(str::to_owned)
    }

    /// The value of its DOM property `name` (e.g. a field's current `value`, `checked`).
    pub async fn property(&self, name: &str) -> Value {
        command_answer(self.browser.http.get(self.at(&format!("property/{name}")))).await
    }
}
