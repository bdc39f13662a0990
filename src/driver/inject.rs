// SPDX-License-Identifier: GPL-2.0

//! Error injection, for the robustness tests: knobs in each device's
//! debugfs directory (`inject_*`, `u32` knob files), read by the engine and
//! the DMA side. All zero (the default) injects nothing.

use crate::kapi::sync::atomic::{Atomic, Relaxed};

/// The knobs (debugfs files read and write them as decimal text).
pub(crate) struct Inject {
    /// Every Nth frame is half written and marked `V4L2_BUF_FLAG_ERROR`.
    pub(crate) error_every: Atomic<u32>,
    /// Every Nth frame period the engine drops the frame (the buffer stays
    /// queued; the sequence number is used up, as with real drops).
    pub(crate) drop_every: Atomic<u32>,
    /// The engine stalls this many milliseconds before every frame.
    pub(crate) stall_ms: Atomic<u32>,
    /// The next N mappings fail (ENOMEM), as if the exporter refused.
    pub(crate) map_failures: Atomic<u32>,
    /// The next N times buffer 0 is freed while mapped (REQBUFS, close),
    /// the DMA master writes to its old DMA address just after the unmap,
    /// as a device holding a stale address would (only with the `edu`
    /// device: behind an IOMMU the write must fault).
    pub(crate) dma_after_unmap: Atomic<u32>,
    /// Non-zero: imported dma-bufs are never synced for the CPU (DQBUF,
    /// STREAMOFF), as videobuf2's importers never sync them: a stand-in
    /// for an importer that leaves the CPU's view to the exporter's
    /// `begin_cpu_access` (the EXPBUF tests).
    pub(crate) import_skips_cpu_sync: Atomic<u32>,
}

// By hand: the kernel crate's `Atomic` has no `Default`.
impl Default for Inject {
    fn default() -> Self {
        Self {
            error_every: Atomic::new(0),
            drop_every: Atomic::new(0),
            stall_ms: Atomic::new(0),
            map_failures: Atomic::new(0),
            dma_after_unmap: Atomic::new(0),
            import_skips_cpu_sync: Atomic::new(0),
        }
    }
}

impl Inject {
    /// Whether frame number `n` (from 1) hits an "every Nth" knob.
    pub(crate) fn hits(knob: &Atomic<u32>, n: u64) -> bool {
        match knob.load(Relaxed) {
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
        self.import_skips_cpu_sync.load(Relaxed) != 0
    }

    /// Takes one from `knob` unless it is 0; whether it did.
    fn take(knob: &Atomic<u32>) -> bool {
        let mut n = knob.load(Relaxed);
        while n > 0 {
            match knob.cmpxchg(n, n - 1, Relaxed) {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
        false
    }
}
