// SPDX-License-Identifier: GPL-2.0

//! A model of everything below the queue core's [`Dma`] trait: the dma-buf
//! exporters, the Linux DMA API with swiotlb and a non-coherent CPU cache
//! ([`dma_api`], [`memory`]), and the device and the CPU touching memory.
//! It implements [`Dma`] for the queue and checks, on every call, what
//! DMA-API debugging, an IOMMU and a careful reviewer would:
//!
//! - every sync in a direction its mapping allows, inside the mapping;
//! - the device writes a buffer only while the device owns it, and
//!   userspace writes one only while the CPU owns it. Ownership is what the
//!   importer's calls say: a buffer is the device's from a sync for the
//!   device (or an import's map: a mapped attachment is ready for the
//!   device) until a sync for the CPU or its unmap;
//! - no memory is mapped twice for the device at once.
//!
//! The three kinds of [`Exporter`] differ in when they sync for the CPU,
//! which is what the queue's "nothing lost" rule must survive: at unmap, at
//! detach, or never. Each dma-buf has its own kind.
//!
//! Counters record every call, on both sides of the exporters, so that
//! leaks show: dma-buf references, attachments, the importer's mappings and
//! the DMA API's mappings (an exporter's cached one included).
//!
//! MMAP memory is two things, as in the kernel (`UserPages` and its DMA
//! mapping): its pages ([`PagesInner`]), which the queue's mapping,
//! userspace's mmaps ([`UserMapping`]) and exported dma-bufs ([`HeldPages`])
//! hold, freed when the last of them goes; and the mapping for the device,
//! which only the queue (and the engine, while it fills the buffer) holds.
//! Freed pages are marked, so that a later use of them fails.

pub mod dma_api;
pub mod memory;
mod tests;

use crate::queue::{Direction, Dma, Errno, Error, QResult, MAP_DIRECTION};
use crate::rng::Rng;
use core::cell::{Cell, RefCell};
use core::ops::Range;
use dma_api::{violation, CpuSync, DmaMapping, Platform};
use memory::Region;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use std::vec::Vec;

/// How a dma-buf exporter maps an attachment and when it syncs for the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exporter {
    /// The system and CMA dma-heaps: each map is a `dma_map_sgtable` (with
    /// its CPU sync), each unmap a `dma_unmap_sgtable` with a sync for the
    /// CPU; detach does nothing more.
    SyncsAtUnmap,
    /// udmabuf, videobuf2-dma-contig, DRM prime (`cache_sgt_mapping`): the
    /// first map of an attachment maps with `DMA_ATTR_SKIP_CPU_SYNC` and
    /// keeps the mapping; later maps return it (the same bounce slot), or
    /// fail with `EBUSY` in another direction unless it is bidirectional;
    /// unmap does nothing; detach unmaps without a CPU sync.
    NeverSyncs,
    /// videobuf2-vmalloc and -dma-sg: the first map maps with a CPU sync and
    /// keeps the mapping per attachment; a later map in the same direction
    /// returns it, in another one unmaps it with a CPU sync and maps again;
    /// unmap does nothing; detach unmaps with a sync for the CPU.
    SyncsAtDetach,
}

impl Exporter {
    pub const ALL: [Exporter; 3] = [
        Exporter::SyncsAtUnmap,
        Exporter::NeverSyncs,
        Exporter::SyncsAtDetach,
    ];
}

/// Counters of everything the queue asked for and the DMA API did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub gets: u64,
    pub puts: u64,
    pub attaches: u64,
    pub detaches: u64,
    /// The importer's map and unmap calls (what rvcap's debugfs counts).
    pub maps: u64,
    pub unmaps: u64,
    /// MMAP memory allocated (pages and mapping together).
    pub allocs: u64,
    /// MMAP mappings for the device dropped (unmapped, no CPU sync).
    pub mmap_unmaps: u64,
    /// MMAP pages freed: when the last of the mapping, the user mappings
    /// and the exports goes.
    pub frees: u64,
    /// Holds on MMAP pages the queue gave for exports ([`Dma::hold_pages`]),
    /// and those dropped (the dma-buf's release).
    pub exports: u64,
    pub exports_released: u64,
    pub syncs_for_device: u64,
    /// Syncs for the device that push the CPU's bytes towards the device
    /// (`ToDevice` or `Bidirectional`): hand-overs before an unmap.
    pub hand_overs: u64,
    pub syncs_for_cpu: u64,
    pub bytes_synced_for_cpu: u64,
    /// Planes whose device-written frame the queue handed to the other
    /// views of their memory (`Dma::frame_written`).
    pub frames_written: u64,
    /// MMAP buffers unmapped while the device owned them: the device's last
    /// frame lost, since MMAP memory is unmapped without a CPU sync.
    /// Counted, not a violation: a test may drop a queue mid-stream.
    pub mmap_freed_device_owned: u64,
    /// The DMA API's maps and unmaps, whoever made them.
    pub dma_maps: u64,
    pub dma_unmaps: u64,
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
    /// The importer's mappings alive (imports and MMAP).
    pub fn mappings(&self) -> u64 {
        self.maps + self.allocs - self.unmaps - self.mmap_unmaps
    }
    /// MMAP pages alive (held by a mapping, a user mapping or an export).
    pub fn pages(&self) -> u64 {
        self.allocs - self.frees
    }
    /// Exports alive: holds on MMAP pages given and not dropped.
    pub fn exports_alive(&self) -> u64 {
        self.exports - self.exports_released
    }
    /// DMA-API mappings alive, exporters' cached ones included.
    pub fn dma_mappings(&self) -> u64 {
        self.dma_maps - self.dma_unmaps
    }
    /// Everything held of dma-bufs and DMA mappings: references,
    /// attachments, the importer's mappings, DMA-API mappings.
    pub fn held(&self) -> (u64, u64, u64, u64) {
        (
            self.refs_held(),
            self.attachments(),
            self.mappings(),
            self.dma_mappings(),
        )
    }
}

/// A buffer: an exporter's pages or an MMAP allocation, as userspace maps
/// it (every CPU access goes through the CPU's cache, if any).
pub struct Buffer {
    pub id: u64,
    region: Rc<Region>,
    /// Who exported it; `None` for the driver's own MMAP memory.
    exporter: Option<Exporter>,
    device_owned: Cell<bool>,
    /// Whether the device wrote it since it was last handed to the device.
    device_wrote: Cell<bool>,
    /// Whether the importer holds a mapping of it.
    importer_mapped: Cell<bool>,
    /// MMAP: whether its pages were freed.
    freed: Cell<bool>,
}

impl Buffer {
    pub fn len(&self) -> usize {
        self.region.len()
    }

    pub fn exporter(&self) -> Option<Exporter> {
        self.exporter
    }

    /// Whether the device owns the buffer now (see the module's doc).
    pub fn is_device_owned(&self) -> bool {
        self.device_owned.get()
    }

    /// Whether the driver has mapped it for the device (the queue's
    /// mapping, or an import's).
    pub fn is_mapped_for_device(&self) -> bool {
        self.importer_mapped.get()
    }

    /// MMAP: whether its pages were freed.
    pub fn is_freed(&self) -> bool {
        self.freed.get()
    }

    /// What a CPU read returns (loading cache lines, as a real read does).
    pub fn cpu_read(&self, bytes: Range<usize>) -> Vec<u8> {
        self.region.cpu_read(bytes)
    }

    /// Changes whenever what the CPU sees of the buffer may have changed.
    pub fn view_version(&self) -> u64 {
        self.region.view_version()
    }

    /// What a CPU read would return, changing nothing: for checks.
    pub fn cpu_peek(&self, bytes: Range<usize>) -> Vec<u8> {
        self.region.cpu_peek(bytes)
    }

    /// The buffer changes hands without a sync, on the application's word:
    /// a cache hint (`V4L2_BUF_FLAG_NO_CACHE_*`) told the queue to skip the
    /// sync that would have said so. To the device if `to_device`.
    pub fn hand_over_unsynced(&self, to_device: bool) {
        self.device_owned.set(to_device);
        if to_device {
            self.device_wrote.set(false);
        }
    }

    /// Userspace writes `data` at `offset`: only while the CPU owns it.
    pub fn cpu_write(&self, offset: usize, data: &[u8]) {
        if self.device_owned.get() {
            violation(format_args!(
                "userspace wrote buffer {} the device owns",
                self.id
            ));
        }
        if self.freed.get() {
            violation(format_args!(
                "userspace wrote buffer {} after its pages were freed",
                self.id
            ));
        }
        self.region.cpu_write(offset, data);
    }
}

/// The platform, the exporters, the fd table of "userspace", and the
/// counters.
pub struct World {
    pub platform: Platform,
    counters: Cell<Counters>,
    fds: RefCell<BTreeMap<i32, Rc<Buffer>>>,
    next_id: Cell<u64>,
    /// Make this many maps or MMAP allocations fail...
    pub fail_maps: Cell<u32>,
    /// ... after this many more succeed.
    pub maps_before_failure: Cell<u32>,
    /// Drives the caches' own write-backs and speculative loads.
    rng: RefCell<Rng>,
    /// Every region alive, for [`World::disturb`].
    regions: RefCell<Vec<Weak<Region>>>,
}

impl World {
    /// A world on `platform` whose caches behave as `seed` says.
    pub fn new(platform: Platform, seed: u64) -> Rc<Self> {
        Rc::new(Self {
            platform,
            counters: Cell::default(),
            fds: RefCell::default(),
            next_id: Cell::new(0),
            fail_maps: Cell::new(0),
            maps_before_failure: Cell::new(0),
            rng: RefCell::new(Rng::new(seed)),
            regions: RefCell::default(),
        })
    }

    pub fn counters(&self) -> Counters {
        self.counters.get()
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        let mut c = self.counters.get();
        f(&mut c);
        self.counters.set(c);
    }

    /// `len` bytes of RAM holding `fill`, cached as the platform caches.
    fn new_region(&self, len: usize, fill: u8) -> Rc<Region> {
        let region = Rc::new(Region::new(len, fill, self.platform.caches()));
        let mut regions = self.regions.borrow_mut();
        regions.retain(|r| r.strong_count() > 0);
        regions.push(Rc::downgrade(&region));
        region
    }

    fn new_buffer(&self, size: usize, exporter: Option<Exporter>) -> Rc<Buffer> {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        Rc::new(Buffer {
            id,
            region: self.new_region(size, 0),
            exporter,
            device_owned: Cell::new(false),
            device_wrote: Cell::new(false),
            importer_mapped: Cell::new(false),
            freed: Cell::new(false),
        })
    }

    /// Exports a new dma-buf of `size` bytes at file descriptor `fd`.
    pub fn export(&self, fd: i32, size: usize, exporter: Exporter) -> Rc<Buffer> {
        let buffer = self.new_buffer(size, Some(exporter));
        self.fds.borrow_mut().insert(fd, buffer.clone());
        buffer
    }

    /// The buffer behind `fd`, as userspace's mmap of the dma-buf sees it.
    pub fn buffer(&self, fd: i32) -> Option<Rc<Buffer>> {
        self.fds.borrow().get(&fd).cloned()
    }

    /// Userspace closes `fd`: the memory lives on while the queue holds it.
    pub fn close(&self, fd: i32) {
        self.fds.borrow_mut().remove(&fd);
    }

    /// The caches act on their own, as they may at any moment: called
    /// before every DMA call, device write and queue operation.
    pub fn disturb(&self) {
        if !self.platform.caches() {
            return;
        }
        let mut rng = self.rng.borrow_mut();
        let mut regions = self.regions.borrow_mut();
        regions.retain(|r| r.strong_count() > 0);
        // A couple of regions a time: cheap, and over a test every region
        // gets its turn.
        for _ in 0..2 {
            if regions.is_empty() {
                break;
            }
            if let Some(region) = regions[rng.below(regions.len())].upgrade() {
                region.disturb(&mut rng);
            }
        }
    }
}

/// A dma-buf reference (`dma_buf_get`); dropping it puts the reference.
pub struct DmaBufRef {
    world: Rc<World>,
    pub buffer: Rc<Buffer>,
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
    /// The mapping a caching exporter keeps until detach.
    kept_mapping: RefCell<Option<Rc<DmaMapping>>>,
}

impl AttachmentInner {
    fn exporter(&self) -> Exporter {
        self.buf
            .buffer
            .exporter
            .expect("model: an attached buffer has an exporter")
    }

    /// The exporter's `map_dma_buf` (with the dma-buf core's mapping cache
    /// for [`Exporter::NeverSyncs`]).
    fn map(&self, direction: Direction) -> QResult<Rc<DmaMapping>> {
        let buffer = &self.buf.buffer;
        let map = |cpu_sync| {
            DmaMapping::map(
                &self.world,
                &buffer.region,
                buffer.len(),
                direction,
                cpu_sync,
            )
        };
        let mut kept = self.kept_mapping.borrow_mut();
        match self.exporter() {
            Exporter::SyncsAtUnmap => Ok(map(CpuSync::Sync)),
            Exporter::NeverSyncs => match &*kept {
                Some(mapping)
                    if mapping.direction == direction
                        || mapping.direction == Direction::Bidirectional =>
                {
                    Ok(mapping.clone())
                }
                Some(_) => Err(Error::new(
                    Errno::Dma(-16),
                    "model: mapped in another direction",
                )),
                None => Ok(kept.insert(map(CpuSync::Skip)).clone()),
            },
            Exporter::SyncsAtDetach => {
                if let Some(mapping) = &*kept {
                    if mapping.direction == direction {
                        return Ok(mapping.clone());
                    }
                    mapping.unmap(CpuSync::Sync);
                }
                Ok(kept.insert(map(CpuSync::Sync)).clone())
            }
        }
    }

    /// The exporter's `unmap_dma_buf` (the dma-buf core's, for a cached
    /// mapping: nothing).
    fn unmap(&self, mapping: &DmaMapping) {
        if self.exporter() == Exporter::SyncsAtUnmap {
            mapping.unmap(CpuSync::Sync);
        }
    }
}

impl Drop for AttachmentInner {
    fn drop(&mut self) {
        if let Some(mapping) = self.kept_mapping.take() {
            mapping.unmap(match self.exporter() {
                Exporter::SyncsAtDetach => CpuSync::Sync,
                _ => CpuSync::Skip,
            });
        }
        self.world.count(|c| c.detaches += 1);
    }
}

/// The pages of an MMAP buffer (the kernel's `UserPages`): held by the
/// queue's mapping, userspace's mappings and exports; freed (and marked so)
/// when the last of them goes.
pub struct PagesInner {
    world: Rc<World>,
    pub buffer: Rc<Buffer>,
    /// Userspace mappings of the pages ([`UserMapping`]).
    user_maps: Cell<u32>,
}

impl Drop for PagesInner {
    fn drop(&mut self) {
        self.buffer.freed.set(true);
        self.world.count(|c| c.frees += 1);
    }
}

/// A userspace mapping of MMAP pages (a VMA of the V4L2 mmap, or of an
/// exported dma-buf's): holds the pages, not the mapping for the device,
/// and counts as mapped while it lives.
pub struct UserMapping {
    pages: Rc<PagesInner>,
}

impl UserMapping {
    fn new(pages: &Rc<PagesInner>) -> Self {
        pages.user_maps.set(pages.user_maps.get() + 1);
        Self {
            pages: pages.clone(),
        }
    }

    /// The memory userspace reaches through the mapping.
    pub fn buffer(&self) -> &Rc<Buffer> {
        &self.pages.buffer
    }
}

impl Drop for UserMapping {
    fn drop(&mut self) {
        self.pages.user_maps.set(self.pages.user_maps.get() - 1);
    }
}

/// An export's hold on MMAP pages ([`Dma::Pages`]): what the kernel's
/// exported dma-buf keeps (an `Arc<UserPages>`). Dropping it is the
/// dma-buf's release.
pub struct HeldPages {
    world: Rc<World>,
    pages: Rc<PagesInner>,
}

impl HeldPages {
    /// The exported memory, as the dma-buf's importers and its mmap reach it.
    pub fn buffer(&self) -> &Rc<Buffer> {
        &self.pages.buffer
    }

    /// Userspace mmaps the dma-buf.
    pub fn user_map(&self) -> UserMapping {
        UserMapping::new(&self.pages)
    }
}

impl Drop for HeldPages {
    fn drop(&mut self) {
        self.world.count(|c| c.exports_released += 1);
    }
}

/// The importer's mapping of a buffer (what the queue holds and the engine
/// writes through); dropping the last clone unmaps it.
pub struct MappingInner {
    world: Rc<World>,
    pub buffer: Rc<Buffer>,
    dma: Rc<DmaMapping>,
    /// Keeps the attachment alive while mapped (`None` for MMAP).
    attachment: Option<Rc<AttachmentInner>>,
    /// MMAP: the pages, which outlive the mapping while another holds them
    /// (`None` for an import). After `dma` in drop order: unmapped first.
    pages: Option<Rc<PagesInner>>,
}

impl MappingInner {
    fn new(
        world: &Rc<World>,
        buffer: Rc<Buffer>,
        dma: Rc<DmaMapping>,
        attachment: Option<Rc<AttachmentInner>>,
        pages: Option<Rc<PagesInner>>,
    ) -> Rc<Self> {
        if buffer.importer_mapped.replace(true) {
            violation(format_args!(
                "buffer {} mapped twice for the device (overlapping mappings)",
                buffer.id
            ));
        }
        // A mapped attachment is ready for the device; MMAP memory is mapped
        // without a CPU sync and stays the CPU's until its first sync.
        buffer.device_owned.set(attachment.is_some());
        Rc::new(Self {
            world: world.clone(),
            buffer,
            dma,
            attachment,
            pages,
        })
    }

    /// Userspace mmaps MMAP memory (V4L2 `mmap`); the model's own check
    /// fails for an import, as the kernel's `EINVAL` would.
    pub fn user_map(&self) -> UserMapping {
        match &self.pages {
            Some(pages) => UserMapping::new(pages),
            None => panic!("model: mmap of an import through the V4L2 node"),
        }
    }

    /// The device writes `data` at `offset` through its DMA addresses.
    pub fn device_write(&self, offset: usize, data: &[u8]) {
        self.world.disturb();
        if !self.buffer.device_owned.get() {
            violation(format_args!(
                "the device wrote buffer {}, which the CPU owns",
                self.buffer.id
            ));
        }
        self.dma.device_write(offset, data);
        self.buffer.device_wrote.set(true);
    }
}

impl Drop for MappingInner {
    fn drop(&mut self) {
        self.world.disturb();
        if let Some(attachment) = &self.attachment {
            attachment.unmap(&self.dma);
            self.world.count(|c| c.unmaps += 1);
        } else {
            // The pages go after this, once nothing else holds them.
            self.dma.unmap(CpuSync::Skip);
            let lost = u64::from(self.buffer.device_owned.get());
            self.world.count(|c| {
                c.mmap_unmaps += 1;
                c.mmap_freed_device_owned += lost;
            });
        }
        // After its unmap the CPU owns the buffer (in whatever state the
        // exporter left it).
        self.buffer.device_owned.set(false);
        self.buffer.importer_mapped.set(false);
    }
}

/// The model's implementation of the queue's DMA side.
pub struct Model {
    pub world: Rc<World>,
}

impl Model {
    /// Error injection: whether this map or allocation is to fail.
    fn injected_failure(&self) -> bool {
        let world = &self.world;
        let before = world.maps_before_failure.get();
        if before > 0 {
            world.maps_before_failure.set(before - 1);
            return false;
        }
        let failing = world.fail_maps.get();
        world.fail_maps.set(failing.saturating_sub(1));
        failing > 0
    }
}

impl Dma for Model {
    type Table<T> = Vec<T>;
    type DmaBuf = DmaBufRef;
    type Attachment = Rc<AttachmentInner>;
    type Mapping = Rc<MappingInner>;
    type Pages = HeldPages;

    fn new_table<T>(&mut self, len: usize, make: impl FnMut() -> T) -> QResult<Vec<T>> {
        Ok(core::iter::repeat_with(make).take(len).collect())
    }

    fn alloc_mapped(&mut self, size: usize, direction: Direction) -> QResult<Self::Mapping> {
        self.world.disturb();
        if self.injected_failure() {
            return Err(Error::new(Errno::ENOMEM, "model: allocation refused"));
        }
        self.world.count(|c| c.allocs += 1);
        let buffer = self.world.new_buffer(size, None);
        let dma = DmaMapping::map(&self.world, &buffer.region, size, direction, CpuSync::Skip);
        let pages = Rc::new(PagesInner {
            world: self.world.clone(),
            buffer: buffer.clone(),
            user_maps: Cell::new(0),
        });
        Ok(MappingInner::new(
            &self.world,
            buffer,
            dma,
            None,
            Some(pages),
        ))
    }

    fn get_dmabuf(&mut self, fd: i32) -> QResult<Self::DmaBuf> {
        let buffer = self
            .world
            .buffer(fd)
            .ok_or(Error::new(Errno::Dma(-9), "model: bad fd"))?;
        self.world.count(|c| c.gets += 1);
        Ok(DmaBufRef {
            world: self.world.clone(),
            buffer,
        })
    }

    fn dmabuf_size(&self, buf: &Self::DmaBuf) -> usize {
        buf.buffer.len()
    }

    fn same_dmabuf(&self, a: &Self::DmaBuf, b: &Self::DmaBuf) -> bool {
        a.buffer.id == b.buffer.id
    }

    fn is_attached(&self, buf: &Self::DmaBuf, attachment: &Self::Attachment) -> bool {
        buf.buffer.id == attachment.buf.buffer.id
    }

    fn attach(&mut self, buf: Self::DmaBuf) -> QResult<Self::Attachment> {
        self.world.count(|c| c.attaches += 1);
        Ok(Rc::new(AttachmentInner {
            world: self.world.clone(),
            buf,
            kept_mapping: RefCell::new(None),
        }))
    }

    fn map(
        &mut self,
        attachment: &Self::Attachment,
        direction: Direction,
    ) -> QResult<Self::Mapping> {
        self.world.disturb();
        if self.injected_failure() {
            return Err(Error::new(Errno::ENOMEM, "model: map refused"));
        }
        let dma = attachment.map(direction)?;
        self.world.count(|c| c.maps += 1);
        Ok(MappingInner::new(
            &self.world,
            attachment.buf.buffer.clone(),
            dma,
            Some(attachment.clone()),
            None,
        ))
    }

    fn sync_for_device(
        &mut self,
        mapping: &Self::Mapping,
        bytes: Range<usize>,
        direction: Direction,
    ) {
        self.world.disturb();
        self.world.count(|c| {
            c.syncs_for_device += 1;
            c.hand_overs += u64::from(direction != Direction::FromDevice);
        });
        mapping.dma.sync_for_device(bytes, direction);
        if direction == Direction::FromDevice {
            // A frame's hand-off: the device may write it now.
            mapping.buffer.device_owned.set(true);
            mapping.buffer.device_wrote.set(false);
        }
    }

    fn sync_for_cpu(&mut self, mapping: &Self::Mapping, bytes: Range<usize>, direction: Direction) {
        self.world.disturb();
        self.world.count(|c| {
            c.syncs_for_cpu += 1;
            c.bytes_synced_for_cpu += bytes.len() as u64;
        });
        mapping.dma.sync_for_cpu(bytes, direction);
        mapping.buffer.device_owned.set(false);
    }

    fn frame_written(&mut self, mapping: &Self::Mapping) {
        // Only a frame the device wrote, once the CPU has it: handing other
        // views unchanged bytes, or bytes not synced yet, could undo what
        // another device wrote there.
        if mapping.buffer.device_owned.get() || !mapping.buffer.device_wrote.get() {
            violation(format_args!(
                "buffer {}'s frame handed to other views: {}",
                mapping.buffer.id,
                if mapping.buffer.device_owned.get() {
                    "not synced for the CPU first"
                } else {
                    "the device did not write it"
                }
            ));
        }
        self.world.count(|c| c.frames_written += 1);
    }

    fn sync_attachment_for_device(&mut self, attachment: &Self::Attachment, direction: Direction) {
        self.world.disturb();
        let Ok(dma) = attachment.map(MAP_DIRECTION) else {
            return;
        };
        self.world.count(|c| {
            c.maps += 1;
            c.hand_overs += 1;
        });
        let size = dma.size;
        dma.sync_for_device(0..size, direction);
        // Unmapped here (the exporter decides what that does).
        drop(MappingInner::new(
            &self.world,
            attachment.buf.buffer.clone(),
            dma,
            Some(attachment.clone()),
            None,
        ));
    }

    fn needs_sync(&self) -> bool {
        self.world.platform.needs_sync()
    }

    fn mapping_size(&self, mapping: &Self::Mapping) -> usize {
        mapping.dma.size
    }

    fn is_mapped_to_user(&self, mapping: &Self::Mapping) -> bool {
        mapping
            .pages
            .as_ref()
            .is_some_and(|p| p.user_maps.get() > 0)
    }

    /// The pages, not the mapping. Asking for an import's is the queue's
    /// error: those pages are the exporter's, not rvcap's to give.
    fn hold_pages(&self, mapping: &Self::Mapping) -> Option<HeldPages> {
        let Some(pages) = &mapping.pages else {
            violation(format_args!(
                "the pages of import {} held for an export",
                mapping.buffer.id
            ));
            return None;
        };
        self.world.count(|c| c.exports += 1);
        Some(HeldPages {
            world: self.world.clone(),
            pages: pages.clone(),
        })
    }
}
