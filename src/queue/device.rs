// SPDX-License-Identifier: GPL-2.0

//! The device's own queue: the buffers the queue handed to the device
//! ([`super::Queue::hand_to_device`]), as a capture device's descriptor
//! ring holds them, and the frames it finished, until the queue takes them
//! back ([`super::Queue::finish_frame`]).
//!
//! It stands apart from [`super::Queue`] so that the device side needs no
//! lock the ioctls hold while they allocate, attach or map: the shell puts
//! it under a spinlock of its own, and the engine only ever takes that one
//! between taking a buffer and signalling its write fence (the kernel's
//! rule for fence signalling: nothing on that path may wait for a lock
//! that is held around a memory allocation or a fence wait).
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

/// The buffers handed to the device, and the frames it finished.
///
/// # Invariants
///
/// `handed` holds each index at most once, exactly those whose `work`
/// entry is `Some`; `finished` holds each index at most once, exactly
/// those whose `frames` entry is `Some`.
pub(crate) struct DeviceQueue<W> {
    handed: IndexFifo,
    work: [Option<W>; MAX_BUFFERS],
    finished: IndexFifo,
    frames: [Option<FrameDone>; MAX_BUFFERS],
}

impl<W> Default for DeviceQueue<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W> DeviceQueue<W> {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        Self {
            handed: IndexFifo::new(),
            work: core::array::from_fn(|_| None),
            finished: IndexFifo::new(),
            frames: [None; MAX_BUFFERS],
        }
    }

    /// Hands buffer `index` to the device; gives `work` back if `index` is
    /// out of range or already handed (the queue never does either).
    pub(crate) fn hand(&mut self, index: usize, work: W) -> Result<(), W> {
        match self.work.get_mut(index) {
            Some(entry @ None) => {
                if !self.handed.push(index) {
                    return Err(work);
                }
                *entry = Some(work);
                Ok(())
            }
            _ => Err(work),
        }
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
        let Self { handed, work, .. } = self;
        handed.any(|index| {
            work.get_mut(index)
                .and_then(Option::as_mut)
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
        let work = &mut self.work;
        let ready = self.handed.remove_first(|index| {
            work.get_mut(index)
                .and_then(Option::as_mut)
                .is_some_and(DeviceWork::is_ready)
        });
        match ready.and_then(|index| Some((index, self.work.get_mut(index)?.take()?))) {
            Some((index, work)) => Next::Ready(index, work),
            None => Next::Blocked,
        }
    }

    /// Takes back the oldest handed buffer, ready or not (STREAMOFF, after
    /// the device stopped).
    pub(crate) fn take_handed(&mut self) -> Option<(usize, W)> {
        loop {
            let index = self.handed.pop()?;
            if let Some(work) = self.work.get_mut(index).and_then(Option::take) {
                return Some((index, work));
            }
        }
    }

    /// The device finished buffer `index` (taken with
    /// [`DeviceQueue::take_ready`]); `false` if `index` is out of range or
    /// already finished (the engine never does either).
    pub(crate) fn finish(&mut self, index: usize, frame: FrameDone) -> bool {
        match self.frames.get_mut(index) {
            Some(entry @ None) => {
                if !self.finished.push(index) {
                    return false;
                }
                *entry = Some(frame);
                true
            }
            _ => false,
        }
    }

    /// Whether a finished frame waits for the queue.
    pub(crate) fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// The oldest finished frame: its buffer's index and the frame.
    pub(crate) fn take_finished(&mut self) -> Option<(usize, FrameDone)> {
        loop {
            let index = self.finished.pop()?;
            if let Some(frame) = self.frames.get_mut(index).and_then(Option::take) {
                return Some((index, frame));
            }
        }
    }
}
