//! Backend pools: priority groups, and within a group a smooth weighted round-robin
//! (equal weights make it plain round-robin). The split is exact over any run of requests,
//! not random, so 3:1 weights give 3:1 counts.

use super::config::PoolConfig;
use std::sync::Mutex;
use std::time::Duration;

struct Group {
    /// Indexes into the gateway's backends, with their weights.
    members: Vec<(usize, i64)>,
    /// The smooth weighted round-robin state (nginx's algorithm).
    current: Mutex<Vec<i64>>,
}

pub struct Pool {
    /// Ordered by priority: the first group is used first.
    groups: Vec<Group>,
    pub retries: usize,
    pub size: usize,
    /// Statuses that send a request on to the next backend.
    failover: Vec<u16>,
}

impl Pool {
    /// `index` maps a backend id to its position in the gateway's list.
    pub fn new(config: &PoolConfig, index: impl Fn(&str) -> usize) -> Pool {
        let mut priorities: Vec<u32> = config.backends.iter().map(|m| m.priority).collect();
        priorities.sort_unstable();
        priorities.dedup();
        let groups = priorities
            .iter()
            .map(|p| {
                let members: Vec<(usize, i64)> = config
                    .backends
                    .iter()
                    .filter(|m| m.priority == *p)
                    .map(|m| (index(&m.id), i64::from(m.weight)))
                    .collect();
                Group {
                    current: Mutex::new(vec![0; members.len()]),
                    members,
                }
            })
            .collect();
        let size = config.backends.len();
        Pool {
            groups,
            retries: config.retries.unwrap_or(size.saturating_sub(1)),
            size,
            failover: config.failover_status_codes.clone(),
        }
    }

    /// Whether a backend's `status` sends the request on to the next backend.
    pub fn fails_over(&self, status: u16) -> bool {
        self.failover.contains(&status)
    }

    /// The next backend to try: from the first group with an available backend, by weight.
    /// `open_for(i)` says how long backend `i` is still unavailable (breaker open, or
    /// already tried by this request). Err: the shortest wait until one is available.
    pub fn select(&self, open_for: impl Fn(usize) -> Option<Duration>) -> Result<usize, Duration> {
        let mut soonest = Duration::MAX;
        for group in &self.groups {
            let available: Vec<bool> = group
                .members
                .iter()
                .map(|(i, _)| match open_for(*i) {
                    Some(wait) => {
                        soonest = soonest.min(wait);
                        false
                    }
                    None => true,
                })
                .collect();
            if !available.contains(&true) {
                continue;
            }
            let mut current = group.current.lock().unwrap_or_else(|p| p.into_inner());
            let mut total = 0;
            let mut best: Option<usize> = None;
            for (k, (_, weight)) in group.members.iter().enumerate() {
                if !available[k] {
                    continue;
                }
                current[k] += weight;
                total += weight;
                if best.is_none_or(|b| current[k] > current[b]) {
                    best = Some(k);
                }
            }
            let best = best.expect("one is available");
            current[best] -= total;
            return Ok(group.members[best].0);
        }
        Err(soonest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(json: serde_json::Value) -> Pool {
        let config: PoolConfig = serde_json::from_value(json).unwrap();
        Pool::new(&config, |id| id[1..].parse().unwrap())
    }

    #[test]
    fn weights_split_exactly() {
        let p = pool(
            serde_json::json!({"backends": [{"id": "b0", "weight": 3}, {"id": "b1", "weight": 1}]}),
        );
        let mut counts = [0; 2];
        for _ in 0..400 {
            counts[p.select(|_| None).unwrap()] += 1;
        }
        assert_eq!(counts, [300, 100]);
        assert_eq!(p.retries, 1);
    }

    #[test]
    fn a_lower_priority_serves_only_when_the_higher_are_all_out() {
        let p = pool(serde_json::json!({"backends": [
            {"id": "b0", "priority": 1}, {"id": "b1", "priority": 1}, {"id": "b2", "priority": 2}]}));
        assert_eq!(
            p.select(|i| (i == 0).then_some(Duration::from_secs(3))),
            Ok(1)
        );
        assert_eq!(
            p.select(|i| (i < 2).then_some(Duration::from_secs(3))),
            Ok(2)
        );
        assert_eq!(
            p.select(|i| Some(Duration::from_secs(i as u64 + 1))),
            Err(Duration::from_secs(1))
        );
    }
}
