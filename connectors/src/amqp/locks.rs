//! Peek-lock: messages a workflow holds unacknowledged until it completes, abandons or
//! dead-letters them, by lock token. A lock expires after its duration (then the message is
//! abandoned and redelivered); renewLock extends it.

use lapin::Acker;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A held message: how to settle it, and what dead-lettering needs to republish it.
pub struct Held {
    pub acker: Acker,
    pub expires: Instant,
    pub queue: String,
    pub payload: Vec<u8>,
    pub properties: lapin::BasicProperties,
}

/// Held messages by lock token.
#[derive(Default)]
pub struct Locks {
    held: Mutex<HashMap<String, Held>>,
}

impl Locks {
    pub fn hold(&self, token: String, held: Held) {
        self.lock().insert(token, held);
    }

    /// Takes a held message out to settle it.
    pub fn take(&self, token: &str) -> Option<Held> {
        self.lock().remove(token)
    }

    /// Extends a lock; the new expiry, or None if the token is not held (settled or expired).
    pub fn renew(&self, token: &str, duration: Duration) -> Option<Instant> {
        let mut held = self.lock();
        let h = held.get_mut(token)?;
        h.expires = Instant::now() + duration;
        Some(h.expires)
    }

    /// Takes every lock that has expired.
    pub fn expired(&self) -> Vec<Held> {
        let now = Instant::now();
        let mut held = self.lock();
        let tokens: Vec<String> = held
            .iter()
            .filter(|(_, h)| h.expires <= now)
            .map(|(t, _)| t.clone())
            .collect();
        tokens.into_iter().filter_map(|t| held.remove(&t)).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}
