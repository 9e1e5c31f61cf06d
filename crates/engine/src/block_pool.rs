//! Paged KV-cache block pool with prefix-cache bookkeeping.
//!
//! This is the simulated counterpart of vLLM V1's `BlockPool`: a fixed set of
//! blocks with reference counts, an LRU queue of free blocks (which doubles as
//! the eviction order for cached blocks), and a map from chained block hash to
//! the block holding that content. Freed blocks keep their hash and stay
//! findable until the allocator reuses them, so a later request (or a
//! preempted one coming back) can hit them.
//!
//! All operations are O(1) (hash-map lookups aside); the free queue is an
//! intrusive doubly linked list over block indices so a cached free block can
//! be pulled out of the middle when it is hit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Cheap deterministic hasher for `u64` keys (one avalanche round instead of
/// SipHash): keys are block hashes or request ids, not attacker-controlled.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = crate::request::fmix64(self.0 ^ b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = crate::request::fmix64(self.0 ^ n);
    }
}

/// Hash map keyed by `u64` with [`IdHasher`].
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

const NIL: u32 = u32::MAX;

/// Fixed-capacity pool of KV blocks. Block ids are `0..capacity`.
pub(crate) struct BlockPool {
    ref_cnt: Vec<u32>,
    /// Chained hash of the block's content when the block is registered in the cache.
    hash: Vec<Option<u64>>,
    prev: Vec<u32>,
    next: Vec<u32>,
    head: u32,
    tail: u32,
    num_free: u32,
    cached: IdMap<u32>,
}

impl BlockPool {
    /// A pool of `capacity` usable blocks, all free and uncached.
    pub(crate) fn new(capacity: u32) -> Self {
        let n = capacity as usize;
        let mut prev = Vec::with_capacity(n);
        let mut next = Vec::with_capacity(n);
        for i in 0..capacity {
            prev.push(if i == 0 { NIL } else { i - 1 });
            next.push(if i + 1 == capacity { NIL } else { i + 1 });
        }
        BlockPool {
            ref_cnt: vec![0; n],
            hash: vec![None; n],
            prev,
            next,
            head: if capacity == 0 { NIL } else { 0 },
            tail: if capacity == 0 { NIL } else { capacity - 1 },
            num_free: capacity,
            cached: IdMap::default(),
        }
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.ref_cnt.len() as u32
    }

    /// Blocks not referenced by any request (including cached-but-evictable ones).
    pub(crate) fn num_free(&self) -> u32 {
        self.num_free
    }

    /// Number of blocks currently registered in the prefix cache.
    pub(crate) fn num_cached(&self) -> u32 {
        self.cached.len() as u32
    }

    /// Whether block `b` is unreferenced (sitting in the free queue).
    #[inline]
    pub(crate) fn is_free(&self, b: u32) -> bool {
        self.ref_cnt[b as usize] == 0
    }

    /// Block holding the content with this chained hash, if cached.
    #[inline]
    pub(crate) fn lookup(&self, h: u64) -> Option<u32> {
        self.cached.get(&h).copied()
    }

    fn unlink(&mut self, b: u32) {
        let (p, n) = (self.prev[b as usize], self.next[b as usize]);
        if p == NIL {
            self.head = n;
        } else {
            self.next[p as usize] = n;
        }
        if n == NIL {
            self.tail = p;
        } else {
            self.prev[n as usize] = p;
        }
        self.prev[b as usize] = NIL;
        self.next[b as usize] = NIL;
        self.num_free -= 1;
    }

    fn push_back(&mut self, b: u32) {
        self.prev[b as usize] = self.tail;
        self.next[b as usize] = NIL;
        if self.tail == NIL {
            self.head = b;
        } else {
            self.next[self.tail as usize] = b;
        }
        self.tail = b;
        self.num_free += 1;
    }

    /// Take a reference on a cached block found by [`lookup`](Self::lookup)
    /// (pulls it out of the free queue if nobody was using it).
    pub(crate) fn touch(&mut self, b: u32) {
        if self.ref_cnt[b as usize] == 0 {
            self.unlink(b);
        }
        self.ref_cnt[b as usize] += 1;
    }

    /// Allocate the least recently freed block, evicting its cached content.
    /// Panics if the pool is exhausted (callers check [`num_free`](Self::num_free)).
    pub(crate) fn alloc(&mut self) -> u32 {
        let b = self.head;
        assert!(b != NIL, "KV block pool exhausted");
        self.unlink(b);
        if let Some(h) = self.hash[b as usize].take() {
            if self.cached.get(&h) == Some(&b) {
                self.cached.remove(&h);
            }
        }
        self.ref_cnt[b as usize] = 1;
        b
    }

    /// Drop one reference; an unreferenced block goes to the tail of the free
    /// queue (most recently used = evicted last) and keeps its cached content.
    pub(crate) fn release(&mut self, b: u32) {
        let rc = &mut self.ref_cnt[b as usize];
        assert!(*rc > 0, "double free of KV block {b}");
        *rc -= 1;
        if *rc == 0 {
            self.push_back(b);
        }
    }

    /// Register block `b` (referenced, fully written) under content hash `h`.
    /// If another block already holds the same content the block stays
    /// unregistered (the duplicate is simply not cached).
    pub(crate) fn register(&mut self, b: u32, h: u64) {
        if self.hash[b as usize].is_some() {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = self.cached.entry(h) {
            e.insert(b);
            self.hash[b as usize] = Some(h);
        }
    }

    /// Full consistency check (for tests): free-list length and membership,
    /// reference counts against `holders` (how many requests hold each block),
    /// and the cache map.
    pub(crate) fn check(&self, holders: &[u32]) -> Result<(), String> {
        let n = self.capacity() as usize;
        if holders.len() != n {
            return Err("holder vector has wrong length".into());
        }
        // Walk the free list.
        let mut seen = vec![false; n];
        let mut count = 0u32;
        let mut cur = self.head;
        let mut last = NIL;
        while cur != NIL {
            let c = cur as usize;
            if seen[c] {
                return Err(format!("free list cycle at block {cur}"));
            }
            seen[c] = true;
            if self.prev[c] != last {
                return Err(format!("free list prev link broken at block {cur}"));
            }
            count += 1;
            last = cur;
            cur = self.next[c];
        }
        if last != self.tail {
            return Err("free list tail mismatch".into());
        }
        if count != self.num_free {
            return Err(format!("free list has {count} blocks but num_free = {}", self.num_free));
        }
        if self.num_free > self.capacity() {
            return Err("more free blocks than capacity".into());
        }
        for b in 0..n {
            if self.ref_cnt[b] != holders[b] {
                return Err(format!(
                    "block {b}: ref_cnt {} but held by {} requests",
                    self.ref_cnt[b], holders[b]
                ));
            }
            if (self.ref_cnt[b] == 0) != seen[b] {
                return Err(format!("block {b}: free-list membership mismatch"));
            }
            if let Some(h) = self.hash[b] {
                if self.cached.get(&h) != Some(&(b as u32)) {
                    return Err(format!("block {b}: hash not mapped back to it"));
                }
            }
        }
        for (&h, &b) in &self.cached {
            if self.hash[b as usize] != Some(h) {
                return Err(format!("cache map entry for block {b} is stale"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_eviction_and_hits() {
        let mut p = BlockPool::new(3);
        let a = p.alloc();
        let b = p.alloc();
        p.register(a, 11);
        p.register(b, 22);
        assert_eq!(p.num_free(), 1);
        // Free b first, then a: b is evicted before a.
        p.release(b);
        p.release(a);
        assert_eq!(p.num_free(), 3);
        assert_eq!(p.lookup(11), Some(a));
        // Hit on a pulls it out of the free queue.
        p.touch(a);
        assert_eq!(p.num_free(), 2);
        let c = p.alloc(); // the never-used block 2
        assert_eq!(c, 2);
        let d = p.alloc(); // evicts b
        assert_eq!(d, b);
        assert_eq!(p.lookup(22), None);
        assert_eq!(p.lookup(11), Some(a));
        let mut holders = vec![0; 3];
        holders[a as usize] = 1;
        holders[c as usize] = 1;
        holders[d as usize] = 1;
        p.check(&holders).unwrap();
    }

    #[test]
    fn duplicate_content_not_registered_twice() {
        let mut p = BlockPool::new(2);
        let a = p.alloc();
        let b = p.alloc();
        p.register(a, 5);
        p.register(b, 5);
        assert_eq!(p.lookup(5), Some(a));
        assert_eq!(p.num_cached(), 1);
        p.check(&[1, 1]).unwrap();
    }
}
