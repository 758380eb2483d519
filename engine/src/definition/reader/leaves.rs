//! Leaves and the fields every action and trigger carries: read with serde, each error
//! reported at its exact pointer.

use super::{payload, Reader};
use crate::definition::fields::Fields;
use crate::definition::model::CommonOptions;
use crate::definition::names::{unsupported_type, OperationOption};
use crate::definition::node::{Kind, Node};
use crate::definition::payload::Payload;
use crate::pointer::Pointer;
use crate::spelling::closest;
use serde::de::DeserializeOwned;

impl<P: Payload> Reader<'_, P> {
    /// Takes and reads the fields every action and trigger may carry.
    pub(super) fn common(&mut self, fields: &mut Fields<'_>, at: &Pointer) -> CommonOptions<P> {
        CommonOptions {
            description: self.optional(fields, "description", at),
            metadata: fields.take("metadata").map(payload),
            tracked_properties: fields.take("trackedProperties").map(payload),
            runtime_configuration: self
                .optional(fields, "runtimeConfiguration", at)
                .unwrap_or_default(),
            operation_options: self.operation_options(
                fields.take("operationOptions"),
                &at.join("operationOptions"),
            ),
            limit: self.optional(fields, "limit", at).unwrap_or_default(),
        }
    }

    pub(super) fn operation_options(
        &mut self,
        node: Option<Node<'_>>,
        at: &Pointer,
    ) -> Vec<OperationOption> {
        let Some(node) = node else {
            return Vec::new();
        };
        let Some(text) = node.as_str() else {
            self.problems.error(
                at,
                format!(
                    "`operationOptions` must be a comma-separated string, found {}",
                    node.kind().name()
                ),
            );
            return Vec::new();
        };
        let mut options = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match OperationOption::parse(item) {
                Some(option) => options.push(option),
                None => self
                    .problems
                    .warning(at, format!("unknown operation option '{item}' is ignored")),
            }
        }
        options
    }

    /// Reads `type` and resolves it with `parse`; reports unknown and unsupported types.
    pub(super) fn type_name<T>(
        &mut self,
        fields: &mut Fields<'_>,
        at: &Pointer,
        what: &str,
        parse: fn(&str) -> Option<T>,
        expected: fn() -> String,
    ) -> Option<T> {
        let type_at = at.join("type");
        let Some(node) = fields.take("type") else {
            self.problems.error(at, format!("the {what} has no `type`"));
            return None;
        };
        let Some(text) = node.as_str() else {
            self.problems.error(
                &type_at,
                format!("`type` must be a string, found {}", node.kind().name()),
            );
            return None;
        };
        if let Some(t) = parse(&text) {
            return Some(t);
        }
        let known = expected();
        let message = match (unsupported_type(&text), closest(&text, known.split(", "))) {
            (Some(why), _) => format!("{what} type '{text}' is not supported: {why}"),
            (None, Some(near)) => format!("unknown {what} type '{text}'; did you mean '{near}'?"),
            (None, None) => format!("unknown {what} type '{text}', expected one of: {known}"),
        };
        self.problems.error(&type_at, message);
        None
    }

    pub(super) fn required(
        &mut self,
        fields: &mut Fields<'_>,
        key: &'static str,
        at: &Pointer,
        what: &str,
    ) -> P {
        match fields.take(key) {
            Some(node) => payload(node),
            None => {
                self.problems.error(at, format!("{what} needs `{key}`"));
                P::default()
            }
        }
    }

    /// Takes and reads `key` as `T`; absent is `None`, unreadable is reported and `None`.
    pub(super) fn optional<T: DeserializeOwned>(
        &mut self,
        fields: &mut Fields<'_>,
        key: &'static str,
        at: &Pointer,
    ) -> Option<T> {
        let node = fields.take(key)?;
        self.leaf(node, &at.join(key))
    }

    /// Reads a leaf with serde, reporting the first error at its exact pointer.
    pub fn leaf<T: DeserializeOwned>(&mut self, node: Node<'_>, at: &Pointer) -> Option<T> {
        node.read().map_err(|e| self.report(e, at)).ok()
    }

    /// Checks that `node` reads as `T` without keeping the result.
    pub(super) fn check<T: DeserializeOwned>(&mut self, node: Node<'_>, at: &Pointer) {
        if let Err(e) = node.read::<T>() {
            self.report(e, at);
        }
    }

    pub(super) fn report(
        &mut self,
        error: serde_path_to_error::Error<serde_json::Error>,
        at: &Pointer,
    ) {
        let mut pointer = at.clone();
        for segment in error.path().iter() {
            pointer = match segment {
                serde_path_to_error::Segment::Seq { index } => pointer.join(index),
                serde_path_to_error::Segment::Map { key } => pointer.join(key),
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => pointer,
            };
        }
        self.problems
            .error(&pointer, strip_position(error.into_inner().to_string()));
    }

    /// Reports `node` unless it is an object.
    pub(super) fn expect_object(&mut self, node: Node<'_>, at: &Pointer, what: &str) -> bool {
        if node.kind() == Kind::Object {
            return true;
        }
        self.problems.error(
            at,
            format!("{what} must be a JSON object, found {}", node.kind().name()),
        );
        false
    }

    /// Fields left after reading are unknown to WDL: reported as warnings, not silently lost.
    pub(super) fn leftovers(&mut self, fields: &Fields<'_>, at: &Pointer, what: &str) {
        fields.untaken(|key| {
            self.problems.warning(
                &at.join(key),
                format!("unknown {what} field `{key}` is ignored"),
            );
        });
    }
}

/// serde_json's errors from reading text end in " at line L column C" of the leaf's own text,
/// which means nothing to the user; the pointer says where.
fn strip_position(text: String) -> String {
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
