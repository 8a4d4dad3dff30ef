//! An event's fields as collected for our own formatters: in the order they were given, as
//! plain values (the message is the field `message`).

use std::fmt::Debug;

use tracing::field::{Field, Visit};

/// One field's value.
#[derive(Debug, Clone)]
pub enum Value {
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// Given with `%` or `?`: its text.
    Shown(String),
}

impl Value {
    /// The value as text, as a person reads it.
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) | Value::Shown(s) => s.clone(),
            Value::U64(n) => n.to_string(),
            Value::I64(n) => n.to_string(),
            Value::F64(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
        }
    }
}

/// The fields of one event.
#[derive(Default)]
pub struct Fields(pub Vec<(&'static str, Value)>);

impl Fields {
    /// The fields of `event`.
    pub fn of(event: &tracing::Event<'_>) -> Fields {
        let mut f = Fields::default();
        event.record(&mut f);
        f
    }

    /// The field `name`, if given.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The field `name` as text, if given.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(Value::text)
    }

    /// The field `name` as a number, if it is one.
    pub fn u64(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::U64(n) => Some(*n),
            Value::I64(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .push((field.name(), Value::Shown(format!("{value:?}"))));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), Value::Str(value.to_owned())));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), Value::U64(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), Value::I64(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), Value::F64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), Value::Bool(value)));
    }
}
