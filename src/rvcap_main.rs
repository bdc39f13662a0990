// SPDX-License-Identifier: GPL-2.0

//! rvcap: a V4L2 capture driver in Rust whose point is DMA-BUF import done
//! right for capture hardware that is not cache-coherent with the CPU.
//!
//! Layout: the pure-Rust pieces (the buffer queue, the pattern generator) are
//! free of `unsafe` and FFI types and are unit-tested on the host; everything
//! that touches C lives in thin wrappers such as [`platform`].

use kernel::c_str;
use kernel::prelude::*;

mod bindings;
mod platform;

module! {
    type: Rvcap,
    name: "rvcap",
    author: "The rvcap developers",
    description: "V4L2 capture with correct DMA-BUF import on non-coherent DMA",
    license: "GPL",
}

/// DMA addressing capability of the virtual capture engine: it reaches any
/// address, as a device behind an IOMMU or with 64-bit bus masters would.
const DMA_BITS: u32 = 64;

struct Rvcap {
    _pdev: platform::PlatformDevice,
}

impl kernel::Module for Rvcap {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let pdev = platform::PlatformDevice::register(c_str!("rvcap"), 0, DMA_BITS)?;
        pr_info!(
            "registered {} with DMA mask {:#x}\n",
            pdev.name(),
            pdev.dma_mask()
        );
        Ok(Self { _pdev: pdev })
    }
}
