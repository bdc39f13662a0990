// SPDX-License-Identifier: GPL-2.0

//! Physical memory as the CPU and the device see it.
//!
//! A [`Region`] is RAM, which the device reads and writes directly, and, on
//! a platform whose DMA is not coherent with the CPU, the CPU's data cache
//! in front of it: 64-byte lines, write-allocate, write-back. The CPU's
//! reads and writes go through the cache. Cache maintenance is arm64's:
//! clean (`dc cvac`) writes dirty lines back and keeps them; invalidate
//! (`dc ivac`) drops lines, dirty data and all, except a line the range
//! only partly covers, which is cleaned first (`dc civac`, what
//! `dcache_inval_poc` does at the edges of its range). And a cache may, at
//! any moment, write a dirty line back or load a line speculatively
//! ([`Region::disturb`]).
//!
//! On a coherent platform there is no cache to model: the CPU sees RAM.

use crate::rng::Rng;
use core::cell::{Cell, RefCell};
use core::ops::Range;
use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;

/// Bytes in a cache line (arm64's `CTR_EL0.DminLine` on common cores).
pub const LINE: usize = 64;

struct CacheLine {
    bytes: [u8; LINE],
    dirty: bool,
}

/// RAM, and the CPU's cache of it if the CPU is not coherent.
pub struct Region {
    len: usize,
    /// `len` rounded up to whole lines: a line at the end of a region that
    /// is not a multiple of [`LINE`] still moves as a whole.
    ram: RefCell<Vec<u8>>,
    /// The lines the CPU holds, by index; `None` on a coherent CPU.
    cache: Option<RefCell<BTreeMap<usize, CacheLine>>>,
    /// Bumped by everything that may change what the CPU sees.
    view_version: Cell<u64>,
}

/// The indices of the lines that `bytes` touches.
fn lines_of(bytes: &Range<usize>) -> Range<usize> {
    if bytes.is_empty() {
        0..0
    } else {
        bytes.start / LINE..bytes.end.div_ceil(LINE)
    }
}

/// The part of `bytes` in line `line`.
fn in_line(line: usize, bytes: &Range<usize>) -> Range<usize> {
    bytes.start.max(line * LINE)..bytes.end.min((line + 1) * LINE)
}

impl Region {
    /// `len` bytes of RAM holding `fill`, behind a CPU cache if `cached`.
    pub fn new(len: usize, fill: u8, cached: bool) -> Self {
        Self {
            len,
            ram: RefCell::new(vec![fill; len.div_ceil(LINE) * LINE]),
            cache: cached.then(|| RefCell::new(BTreeMap::new())),
            view_version: Cell::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Changes whenever what the CPU sees of the region may have changed
    /// (a store, a device write, an invalidate); a cache's own write-backs
    /// and loads change nothing the CPU sees.
    pub fn view_version(&self) -> u64 {
        self.view_version.get()
    }

    fn view_changes(&self) {
        self.view_version.set(self.view_version.get() + 1);
    }

    fn check(&self, bytes: &Range<usize>, who: &str) {
        assert!(
            bytes.start <= bytes.end && bytes.end <= self.len,
            "model: {who} of bytes {bytes:?} outside a {}-byte region",
            self.len
        );
    }

    fn line_from_ram(&self, line: usize) -> CacheLine {
        let mut bytes = [0; LINE];
        bytes.copy_from_slice(&self.ram.borrow()[line * LINE..(line + 1) * LINE]);
        CacheLine {
            bytes,
            dirty: false,
        }
    }

    fn write_back(&self, line: usize, cached: &mut CacheLine) {
        if cached.dirty {
            self.ram.borrow_mut()[line * LINE..(line + 1) * LINE].copy_from_slice(&cached.bytes);
            cached.dirty = false;
        }
    }

    /// What a CPU load of `bytes` returns; the lines it misses are loaded.
    pub fn cpu_read(&self, bytes: Range<usize>) -> Vec<u8> {
        self.check(&bytes, "CPU read");
        let Some(cache) = &self.cache else {
            return self.ram.borrow()[bytes].to_vec();
        };
        let mut cache = cache.borrow_mut();
        let mut out = Vec::with_capacity(bytes.len());
        for line in lines_of(&bytes) {
            let cached = cache
                .entry(line)
                .or_insert_with(|| self.line_from_ram(line));
            let part = in_line(line, &bytes);
            out.extend_from_slice(&cached.bytes[part.start - line * LINE..part.end - line * LINE]);
        }
        out
    }

    /// What a CPU load of `bytes` would return, without loading anything:
    /// for the tests' checks, which must not change what they observe.
    pub fn cpu_peek(&self, bytes: Range<usize>) -> Vec<u8> {
        self.check(&bytes, "CPU peek");
        let mut out = self.ram.borrow()[bytes.clone()].to_vec();
        if let Some(cache) = &self.cache {
            for (&line, cached) in cache.borrow().range(lines_of(&bytes)) {
                let part = in_line(line, &bytes);
                out[part.start - bytes.start..part.end - bytes.start].copy_from_slice(
                    &cached.bytes[part.start - line * LINE..part.end - line * LINE],
                );
            }
        }
        out
    }

    /// A CPU store of `data` at `offset`: into the cache, lines it misses
    /// loaded first (write-allocate), or into RAM on a coherent CPU.
    pub fn cpu_write(&self, offset: usize, data: &[u8]) {
        let bytes = offset..offset + data.len();
        self.check(&bytes, "CPU write");
        self.view_changes();
        let Some(cache) = &self.cache else {
            self.ram.borrow_mut()[bytes].copy_from_slice(data);
            return;
        };
        let mut cache = cache.borrow_mut();
        for line in lines_of(&bytes) {
            let cached = cache
                .entry(line)
                .or_insert_with(|| self.line_from_ram(line));
            let part = in_line(line, &bytes);
            cached.bytes[part.start - line * LINE..part.end - line * LINE]
                .copy_from_slice(&data[part.start - offset..part.end - offset]);
            cached.dirty = true;
        }
    }

    /// Writes the dirty lines `bytes` touches back to RAM; they stay cached.
    pub fn clean(&self, bytes: Range<usize>) {
        self.check(&bytes, "clean");
        let Some(cache) = &self.cache else {
            return;
        };
        let mut cache = cache.borrow_mut();
        for line in lines_of(&bytes) {
            if let Some(cached) = cache.get_mut(&line) {
                self.write_back(line, cached);
            }
        }
    }

    /// Drops the lines `bytes` touches, dirty data included; a line that
    /// `bytes` only partly covers is written back first, since the rest of
    /// it is not the caller's to discard.
    pub fn invalidate(&self, bytes: Range<usize>) {
        self.check(&bytes, "invalidate");
        self.view_changes();
        let Some(cache) = &self.cache else {
            return;
        };
        let mut cache = cache.borrow_mut();
        for line in lines_of(&bytes) {
            let Some(mut cached) = cache.remove(&line) else {
                continue;
            };
            if in_line(line, &bytes).len() < LINE {
                self.write_back(line, &mut cached);
            }
        }
    }

    /// A device write: straight into RAM, whatever the CPU caches.
    pub fn device_write(&self, offset: usize, data: &[u8]) {
        let bytes = offset..offset + data.len();
        self.check(&bytes, "device write");
        self.view_changes();
        self.ram.borrow_mut()[bytes].copy_from_slice(data);
    }

    /// What the device reads: RAM.
    pub fn device_read(&self, bytes: Range<usize>) -> Vec<u8> {
        self.check(&bytes, "device read");
        self.ram.borrow()[bytes].to_vec()
    }

    /// What a cache does on its own: writes some dirty lines back (they
    /// stay, clean) and loads a few lines speculatively.
    pub fn disturb(&self, rng: &mut Rng) {
        let Some(cache) = &self.cache else {
            return;
        };
        let mut cache = cache.borrow_mut();
        for (&line, cached) in cache.iter_mut() {
            if cached.dirty && rng.one_in(4) {
                self.write_back(line, cached);
            }
        }
        let lines = self.len.div_ceil(LINE);
        for _ in 0..2 {
            if lines > 0 {
                let line = rng.below(lines);
                cache
                    .entry(line)
                    .or_insert_with(|| self.line_from_ram(line));
            }
        }
    }
}
