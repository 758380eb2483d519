//! In-order offset storing: events of a partition finish in any order, but an offset is
//! stored only when every earlier event of that partition has finished, so a crash or a
//! rebalance redelivers from the first unfinished event and never skips one.

use std::collections::{BTreeMap, HashMap};

/// Events in flight per partition, by offset: `true` once finished.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, BTreeMap<i64, bool>>,
}

impl OffsetTracker {
    /// An event starts.
    pub fn begin(&mut self, partition: i32, offset: i64) {
        self.partitions
            .entry(partition)
            .or_default()
            .insert(offset, false);
    }

    /// An event finished: the offset to store now (the next to consume), if the finished
    /// prefix of the partition grew.
    pub fn finish(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let pending = self.partitions.get_mut(&partition)?;
        *pending.get_mut(&offset)? = true;
        let mut next = None;
        while let Some((&first, &done)) = pending.first_key_value() {
            if !done {
                break;
            }
            pending.pop_first();
            next = Some(first + 1);
        }
        next
    }

    /// Events of `partition` not yet finished.
    pub fn in_flight(&self, partition: i32) -> usize {
        self.partitions
            .get(&partition)
            .map_or(0, |p| p.values().filter(|done| !**done).count())
    }

    /// Forgets a partition (revoked).
    pub fn forget(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// Forgets every partition (the consumer is closing; what did not finish is redelivered).
    pub fn clear(&mut self) {
        self.partitions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stored_only_past_a_finished_prefix() {
        let mut t = OffsetTracker::default();
        for o in 10..14 {
            t.begin(0, o);
        }
        t.begin(1, 5);
        assert_eq!(t.finish(0, 12), None, "10 and 11 still run");
        assert_eq!(t.finish(0, 10), Some(11));
        assert_eq!(t.in_flight(0), 2);
        assert_eq!(t.finish(0, 11), Some(13), "12 had finished already");
        assert_eq!(t.finish(1, 5), Some(6));
        assert_eq!(t.finish(0, 13), Some(14));
        assert_eq!(t.finish(0, 99), None, "an unknown offset stores nothing");
        assert_eq!(t.in_flight(0), 0);
    }
}
