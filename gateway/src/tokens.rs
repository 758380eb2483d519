//! Token counting with tiktoken: the prompt estimate that a token limit reserves before a
//! call, and the counts `sluice mock llm` reports as `usage`.
//!
//! The encoding follows the model family: `o200k_base` for the GPT-4o / GPT-4.1 / GPT-5 /
//! o-series families and anything unknown (deployment names included), `cl100k_base` for
//! GPT-4, GPT-3.5 and the text-embedding models. Estimates are provisional: the reservation
//! is settled against the response's `usage`.

use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// The encoder for a model name.
pub fn encoder(model: &str) -> &'static CoreBPE {
    let m = model.to_ascii_lowercase();
    let o200k = [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "chatgpt-4o",
        "o1",
        "o3",
        "o4",
    ];
    if o200k.iter().any(|p| m.starts_with(p)) {
        return tiktoken_rs::o200k_base_singleton();
    }
    if m.starts_with("gpt-4")
        || m.starts_with("gpt-3.5")
        || m.starts_with("gpt-35")
        || m.starts_with("text-embedding")
    {
        return tiktoken_rs::cl100k_base_singleton();
    }
    tiktoken_rs::o200k_base_singleton()
}

/// Tokens of a text.
pub fn count(model: &str, text: &str) -> u64 {
    encoder(model).encode_ordinary(text).len() as u64
}

/// The prompt tokens of a chat request, counted as OpenAI bills them: 3 per message, the
/// role and the content of each, and 3 priming the reply. Tools and images add an estimate.
pub fn chat_prompt(model: &str, body: &Value) -> u64 {
    let bpe = encoder(model);
    let mut tokens = 3;
    for m in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        tokens += 3;
        if let Some(role) = m.get("role").and_then(Value::as_str) {
            tokens += bpe.encode_ordinary(role).len() as u64;
        }
        if let Some(name) = m.get("name").and_then(Value::as_str) {
            tokens += 1 + bpe.encode_ordinary(name).len() as u64;
        }
        tokens += content_tokens(bpe, m.get("content").unwrap_or(&Value::Null));
        if let Some(calls) = m.get("tool_calls") {
            tokens += bpe.encode_ordinary(&calls.to_string()).len() as u64;
        }
    }
    if let Some(tools) = body.get("tools") {
        tokens += bpe.encode_ordinary(&tools.to_string()).len() as u64;
    }
    tokens
}

fn content_tokens(bpe: &CoreBPE, content: &Value) -> u64 {
    match content {
        Value::String(s) => bpe.encode_ordinary(s).len() as u64,
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => p
                    .get("text")
                    .and_then(Value::as_str)
                    .map_or(0, |t| bpe.encode_ordinary(t).len() as u64),
                // Images: the flat figure APIM uses when it cannot see the image's size.
                Some("image_url") => 1200,
                _ => bpe.encode_ordinary(&p.to_string()).len() as u64,
            })
            .sum(),
        Value::Null => 0,
        other => bpe.encode_ordinary(&other.to_string()).len() as u64,
    }
}

/// The input tokens of an embeddings request (`input` is a string or an array of strings).
pub fn embeddings_input(model: &str, body: &Value) -> u64 {
    match body.get("input") {
        Some(Value::String(s)) => count(model, s),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map_or(i.as_array().map_or(0, |a| a.len() as u64), |s| {
                        count(model, s)
                    })
            })
            .sum(),
        _ => 0,
    }
}

/// The completion budget a request asks for (`max_completion_tokens` or `max_tokens`).
pub fn max_completion(body: &Value) -> Option<u64> {
    body.get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_follow_the_model_family() {
        assert_eq!(
            count("gpt-4o", "hello world, this is a test of token counting"),
            10
        );
        let chat = json!({"messages": [{"role": "user", "content": "hello world"}]});
        // 3 priming + 3 per message + "user" (1) + "hello world" (2).
        assert_eq!(chat_prompt("gpt-4o-mini", &chat), 9);
        assert_eq!(max_completion(&json!({"max_tokens": 20})), Some(20));
        assert_eq!(
            embeddings_input("text-embedding-3-small", &json!({"input": ["a b", "c"]})),
            3
        );
    }
}
