//! Keeping secrets off every surface: key comparison in constant time, the request headers
//! that carry credentials (never stored in a run's trigger outputs), and query strings cut
//! from URLs before a URL reaches an error message or run history (a Function key travels as
//! `?code=…`, a SAS signature as `?sig=…`).

/// Whether `given` equals `expected`, in time that depends only on their lengths.
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether `given` is one of `keys`; every key is compared, in constant time each.
pub fn matches_any<'a>(given: &[u8], keys: impl IntoIterator<Item = &'a str>) -> bool {
    keys.into_iter().fold(false, |found, key| {
        constant_time_eq(given, key.as_bytes()) | found
    })
}

/// Request headers that carry credentials, in lower case: dropped from the trigger outputs a
/// run records (Logic Apps leaves `Authorization` out of them too, unless the trigger's
/// `operationOptions` is `IncludeAuthorizationHeadersInOutputs`).
pub const CREDENTIAL_HEADERS: [&str; 8] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "sig",
    "x-functions-key",
    "api-key",
    "ocp-apim-subscription-key",
    "x-api-key",
];

/// Whether a header (any case) carries a credential.
pub fn is_credential_header(name: &str) -> bool {
    CREDENTIAL_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

/// `text` with the query string of every URL in it replaced by `?…` (for error messages,
/// which may embed the URL a request went to).
pub fn redact_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let url_end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>' | '<'))
            .map_or(rest.len(), |e| at + e);
        let url = &rest[..url_end];
        match url.find('?') {
            Some(q) if q + 1 < url.len() => {
                out.push_str(&url[..q]);
                out.push_str("?…");
            }
            _ => out.push_str(url),
        }
        rest = &rest[url_end..];
    }
    out.push_str(rest);
    out
}

/// A URL without its query string (and fragment), for what a run records.
pub fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_queries() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(matches_any(b"k2", ["k1", "k2", "k3"]));
        assert!(!matches_any(b"k4", ["k1", "k2"]));
        assert!(is_credential_header("Authorization"));
        assert!(!is_credential_header("content-type"));
        assert_eq!(
            redact_queries(
                "error sending request for url (http://127.0.0.1:9/api/f?code=SECRET): refused"
            ),
            "error sending request for url (http://127.0.0.1:9/api/f?…): refused"
        );
        assert_eq!(redact_queries("no url here"), "no url here");
        assert_eq!(without_query("https://h/p?code=x#f"), "https://h/p");
    }
}
