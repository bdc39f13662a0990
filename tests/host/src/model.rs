// SPDX-License-Identifier: GPL-2.0

//! A model of a capture device that is not cache-coherent with the CPU, as
//! `swiotlb=force` makes one, down to the direction of each copy:
//!
//! - mapping copies the memory into a bounce copy, which the device then
//!   reads and writes;
//! - a sync for the device in the device-to-memory direction (what QBUF
//!   does) copies nothing: the bounce copy keeps whatever it held;
//! - a sync for the CPU copies the synced bytes of the bounce copy back;
//! - unmapping an import (the exporter's unmap syncs for the CPU) copies the
//!   whole bounce copy back over the memory, whatever the CPU wrote since;
//! - [`Dma::sync_before_unmap`] (a `DMA_TO_DEVICE` sync) copies the memory
//!   into the bounce copy, so that such an unmap changes nothing;
//! - MMAP memory is unmapped without a CPU sync, as the shell does.
//!
//! It implements the queue's [`Dma`] trait, counts every call and tracks
//! every live reference, attachment and mapping.

use crate::queue::{Direction, Dma, Errno, Error, QResult};
use core::cell::{Cell, RefCell};
use core::ops::Range;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

/// Counters of everything the queue asked the DMA side to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub gets: u64,
    pub puts: u64,
    pub attaches: u64,
    pub detaches: u64,
    pub maps: u64,
    pub unmaps: u64,
    pub allocs: u64,
    pub frees: u64,
    pub syncs_for_device: u64,
    pub syncs_for_cpu: u64,
    pub bytes_synced_for_cpu: u64,
    pub syncs_before_unmap: u64,
    /// MMAP buffers freed while the device owned them (a bug: see `Drop`).
    pub mmap_freed_device_owned: u64,
}

impl Counters {
    /// Dma-buf references the queue holds.
    pub fn refs_held(&self) -> u64 {
        self.gets - self.puts
    }
    /// Attachments alive.
    pub fn attachments(&self) -> u64 {
        self.attaches - self.detaches
    }
    /// Mappings alive (imports and MMAP).
    pub fn mappings(&self) -> u64 {
        self.maps + self.allocs - self.unmaps - self.frees
    }
}

/// Memory as the CPU sees it: an exporter's pages or an MMAP allocation.
pub struct Memory {
    pub id: u64,
    pub cpu: RefCell<Vec<u8>>,
}

/// The exporter side and the fd table of "userspace".
#[derive(Default)]
pub struct World {
    pub counters: Cell<Counters>,
    fds: RefCell<BTreeMap<i32, Rc<Memory>>>,
    next_id: Cell<u64>,
    /// Make the next this-many `map` calls fail (error injection).
    pub fail_maps: Cell<u32>,
    /// Memory ids with a live device mapping: overlapping mappings of the
    /// same memory are a driver bug (DMA-API debug warns about them).
    mapped: RefCell<std::collections::BTreeSet<u64>>,
}

impl World {
    pub fn new() -> Rc<Self> {
        Rc::new(Self::default())
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        let mut c = self.counters.get();
        f(&mut c);
        self.counters.set(c);
    }

    pub fn counters(&self) -> Counters {
        self.counters.get()
    }

    fn new_memory(&self, size: usize) -> Rc<Memory> {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        Rc::new(Memory {
            id,
            cpu: RefCell::new(vec![0; size]),
        })
    }

    /// Exports a new dma-buf of `size` bytes at file descriptor `fd`.
    pub fn export(&self, fd: i32, size: usize) -> Rc<Memory> {
        let mem = self.new_memory(size);
        self.fds.borrow_mut().insert(fd, mem.clone());
        mem
    }

    /// The memory behind `fd`, as userspace's mmap of the dma-buf sees it.
    pub fn memory(&self, fd: i32) -> Option<Rc<Memory>> {
        self.fds.borrow().get(&fd).cloned()
    }

    /// Userspace closes `fd`: the memory lives on while the queue holds it.
    pub fn close(&self, fd: i32) {
        self.fds.borrow_mut().remove(&fd);
    }
}

/// A dma-buf reference (`dma_buf_get`); dropping it puts the reference.
pub struct DmaBufRef {
    world: Rc<World>,
    pub mem: Rc<Memory>,
}

impl Drop for DmaBufRef {
    fn drop(&mut self) {
        self.world.count(|c| c.puts += 1);
    }
}

/// An attachment; dropping the last handle detaches (and puts the dma-buf).
pub struct AttachmentInner {
    world: Rc<World>,
    buf: DmaBufRef,
}

impl Drop for AttachmentInner {
    fn drop(&mut self) {
        self.world.count(|c| c.detaches += 1);
    }
}

/// A mapping: the device's bounce copy of the memory.
pub struct MappingInner {
    world: Rc<World>,
    pub mem: Rc<Memory>,
    /// Keeps the attachment alive while mapped (None for MMAP).
    _attachment: Option<Rc<AttachmentInner>>,
    pub bounce: RefCell<Vec<u8>>,
    /// Whether the device owns the memory (synced for it, not back yet).
    pub device_owned: Cell<bool>,
    pub user_mapped: Cell<bool>,
}

impl MappingInner {
    /// The device writes `data` at `offset` through its DMA address.
    pub fn device_write(&self, offset: usize, data: &[u8]) {
        assert!(
            self.device_owned.get(),
            "device wrote to memory the CPU owns"
        );
        self.bounce.borrow_mut()[offset..offset + data.len()].copy_from_slice(data);
    }
}

impl Drop for MappingInner {
    fn drop(&mut self) {
        if self._attachment.is_some() {
            // The exporter's unmap syncs for the CPU: swiotlb copies the
            // whole bounce copy back.
            let bounce = self.bounce.borrow();
            let mut cpu = self.mem.cpu.borrow_mut();
            let n = bounce.len().min(cpu.len());
            cpu[..n].copy_from_slice(&bounce[..n]);
            self.world.count(|c| c.unmaps += 1);
        } else {
            // MMAP memory: unmapped without a CPU sync, so it must be
            // CPU-owned by then, or the device's last frame would be lost.
            // Counted, not asserted: a test may drop a queue mid-stream.
            let lost = u64::from(self.device_owned.get());
            self.world.count(|c| {
                c.frees += 1;
                c.mmap_freed_device_owned += lost;
            });
        }
        self.world.mapped.borrow_mut().remove(&self.mem.id);
    }
}

/// The model's implementation of the queue's DMA side.
pub struct Model {
    pub world: Rc<World>,
}

impl Dma for Model {
    type DmaBuf = DmaBufRef;
    type Attachment = Rc<AttachmentInner>;
    type Mapping = Rc<MappingInner>;

    fn alloc_mapped(&mut self, size: usize, _direction: Direction) -> QResult<Self::Mapping> {
        if self.world.fail_maps.get() > 0 {
            self.world.fail_maps.set(self.world.fail_maps.get() - 1);
            return Err(Error::new(Errno::ENOMEM, "model: allocation refused"));
        }
        self.world.count(|c| c.allocs += 1);
        let mem = self.world.new_memory(size);
        // Mapping copies the memory into the bounce copy.
        let bounce = mem.cpu.borrow().clone();
        Ok(Rc::new(MappingInner {
            world: self.world.clone(),
            bounce: RefCell::new(bounce),
            mem,
            _attachment: None,
            device_owned: Cell::new(false),
            user_mapped: Cell::new(false),
        }))
    }

    fn get_dmabuf(&mut self, fd: i32) -> QResult<Self::DmaBuf> {
        let mem = self
            .world
            .fds
            .borrow()
            .get(&fd)
            .cloned()
            .ok_or(Error::new(Errno::Dma(-9), "model: bad fd"))?;
        self.world.count(|c| c.gets += 1);
        Ok(DmaBufRef {
            world: self.world.clone(),
            mem,
        })
    }

    fn dmabuf_size(&self, buf: &Self::DmaBuf) -> usize {
        buf.mem.cpu.borrow().len()
    }

    fn is_attached(&self, buf: &Self::DmaBuf, attachment: &Self::Attachment) -> bool {
        buf.mem.id == attachment.buf.mem.id
    }

    fn attach(&mut self, buf: Self::DmaBuf) -> QResult<Self::Attachment> {
        self.world.count(|c| c.attaches += 1);
        Ok(Rc::new(AttachmentInner {
            world: self.world.clone(),
            buf,
        }))
    }

    fn map(&mut self, attachment: &Self::Attachment, _direction: Direction) -> QResult<Self::Mapping> {
        if self.world.fail_maps.get() > 0 {
            self.world.fail_maps.set(self.world.fail_maps.get() - 1);
            return Err(Error::new(Errno::ENOMEM, "model: map refused"));
        }
        self.world.count(|c| c.maps += 1);
        let mem = attachment.buf.mem.clone();
        assert!(
            self.world.mapped.borrow_mut().insert(mem.id),
            "the same memory mapped twice for the device (overlapping mappings)"
        );
        // Mapping copies the memory into the bounce copy.
        let bounce = mem.cpu.borrow().clone();
        Ok(Rc::new(MappingInner {
            world: self.world.clone(),
            mem,
            _attachment: Some(attachment.clone()),
            bounce: RefCell::new(bounce),
            device_owned: Cell::new(false),
            user_mapped: Cell::new(false),
        }))
    }

    fn sync_for_device(&mut self, mapping: &Self::Mapping, _bytes: Range<usize>, direction: Direction) {
        if direction == Direction::FromDevice {
            // DMA_FROM_DEVICE: swiotlb copies nothing into the bounce copy.
            self.world.count(|c| c.syncs_for_device += 1);
            mapping.device_owned.set(true);
            return;
        }
        assert!(
            !mapping.device_owned.get(),
            "sync before unmap of a buffer the device owns"
        );
        self.world.count(|c| c.syncs_before_unmap += 1);
        if mapping._attachment.is_some() {
            // DMA_TO_DEVICE: the CPU's bytes go to the bounce copy.
            let cpu = mapping.mem.cpu.borrow();
            mapping.bounce.borrow_mut().copy_from_slice(&cpu);
        }
    }

    fn needs_sync(&self) -> bool {
        true
    }

    fn mapping_size(&self, mapping: &Self::Mapping) -> usize {
        mapping.bounce.borrow().len()
    }

    fn sync_for_cpu(&mut self, mapping: &Self::Mapping, bytes: Range<usize>, _direction: Direction) {
        self.world.count(|c| {
            c.syncs_for_cpu += 1;
            c.bytes_synced_for_cpu += bytes.len() as u64;
        });
        let bounce = mapping.bounce.borrow();
        mapping.mem.cpu.borrow_mut()[bytes.clone()].copy_from_slice(&bounce[bytes]);
        mapping.device_owned.set(false);
    }

    fn is_mapped_to_user(&self, mapping: &Self::Mapping) -> bool {
        mapping.user_mapped.get()
    }
}
