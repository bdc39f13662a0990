// SPDX-License-Identifier: GPL-2.0

//! QEMU's `edu` PCI device as rvcap's DMA master. Its DMA engine copies
//! between a 4 KiB buffer of its own and memory, through the IOMMU if there
//! is one: with the `device_stamp` knob it writes the first bytes of every
//! frame (its buffer loaded once per stream with [`crate::pattern`]'s stamp
//! source), and the fault injection makes it write into a buffer just
//! after its unmap.
//!
//! The engine is QEMU's `hw/misc/edu.c`: registers in BAR 0; a transfer
//! starts when the command register is written with the run bit and ends
//! about 100 ms of virtual time later, when the run bit clears. A transfer
//! must stay inside the device's buffer (QEMU 7.2 aborts otherwise; one of
//! 4096 bytes aborts too, so at most 4095).
//!
//! The BAR is bound to the device's binding ([`DevresBar`]): when `edu`
//! unbinds it is unmapped and released even if an [`EduDma`] is still
//! held, and every access after fails with `ENXIO`, so a transfer then
//! fails (the frame it was for is an error frame). Each access takes the
//! BAR for itself alone: holding it keeps RCU's read lock, and a transfer
//! sleeps while it waits.

use crate::dma_master::ToDevice;
use crate::kapi::device::DeviceRef;
use crate::kapi::devres::Devres;
use crate::kapi::io::Io;
use crate::kapi::log::DevLog;
use crate::kapi::pci::{Bar, BusMaster, DevresBar};
use crate::kapi::sync::atomic::{Atomic, Relaxed};
use crate::kapi::time::delay::fsleep;
use crate::kapi::time::{ktime_get_ns, Delta};
use core::ops::Deref;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// DMA source address register.
const REG_DMA_SOURCE: usize = 0x80;
/// DMA destination address register.
const REG_DMA_DESTINATION: usize = 0x88;
/// DMA byte count register.
const REG_DMA_COUNT: usize = 0x90;
/// DMA command register.
const REG_DMA_COMMAND: usize = 0x98;
/// Command: start; reads back set while the transfer runs.
const COMMAND_RUN: u64 = 1;
/// Command: from the device's buffer to memory (clear: memory to buffer).
const COMMAND_TO_MEMORY: u64 = 2;
/// The device's buffer, in its DMA address space.
const BUFFER_BASE: u64 = 0x40000;
/// Bytes of the buffer a transfer may use.
pub(crate) const BUFFER_LEN: usize = 4095;
/// A transfer takes about 100 ms (more on a loaded host, whose emulated
/// device runs late); one that took this long never ends.
const TRANSFER_TIMEOUT: Delta = Delta::from_millis(5000);
/// How often the run bit is looked at.
const POLL_PERIOD: Delta = Delta::from_millis(5);

/// What only one transfer at a time may touch.
struct Engine {
    /// The content (a [`EduDma::new_content`] key) the buffer holds, 0 if
    /// none is known.
    loaded: u64,
    /// A transfer did not end: the device may still be writing somewhere,
    /// so it gets no more work.
    wedged: bool,
}

/// The `edu` device's DMA engine, shared by every capture device.
#[pin_data]
pub(crate) struct EduDma {
    dev: DeviceRef,
    /// BAR 0, the registers, until `edu` unbinds.
    bar: DevresBar,
    /// What stops its DMA, until `edu` unbinds.
    master: Devres<BusMaster>,
    log: DevLog,
    #[pin]
    engine: Mutex<Engine>,
    /// Keys of buffer contents, so that a capture device can tell whether
    /// the buffer still holds what it loaded.
    next_content: Atomic<u64>,
    /// Transfers that ended, for debugfs.
    transfers: Atomic<u64>,
}

impl EduDma {
    /// The DMA engine of the `edu` device `dev`, whose BAR 0 is `bar`,
    /// made a bus master as `master`.
    pub(crate) fn new(
        dev: DeviceRef,
        bar: DevresBar,
        master: Devres<BusMaster>,
    ) -> Result<Arc<Self>> {
        let log = DevLog::new(dev.clone());
        Arc::pin_init(
            pin_init!(Self {
                dev,
                bar,
                master,
                log,
                engine <- new_mutex!(Engine { loaded: 0, wedged: false }, "rvcap::edu"),
                next_content: Atomic::new(1),
                transfers: Atomic::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// The PCI device.
    pub(crate) fn device(&self) -> &DeviceRef {
        &self.dev
    }

    /// Transfers done so far.
    pub(crate) fn transfers(&self) -> u64 {
        self.transfers.load(Relaxed)
    }

    /// A key for new buffer content, for [`EduDma::copy_out`].
    pub(crate) fn new_content(&self) -> u64 {
        self.next_content.fetch_add(1, Relaxed)
    }

    /// Copies `source` into memory mapped for the device, for
    /// [`EduDma::copy_out`] to load from: made once per content (an
    /// allocation, which the frame engine makes before its signalling
    /// section).
    pub(crate) fn map_source(&self, source: &[u8]) -> Result<ToDevice> {
        if source.len() > BUFFER_LEN {
            return Err(EINVAL);
        }
        let mut bytes = KVec::with_capacity(source.len(), GFP_KERNEL)?;
        bytes.extend_from_slice(source, GFP_KERNEL)?;
        ToDevice::map(&self.dev, bytes)
    }

    /// Writes `len` bytes of content `key` (`source`, `source_len` bytes
    /// mapped by [`EduDma::map_source`]) from `offset` on into memory at
    /// device address `destination`. The device's buffer is loaded from
    /// `source` first (a transfer of its own) unless it holds that content
    /// already; another capture device may have loaded its own meanwhile.
    /// Allocates nothing: the frame engine calls it before it signals a
    /// write fence, and the engine's lock is never held around an
    /// allocation.
    pub(crate) fn copy_out(
        &self,
        key: u64,
        source: &ToDevice,
        source_len: usize,
        offset: usize,
        destination: u64,
        len: usize,
    ) -> Result {
        if source_len > BUFFER_LEN
            || offset
                .checked_add(len)
                .filter(|&end| end <= source_len)
                .is_none()
        {
            return Err(EINVAL);
        }
        let mut engine = self.engine.lock();
        if engine.loaded != key {
            engine.loaded = 0;
            self.transfer(
                &mut engine,
                0,
                source.dma_address(),
                BUFFER_BASE,
                source_len,
            )?;
            engine.loaded = key;
        }
        self.transfer(
            &mut engine,
            COMMAND_TO_MEMORY,
            BUFFER_BASE + offset as u64,
            destination,
            len,
        )
    }

    /// Writes `len` bytes of whatever the device's buffer holds to device
    /// address `destination` (fault injection: a device writing where it
    /// was told to, into memory that is no longer mapped for it).
    pub(crate) fn write_stale(&self, destination: u64, len: usize) -> Result {
        if len > BUFFER_LEN {
            return Err(EINVAL);
        }
        let mut engine = self.engine.lock();
        self.transfer(
            &mut engine,
            COMMAND_TO_MEMORY,
            BUFFER_BASE,
            destination,
            len,
        )
    }

    /// The registers for one access (or a few that must not sleep in
    /// between), or `ENXIO` once `edu` has unbound.
    fn registers(&self) -> Result<impl Deref<Target = Bar<'_>> + '_> {
        self.bar.try_access().ok_or(ENXIO)
    }

    /// Whether a transfer is running.
    fn running(&self) -> Result<bool> {
        Ok(self.registers()?.try_read64(REG_DMA_COMMAND)? & COMMAND_RUN != 0)
    }

    /// Runs one transfer and waits for its end, uninterruptibly: the memory
    /// it touches must stay as it is until then. If `edu` unbinds
    /// meanwhile, this fails with `ENXIO` without waiting: the unbind
    /// stops its bus mastering right after it takes the BAR away (it
    /// undoes the probe in reverse, and the probe enabled bus mastering
    /// before it mapped the BAR), and the capture devices whose memory it
    /// writes have unbound before it.
    fn transfer(
        &self,
        engine: &mut Engine,
        command: u64,
        source: u64,
        destination: u64,
        len: usize,
    ) -> Result {
        if engine.wedged {
            return Err(EIO);
        }
        if self.running()? {
            // Only this engine starts transfers, under its lock.
            self.log
                .warn(format_args!("edu DMA busy before a transfer; not using it"));
            engine.wedged = true;
            return Err(EIO);
        }
        {
            let bar = self.registers()?;
            bar.try_write64(source, REG_DMA_SOURCE)?;
            bar.try_write64(destination, REG_DMA_DESTINATION)?;
            bar.try_write64(len as u64, REG_DMA_COUNT)?;
            bar.try_write64(command | COMMAND_RUN, REG_DMA_COMMAND)?;
        }
        // Counted in time, not in polls: a sleep may last longer than asked.
        let started = ktime_get_ns();
        let timeout_ns = TRANSFER_TIMEOUT.as_nanos().unsigned_abs();
        while self.running()? {
            if ktime_get_ns().saturating_sub(started) >= timeout_ns {
                engine.wedged = true;
                // It may still write: no more bus mastering, so the memory
                // it was given can go back. (Without its `BusMaster`,
                // `edu` is unbinding, which clears the bit.)
                if let Some(master) = self.master.try_access() {
                    master.stop_dma();
                }
                self.log.warn(format_args!(
                    "edu DMA of {len} bytes to {destination:#x} did not end in {} ms; its DMA is stopped and it is not used any more",
                    TRANSFER_TIMEOUT.as_millis()
                ));
                return Err(EIO);
            }
            fsleep(POLL_PERIOD);
        }
        self.transfers.fetch_add(1, Relaxed);
        Ok(())
    }
}
