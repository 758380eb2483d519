//! The semantic cache (`llm-semantic-cache-lookup` / `-store`).
//!
//! Two keys decide what may answer a request:
//! - the **partition**: a hash of the API, the rendered `varyBy` templates, and every
//!   request field other than `messages`, `stream` and `stream_options` — model,
//!   temperature, top_p, max_tokens, tools, response_format, stop, seed, user, and anything
//!   else. Nothing is ever served across partitions, so a tenant key in `varyBy` isolates
//!   tenants, and a changed (or omitted) sampling parameter always misses;
//! - within a partition, the **exact prompt** (hash of the messages) or, failing that, the
//!   nearest prompt by the cosine of their embeddings: a hit needs
//!   `1 − cosine ≤ scoreThreshold` (a distance: lower is stricter, as in APIM).
//!
//! Entries live in memory for lookup and in sled (the gateway's data directory) so they
//! survive restarts; expired ones are dropped on load and on lookup. Streaming requests
//! bypass the cache.

use super::config::SemanticCacheConfig;
use super::dispatch::Facts;
use super::key::KeyTemplate;
use super::{Gateway, Operation};
use axum::body::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;

type Hash = [u8; 32];

struct Entry {
    exact: Hash,
    embedding: Vec<f32>,
    body: Bytes,
    expires_ms: i64,
}

/// What a lookup found.
pub enum Lookup {
    Hit {
        body: Bytes,
        distance: f64,
    },
    /// Not cacheable (streaming, too many messages, no embedding).
    Bypass,
    /// A miss: what to store once the backend answers.
    Miss {
        store: Pending,
    },
}

pub struct Pending {
    partition: Hash,
    exact: Hash,
    embedding: Vec<f32>,
}

pub struct SemanticCache {
    api: String,
    config: SemanticCacheConfig,
    vary_by: Vec<KeyTemplate>,
    embeddings_backend: usize,
    tree: Option<sled::Tree>,
    entries: RwLock<HashMap<Hash, Vec<Entry>>>,
}

impl SemanticCache {
    pub fn new(
        api: &str,
        config: SemanticCacheConfig,
        embeddings_backend: usize,
        db: Option<&sled::Db>,
    ) -> Result<SemanticCache, String> {
        let vary_by = config
            .vary_by
            .iter()
            .map(|t| {
                KeyTemplate::parse(t).map_err(|e| format!("apis.{api}.semanticCache.varyBy: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let tree = match db {
            Some(db) => Some(
                db.open_tree(format!("semantic-cache/{api}"))
                    .map_err(|e| format!("semantic cache store: {e}"))?,
            ),
            None => None,
        };
        let cache = SemanticCache {
            api: api.to_string(),
            config,
            vary_by,
            embeddings_backend,
            tree,
            entries: RwLock::default(),
        };
        cache.load();
        Ok(cache)
    }

    fn load(&self) {
        let Some(tree) = &self.tree else {
            return;
        };
        let now = now_ms();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        for (k, v) in tree.iter().flatten() {
            let stored: Option<(Vec<f32>, String, i64)> = serde_json::from_slice(&v).ok();
            match stored {
                Some((embedding, body, expires_ms)) if expires_ms > now && k.len() == 64 => {
                    let (p, e) = k.split_at(32);
                    entries
                        .entry(p.try_into().expect("32"))
                        .or_default()
                        .push(Entry {
                            exact: e.try_into().expect("32"),
                            embedding,
                            body: Bytes::from(body),
                            expires_ms,
                        });
                }
                _ => {
                    let _ = tree.remove(k);
                }
            }
        }
    }

    /// Looks the request up; on a miss, says what to store.
    pub(super) async fn lookup(
        &self,
        gw: &Gateway,
        facts: &Facts,
        body: &Value,
        streaming: bool,
    ) -> Lookup {
        let messages = body.get("messages").and_then(Value::as_array);
        let count = messages.map_or(0, Vec::len);
        if streaming || self.config.max_message_count.is_some_and(|m| count > m) {
            return Lookup::Bypass;
        }
        let partition = self.partition(facts, body);
        let exact = hash(&[
            partition.as_slice(),
            body.get("messages")
                .unwrap_or(&Value::Null)
                .to_string()
                .as_bytes(),
        ]);
        let now = now_ms();
        if let Some(hit) = self.find(&partition, now, |e| (e.exact == exact).then_some(0.0)) {
            return hit;
        }
        let text = prompt_text(
            messages.map(Vec::as_slice).unwrap_or(&[]),
            self.config.ignore_system_messages,
        );
        let embedding = match self.embed(gw, &text).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("gateway: semantic cache of '{}': {e}", self.api);
                return Lookup::Bypass;
            }
        };
        let threshold = self.config.score_threshold;
        let best = self.find(&partition, now, |e| {
            let d = 1.0 - cosine(&e.embedding, &embedding);
            (d <= threshold).then_some(d)
        });
        best.unwrap_or(Lookup::Miss {
            store: Pending {
                partition,
                exact,
                embedding,
            },
        })
    }

    /// The entry of the partition with the smallest distance `score` gives (None: no match).
    fn find(
        &self,
        partition: &Hash,
        now: i64,
        score: impl Fn(&Entry) -> Option<f64>,
    ) -> Option<Lookup> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(partition)?
            .iter()
            .filter(|e| e.expires_ms > now)
            .filter_map(|e| score(e).map(|d| (d, e)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(distance, e)| Lookup::Hit {
                body: e.body.clone(),
                distance,
            })
    }

    /// Stores a backend's answer to a missed request.
    pub fn store(&self, pending: Pending, body: Bytes) {
        let expires_ms = now_ms() + self.config.duration_seconds as i64 * 1000;
        if let Some(tree) = &self.tree {
            let mut key = pending.partition.to_vec();
            key.extend_from_slice(&pending.exact);
            let value = serde_json::to_vec(&(
                &pending.embedding,
                String::from_utf8_lossy(&body),
                expires_ms,
            ));
            if let Ok(v) = value {
                let _ = tree.insert(key, v);
            }
        }
        let now = now_ms();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let list = entries.entry(pending.partition).or_default();
        list.retain(|e| e.expires_ms > now && e.exact != pending.exact);
        list.push(Entry {
            exact: pending.exact,
            embedding: pending.embedding,
            body,
            expires_ms,
        });
    }

    fn partition(&self, facts: &Facts, body: &Value) -> Hash {
        let mut params = body.as_object().cloned().unwrap_or_default();
        for k in ["messages", "stream", "stream_options"] {
            params.shift_remove(k);
        }
        params.sort_keys();
        let mut parts: Vec<Vec<u8>> = vec![self.api.clone().into_bytes()];
        for t in &self.vary_by {
            parts.push(t.render(&facts.context("")).into_bytes());
        }
        parts.push(Value::Object(params).to_string().into_bytes());
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        hash(&slices)
    }

    async fn embed(&self, gw: &Gateway, text: &str) -> Result<Vec<f32>, String> {
        let backend = &gw.backends[self.embeddings_backend];
        let mut headers = axum::http::HeaderMap::new();
        backend.auth(&mut headers);
        let model = &self.config.embeddings_model;
        let response = gw
            .client
            .post(backend.url(&Operation::Embeddings, Some(model)))
            .headers(headers)
            .timeout(backend.timeout())
            .header("content-type", "application/json")
            .body(serde_json::json!({"model": model, "input": text}).to_string())
            .send()
            .await
            .map_err(|e| format!("embeddings backend '{}': {e}", backend.id))?;
        if !response.status().is_success() {
            return Err(format!(
                "embeddings backend '{}' answered {}",
                backend.id,
                response.status()
            ));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("embeddings: {e}"))?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| format!("embeddings: {e}"))?;
        let vector = body
            .pointer("/data/0/embedding")
            .and_then(Value::as_array)
            .ok_or("embeddings: no data[0].embedding in the answer")?;
        Ok(vector
            .iter()
            .filter_map(Value::as_f64)
            .map(|f| f as f32)
            .collect())
    }
}

/// The compared text: each message's role and text content.
fn prompt_text(messages: &[Value], ignore_system: bool) -> String {
    let mut text = String::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if ignore_system && (role == "system" || role == "developer") {
            continue;
        }
        match m.get("content") {
            Some(Value::String(s)) => text.push_str(s),
            Some(other) => text.push_str(&other.to_string()),
            None => {}
        }
        text.push('\n');
    }
    text
}

fn hash(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        dot += f64::from(*x) * f64::from(*y);
        na += f64::from(*x) * f64::from(*x);
        nb += f64::from(*y) * f64::from(*y);
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_prompt_text() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-9);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-9);
        let m = serde_json::json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]);
        assert_eq!(prompt_text(m.as_array().unwrap(), true), "hi\n");
        assert_eq!(prompt_text(m.as_array().unwrap(), false), "be brief\nhi\n");
    }
}
