// SPDX-License-Identifier: GPL-2.0

//! A fixed-capacity FIFO of buffer indices: the queue's "queued" and "done"
//! lists, without allocation.

use super::MAX_BUFFERS;

/// Buffer indices in arrival order; at most [`MAX_BUFFERS`], which is also the
/// number of slots, so a slot can always be pushed once.
pub(crate) struct IndexFifo {
    items: [u8; MAX_BUFFERS],
    head: usize,
    len: usize,
}

impl IndexFifo {
    /// An empty FIFO.
    pub(crate) const fn new() -> Self {
        Self {
            items: [0; MAX_BUFFERS],
            head: 0,
            len: 0,
        }
    }

    /// Number of indices held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no index is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `index`; returns `false` (and changes nothing) when full.
    pub(crate) fn push(&mut self, index: usize) -> bool {
        if self.len == MAX_BUFFERS || index >= MAX_BUFFERS {
            return false;
        }
        self.items[(self.head + self.len) % MAX_BUFFERS] = index as u8;
        self.len += 1;
        true
    }

    /// The oldest index, left in place.
    pub(crate) fn peek(&self) -> Option<usize> {
        (self.len > 0).then(|| self.items[self.head] as usize)
    }

    /// Removes and returns the oldest index.
    pub(crate) fn pop(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let index = self.items[self.head] as usize;
        self.head = (self.head + 1) % MAX_BUFFERS;
        self.len -= 1;
        Some(index)
    }

    /// Whether `pick` holds for any index, tried oldest first.
    pub(crate) fn any(&self, mut pick: impl FnMut(usize) -> bool) -> bool {
        (0..self.len).any(|i| pick(self.items[(self.head + i) % MAX_BUFFERS] as usize))
    }

    /// Removes and returns the oldest index for which `pick` holds, keeping
    /// the order of the others.
    pub(crate) fn remove_first(&mut self, mut pick: impl FnMut(usize) -> bool) -> Option<usize> {
        let at =
            (0..self.len).find(|&i| pick(self.items[(self.head + i) % MAX_BUFFERS] as usize))?;
        let index = self.items[(self.head + at) % MAX_BUFFERS] as usize;
        // The younger ones move up a place.
        for i in at..self.len - 1 {
            self.items[(self.head + i) % MAX_BUFFERS] =
                self.items[(self.head + i + 1) % MAX_BUFFERS];
        }
        self.len -= 1;
        Some(index)
    }

    /// Forgets every index.
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}
