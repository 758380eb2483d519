//! Key templates: how counter keys, `vary-by` partitions and metric dimensions are read
//! from a request.
//!
//! A template is text with `{…}` placeholders, compiled once:
//! - `{subscription}`: the client's key (`api-key`, `Authorization: Bearer …`, or
//!   `Ocp-Apim-Subscription-Key`), empty when none;
//! - `{header:NAME}`: a request header;
//! - `{ip}`: the client's IP address (`in-process` for workflow actions);
//! - `{workflow}`: the calling workflow (in-process, or the `x-ms-workflow-name` header);
//! - `{api}`, `{operation}`, `{model}`, `{backend}` (metrics only: the backend that answered).
//!
//! Anything outside braces is literal, so `tenant-{header:x-tenant}` is a valid template.

use axum::http::{self, HeaderMap};

/// What a template can read from one request.
pub struct KeyContext<'a> {
    pub headers: &'a HeaderMap,
    pub client_ip: Option<std::net::IpAddr>,
    pub workflow: Option<&'a str>,
    pub api: &'a str,
    pub operation: &'a str,
    pub model: &'a str,
    pub backend: &'a str,
}

impl KeyContext<'_> {
    /// The client's key, from the headers clients send one in.
    pub fn subscription(&self) -> &str {
        let header = |n: &str| self.headers.get(n).and_then(|v| v.to_str().ok());
        header("api-key")
            .or_else(|| header("ocp-apim-subscription-key"))
            .or_else(|| header("authorization").and_then(|a| a.strip_prefix("Bearer ")))
            .unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Subscription,
    Header(http::HeaderName),
    Ip,
    Workflow,
    Api,
    Operation,
    Model,
    Backend,
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyTemplate {
    parts: Vec<Part>,
}

impl KeyTemplate {
    pub fn parse(text: &str) -> Result<KeyTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("'{text}': an unclosed '{{'"))?
                + open;
            parts.push(placeholder(&rest[open + 1..close], text)?);
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(KeyTemplate { parts })
    }

    /// The key of one request.
    pub fn render(&self, cx: &KeyContext<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Subscription => out.push_str(cx.subscription()),
                Part::Header(name) => {
                    if let Some(v) = cx.headers.get(name).and_then(|v| v.to_str().ok()) {
                        out.push_str(v);
                    }
                }
                Part::Ip => match cx.client_ip {
                    Some(ip) => out.push_str(&ip.to_string()),
                    None => out.push_str("in-process"),
                },
                Part::Workflow => out.push_str(cx.workflow.unwrap_or_else(|| {
                    cx.headers
                        .get("x-ms-workflow-name")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                })),
                Part::Api => out.push_str(cx.api),
                Part::Operation => out.push_str(cx.operation),
                Part::Model => out.push_str(cx.model),
                Part::Backend => out.push_str(cx.backend),
            }
        }
        out
    }
}

fn placeholder(name: &str, text: &str) -> Result<Part, String> {
    Ok(match name.trim() {
        "subscription" => Part::Subscription,
        "ip" => Part::Ip,
        "workflow" => Part::Workflow,
        "api" => Part::Api,
        "operation" => Part::Operation,
        "model" => Part::Model,
        "backend" => Part::Backend,
        other => match other.strip_prefix("header:") {
            Some(h) => Part::Header(
                http::HeaderName::from_bytes(h.trim().as_bytes())
                    .map_err(|_| format!("'{text}': '{h}' is not a header name"))?,
            ),
            None => {
                return Err(format!(
                    "'{text}': unknown placeholder '{{{other}}}' (subscription, header:NAME, ip, workflow, api, operation, model, backend)"
                ))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(headers: &HeaderMap) -> KeyContext<'_> {
        KeyContext {
            headers,
            client_ip: Some("10.0.0.7".parse().unwrap()),
            workflow: None,
            api: "chat",
            operation: "chat.completions",
            model: "gpt-4o",
            backend: "",
        }
    }

    #[test]
    fn templates_read_the_request() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer k1".parse().unwrap());
        h.insert("x-tenant", "t9".parse().unwrap());
        let t = KeyTemplate::parse("{subscription}/tenant-{header:X-Tenant}@{ip}:{model}").unwrap();
        assert_eq!(t.render(&cx(&h)), "k1/tenant-t9@10.0.0.7:gpt-4o");
    }

    #[test]
    fn bad_templates_are_named() {
        assert!(KeyTemplate::parse("{nope}")
            .unwrap_err()
            .contains("unknown placeholder"));
        assert!(KeyTemplate::parse("{ip").unwrap_err().contains("unclosed"));
    }
}
