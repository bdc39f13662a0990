// SPDX-License-Identifier: GPL-2.0

//! [`ToDevice`]: bytes the CPU prepared for rvcap's DMA master to read
//! (the `edu` device's source buffer), mapped with `dma_map_single`.

use crate::kapi::bindings;
use crate::kapi::device::DeviceRef;
use kernel::error::to_result;
use kernel::prelude::*;

/// Bytes the CPU prepared for a device to read, mapped for it
/// (`dma_map_single`, `DMA_TO_DEVICE`, which writes back or bounces them);
/// dropping unmaps, then frees them.
///
/// # Invariants
///
/// `addr` is the mapping of all of `bytes` (kmalloc memory, not empty) for
/// `dev` toward the device, unmapped once, in `drop`; `bytes` is not
/// touched while mapped.
pub(crate) struct ToDevice {
    dev: DeviceRef,
    bytes: KVec<u8>,
    addr: bindings::dma_addr_t,
}

// SAFETY: the DMA API may be called from any thread; the bytes are plain data.
unsafe impl Send for ToDevice {}
// SAFETY: shared references only read the address.
unsafe impl Sync for ToDevice {}

impl ToDevice {
    /// Maps `bytes` for `dev` to read.
    pub(crate) fn map(dev: &DeviceRef, mut bytes: KVec<u8>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(EINVAL);
        }
        let mut addr = 0;
        // SAFETY: `bytes` is a non-empty kmalloc allocation (physically
        // contiguous, in the linear map) that this value owns and does not
        // touch until `drop` unmaps it; `dev` is live.
        to_result(unsafe {
            bindings::rvcap_dma_map_single(
                dev.as_raw(),
                bytes.as_mut_ptr().cast(),
                bytes.len(),
                bindings::dma_data_direction_DMA_TO_DEVICE,
                &mut addr,
            )
        })?;
        // INVARIANT: mapped above.
        Ok(Self {
            dev: dev.clone(),
            bytes,
            addr,
        })
    }

    /// The device address of the first byte.
    pub(crate) fn dma_address(&self) -> u64 {
        self.addr
    }
}

impl Drop for ToDevice {
    fn drop(&mut self) {
        // SAFETY: mapped for `dev` with this length and direction, unmapped
        // once (type invariant); the bytes are freed after this.
        unsafe {
            bindings::rvcap_dma_unmap_single(
                self.dev.as_raw(),
                self.addr,
                self.bytes.len(),
                bindings::dma_data_direction_DMA_TO_DEVICE,
            )
        };
    }
}
