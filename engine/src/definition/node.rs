//! A JSON value of the file, not yet parsed: a slice of the file's text.
//!
//! The reader and the expression check walk a workflow through [`Node`]s instead of a parsed
//! document. An object's members are visited one at a time ([`Node::members`]) and looked up
//! by a scan ([`Node::get`]); nothing is collected. A value is parsed only where the model keeps
//! it, so checking a file costs memory for what the model holds, not for every element of the
//! file: a parsed document takes tens of times its text, and a hostile file of tiny elements
//! would otherwise cost gigabytes to validate.
//!
//! The text is parsed once as a whole first ([`Node::parse`]), so the scans here cannot meet a
//! syntax error; should one happen anyway, the node reads as absent, never as a panic.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// One JSON value of a document, as text.
#[derive(Clone, Copy)]
pub(crate) struct Node<'a>(&'a str);

/// The JSON type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    /// The type's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({:?})", self.kind())
    }
}

impl<'a> Node<'a> {
    /// `null`, for a missing value that must be read as one.
    pub const NULL: Node<'static> = Node("null");
    /// `{}`, for missing inputs.
    pub const EMPTY_OBJECT: Node<'static> = Node("{}");

    /// Parses `text` as one JSON document without building it: the syntax is checked whole,
    /// and the root node returned.
    pub fn parse(text: &'a str) -> Result<Node<'a>, serde_json::Error> {
        serde_json::from_str::<Syntax>(text)?;
        serde_json::from_str::<&RawValue>(text).map(|raw| Node(raw.get()))
    }

    /// The node's text, as written in the file.
    pub fn text(self) -> &'a str {
        self.0
    }

    pub fn kind(self) -> Kind {
        match self.text().trim_start().as_bytes().first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') | None => Kind::Null,
            Some(_) => Kind::Number,
        }
    }

    /// The string, borrowed from the file unless it holds escapes.
    pub fn as_str(self) -> Option<Cow<'a, str>> {
        if self.kind() != Kind::String {
            return None;
        }
        serde_json::from_str::<Text<'a>>(self.text())
            .ok()
            .map(|t| t.0)
    }

    /// The value of the member `key` (the last one, as JSON readers keep, when it repeats).
    pub fn get(self, key: &str) -> Option<Node<'a>> {
        let mut found = None;
        self.members(|k, v| {
            if k == key {
                found = Some(v);
            }
        });
        found
    }

    /// Calls `f` with each member of an object, in file order; false when this is not one.
    pub fn members(self, mut f: impl FnMut(&str, Node<'a>)) -> bool {
        if self.kind() != Kind::Object {
            return false;
        }
        let mut de = serde_json::Deserializer::from_str(self.text());
        de.deserialize_map(Members(&mut f)).is_ok()
    }

    /// Calls `f` with each element of an array, in order; false when this is not one.
    pub fn items(self, mut f: impl FnMut(usize, Node<'a>)) -> bool {
        if self.kind() != Kind::Array {
            return false;
        }
        let mut de = serde_json::Deserializer::from_str(self.text());
        de.deserialize_seq(Items(&mut f)).is_ok()
    }

    /// Reads the node as `T`, with the path inside the node of the first error.
    pub fn read<T: Deserialize<'a>>(
        self,
    ) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
        let mut de = serde_json::Deserializer::from_str(self.text());
        serde_path_to_error::deserialize(&mut de)
    }

    /// The node parsed into a value.
    pub fn to_value(self) -> serde_json::Value {
        serde_json::from_str(self.text()).unwrap_or_default()
    }
}

/// A string or key: borrowed from the text when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

struct Members<'f, F>(&'f mut F);

impl<'de, F: FnMut(&str, Node<'de>)> Visitor<'de> for Members<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            (self.0)(&key.0, Node(value.get()));
        }
        Ok(())
    }
}

struct Items<'f, F>(&'f mut F);

impl<'de, F: FnMut(usize, Node<'de>)> Visitor<'de> for Items<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(value) = seq.next_element_seed(Raw)? {
            (self.0)(index, Node(value.get()));
            index += 1;
        }
        Ok(())
    }
}

/// Any JSON, read through and dropped. Walking maps and arrays element by element gives the
/// same syntax errors as parsing into a value ("trailing comma"), which serde's `IgnoredAny`
/// does not, without keeping anything.
struct Syntax;

impl<'de> Deserialize<'de> for Syntax {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Syntax)
    }
}

impl<'de> Visitor<'de> for Syntax {
    type Value = Syntax;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_str<E>(self, _: &str) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_unit<E>(self) -> Result<Syntax, E> {
        Ok(Syntax)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Syntax, A::Error> {
        while seq.next_element::<Syntax>()?.is_some() {}
        Ok(Syntax)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Syntax, A::Error> {
        while map.next_key::<Syntax>()?.is_some() {
            map.next_value::<Syntax>()?;
        }
        Ok(Syntax)
    }
}

/// Seeds the next element as raw text.
struct Raw;

impl<'de> DeserializeSeed<'de> for Raw {
    type Value = &'de RawValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'de RawValue, D::Error> {
        <&RawValue>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_members_and_items_without_parsing_them() {
        let root = Node::parse(r#" {"a": [1, {"b": "x\"y"}], "a": 2, "c": "plain"} "#).unwrap();
        assert_eq!(root.kind(), Kind::Object);
        let mut keys = Vec::new();
        root.members(|k, _| keys.push(k.to_string()));
        assert_eq!(keys, ["a", "a", "c"]);
        assert_eq!(root.get("a").unwrap().text(), "2");
        assert!(matches!(
            root.get("c").unwrap().as_str(),
            Some(Cow::Borrowed("plain"))
        ));
        let first = Node::parse(r#"[1, {"b": "x\"y"}]"#).unwrap();
        let mut kinds = Vec::new();
        first.items(|i, n| kinds.push((i, n.kind())));
        assert_eq!(kinds, [(0, Kind::Number), (1, Kind::Object)]);
        let b = Node::parse(r#"{"b": "x\"y"}"#).unwrap().get("b").unwrap();
        assert_eq!(b.as_str().unwrap(), "x\"y");
        assert!(root.get("missing").is_none());
        assert!(!b.members(|_, _| {}));
    }

    #[test]
    fn a_syntax_error_is_reported_once_up_front() {
        let e = Node::parse("{\n \"a\": [1,, 2]}").unwrap_err();
        assert_eq!((e.line(), e.column()), (2, 10));
    }
}
