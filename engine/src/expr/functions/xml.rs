//! JSON and XML functions: property edits, `coalesce`, `xml()`, `json()` of XML, `xpath()`.
//!
//! XML values are binary content objects with an XML content type, as Logic Apps represents
//! them. XML is parsed by sxd-document and queried with sxd-xpath (XPath 1.0). JSON maps to
//! XML and back the way Logic Apps (Json.NET) does: `@name` members are attributes, `#text`
//! is text, arrays repeat their element, and `?xml` is the declaration.

use super::{
    binary_bytes, binary_value, f, fail, to_text, Args, FnError, FnResult, Function, MANY,
};
use crate::expr::eval::{EvalError, Evaluator};
use crate::expr::syntax::Expr;
use crate::expr::value::{Map, Value};
use sxd_document::dom::{ChildOfElement, ChildOfRoot, Element};
use sxd_document::parser;

pub(super) const FUNCTIONS: &[Function] = &[
    f!("addProperty", 3, 3, add_property),
    f!("setProperty", 3, 3, set_property),
    f!("removeProperty", 2, 2, remove_property),
    f!("coalesce", 1, MANY, lazy coalesce),
    f!("xpath", 2, 2, xpath),
];

const XML_TYPE: &str = "application/xml;charset=utf-8";

/// How deep XML may nest (elements within elements, or JSON objects turned into elements).
/// The conversions recurse once per level and look namespaces up through the ancestors, so
/// a bound keeps them from exhausting the stack and linear in the document's size.
pub const MAX_XML_DEPTH: usize = 256;

fn too_deep<T>() -> Result<T, FnError> {
    fail(format!(
        "the XML nests deeper than {MAX_XML_DEPTH} elements"
    ))
}

fn edited(
    args: &mut Args<'_>,
    edit: impl FnOnce(&mut Map, String) -> Result<(), FnError>,
) -> FnResult {
    let name = args.str(1)?.to_string();
    let mut map = args.object(0)?.clone();
    edit(&mut map, name)?;
    Ok(Value::object(map))
}

fn add_property(args: &mut Args<'_>) -> FnResult {
    let value = args.take(2);
    edited(args, |map, name| {
        if map.contains_key(&name) {
            return fail(format!(
                "the property '{name}' already exists; use setProperty to change it"
            ));
        }
        map.insert(name, value);
        Ok(())
    })
}

fn set_property(args: &mut Args<'_>) -> FnResult {
    let value = args.take(2);
    edited(args, |map, name| {
        map.insert(name, value);
        Ok(())
    })
}

fn remove_property(args: &mut Args<'_>) -> FnResult {
    edited(args, |map, name| {
        map.shift_remove(&name);
        Ok(())
    })
}

fn coalesce(args: &[Expr], ev: &Evaluator<'_>) -> Result<Value, EvalError> {
    for arg in args {
        let v = ev.eval(arg)?;
        if !v.is_null() {
            return Ok(v);
        }
    }
    Ok(Value::Null)
}

/// Whether a value is XML content made by `xml()`.
pub fn is_xml(value: &Value) -> bool {
    value
        .get("$content-type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.starts_with("application/xml") || t.starts_with("text/xml"))
}

/// The XML text of a string or XML argument.
fn xml_text(args: &Args<'_>, i: usize) -> Result<String, FnError> {
    match args.get(i) {
        Value::String(s) => Ok(s.to_string()),
        other => match binary_bytes(other) {
            Some(bytes) => String::from_utf8(bytes).or_else(|_| fail("the XML is not UTF-8 text")),
            None => Err(FnError::Arg {
                index: i,
                expected: "XML or a string of XML",
            }),
        },
    }
}

/// Parses XML text (sxd-document's parser is iterative), then refuses documents nested
/// deeper than [`MAX_XML_DEPTH`] before anything walks them recursively.
fn parse(text: &str) -> Result<sxd_document::Package, FnError> {
    let package = parser::parse(text.trim_start_matches('\u{feff}'))
        .or_else(|e| fail(format!("the text is not well-formed XML: {e}")))?;
    let mut stack: Vec<(Element<'_>, usize)> = Vec::new();
    {
        let document = package.as_document();
        for child in document.root().children() {
            if let ChildOfRoot::Element(e) = child {
                stack.push((e, 1));
            }
        }
        while let Some((e, depth)) = stack.pop() {
            if depth > MAX_XML_DEPTH {
                return too_deep();
            }
            for child in e.children() {
                if let ChildOfElement::Element(c) = child {
                    stack.push((c, depth + 1));
                }
            }
        }
    }
    Ok(package)
}

/// `xml()`: XML text is checked and wrapped; a JSON object with one root member is converted.
pub fn to_xml(args: &mut Args<'_>) -> FnResult {
    let text = match args.get(0) {
        Value::String(s) => {
            parse(s)?;
            s.to_string()
        }
        Value::Object(map) => json_to_xml(map)?,
        other if is_xml(other) => return Ok(other.clone()),
        _ => {
            return Err(FnError::Arg {
                index: 0,
                expected: "a string of XML or a JSON object",
            })
        }
    };
    Ok(binary_value(text.as_bytes(), XML_TYPE))
}

fn json_to_xml(map: &Map) -> Result<String, FnError> {
    let mut out = String::new();
    if let Some(Value::Object(decl)) = map.get("?xml") {
        out.push_str("<?xml");
        for (k, v) in decl.iter() {
            out.push_str(&format!(
                " {}=\"{}\"",
                k.trim_start_matches('@'),
                escape(&to_text(v))
            ));
        }
        out.push_str("?>");
    }
    let roots: Vec<_> = map.iter().filter(|(k, _)| *k != "?xml").collect();
    let [(name, value)] = roots[..] else {
        return fail(format!(
            "a JSON object becomes XML only with exactly one root property, this one has {}",
            roots.len()
        ));
    };
    write_element(name, value, &mut out, 1)?;
    Ok(out)
}

fn write_element(name: &str, value: &Value, out: &mut String, depth: usize) -> Result<(), FnError> {
    if depth > MAX_XML_DEPTH {
        return too_deep();
    }
    match value {
        Value::Array(items) => {
            for item in items.iter() {
                write_element(name, item, out, depth + 1)?;
            }
        }
        Value::Object(map) => {
            out.push('<');
            out.push_str(name);
            for (k, v) in map.iter().filter(|(k, _)| k.starts_with('@')) {
                out.push_str(&format!(" {}=\"{}\"", &k[1..], escape(&to_text(v))));
            }
            out.push('>');
            for (k, v) in map.iter().filter(|(k, _)| !k.starts_with('@')) {
                if k == "#text" {
                    out.push_str(&escape(&to_text(v)));
                } else {
                    write_element(k, v, out, depth + 1)?;
                }
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Null => out.push_str(&format!("<{name} />")),
        scalar => out.push_str(&format!("<{name}>{}</{name}>", escape(&to_text(scalar)))),
    }
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `json()` of XML content.
pub fn to_json(value: &Value) -> FnResult {
    let bytes = binary_bytes(value).unwrap_or_default();
    let text = String::from_utf8(bytes).or_else(|_| fail("the XML is not UTF-8 text"))?;
    let package = parse(&text)?;
    let document = package.as_document();
    let mut out = Map::default();
    if let Some(decl) = declaration(&text) {
        out.insert("?xml".into(), Value::object(decl));
    }
    for child in document.root().children() {
        if let ChildOfRoot::Element(e) = child {
            out.insert(qualified_name(e), element_to_json(e, None));
        }
    }
    Ok(Value::object(out))
}

/// The pseudo-attributes of a leading `<?xml …?>` declaration.
fn declaration(text: &str) -> Option<Map> {
    let body = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .strip_prefix("<?xml")?;
    let body = &body[..body.find("?>")?];
    let mut map = Map::default();
    for part in body.split_whitespace() {
        if let Some((k, v)) = part.split_once('=') {
            map.insert(format!("@{k}"), Value::from(v.trim_matches(['"', '\''])));
        }
    }
    Some(map)
}

fn qualified_name(e: Element<'_>) -> String {
    match e.preferred_prefix() {
        Some(prefix) => format!("{prefix}:{}", e.name().local_part()),
        None => e.name().local_part().to_string(),
    }
}

fn element_to_json(e: Element<'_>, parent_namespace: Option<&str>) -> Value {
    let mut map = Map::default();
    let namespace = e.default_namespace_uri();
    if namespace.is_some() && namespace != parent_namespace {
        map.insert("@xmlns".into(), Value::from(namespace.unwrap_or_default()));
    }
    for attribute in e.attributes() {
        map.insert(
            format!("@{}", attribute.name().local_part()),
            Value::from(attribute.value()),
        );
    }
    let mut text = String::new();
    let mut children: Vec<(String, Value)> = Vec::new();
    for child in e.children() {
        match child {
            ChildOfElement::Element(c) => children.push((
                qualified_name(c),
                element_to_json(c, namespace.or(parent_namespace)),
            )),
            ChildOfElement::Text(t) => text.push_str(t.text()),
            _ => {}
        }
    }
    let text = text.trim();
    if map.is_empty() && children.is_empty() {
        return if text.is_empty() {
            Value::Null
        } else {
            Value::from(text)
        };
    }
    if !text.is_empty() {
        map.insert("#text".into(), Value::from(text));
    }
    for (name, value) in children {
        match map.get_mut(&name) {
            Some(Value::Array(items)) => std::sync::Arc::make_mut(items).push(value),
            Some(existing) => {
                let first = std::mem::take(existing);
                *existing = Value::array(vec![first, value]);
            }
            None => {
                map.insert(name, value);
            }
        }
    }
    Value::object(map)
}

fn xpath(args: &mut Args<'_>) -> FnResult {
    let text = xml_text(args, 0)?;
    let query = args.str(1)?;
    if let Some(prefix) = namespace_prefix(query) {
        return fail(format!(
            "'{query}' uses the namespace prefix '{prefix}', which no namespace is declared for; \
             match names with local-name(), e.g. /*[local-name()='item']"
        ));
    }
    let package = parse(&text)?;
    let document = package.as_document();
    // sxd-xpath panics on some queries (a prefix with no namespace): a bad query is the
    // caller's error, never the process's.
    let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sxd_xpath::evaluate_xpath(&document, query)
    }))
    .or_else(|_| {
        fail(format!(
            "'{query}' cannot be evaluated: it uses a namespace prefix that is not declared"
        ))
    })?;
    let result = evaluated.or_else(|e| {
        fail(format!(
            "'{query}' is not a valid XPath 1.0 expression: {e}"
        ))
    })?;
    Ok(match result {
        sxd_xpath::Value::Boolean(b) => Value::Bool(b),
        sxd_xpath::Value::Number(n) => Value::Float(n),
        sxd_xpath::Value::String(s) => Value::from(s),
        sxd_xpath::Value::Nodeset(nodes) => {
            Value::array(nodes.document_order().into_iter().map(node_value).collect())
        }
    })
}

/// The first namespace prefix a query uses in a name test (`p:name`, `p:*`), outside string
/// literals; `axis::` is not a prefix. No namespaces are declared for queries, as in Logic
/// Apps, and sxd-xpath would panic on one.
fn namespace_prefix(query: &str) -> Option<&str> {
    let bytes = query.as_bytes();
    let mut quote = None;
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'\'' | b'"' => {
                quote = Some(b);
                start = None;
            }
            b':' => {
                let single = bytes.get(i + 1) != Some(&b':') && (i == 0 || bytes[i - 1] != b':');
                if let (true, Some(s)) = (single, start) {
                    return Some(&query[s..i]);
                }
                start = None;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.' || b >= 0x80 => {
                start.get_or_insert(i);
            }
            _ => start = None,
        }
    }
    None
}

/// A node of an XPath result: text and attribute nodes as their text, elements as XML.
fn node_value(node: sxd_xpath::nodeset::Node<'_>) -> Value {
    use sxd_xpath::nodeset::Node;
    match node {
        Node::Element(e) => {
            let mut out = String::new();
            write_dom_element(e, &mut out);
            Value::from(out)
        }
        other => Value::from(other.string_value()),
    }
}

fn write_dom_element(e: Element<'_>, out: &mut String) {
    let name = qualified_name(e);
    out.push('<');
    out.push_str(&name);
    for a in e.attributes() {
        out.push_str(&format!(
            " {}=\"{}\"",
            a.name().local_part(),
            escape(a.value())
        ));
    }
    out.push('>');
    for child in e.children() {
        match child {
            ChildOfElement::Element(c) => write_dom_element(c, out),
            ChildOfElement::Text(t) => out.push_str(&escape(t.text())),
            _ => {}
        }
    }
    out.push_str(&format!("</{name}>"));
}
