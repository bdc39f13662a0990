// SPDX-License-Identifier: GPL-2.0

//! Where the queue tests run ([`Setup`]), and the runners that run one test
//! on a fresh rig in every setup or on every platform.

use crate::model::dma_api::Platform;
use crate::model::Exporter;
use crate::queue::Memory;
use crate::rng::Rng;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// Where a test runs: the platform, and the exporter of its dma-bufs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Setup {
    pub(crate) platform: Platform,
    pub(crate) exporter: Exporter,
}

impl Default for Setup {
    /// The strictest: bounced and not coherent, with a dma-heap exporter,
    /// which syncs for the CPU at every unmap.
    fn default() -> Self {
        Self {
            platform: Platform::NonCoherentBounced,
            exporter: Exporter::SyncsAtUnmap,
        }
    }
}

/// Runs `test` on a fresh rig (`new`) in each of `setups`, naming the one
/// that fails.
fn run_in<R>(setups: impl Iterator<Item = Setup>, new: impl Fn(Setup) -> R, test: impl Fn(&mut R)) {
    for setup in setups {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| test(&mut new(setup)))) {
            std::eprintln!("failed in {setup:?}");
            resume_unwind(panic);
        }
    }
}

/// Every platform with every exporter: for tests of imported buffers.
pub(crate) fn in_every_setup<R>(new: impl Fn(Setup) -> R, test: impl Fn(&mut R)) {
    let setups = Platform::ALL.into_iter().flat_map(|platform| {
        Exporter::ALL
            .into_iter()
            .map(move |exporter| Setup { platform, exporter })
    });
    run_in(setups, new, test);
}

/// Every platform: for tests of MMAP buffers, which no exporter touches.
pub(crate) fn on_every_platform<R>(new: impl Fn(Setup) -> R, test: impl Fn(&mut R)) {
    let setups = Platform::ALL.into_iter().map(|platform| Setup {
        platform,
        ..Setup::default()
    });
    run_in(setups, new, test);
}

/// The memory type of a random sequence's next operation: mostly that of
/// the buffers (`current`); now and then either.
pub(crate) fn random_memory(current: Option<Memory>, rng: &mut Rng) -> Memory {
    match current {
        Some(memory) if !rng.one_in(10) => memory,
        _ => rng.pick(&[Memory::Mmap, Memory::DmaBuf]),
    }
}
