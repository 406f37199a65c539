//! Tables sized by a burst give their memory back once it has passed.
//!
//! A first sync reads thousands of distinct keys in a few seconds, and the fetch layer's per-key
//! tables (pending and in-flight reads, held and recent values) grow to hold them all at once;
//! hashbrown never shrinks a table on its own, so each kept that size, empty, for the life of
//! the process (≈ 2.5 MB at N = 3,000 on a loaded machine, in a heap profile).
use std::collections::HashMap;
use std::hash::Hash;

/// Below this many buckets a table is left alone.
const SMALL: usize = 64;

/// Shrinks `map` to twice its length once it is under a quarter full: amortised O(1) per
/// removal, and a table that refills soon does not thrash.
pub fn release_spare<K: Eq + Hash, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > SMALL && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_emptied_after_a_burst_gives_its_memory_back() {
        let mut map: HashMap<u32, [u8; 64]> = (0..10_000).map(|i| (i, [0; 64])).collect();
        let burst = map.capacity();
        for i in 0..10_000 {
            map.remove(&i);
            release_spare(&mut map);
        }
        assert!(map.capacity() <= SMALL, "{} buckets kept of {burst}", map.capacity());
    }

    #[test]
    fn a_busy_table_keeps_its_room() {
        let mut map: HashMap<u32, u32> = (0..1_000).map(|i| (i, i)).collect();
        for i in 0..500 {
            map.remove(&i);
            release_spare(&mut map);
        }
        // Still room for the whole burst again (hashbrown's count moves a little with tombstones).
        assert!(map.capacity() >= 1_000, "half full, shrunk to {}", map.capacity());
    }
}
