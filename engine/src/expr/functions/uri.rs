//! URI parsing functions.

use super::{f, fail, Args, FnError, FnResult, Function};
use crate::expr::value::Value;
use url::Url;

pub(super) const FUNCTIONS: &[Function] = &[
    f!("uriHost", 1, 1, uri_host),
    f!("uriPath", 1, 1, uri_path),
    f!("uriPathAndQuery", 1, 1, uri_path_and_query),
    f!("uriPort", 1, 1, uri_port),
    f!("uriQuery", 1, 1, uri_query),
    f!("uriScheme", 1, 1, uri_scheme),
];

fn parse(args: &Args<'_>) -> Result<Url, FnError> {
    let text = args.str(0)?;
    Url::parse(text).or_else(|e| fail(format!("'{text}' is not an absolute URI: {e}")))
}

fn uri_host(args: &mut Args<'_>) -> FnResult {
    Ok(Value::from(parse(args)?.host_str().unwrap_or_default()))
}

fn uri_path(args: &mut Args<'_>) -> FnResult {
    Ok(Value::from(parse(args)?.path()))
}

fn query_text(url: &Url) -> String {
    url.query().map(|q| format!("?{q}")).unwrap_or_default()
}

fn uri_path_and_query(args: &mut Args<'_>) -> FnResult {
    let url = parse(args)?;
    Ok(Value::from(format!("{}{}", url.path(), query_text(&url))))
}

fn uri_port(args: &mut Args<'_>) -> FnResult {
    match parse(args)?.port_or_known_default() {
        Some(port) => Ok(Value::Integer(i64::from(port))),
        None => fail("the URI has no port and its scheme has no default port"),
    }
}

fn uri_query(args: &mut Args<'_>) -> FnResult {
    Ok(Value::from(query_text(&parse(args)?)))
}

fn uri_scheme(args: &mut Args<'_>) -> FnResult {
    Ok(Value::from(parse(args)?.scheme()))
}
