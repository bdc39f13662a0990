// SPDX-License-Identifier: GPL-2.0

//! The device's own queue: the buffers the queue handed to the device
//! ([`super::Queue::hand_to_device`]), as a capture device's descriptor
//! ring holds them, and the frames it finished, until the queue takes them
//! back ([`super::Queue::finish_frame`]).
//!
//! It stands apart from [`super::Queue`] so that the device side needs no
//! lock the ioctls hold while they allocate, attach or map: the shell puts
//! it under a spinlock of its own, the only lock of the queue's that the
//! engine takes between taking a buffer and signalling its write fence
//! (the kernel's rule for fence signalling: nothing on that path may wait
//! for a lock that is held around a memory allocation or a fence wait).
//!
//! # Order
//!
//! Buffers are handed in QBUF order (STREAMON hands those queued before
//! it). The device fills the oldest one that is ready
//! ([`DeviceWork::is_ready`]: the fences it must wait for have signalled);
//! a buffer held off by a fence keeps its place while younger ones are
//! filled, so frames, and DQBUF, may come in another order than QBUF's.
//! Frames finish in the order the device filled them, which is the order
//! DQBUF returns them.

use super::fifo::IndexFifo;
use super::{FrameDone, MAX_BUFFERS};
use core::ops::DerefMut;

/// What the device holds of a buffer handed to it.
pub(crate) trait DeviceWork {
    /// Whether the device may write the buffer now: every fence it must
    /// wait for has signalled. May forget fences it finds signalled.
    fn is_ready(&mut self) -> bool;
}

/// What [`DeviceQueue::take_ready`] found.
pub(crate) enum Next<W> {
    /// The oldest ready buffer, taken out: its index and work.
    Ready(usize, W),
    /// Buffers are handed, but none is ready.
    Blocked,
    /// No buffer is handed.
    Empty,
}

/// What the device's queue holds of buffer slot: the buffer's work while
/// handed, its frame once finished.
pub(crate) struct Entry<W> {
    work: Option<W>,
    frame: Option<FrameDone>,
}

impl<W> Default for Entry<W> {
    fn default() -> Self {
        Self {
            work: None,
            frame: None,
        }
    }
}

/// The buffers handed to the device, and the frames it finished, in a
/// table `T` of [`MAX_BUFFERS`] entries allocated by the caller (the
/// entries are too large for a kernel stack).
///
/// # Invariants
///
/// `handed` holds each index at most once, exactly those whose entry has
/// `work`; `finished` holds each index at most once, exactly those whose
/// entry has a `frame`.
pub(crate) struct DeviceQueue<W, T> {
    handed: IndexFifo,
    finished: IndexFifo,
    entries: T,
    _work: core::marker::PhantomData<W>,
}

impl<W, T: DerefMut<Target = [Entry<W>]>> DeviceQueue<W, T> {
    /// An empty queue in `entries`, of which it uses the first
    /// [`MAX_BUFFERS`] (all are emptied).
    pub(crate) fn new(mut entries: T) -> Self {
        for entry in entries.iter_mut() {
            *entry = Entry::default();
        }
        Self {
            handed: IndexFifo::new(),
            finished: IndexFifo::new(),
            entries,
            _work: core::marker::PhantomData,
        }
    }

    fn work(&mut self, index: usize) -> Option<&mut Option<W>> {
        (index < MAX_BUFFERS)
            .then(|| self.entries.get_mut(index).map(|e| &mut e.work))
            .flatten()
    }

    fn frame(&mut self, index: usize) -> Option<&mut Option<FrameDone>> {
        (index < MAX_BUFFERS)
            .then(|| self.entries.get_mut(index).map(|e| &mut e.frame))
            .flatten()
    }

    /// Hands buffer `index` to the device; gives `work` back if `index` is
    /// out of range or already handed (the queue never does either).
    pub(crate) fn hand(&mut self, index: usize, work: W) -> Result<(), W> {
        let free = matches!(self.work(index), Some(None));
        if !free || !self.handed.push(index) {
            return Err(work);
        }
        if let Some(entry) = self.work(index) {
            *entry = Some(work);
        }
        Ok(())
    }

    /// Whether any buffer is handed and not taken yet.
    pub(crate) fn has_handed(&self) -> bool {
        !self.handed.is_empty()
    }

    /// Whether a handed buffer is ready.
    pub(crate) fn has_ready(&mut self) -> bool
    where
        W: DeviceWork,
    {
        let Self {
            handed, entries, ..
        } = self;
        handed.any(|index| {
            entries
                .get_mut(index)
                .and_then(|e| e.work.as_mut())
                .is_some_and(DeviceWork::is_ready)
        })
    }

    /// Takes the oldest handed buffer that is ready, leaving the others in
    /// their order.
    pub(crate) fn take_ready(&mut self) -> Next<W>
    where
        W: DeviceWork,
    {
        if self.handed.is_empty() {
            return Next::Empty;
        }
        let Self {
            handed, entries, ..
        } = self;
        let ready = handed.remove_first(|index| {
            entries
                .get_mut(index)
                .and_then(|e| e.work.as_mut())
                .is_some_and(DeviceWork::is_ready)
        });
        match ready.and_then(|index| Some((index, self.work(index)?.take()?))) {
            Some((index, work)) => Next::Ready(index, work),
            None => Next::Blocked,
        }
    }

    /// Takes back the oldest handed buffer, ready or not (STREAMOFF, after
    /// the device stopped).
    pub(crate) fn take_handed(&mut self) -> Option<(usize, W)> {
        loop {
            let index = self.handed.pop()?;
            if let Some(work) = self.work(index).and_then(Option::take) {
                return Some((index, work));
            }
        }
    }

    /// The device finished buffer `index` (taken with
    /// [`DeviceQueue::take_ready`]); `false` if `index` is out of range or
    /// already finished (the engine never does either).
    pub(crate) fn finish(&mut self, index: usize, frame: FrameDone) -> bool {
        let free = matches!(self.frame(index), Some(None));
        if !free || !self.finished.push(index) {
            return false;
        }
        if let Some(entry) = self.frame(index) {
            *entry = Some(frame);
        }
        true
    }

    /// Whether a finished frame waits for the queue.
    pub(crate) fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// The oldest finished frame: its buffer's index and the frame.
    pub(crate) fn take_finished(&mut self) -> Option<(usize, FrameDone)> {
        loop {
            let index = self.finished.pop()?;
            if let Some(frame) = self.frame(index).and_then(Option::take) {
                return Some((index, frame));
            }
        }
    }
}
