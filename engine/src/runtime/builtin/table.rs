//! The Table action: CSV or HTML from an array, with automatic or custom columns.

use crate::expr::functions::to_text;
use crate::expr::{Template, Value};
use crate::runtime::run::RunContext;

/// Renders `items` as CSV or HTML. Automatic columns are the members of the items, in order of
/// first appearance; custom columns evaluate `value` with `item()` bound to each row.
pub fn render(
    csv: bool,
    items: &[Value],
    columns: Option<&[(Option<Template>, Template)]>,
    scope: &RunContext<'_>,
) -> Result<String, String> {
    let (headers, rows) = match columns {
        Some(cols) => {
            let headers = cols
                .iter()
                .map(|(h, _)| {
                    h.as_ref().map_or(Ok(String::new()), |h| {
                        h.evaluate(scope).map(|v| to_text(&v))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.message)?;
            let rows = items
                .iter()
                .map(|item| {
                    let row_scope = RunContext {
                        item: Some(item),
                        ..*scope
                    };
                    cols.iter()
                        .map(|(_, v)| v.evaluate(&row_scope).map(|v| to_text(&v)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.message)?;
            (headers, rows)
        }
        None => {
            let mut headers: Vec<String> = Vec::new();
            for item in items {
                for key in item.as_object().into_iter().flat_map(|m| m.keys()) {
                    if !headers.contains(key) {
                        headers.push(key.clone());
                    }
                }
            }
            let rows = items
                .iter()
                .map(|item| {
                    headers
                        .iter()
                        .map(|h| item.get(h).map(to_text).unwrap_or_default())
                        .collect()
                })
                .collect();
            (headers, rows)
        }
    };
    Ok(if csv {
        to_csv(&headers, &rows)
    } else {
        to_html(&headers, &rows)
    })
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn to_csv(headers: &[String], rows: &[Vec<String>]) -> String {
    let line = |cells: &[String]| {
        cells
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = line(headers);
    for row in rows {
        out.push_str("\r\n");
        out.push_str(&line(row));
    }
    out
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn to_html(headers: &[String], rows: &[Vec<String>]) -> String {
    let cells = |tag: &str, cells: &[String]| {
        cells
            .iter()
            .map(|c| format!("<{tag}>{}</{tag}>", html_escape(c)))
            .collect::<String>()
    };
    let body: String = rows
        .iter()
        .map(|r| format!("<tr>{}</tr>", cells("td", r)))
        .collect();
    format!(
        "<table><thead><tr>{}</tr></thead><tbody>{body}</tbody></table>",
        cells("th", headers)
    )
}
