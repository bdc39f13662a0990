// SPDX-License-Identifier: GPL-2.0

//! Userspace as the queue tests' rigs play it: the bytes it writes into
//! memory it owns, which nothing the driver does may change until userspace
//! queues that memory again ([`Claims`]), and its writes ([`Userspace`]).

use crate::model::{Buffer, World};
use crate::rng::Rng;
use core::cell::Cell;
use core::ops::Range;
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

/// Bytes userspace wrote into memory it owns (a buffer's or a plane's).
struct Claim {
    buffer: Rc<Buffer>,
    /// What the buffer holds where userspace wrote, by offset.
    bytes: Vec<u8>,
    /// Where it wrote: sorted, disjoint, not adjacent.
    written: Vec<Range<usize>>,
    /// The buffer's view version when the bytes were last found intact:
    /// checking again before it changes would find what it found then.
    intact_at: Cell<Option<u64>>,
}

/// What userspace wrote and has not queued since.
#[derive(Default)]
pub(crate) struct Claims(Vec<Claim>);

impl Claims {
    /// Records that userspace wrote `data` at `offset` of `buffer`.
    fn record(&mut self, buffer: &Rc<Buffer>, offset: usize, data: &[u8]) {
        let claim = match self.0.iter().position(|c| c.buffer.id == buffer.id) {
            Some(at) => &mut self.0[at],
            None => {
                self.0.push(Claim {
                    buffer: buffer.clone(),
                    bytes: vec![0; buffer.len()],
                    written: Vec::new(),
                    intact_at: Cell::new(None),
                });
                self.0.last_mut().unwrap()
            }
        };
        claim.intact_at.set(None);
        let range = offset..offset + data.len();
        claim.bytes[range.clone()].copy_from_slice(data);
        claim.written.push(range);
        claim.written.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for range in claim.written.drain(..) {
            match merged.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }
        claim.written = merged;
    }

    /// `buffer` goes to the device: userspace gives up what it wrote there.
    pub(crate) fn forget(&mut self, buffer: &Buffer) {
        self.0.retain(|c| c.buffer.id != buffer.id);
    }

    /// Whether userspace has written into `buffer` since it last gave it up.
    pub(crate) fn holds(&self, buffer: &Buffer) -> bool {
        self.0.iter().any(|c| c.buffer.id == buffer.id)
    }

    /// How many buffers userspace has written into.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Panics unless every byte userspace wrote into memory it still owns
    /// and reaches reads back as it wrote it. `mmap_reached` tells whether
    /// userspace still reaches an MMAP buffer (the queue holds it or
    /// userspace keeps it mmapped); one it does not is freed and skipped.
    pub(crate) fn check(&self, context: &str, mmap_reached: impl Fn(&Buffer) -> bool) {
        for claim in &self.0 {
            let mmap_freed = claim.buffer.exporter().is_none() && !mmap_reached(&claim.buffer);
            let version = claim.buffer.view_version();
            if mmap_freed || claim.intact_at.get() == Some(version) {
                continue;
            }
            let seen = claim.buffer.cpu_peek(0..claim.buffer.len());
            for range in &claim.written {
                if seen[range.clone()] == claim.bytes[range.clone()] {
                    continue;
                }
                let offset = range.clone().find(|&i| seen[i] != claim.bytes[i]).unwrap();
                panic!(
                    "{context}: byte {offset} that userspace wrote into buffer {} ({:?}) \
                     changed from {:#x} to {:#x}",
                    claim.buffer.id,
                    claim.buffer.exporter(),
                    claim.bytes[offset],
                    seen[offset]
                );
            }
            claim.intact_at.set(Some(version));
        }
    }
}

/// Userspace's writes into memory it owns, for a rig that keeps its
/// [`Claims`] in a [`World`].
pub(crate) trait Userspace {
    fn world(&self) -> &World;
    fn claims_mut(&mut self) -> &mut Claims;

    /// Userspace writes `data` at `offset` of `buffer`, which it owns.
    fn user_write(&mut self, buffer: &Rc<Buffer>, offset: usize, data: &[u8]) {
        self.world().disturb();
        buffer.cpu_write(offset, data);
        self.claims_mut().record(buffer, offset, data);
    }

    /// Userspace fills all of `buffer` with `byte`.
    fn user_fill(&mut self, buffer: &Rc<Buffer>, byte: u8) {
        self.user_write(buffer, 0, &vec![byte; buffer.len()]);
    }

    /// Userspace writes `byte` over all of `buffer` or a random part of it.
    fn user_scribble(&mut self, buffer: &Rc<Buffer>, rng: &mut Rng, byte: u8) {
        let len = buffer.len();
        if rng.one_in(2) {
            self.user_fill(buffer, byte);
        } else {
            let start = rng.below(len);
            let end = start + 1 + rng.below(len - start);
            self.user_write(buffer, start, &vec![byte; end - start]);
        }
    }
}
