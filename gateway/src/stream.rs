//! Settlement after a call, and streams metered as they pass: the SSE chunks go to the
//! client unchanged while the final chunk's `usage` (asked for with
//! `stream_options.include_usage`) settles the token reservation when the stream ends. When
//! the client did not ask for usage itself, that usage-only chunk is consumed here and not
//! forwarded (some SDKs fail on a chunk without choices).
//! A stream that ends without usage (the client left mid-stream, the backend cut it off, or
//! it ignores the option) is counted as its prompt estimate plus the tokens of the
//! completion text that passed, and never below its reservation: limits never under-count
//! a stream.

use super::backend::Usage;
use super::dispatch::Facts;
use super::limit::{Remaining, Reservation};
use super::Api;
use crate::metric_definitions as metric;
use axum::body::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use serde_json::Value;
use std::sync::Arc;

/// What a call used, as far as the gateway knows.
pub(super) enum Used {
    /// The backend's own `usage`: it settles the reservation and teaches the completion
    /// estimate.
    Reported(Usage),
    /// Counted here (a stream without usage): it settles, and teaches nothing.
    Counted(Usage),
    /// A refused or failed call used nothing.
    Nothing,
    /// A call whose usage is unknown keeps its reservation.
    Unknown,
}

/// What is left to do once the backend's usage is known.
pub(super) struct Settle {
    pub api: Arc<Api>,
    pub facts: Facts,
    pub backend: String,
    pub reservation: Option<Reservation>,
    pub estimate: u64,
}

impl Settle {
    /// Settles the reservation (to what was used, or to the estimate when that is unknown)
    /// and counts the tokens; returns what the limit has left.
    pub fn finish(self, used: Used) -> Option<Remaining> {
        let api = &self.api;
        let counted = match &used {
            Used::Reported(u) | Used::Counted(u) => *u,
            Used::Nothing => Usage::default(),
            Used::Unknown => Usage {
                prompt: self.estimate,
                completion: 0,
                total: self.estimate,
                cached: 0,
            },
        };
        let labels: Vec<(String, String)> = api
            .dimensions
            .iter()
            .map(|(k, t)| (k.clone(), t.render(&self.facts.context(&self.backend))))
            .collect();
        let labels: Vec<metrics::Label> = labels
            .into_iter()
            .map(|(k, v)| metrics::Label::new(k, v))
            .collect();
        metrics::counter!(metric::GATEWAY_PROMPT_TOKENS, labels.clone()).increment(counted.prompt);
        metrics::counter!(metric::GATEWAY_COMPLETION_TOKENS, labels.clone())
            .increment(counted.completion);
        metrics::counter!(metric::GATEWAY_TOTAL_TOKENS, labels.clone()).increment(counted.total);
        if counted.cached > 0 {
            metrics::counter!(metric::GATEWAY_CACHED_TOKENS, labels).increment(counted.cached);
        }
        let (Some((limiter, _, _)), Some(r)) = (&self.api.limit, self.reservation) else {
            return None;
        };
        if let (Used::Reported(u), "chat.completions") = (&used, self.facts.operation) {
            limiter.observe_completion(r.key(), &self.facts.model, u.completion);
        }
        let tokens = match used {
            Used::Reported(u) | Used::Counted(u) => u.total,
            Used::Nothing => 0,
            // A cold reservation is what was left of the limit, far above the call's use.
            Used::Unknown if r.is_cold() => self.estimate,
            Used::Unknown => r.reserved,
        };
        Some(limiter.settle(r, tokens))
    }
}

/// The backend's event stream, passed through, with the usage chunk read on the way.
/// `client_asked_usage`: the client's own `stream_options.include_usage`; without it the
/// usage-only chunk is held back.
pub(super) fn metered(
    response: reqwest::Response,
    settle: Settle,
    client_asked_usage: bool,
) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let state = Tap {
        line: Vec::new(),
        overlong: false,
        usage: None,
        completion: String::new(),
        settle: Some(settle),
        filter: (!client_asked_usage).then(Filter::default),
    };
    // Chunks as they arrive; the tap (and its settlement) lives as long as the stream.
    futures_util::stream::unfold(Some((response, state)), |open| async move {
        let (mut response, mut tap) = open?;
        loop {
            match response.chunk().await {
                Ok(Some(bytes)) => {
                    let out = tap.feed(bytes);
                    if !out.is_empty() {
                        return Some((Ok(out), Some((response, tap))));
                    }
                }
                Ok(None) => {
                    let rest = tap.finish();
                    return (!rest.is_empty()).then_some((Ok(rest), None));
                }
                Err(e) => return Some((Err(std::io::Error::other(e)), None)),
            }
        }
    })
    .boxed()
}

/// What goes on to a client that did not ask for usage: every line but the usage-only
/// chunk's (and the blank line that ends it).
#[derive(Default)]
struct Filter {
    out: Vec<u8>,
    dropped_event: bool,
}

/// A longer SSE line is no chunk the gateway reads: it is passed on as it comes, so that a
/// backend sending a line without end cannot make the gateway buffer it.
const MAX_LINE: usize = 1 << 20;

/// Reads SSE lines for `usage`; settles when dropped (the stream ended or the client left).
struct Tap {
    line: Vec<u8>,
    /// The current line outgrew [`MAX_LINE`]: it is passed on unread.
    overlong: bool,
    usage: Option<Usage>,
    /// The completion text seen so far, to count when no usage arrives.
    completion: String,
    settle: Option<Settle>,
    filter: Option<Filter>,
}

impl Tap {
    /// Reads a chunk; returns what the client gets of it (all of it, unless filtering).
    fn feed(&mut self, bytes: Bytes) -> Bytes {
        for &b in bytes.iter() {
            if self.overlong {
                if let Some(f) = &mut self.filter {
                    f.out.push(b);
                }
                self.overlong = b != b'\n';
                continue;
            }
            if b != b'\n' {
                self.line.push(b);
                if self.line.len() > MAX_LINE {
                    self.overlong = true;
                    let line = std::mem::take(&mut self.line);
                    if let Some(f) = &mut self.filter {
                        f.dropped_event = false;
                        f.out.extend_from_slice(&line);
                    }
                }
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let usage_only = self.read(&line);
            if let Some(f) = &mut self.filter {
                f.line(&line, usage_only, true);
            }
        }
        match &mut self.filter {
            None => bytes,
            Some(f) => Bytes::from(std::mem::take(&mut f.out)),
        }
    }

    /// The end of the stream: a last line without its newline is read, and when filtering,
    /// forwarded.
    fn finish(&mut self) -> Bytes {
        let line = std::mem::take(&mut self.line);
        let usage_only = !line.is_empty() && self.read(&line);
        let Some(f) = &mut self.filter else {
            return Bytes::new();
        };
        if !line.is_empty() {
            f.line(&line, usage_only, false);
        }
        Bytes::from(std::mem::take(&mut f.out))
    }

    /// Reads one SSE line for usage and completion text; true for a usage-only chunk.
    fn read(&mut self, line: &[u8]) -> bool {
        let Some(data) = line.strip_prefix(b"data:") else {
            return false;
        };
        let data = data.trim_ascii();
        if data.is_empty() || data == b"[DONE]" {
            return false;
        }
        let Ok(chunk) = serde_json::from_slice::<Value>(data) else {
            return false;
        };
        let usage = Usage::from_body(&chunk);
        if usage.is_some() {
            self.usage = usage;
        }
        if self.usage.is_none() {
            self.seen(&chunk);
        }
        usage.is_some()
            && chunk
                .get("choices")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    }
}

impl Filter {
    fn line(&mut self, line: &[u8], usage_only: bool, newline: bool) {
        if usage_only {
            self.dropped_event = true;
            return;
        }
        if self.dropped_event && line.trim_ascii().is_empty() {
            self.dropped_event = false;
            return;
        }
        self.dropped_event = false;
        self.out.extend_from_slice(line);
        if newline {
            self.out.push(b'\n');
        }
    }
}

impl Tap {
    /// Keeps the text of a chunk's deltas (content, tool-call arguments).
    fn seen(&mut self, chunk: &Value) {
        for choice in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let delta = choice.get("delta");
            if let Some(text) = delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
                self.completion.push_str(text);
            }
            for call in delta
                .and_then(|d| d.get("tool_calls"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let arguments = call.get("function").and_then(|f| f.get("arguments"));
                if let Some(text) = arguments.and_then(Value::as_str) {
                    self.completion.push_str(text);
                }
            }
        }
    }

    /// The usage of a stream that ended without reporting one: the prompt estimate and the
    /// completion that passed, at least the reservation.
    fn counted(&self, settle: &Settle) -> Usage {
        let completion = super::tokens::count(&settle.facts.model, &self.completion);
        let reserved = settle
            .reservation
            .as_ref()
            .filter(|r| !r.is_cold())
            .map_or(0, |r| r.reserved);
        let total = settle.estimate.saturating_add(completion).max(reserved);
        Usage {
            prompt: settle.estimate,
            completion: total.saturating_sub(settle.estimate),
            total,
            cached: 0,
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Some(s) = self.settle.take() {
            let used = match self.usage {
                Some(u) => Used::Reported(u),
                None => Used::Counted(self.counted(&s)),
            };
            s.finish(used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(filtering: bool) -> Tap {
        Tap {
            line: Vec::new(),
            overlong: false,
            usage: None,
            completion: String::new(),
            settle: None,
            filter: filtering.then(Filter::default),
        }
    }

    const CHUNK: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n";
    const USAGE: &str = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n";

    #[test]
    fn the_usage_chunk_is_read_and_held_back_unless_asked_for() {
        let stream = format!("{CHUNK}{USAGE}data: [DONE]\n\n");
        let mut t = tap(true);
        // Split mid-line: what is not yet a whole line waits for its end.
        let (a, b) = stream.split_at(10);
        let mut out = t.feed(Bytes::from(a.to_string())).to_vec();
        out.extend_from_slice(&t.feed(Bytes::from(b.to_string())));
        out.extend_from_slice(&t.finish());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{CHUNK}data: [DONE]\n\n")
        );
        assert_eq!(t.usage.map(|u| u.total), Some(4));
        let mut t = tap(false);
        assert_eq!(t.feed(Bytes::from(stream.clone())), stream.as_bytes());
        assert_eq!(t.usage.map(|u| u.total), Some(4));
    }

    #[test]
    fn a_line_without_end_is_passed_on_not_buffered() {
        let mut t = tap(true);
        let long = vec![b'x'; MAX_LINE + 10];
        let out = t.feed(Bytes::from(long.clone()));
        assert_eq!(out.len(), long.len());
        assert!(t.line.is_empty());
        let out = t.feed(Bytes::from(format!("yy\n{CHUNK}")));
        assert_eq!(out, format!("yy\n{CHUNK}").as_bytes());
    }
}
