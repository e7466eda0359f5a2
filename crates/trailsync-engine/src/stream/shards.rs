//! The shards of a stream as a graph: which may be read now, and when one is finished.
//!
//! A split closes a shard and opens two children; a merge closes two and opens one. Records of
//! a key are in the parent before they are in a child, so a child is read only once every parent
//! is drained: read to its end and its last records committed. Parents that the stream no longer
//! lists (past retention) count as drained.

use std::collections::{BTreeMap, HashMap};

use trailsync_core::{Position, SequenceNumber, ShardInfo, ShardRead};

/// Whether a read shows the reader at the end of its shard. `position` is the last sequence
/// number read (or resumed after); `ending` is the shard's `EndingSequenceNumber`, known once the
/// shard is closed. The end is there when Kinesis hands out no next iterator (AWS), when the
/// position reached the ending (moto keeps handing out iterators), or when a closed shard has
/// nothing more and the read is caught up (a start after its last record: nothing to reach).
pub(crate) fn reached_end(
    position: Option<&SequenceNumber>,
    ending: Option<&SequenceNumber>,
    read: &ShardRead,
) -> bool {
    if read.closed {
        return true;
    }
    let Some(ending) = ending else {
        return false;
    };
    if position.is_some_and(|p| p >= ending) {
        return true;
    }
    read.records.is_empty() && read.millis_behind_latest == Some(0)
}

/// Every shard seen, its info as last listed, and whether it is finished (read to its end and
/// committed, by this worker or another).
#[derive(Debug, Default)]
pub(crate) struct ShardGraph {
    nodes: BTreeMap<String, Node>,
}

#[derive(Debug)]
struct Node {
    info: ShardInfo,
    drained: bool,
}

impl ShardGraph {
    /// Merges a ListShards answer: new shards are added, known ones learn their ending. Returns
    /// the shards whose ending is new, for their readers.
    pub(crate) fn update(&mut self, listing: Vec<ShardInfo>) -> Vec<(String, SequenceNumber)> {
        let mut closed = Vec::new();
        for info in listing {
            match self.nodes.get_mut(&info.shard_id) {
                Some(node) => {
                    if node.info.ending_sequence_number != info.ending_sequence_number {
                        if let Some(ending) = &info.ending_sequence_number {
                            closed.push((info.shard_id.clone(), ending.clone()));
                        }
                        node.info.ending_sequence_number = info.ending_sequence_number;
                    }
                }
                None => {
                    self.nodes.insert(
                        info.shard_id.clone(),
                        Node {
                            info,
                            drained: false,
                        },
                    );
                }
            }
        }
        closed
    }

    /// Marks drained the shards whose committed position (by any worker) reached their end;
    /// returns those newly drained.
    pub(crate) fn observe(&mut self, positions: &HashMap<String, Position>) -> Vec<String> {
        let mut drained = Vec::new();
        for node in self.nodes.values_mut() {
            if node.drained {
                continue;
            }
            let at = positions
                .get(&node.info.shard_id)
                .and_then(Position::sequence_number);
            if let (Some(at), Some(ending)) = (at, &node.info.ending_sequence_number)
                && at >= ending
            {
                node.drained = true;
                drained.push(node.info.shard_id.clone());
            }
        }
        drained
    }

    /// Shards that may be read now: not drained, with every parent drained or no longer listed.
    pub(crate) fn readable(&self) -> Vec<&ShardInfo> {
        self.nodes
            .values()
            .filter(|n| !n.drained)
            .filter(|n| {
                n.info
                    .parents()
                    .all(|parent| self.nodes.get(parent).is_none_or(|p| p.drained))
            })
            .map(|n| &n.info)
            .collect()
    }

    /// Whether `shard` has a parent still listed: a shard made by resharding, whose records are
    /// all newer than its parents'.
    pub(crate) fn has_listed_parent(&self, shard: &ShardInfo) -> bool {
        shard.parents().any(|p| self.nodes.contains_key(p))
    }

    /// Records that a shard was read to its end and everything from it is committed; false if
    /// that was known already.
    pub(crate) fn drained(&mut self, shard_id: &str) -> bool {
        match self.nodes.get_mut(shard_id) {
            Some(node) => !std::mem::replace(&mut node.drained, true),
            None => false,
        }
    }

    /// How many shards are known, and how many of them are drained.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let drained = self.nodes.values().filter(|n| n.drained).count();
        (self.nodes.len(), drained)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailsync_core::Record;

    fn seq(s: &str) -> SequenceNumber {
        SequenceNumber::new(s).expect("digits")
    }

    fn shard(id: &str, parents: &[&str], ending: Option<&str>) -> ShardInfo {
        ShardInfo {
            shard_id: id.to_string(),
            parent_shard_id: parents.first().map(|p| p.to_string()),
            adjacent_parent_shard_id: parents.get(1).map(|p| p.to_string()),
            ending_sequence_number: ending.map(seq),
        }
    }

    fn ids(graph: &ShardGraph) -> Vec<String> {
        graph
            .readable()
            .into_iter()
            .map(|s| s.shard_id.clone())
            .collect()
    }

    #[test]
    fn children_wait_until_every_parent_is_drained() {
        let mut graph = ShardGraph::default();
        graph.update(vec![
            shard("a", &[], Some("20")),
            shard("b", &[], Some("30")),
            shard("c", &[], None),
            // a split into a1 and a2; a1 merged with b into m.
            shard("a1", &["a"], Some("40")),
            shard("a2", &["a"], None),
            shard("m", &["a1", "b"], None),
        ]);
        assert_eq!(ids(&graph), ["a", "b", "c"]);
        graph.drained("a");
        assert_eq!(ids(&graph), ["a1", "a2", "b", "c"]);
        graph.drained("a1");
        assert_eq!(ids(&graph), ["a2", "b", "c"], "m still waits for b");
        graph.drained("b");
        assert_eq!(ids(&graph), ["a2", "c", "m"]);
        assert_eq!(graph.counts(), (6, 3));
        assert!(graph.has_listed_parent(&shard("m", &["a1", "b"], None)));
        assert!(!graph.has_listed_parent(&shard("x", &["gone"], None)));
    }

    #[test]
    fn a_shard_checkpointed_at_its_end_by_any_worker_is_drained() {
        let mut graph = ShardGraph::default();
        graph.update(vec![
            shard("p", &[], Some("120")),
            shard("q", &[], Some("100")),
            shard("child", &["p"], None),
            shard("orphan", &["expired"], None),
        ]);
        graph.observe(&HashMap::from([
            ("p".to_string(), Position::After(seq("0000120"))),
            ("q".to_string(), Position::After(seq("99"))),
        ]));
        // p is finished; q is one record short; a parent no longer listed is no obstacle.
        assert_eq!(ids(&graph), ["child", "orphan", "q"]);
    }

    #[test]
    fn readers_learn_when_their_shard_closes() {
        let mut graph = ShardGraph::default();
        graph.update(vec![shard("a", &[], None)]);
        let closed = graph.update(vec![shard("a", &[], Some("7")), shard("a1", &["a"], None)]);
        assert_eq!(closed, [("a".to_string(), seq("7"))]);
        assert_eq!(ids(&graph), ["a"]);
    }

    #[test]
    fn the_end_of_a_shard() {
        let read = |records: &[&str], closed, behind| ShardRead {
            records: records
                .iter()
                .map(|s| Record {
                    sequence_number: seq(s),
                    data: Vec::new(),
                })
                .collect(),
            closed,
            millis_behind_latest: behind,
        };
        // AWS: no next iterator.
        assert!(reached_end(None, None, &read(&[], true, None)));
        // An open shard never ends, however caught up.
        assert!(!reached_end(
            Some(&seq("5")),
            None,
            &read(&[], false, Some(0))
        ));
        // moto: the ending sequence number reached, compared as a number.
        assert!(reached_end(
            Some(&seq("10")),
            Some(&seq("10")),
            &read(&["10"], false, Some(0))
        ));
        assert!(!reached_end(
            Some(&seq("9")),
            Some(&seq("10")),
            &read(&["9"], false, Some(5))
        ));
        assert!(reached_end(
            Some(&seq("100")),
            Some(&seq("99")),
            &read(&[], false, Some(9))
        ));
        // A closed shard with nothing after the start position.
        assert!(reached_end(
            None,
            Some(&seq("12")),
            &read(&[], false, Some(0))
        ));
        assert!(!reached_end(
            None,
            Some(&seq("12")),
            &read(&[], false, Some(300))
        ));
    }
}
