//! Payloads: the parts of a workflow that may hold any JSON (inputs, bodies, conditions,
//! metadata), as opposed to its structure (names, types, runAfter, options).
//!
//! The model is generic over how a payload is held. A workflow loaded to run keeps each
//! payload as a [`Value`], the default; the runtime compiles it into a template. A workflow
//! only being validated holds [`Skipped`] instead: its payloads' expressions are checked on
//! the file's text ([`super::expressions`]), and nothing else needs them, so they are never
//! parsed into memory. That keeps `sluice validate` proportional to the file, whatever the file
//! holds.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt::Debug;

/// How the model holds a payload.
pub trait Payload: DeserializeOwned + Serialize + Clone + Debug + Default + Send + Sync {
    /// Whether payloads are kept. When they are not, the reader also drops what holds little
    /// but payloads and is checked on reading (parameter, output and static result
    /// declarations).
    const KEPT: bool;
    /// An integer (Response's default status code).
    fn integer(n: i64) -> Self;
    /// Drops the member `key` of an object (`retryPolicy` from an action's inputs).
    fn remove(&mut self, key: &str);
}

impl Payload for Value {
    const KEPT: bool = true;

    fn integer(n: i64) -> Self {
        Value::from(n)
    }

    fn remove(&mut self, key: &str) {
        if let Some(map) = self.as_object_mut() {
            map.shift_remove(key);
        }
    }
}

/// A payload that was read past without being kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped;

impl Payload for Skipped {
    const KEPT: bool = false;

    fn integer(_: i64) -> Self {
        Skipped
    }

    fn remove(&mut self, _: &str) {}
}

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_ignored_any(serde::de::IgnoredAny)?;
        Ok(Skipped)
    }
}

impl Serialize for Skipped {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}
