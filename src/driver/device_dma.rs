// SPDX-License-Identifier: GPL-2.0

//! The queue core's DMA side in the kernel ([`Dma`] for [`KernelDma`]):
//! the capture device's buffers, made of the abstraction layer's dma-buf
//! and DMA types, with rvcap's policy on top: contiguous mode, injected
//! mapping failures, and the queue's error values.

use super::inject::Inject;
use crate::dma_master::{DeviceMemory, Mapping};
use crate::kapi::device::DeviceRef;
use crate::kapi::dma::{self, DataDirection, DmaStats, HeldPages};
use crate::kapi::dma_buf::{Attachment as KAttachment, ImportedDmaBuf, ImportedTable};
use crate::kapi::log::DevLog;
use crate::kapi::ratelimit::{ratelimit, RateLimit};
use crate::queue::{self, Direction, Dma, Errno, QResult, MAP_DIRECTION};
use core::ops::Range;
use kernel::prelude::*;
use kernel::sync::Arc;

/// An attachment, shared by its slot and the mappings made of it.
pub(crate) type Attachment = Arc<KAttachment>;

fn queue_error(err: Error, why: &'static str) -> queue::Error {
    queue::Error::new(Errno::Dma(err.to_errno()), why)
}

fn data_direction(direction: Direction) -> DataDirection {
    match direction {
        Direction::ToDevice => DataDirection::ToDevice,
        Direction::FromDevice => DataDirection::FromDevice,
        Direction::Bidirectional => DataDirection::Bidirectional,
    }
}

fn out_of_memory() -> queue::Error {
    queue::Error::new(Errno::ENOMEM, "out of memory")
}

/// The DMA side of one capture device.
pub(crate) struct KernelDma {
    dev: DeviceRef,
    stats: Arc<DmaStats>,
    log: DevLog,
    /// Contiguous mode: every buffer must be one contiguous DMA range.
    contiguous: bool,
    inject: Arc<Inject>,
}

impl KernelDma {
    /// The DMA side of `dev`.
    pub(crate) fn new(
        dev: DeviceRef,
        log: DevLog,
        contiguous: bool,
        inject: Arc<Inject>,
    ) -> Result<Self> {
        Ok(Self {
            dev,
            stats: Arc::new(DmaStats::default(), GFP_KERNEL)?,
            log,
            contiguous,
            inject,
        })
    }

    /// The device buffers are mapped for (the DMA master).
    pub(crate) fn device(&self) -> &DeviceRef {
        &self.dev
    }

    /// What the DMA side did so far.
    pub(crate) fn stats(&self) -> &DmaStats {
        &self.stats
    }

    /// Says why a sync for `whom` covered fewer bytes than asked (a range
    /// past the end of the mapping).
    fn short_sync(&self, limit: &RateLimit, whom: &str, synced: usize, wanted: usize) {
        if synced < wanted {
            self.log.dbg(
                limit,
                format_args!("sync for {whom} covered {synced} of {wanted} bytes"),
            );
        }
    }

    /// Shares `memory` with the queue, unless contiguous mode refuses it.
    fn share(&self, memory: DeviceMemory) -> QResult<Mapping> {
        if self.contiguous && !memory.is_dma_contiguous() {
            // Dropping `memory` unmaps it again.
            self.log.warn_ratelimited(
                ratelimit!(),
                format_args!(
                    "refusing a buffer of {} bytes: its DMA addresses are not one contiguous range (contig=1)",
                    memory.size()
                ),
            );
            return Err(queue::Error::new(
                Errno::EINVAL,
                "buffer is not one contiguous DMA range (contig mode)",
            ));
        }
        // On failure, dropping `memory` unmaps again.
        Arc::new(memory, GFP_KERNEL).map_err(|_| out_of_memory())
    }
}

impl Dma for KernelDma {
    type Table<T> = KVec<T>;
    type DmaBuf = ImportedDmaBuf;
    type Attachment = Attachment;
    type Mapping = Mapping;
    type Pages = HeldPages;

    fn new_table<T>(&mut self, len: usize, mut make: impl FnMut() -> T) -> QResult<KVec<T>> {
        let mut table = KVec::with_capacity(len, GFP_KERNEL).map_err(|_| out_of_memory())?;
        for _ in 0..len {
            // Within the capacity: does not allocate, cannot fail.
            table
                .push(make(), GFP_KERNEL)
                .map_err(|_| out_of_memory())?;
        }
        Ok(table)
    }

    fn alloc_mapped(&mut self, size: usize, direction: Direction) -> QResult<Mapping> {
        if self.inject.take_map_failure() {
            return Err(queue::Error::new(
                Errno::ENOMEM,
                "injected: MMAP allocation refused",
            ));
        }
        let max_contiguous = dma::max_contiguous_bytes();
        if self.contiguous && size > max_contiguous {
            self.log.warn_ratelimited(
                ratelimit!(),
                format_args!(
                    "refusing MMAP buffers of {size} bytes with ENOMEM: contig=1 allocates them physically contiguous, at most {max_contiguous} bytes"
                ),
            );
            return Err(queue::Error::new(
                Errno::ENOMEM,
                "buffer larger than a contiguous allocation can be (contig mode)",
            ));
        }
        let memory = DeviceMemory::alloc(
            &self.dev,
            size,
            self.contiguous,
            data_direction(direction),
            &self.stats,
        )
        .map_err(|e| queue_error(e, "cannot allocate and map an MMAP buffer"))?;
        self.share(memory)
    }

    fn get_dmabuf(&mut self, fd: i32) -> QResult<ImportedDmaBuf> {
        ImportedDmaBuf::get(fd, &self.stats).map_err(|e| queue_error(e, "fd is not a dma-buf"))
    }

    fn dmabuf_size(&self, buf: &ImportedDmaBuf) -> usize {
        buf.size()
    }

    fn same_dmabuf(&self, a: &ImportedDmaBuf, b: &ImportedDmaBuf) -> bool {
        a.is_same(b)
    }

    fn is_attached(&self, buf: &ImportedDmaBuf, attachment: &Attachment) -> bool {
        buf.is_same(attachment.dma_buf())
    }

    fn attach(&mut self, buf: ImportedDmaBuf) -> QResult<Attachment> {
        let attachment = KAttachment::new(buf, &self.dev)
            .map_err(|e| queue_error(e, "the exporter refused to attach"))?;
        // If this allocation fails, dropping `attachment` detaches again.
        Arc::new(attachment, GFP_KERNEL).map_err(|_| out_of_memory())
    }

    fn map(&mut self, attachment: &Attachment, direction: Direction) -> QResult<Mapping> {
        if self.inject.take_map_failure() {
            return Err(queue::Error::new(
                Errno::ENOMEM,
                "injected: the exporter refused to map",
            ));
        }
        let table = ImportedTable::map(attachment, data_direction(direction))
            .map_err(|e| queue_error(e, "the exporter refused to map"))?;
        let memory = DeviceMemory::import(table, &self.stats)
            .map_err(|e| queue_error(e, "cannot map an import for the engine"))?;
        self.share(memory)
    }

    fn sync_for_device(&mut self, mapping: &Mapping, bytes: Range<usize>, direction: Direction) {
        let wanted = bytes.len();
        let synced = mapping.sync_for_device(bytes, data_direction(direction));
        self.short_sync(ratelimit!(), "the device", synced, wanted);
    }

    fn sync_for_cpu(&mut self, mapping: &Mapping, bytes: Range<usize>, direction: Direction) {
        if !mapping.is_mmap() && self.inject.import_skips_cpu_sync() {
            return;
        }
        let wanted = bytes.len();
        let synced = mapping.sync_for_cpu(bytes, data_direction(direction));
        self.short_sync(ratelimit!(), "the CPU", synced, wanted);
    }

    fn frame_written(&mut self, mapping: &Mapping) {
        if !mapping.is_mmap() && self.inject.import_skips_cpu_sync() {
            return;
        }
        mapping.hand_frame_to_other_views();
    }

    fn has_other_views(&self, mapping: &Mapping) -> bool {
        mapping.exports() > 0
    }

    fn sync_attachment_for_device(&mut self, attachment: &Attachment, direction: Direction) {
        match ImportedTable::map(attachment, data_direction(MAP_DIRECTION)) {
            Ok(table) => {
                let memory = DeviceMemory::import_for_syncs(table, &self.stats);
                memory.sync_for_device(0..memory.size(), data_direction(direction));
            }
            Err(e) => self.log.warn_ratelimited(
                ratelimit!(),
                format_args!(
                    "releasing a dma-buf the exporter refused to map again ({e:?}): what the application wrote since STREAMOFF was not handed over, and an exporter that syncs for the CPU at detach may change it"
                ),
            ),
        }
    }

    fn needs_sync(&self) -> bool {
        dma::needs_sync(&self.dev)
    }

    fn mapping_size(&self, mapping: &Mapping) -> usize {
        mapping.size()
    }

    fn is_mapped_to_user(&self, mapping: &Mapping) -> bool {
        mapping.is_mapped_to_user()
    }

    fn hold_pages(&self, mapping: &Mapping) -> Option<HeldPages> {
        mapping.hold_pages()
    }
}
