//! Reading `MEDRELAY_*` variables, and saying what was wrong with a setting without its value.

use figment::providers::Env;

/// `MEDRELAY_*` variables as the text they are. figment's own `Env` guesses a type from the
/// value, so a WhatsApp phone number id or an SMTP password made of digits arrives as a number
/// and a text setting refuses it; here only a list or table (`[…]`, `{…}`) is parsed, and each
/// setting's own type decides the rest.
pub(super) struct TextEnv(pub(super) Env);

impl figment::Provider for TextEnv {
    fn metadata(&self) -> figment::Metadata {
        self.0.metadata()
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (key, text) in self.0.iter() {
            let trimmed = text.trim_start();
            let value = match text.parse::<figment::value::Value>() {
                Ok(
                    parsed @ (figment::value::Value::Array(..) | figment::value::Value::Dict(..)),
                ) if trimmed.starts_with('[') || trimmed.starts_with('{') => parsed,
                _ => figment::value::Value::from(text.as_str()),
            };
            insert_at(&mut dict, key.as_str(), value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Puts `value` at the dotted `key` in `dict`, beside what is already there.
fn insert_at(dict: &mut figment::value::Dict, key: &str, value: figment::value::Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((first, rest)) => match dict.get_mut(first) {
            Some(figment::value::Value::Dict(_, inner)) => insert_at(inner, rest, value),
            _ => {
                dict.insert(first.to_owned(), figment::util::nest(rest, value));
            }
        },
    }
}

/// A configuration error by key, source and rule, leaving out the value figment would print.
pub(super) fn without_value(error: &figment::Error) -> String {
    use figment::error::{Actual, Kind};

    let kind_of = |actual: &Actual| match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "text",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    };
    let rule = match &error.kind {
        Kind::InvalidType(actual, expected) => {
            format!("must be {expected}, not {}", kind_of(actual))
        }
        Kind::InvalidValue(_, expected) | Kind::InvalidLength(_, expected) => {
            format!("must be {expected}")
        }
        Kind::UnknownVariant(_, expected) => format!("must be one of {}", expected.join(", ")),
        Kind::UnknownField(..) => "is not a known setting".to_owned(),
        Kind::MissingField(field) => format!("needs `{field}`"),
        Kind::DuplicateField(field) => format!("has `{field}` twice"),
        // A TOML syntax error's first line says where; the lines after it quote the file.
        Kind::Message(message) if message.starts_with("TOML parse error at line") => {
            message.lines().next().unwrap_or_default().to_owned()
        }
        _ => "is not valid".to_owned(),
    };
    let mut said = if error.path.is_empty() {
        rule
    } else {
        format!("`{}` {rule}", error.path.join("."))
    };
    if let Some(metadata) = &error.metadata {
        said.push_str(&format!(" (from {}", metadata.name));
        if let Some(figment::Source::File(path)) = &metadata.source {
            said.push_str(&format!(" {}", path.display()));
        }
        said.push(')');
    }
    said
}
