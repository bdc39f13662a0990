// SPDX-License-Identifier: GPL-2.0

//! Error injection, for the robustness tests: knobs in each device's
//! debugfs directory (`inject_*`, `u32` knob files), read by the engine and
//! the DMA side. All zero (the default) injects nothing.

use core::sync::atomic::{AtomicU32, Ordering};

/// The knobs (debugfs files read and write them as decimal text).
#[derive(Default)]
pub(crate) struct Inject {
    /// Every Nth frame is half written and marked `V4L2_BUF_FLAG_ERROR`.
    pub(crate) error_every: AtomicU32,
    /// Every Nth frame period the engine drops the frame (the buffer stays
    /// queued; the sequence number is used up, as with real drops).
    pub(crate) drop_every: AtomicU32,
    /// The engine stalls this many milliseconds before every frame.
    pub(crate) stall_ms: AtomicU32,
    /// The next N mappings fail (ENOMEM), as if the exporter refused.
    pub(crate) map_failures: AtomicU32,
    /// The next N times buffer 0 is freed while mapped (REQBUFS, close),
    /// the DMA master writes to its old DMA address just after the unmap,
    /// as a device holding a stale address would (only with the `edu`
    /// device: behind an IOMMU the write must fault).
    pub(crate) dma_after_unmap: AtomicU32,
    /// Non-zero: imported dma-bufs are never synced for the CPU (DQBUF,
    /// STREAMOFF), as videobuf2's importers never sync them: a stand-in
    /// for an importer that leaves the CPU's view to the exporter's
    /// `begin_cpu_access` (the EXPBUF tests).
    pub(crate) import_skips_cpu_sync: AtomicU32,
}

impl Inject {
    /// Whether frame number `n` (from 1) hits an "every Nth" knob.
    pub(crate) fn hits(knob: &AtomicU32, n: u64) -> bool {
        match knob.load(Ordering::Relaxed) {
            0 => false,
            every => n % u64::from(every) == 0,
        }
    }

    /// Consumes one injected mapping failure, if any is pending.
    pub(crate) fn take_map_failure(&self) -> bool {
        Self::take(&self.map_failures)
    }

    /// Consumes one injected DMA after unmap, if any is pending.
    pub(crate) fn take_dma_after_unmap(&self) -> bool {
        Self::take(&self.dma_after_unmap)
    }

    /// Whether imports skip their syncs for the CPU.
    pub(crate) fn import_skips_cpu_sync(&self) -> bool {
        self.import_skips_cpu_sync.load(Ordering::Relaxed) != 0
    }

    fn take(knob: &AtomicU32) -> bool {
        knob.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}
