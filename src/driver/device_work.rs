// SPDX-License-Identifier: GPL-2.0

//! What the device holds of each buffer handed to it ([`Work`], in the
//! queue core's [`DeviceQueue`](crate::queue::device::DeviceQueue)): the
//! memory of its planes and, with fences on, its write fence and the
//! fences it must wait for (README "Implicit fences").
//!
//! When a buffer is handed to the device (QBUF while streaming, STREAMON
//! for those queued before it), rvcap publishes a write fence in the
//! reservation object of every dma-buf the buffer is seen through (the
//! import; every export of an MMAP plane), after recording the fences
//! already there that have not signalled. The engine fills the buffer only
//! once those have signalled, and signals its write fence when the frame
//! is in memory: with `-EIO` for an error frame, with `-ECANCELED` when
//! STREAMOFF, REQBUFS(0) or close takes the buffer back unwritten (the
//! fence's drop).

use crate::dma_master::Mapping;
use crate::kapi::dma_fence::{FenceSource, WaitList, WriteFence};
use crate::kapi::log::DevLog;
use crate::kapi::ratelimit::ratelimit;
use crate::queue::device::DeviceWork;
use crate::queue::{CpuSync, MAX_PLANES};
use kernel::prelude::*;
use kernel::sync::Arc;

/// A buffer the device holds.
pub(crate) struct Work {
    /// Each plane's memory (`None` past the buffer's planes).
    pub(crate) planes: [Option<Mapping>; MAX_PLANES],
    /// The write fence published for the buffer; `None` with fences off.
    /// Dropped unsignalled, it signals `-ECANCELED`.
    pub(crate) write: Option<WriteFence>,
    /// The fences the device must wait for before writing.
    waits: WaitList,
    /// How many fences `waits` held when the buffer was handed.
    pub(crate) waited_for: usize,
    /// When the buffer was handed (monotonic ns), for the wait counters.
    pub(crate) handed_ns: u64,
    /// Why the buffer must not be written: its write fence could not be
    /// made or published everywhere, or the fences to wait for not all
    /// recorded (no memory). The engine then finishes it as an error frame
    /// without writing it, its fence signalled with this error.
    pub(crate) failed: Option<Error>,
    /// What DQBUF would sync of each plane for the CPU
    /// ([`crate::queue::Queue::cpu_syncs`]), which the engine syncs itself
    /// before the write fence signals.
    pub(crate) cpu_sync: [CpuSync; MAX_PLANES],
}

impl DeviceWork for Work {
    fn is_ready(&mut self) -> bool {
        // A failed buffer is not written, so it waits for nothing.
        self.failed.is_some() || self.waits.all_signalled()
    }
}

impl Work {
    /// Buffer `index` with memory `planes` (and DQBUF's `cpu_sync`), handed
    /// at `now_ns`; with `fences`, its write fence (on timeline `index`)
    /// published in every reservation object of its memory, and the fences
    /// found there recorded. If any of that fails (no memory), the buffer
    /// is marked [`Work::failed`].
    pub(crate) fn new(
        index: usize,
        planes: [Option<Mapping>; MAX_PLANES],
        cpu_sync: [CpuSync; MAX_PLANES],
        fences: Option<&Arc<FenceSource>>,
        log: &DevLog,
        now_ns: u64,
    ) -> Self {
        let mut waits = WaitList::default();
        let mut failed = None;
        // Made for every buffer, also MMAP memory not exported (yet): an
        // EXPBUF while the device holds it gives the new dma-buf this fence.
        let write = match fences.map(|source| source.write_fence(index)) {
            Some(Ok(fence)) => Some(fence),
            Some(Err(e)) => {
                failed = Some(e);
                None
            }
            None => None,
        };
        if let Some(fence) = &write {
            for memory in planes.iter().flatten() {
                if let Err(e) = memory.publish_write_fence(fence, &mut waits) {
                    failed = Some(e);
                }
            }
        }
        if let Some(e) = failed {
            log.dbg(
                ratelimit!(),
                format_args!(
                    "buffer {index}: its write fence is not in every reservation object, or what it must wait for not known ({e:?}); it comes back as an error frame, unwritten"
                ),
            );
        }
        let waited_for = waits.len();
        Self {
            planes,
            write,
            waits,
            waited_for,
            handed_ns: now_ns,
            cpu_sync,
            failed,
        }
    }
}
