// SPDX-License-Identifier: GPL-2.0

//! The queue core's buffers of several planes, REMOVE_BUFS, CREATE_BUFS
//! into holes, the 64-buffer table and the cache hints, against the model
//! of its DMA side (`crate::model`), on every platform and with every kind
//! of exporter; and randomized operation sequences of all of it that check
//! the invariants after every step.
//!
//! Userspace, as the [`Rig`] plays it, reads every plane of every frame it
//! dequeues, which must be byte for byte what the device wrote into that
//! plane, and writes into planes it owns (MMAP planes through its own
//! mmap(), which outlives the buffer's removal), which nothing the driver
//! does may change until userspace queues them again.
//!
//! It also exports MMAP planes (EXPBUF) and keeps the dma-bufs, mmaps
//! them and closes them: an exported plane streams as before, and memory
//! the queue let go of lives exactly as long as an export or a user
//! mapping holds it, mapped for the device no more.

use crate::model::dma_api::Platform;
use crate::model::memory::LINE;
use crate::model::{Buffer, Counters, Exporter, HeldPages, Model, UserMapping, World};
use crate::pattern_tests::verification_byte;
use crate::queue::*;
use crate::rng::Rng;
use crate::setup::{self, Setup};
use crate::userspace::{Claims, Userspace};
use std::collections::BTreeMap;
use std::format;
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

const A: OwnerId = OwnerId(1);
const B: OwnerId = OwnerId(2);

/// The format's planes (NV12M-like luma, chroma and a third plane that
/// ends mid-line): each its own size, so that a plane written into another
/// one's memory shows.
const SIZES: [usize; MAX_PLANES] = [4096, 2048, 1000];

/// [`setup::in_every_setup`] (every platform, every exporter) on this rig.
fn in_every_setup(test: impl Fn(&mut Rig)) {
    setup::in_every_setup(Rig::new, test);
}

/// [`setup::on_every_platform`] (MMAP buffers) on this rig.
fn on_every_platform(test: impl Fn(&mut Rig)) {
    setup::on_every_platform(Rig::new, test);
}

/// What the device writes into plane `plane` of frame `sequence`: a
/// pattern of its own for each plane of each frame.
fn plane_frame(sequence: u32, plane: usize, bytesused: usize) -> Vec<u8> {
    let pattern = sequence
        .wrapping_mul(MAX_PLANES as u32)
        .wrapping_add(plane as u32);
    (0..bytesused)
        .map(|i| verification_byte(i, pattern))
        .collect()
}

/// `count` buffers of `memory` with the first `num_planes` of [`SIZES`].
fn buffers(memory: Memory, count: usize, num_planes: usize, non_coherent: bool) -> BufferRequest {
    let mut plane_sizes = [0; MAX_PLANES];
    plane_sizes[..num_planes].copy_from_slice(&SIZES[..num_planes]);
    BufferRequest {
        memory,
        count,
        num_planes,
        plane_sizes,
        non_coherent,
    }
}

/// QBUF or PREPARE_BUF of buffer `index` with the dma-bufs `fds`, one a
/// plane, each used whole (MMAP: no fds).
fn planes_request(index: usize, memory: Memory, fds: &[i32]) -> QueueRequest {
    let mut planes = [PlaneRequest::NONE; MAX_PLANES];
    for (plane, &fd) in planes.iter_mut().zip(fds) {
        plane.fd = fd;
    }
    QueueRequest {
        index,
        memory,
        planes,
        room: MAX_PLANES,
        hints: CacheHints::default(),
    }
}

fn mmap_request(index: usize, hints: CacheHints) -> QueueRequest {
    QueueRequest {
        hints,
        ..planes_request(index, Memory::Mmap, &[])
    }
}

const SKIP_FOR_DEVICE: CacheHints = CacheHints {
    skip_for_device: true,
    skip_for_cpu: false,
};
const SKIP_FOR_CPU: CacheHints = CacheHints {
    skip_for_device: false,
    skip_for_cpu: true,
};
const SKIP_BOTH: CacheHints = CacheHints {
    skip_for_device: true,
    skip_for_cpu: true,
};

fn errno<T: core::fmt::Debug>(e: Result<T, Errno>) -> Errno {
    e.unwrap_err()
}

struct Rig {
    q: Queue<Model>,
    dma: Model,
    world: Rc<World>,
    setup: Setup,
    sequence: u32,
    /// What the device wrote into each plane of each frame not dequeued
    /// yet, by sequence.
    frames_written: BTreeMap<u32, [Vec<u8>; MAX_PLANES]>,
    /// What userspace wrote and has not queued since.
    claims: Claims,
    /// Userspace's mappings of MMAP planes (through the video node, once a
    /// plane, or of an export): their memory outlives the queue's.
    user_mmaps: Vec<UserMapping>,
    /// Dma-bufs userspace exported (EXPBUF) and keeps open: each holds its
    /// plane's memory.
    exports: Vec<HeldPages>,
}

impl Userspace for Rig {
    fn world(&self) -> &World {
        &self.world
    }

    fn claims_mut(&mut self) -> &mut Claims {
        &mut self.claims
    }
}

impl Rig {
    fn new(setup: Setup) -> Self {
        Self::with_seed(setup, 1)
    }

    fn with_seed(setup: Setup, seed: u64) -> Self {
        let world = World::new(setup.platform, seed);
        Self {
            q: Queue::new(),
            dma: Model {
                world: world.clone(),
            },
            world,
            setup,
            sequence: 0,
            frames_written: BTreeMap::new(),
            claims: Claims::default(),
            user_mmaps: Vec::new(),
            exports: Vec::new(),
        }
    }

    /// Exports a dma-buf of `size` bytes at `fd`, by the setup's exporter.
    fn export(&self, fd: i32, size: usize) -> Rc<Buffer> {
        self.world.export(fd, size, self.setup.exporter)
    }

    /// Exports one dma-buf a plane of [`SIZES`] at `fds`.
    fn export_planes(&self, fds: &[i32]) -> Vec<Rc<Buffer>> {
        fds.iter()
            .enumerate()
            .map(|(p, &fd)| self.export(fd, SIZES[p]))
            .collect()
    }

    fn counters(&self) -> Counters {
        self.world.counters()
    }

    fn info(&self, index: usize) -> BufferInfo {
        self.q.query(&self.dma, index).unwrap()
    }

    /// QUERYBUF of every index the table has (holes are `None`).
    fn all_infos(&self) -> Vec<Option<BufferInfo>> {
        self.q
            .indices()
            .map(|i| self.q.query(&self.dma, i).ok())
            .collect()
    }

    fn reqbufs(&mut self, who: OwnerId, request: &BufferRequest) -> Result<Allocated, Errno> {
        self.world.disturb();
        self.q
            .reqbufs(&mut self.dma, who, request)
            .map_err(|e| e.errno)
    }

    fn create_bufs(&mut self, who: OwnerId, request: &BufferRequest) -> Result<Allocated, Errno> {
        self.world.disturb();
        self.q
            .create_bufs(&mut self.dma, who, request)
            .map_err(|e| e.errno)
    }

    fn remove_bufs(&mut self, who: OwnerId, index: usize, count: usize) -> Result<(), Errno> {
        self.world.disturb();
        self.q
            .remove_bufs(&mut self.dma, who, index, count)
            .map_err(|e| e.errno)
    }

    /// The memory of plane `plane` of buffer `index` (MMAP), or of the
    /// dma-buf at `fd` (DMABUF), without mmapping it.
    fn plane_memory(&self, info: &BufferInfo, plane: usize) -> Option<Rc<Buffer>> {
        match info.memory {
            Memory::Mmap => self
                .q
                .mmap_buffer(info.index, plane)
                .ok()
                .map(|m| m.buffer.clone()),
            Memory::DmaBuf => self.world.buffer(info.planes[plane].fd),
        }
    }

    /// Userspace mmaps plane `plane` of MMAP buffer `index` (once) and
    /// keeps the mapping.
    fn user_mmap(&mut self, index: usize, plane: usize) -> Rc<Buffer> {
        let mapping = self.q.mmap_buffer(index, plane).unwrap();
        if !self
            .user_mmaps
            .iter()
            .any(|m| m.buffer().id == mapping.buffer.id)
        {
            self.user_mmaps.push(mapping.user_map());
        }
        mapping.buffer.clone()
    }

    /// Userspace munmaps (one mapping of) `buffer`: freed if nothing else
    /// holds it.
    fn user_munmap(&mut self, buffer: &Rc<Buffer>) {
        self.world.disturb();
        if let Some(at) = self
            .user_mmaps
            .iter()
            .position(|m| m.buffer().id == buffer.id)
        {
            self.user_mmaps.remove(at);
        }
    }

    /// VIDIOC_EXPBUF of plane `plane` of buffer `index` (by anyone: no
    /// owner); userspace keeps the dma-buf. Returns the memory exported.
    fn expbuf(&mut self, index: usize, plane: usize) -> Result<Rc<Buffer>, Errno> {
        self.world.disturb();
        let held = self
            .q
            .export(&self.dma, index, plane)
            .map_err(|e| e.errno)?;
        let buffer = held.buffer().clone();
        self.exports.push(held);
        Ok(buffer)
    }

    /// Userspace closes the dma-buf of its export `n` (the last reference:
    /// the dma-buf is released).
    fn release_export(&mut self, n: usize) {
        self.world.disturb();
        self.exports.remove(n);
    }

    /// Userspace mmaps the dma-buf of its export `n` and keeps the mapping.
    fn mmap_export(&mut self, n: usize) -> Rc<Buffer> {
        let mapping = self.exports[n].user_map();
        let buffer = mapping.buffer().clone();
        self.user_mmaps.push(mapping);
        buffer
    }

    /// The MMAP planes the queue holds.
    fn queue_mmaps(&self) -> Vec<u64> {
        let mut ids = Vec::new();
        for i in self.q.indices() {
            for p in 0..MAX_PLANES {
                if let Ok(mapping) = self.q.mmap_buffer(i, p) {
                    ids.push(mapping.buffer.id);
                }
            }
        }
        ids
    }

    /// The MMAP memory userspace holds: mapped, or exported.
    fn user_held(&self) -> impl Iterator<Item = &Rc<Buffer>> {
        let mapped = self.user_mmaps.iter().map(UserMapping::buffer);
        mapped.chain(self.exports.iter().map(HeldPages::buffer))
    }

    /// MMAP planes the queue let go of that userspace still holds (mapped
    /// or exported), each once.
    fn orphans(&self) -> Vec<Rc<Buffer>> {
        let held = self.queue_mmaps();
        let mut orphans: Vec<Rc<Buffer>> = Vec::new();
        for buffer in self.user_held() {
            if !held.contains(&buffer.id) && !orphans.iter().any(|o| o.id == buffer.id) {
                orphans.push(buffer.clone());
            }
        }
        orphans
    }

    /// What userspace reaches of each plane of a buffer: MMAP planes
    /// through its own mmap(), dma-bufs through their fds.
    fn user_planes(&mut self, info: &BufferInfo) -> Vec<Rc<Buffer>> {
        (0..info.num_planes)
            .filter_map(|p| match info.memory {
                Memory::Mmap => Some(self.user_mmap(info.index, p)),
                Memory::DmaBuf => self.world.buffer(info.planes[p].fd),
            })
            .collect()
    }

    /// Every plane's memory userspace owns: those of the buffers it has
    /// dequeued (MMAP, mmapped now if they were not), the orphans it keeps
    /// mmapped, and the dma-bufs at `fds` no device-owned buffer holds.
    fn user_owned_buffers(&mut self, fds: &[i32]) -> Vec<Rc<Buffer>> {
        let infos: Vec<BufferInfo> = self.all_infos().into_iter().flatten().collect();
        let mut owned = self.orphans();
        match self.q.memory() {
            Some(Memory::Mmap) => {
                for info in infos.iter().filter(|info| info.state.is_cpu_owned()) {
                    owned.extend(self.user_planes(info));
                }
            }
            _ => owned.extend(
                fds.iter()
                    .filter(|&&fd| {
                        !infos.iter().any(|info| {
                            !info.state.is_cpu_owned() && info.planes().iter().any(|p| p.fd == fd)
                        })
                    })
                    .filter_map(|&fd| self.world.buffer(fd)),
            ),
        }
        owned
    }

    /// Panics unless every byte userspace wrote into memory it still owns
    /// and reaches reads back as it wrote it.
    fn check_claims(&self, context: &str) {
        let held = self.queue_mmaps();
        self.claims.check(context, |buffer| {
            self.user_held().any(|b| b.id == buffer.id) || held.contains(&buffer.id)
        });
    }

    /// Buffer `info.index` went to the device: userspace gives up what it
    /// wrote into each of its planes; a skipped sync for the device hands
    /// them over on the application's word.
    fn gone_to_device(&mut self, info: &BufferInfo) {
        for p in 0..info.num_planes {
            if let Some(buffer) = self.plane_memory(info, p) {
                self.claims.forget(&buffer);
                if info.hints.skip_for_device {
                    buffer.hand_over_unsynced(true);
                }
            }
        }
    }

    fn qbuf(&mut self, who: OwnerId, req: &QueueRequest) -> Result<BufferInfo, Errno> {
        self.world.disturb();
        let info = self.q.qbuf(&mut self.dma, who, req).map_err(|e| e.errno)?;
        self.gone_to_device(&info);
        Ok(info)
    }

    fn prepare(&mut self, who: OwnerId, req: &QueueRequest) -> Result<BufferInfo, Errno> {
        self.world.disturb();
        let info = self
            .q
            .prepare(&mut self.dma, who, req)
            .map_err(|e| e.errno)?;
        self.gone_to_device(&info);
        Ok(info)
    }

    /// DQBUF without reading: a skipped sync for the CPU hands the planes
    /// back on the application's word.
    fn dqbuf_unread(&mut self, who: OwnerId, memory: Memory) -> Result<BufferInfo, Errno> {
        self.world.disturb();
        let info = self
            .q
            .dqbuf(&mut self.dma, who, memory, MAX_PLANES)
            .map_err(|e| e.errno)?;
        if info.hints.skip_for_cpu {
            for p in 0..info.num_planes {
                if let Some(mapping) = self.q.mapping(info.index, p) {
                    mapping.buffer.hand_over_unsynced(false);
                }
            }
        }
        Ok(info)
    }

    /// DQBUF; then userspace reads every plane of the frame, which must be
    /// exactly what the device wrote into it.
    fn dqbuf(&mut self, who: OwnerId, memory: Memory) -> Result<BufferInfo, Errno> {
        let info = self.dqbuf_unread(who, memory)?;
        assert!(
            !(info.hints.skip_for_cpu && self.q.is_non_coherent()),
            "the rig reads only frames synced for the CPU"
        );
        let written = self
            .frames_written
            .remove(&info.sequence)
            .unwrap_or_default();
        for (p, plane) in info.planes().iter().enumerate() {
            let buffer = self.plane_memory(&info, p).unwrap();
            let read = buffer.cpu_read(0..plane.bytesused);
            assert!(
                read == written[p],
                "userspace does not read plane {p} of frame {} ({} bytes) in buffer {} \
                 as the device wrote it",
                info.sequence,
                plane.bytesused,
                info.index
            );
        }
        Ok(info)
    }

    fn streamon(&mut self, who: OwnerId) -> Result<(), Errno> {
        self.world.disturb();
        self.q.streamon(who).map_err(|e| e.errno)
    }

    /// The planes of the device-owned buffers whose sync for the CPU the
    /// hints skip.
    fn unsynced_at_cancel(&self) -> Vec<Rc<Buffer>> {
        let mut planes = Vec::new();
        for info in self.all_infos().into_iter().flatten() {
            if !info.state.is_cpu_owned() && info.hints.skip_for_cpu {
                for p in 0..info.num_planes {
                    if let Some(mapping) = self.q.mapping(info.index, p) {
                        planes.push(mapping.buffer.clone());
                    }
                }
            }
        }
        planes
    }

    fn streamoff(&mut self, who: OwnerId) -> Result<(), Errno> {
        self.world.disturb();
        let unsynced = self.unsynced_at_cancel();
        self.q.streamoff(&mut self.dma, who).map_err(|e| e.errno)?;
        for buffer in unsynced {
            buffer.hand_over_unsynced(false);
        }
        Ok(())
    }

    fn close(&mut self, who: OwnerId) {
        self.world.disturb();
        let unsynced = if self.q.owner() == Some(who) {
            self.unsynced_at_cancel()
        } else {
            Vec::new()
        };
        self.q.release(&mut self.dma, who);
        for buffer in unsynced {
            buffer.hand_over_unsynced(false);
        }
    }

    /// The engine fills the oldest queued buffer with the next frame, each
    /// plane through its own mapping with a payload of its own, over
    /// `bytesused[p]` bytes of plane `p` (all of it if `None`). Returns the
    /// buffer's index.
    fn engine_tick_with(&mut self, bytesused: [Option<usize>; MAX_PLANES]) -> Option<usize> {
        let sequence = self.sequence;
        self.sequence += 1;
        let (index, mappings) = self.q.hand_to_device()?;
        let info = self.info(index);
        let mut written: [Vec<u8>; MAX_PLANES] = Default::default();
        let mut used = [0; MAX_PLANES];
        for p in 0..MAX_PLANES {
            let Some(mapping) = &mappings[p] else {
                assert!(p >= info.num_planes, "plane {p} of buffer {index} unmapped");
                continue;
            };
            assert!(p < info.num_planes, "a mapping past the planes");
            let length = info.planes[p].length;
            used[p] = bytesused[p].unwrap_or(length).min(length);
            written[p] = plane_frame(sequence, p, used[p]);
            mapping.device_write(0, &written[p]);
        }
        self.frames_written.insert(sequence, written);
        let done = FrameDone {
            bytesused: used,
            sequence,
            timestamp_ns: 1_000 + u64::from(sequence),
            error: false,
            synced_for_cpu: [false; MAX_PLANES],
        };
        assert!(self.q.finish_frame(index, done));
        Some(index)
    }

    fn engine_tick(&mut self) -> Option<usize> {
        self.engine_tick_with([None; MAX_PLANES])
    }

    /// Invariants that hold after every operation, whatever it was: the
    /// queue's view of each plane is the model's, and every reference,
    /// attachment and mapping alive is one a plane (or userspace's mmap of
    /// a removed one) accounts for.
    fn check_invariants(&self, context: &str) {
        let c = self.counters();
        let (mut attached, mut mapped, mut dma_mapped) = (0, 0, 0);
        let mut existing = 0;
        let mut planes_of: Option<usize> = None;
        let mut attached_ids: Vec<u64> = Vec::new();
        for info in self.all_infos().into_iter().flatten() {
            let i = info.index;
            existing += 1;
            assert_eq!(
                *planes_of.get_or_insert(info.num_planes),
                info.num_planes,
                "{context}: buffers of different plane counts"
            );
            assert!((1..=MAX_PLANES).contains(&info.num_planes), "{context}");
            assert_eq!(Some(info.memory), self.q.memory(), "{context}: memory");
            if self.q.memory() != Some(Memory::Mmap) {
                assert_eq!(info.hints, CacheHints::default(), "{context}: hints");
            }
            for (p, plane) in info.planes.iter().enumerate() {
                if p >= info.num_planes {
                    assert_eq!(*plane, PlaneInfo::default(), "{context}: plane {p} of {i}");
                    assert!(self.q.mapping(i, p).is_none(), "{context}");
                    continue;
                }
                attached += u64::from(plane.attached);
                mapped += u64::from(plane.mapped_for_device);
                let exporter = if plane.attached {
                    let buffer = self.world.buffer(plane.fd).unwrap();
                    assert_eq!(plane.dmabuf_size, buffer.len(), "{context}: {i}/{p} size");
                    assert!(
                        !attached_ids.contains(&buffer.id),
                        "{context}: dma-buf {} attached twice",
                        buffer.id
                    );
                    attached_ids.push(buffer.id);
                    buffer.exporter()
                } else {
                    None
                };
                // A caching exporter's mapping lives as long as its attachment.
                dma_mapped += u64::from(match exporter {
                    Some(Exporter::NeverSyncs | Exporter::SyncsAtDetach) => true,
                    _ => plane.mapped_for_device,
                });
                match self.q.mapping(i, p) {
                    // The model's ownership is the queue's, plane by plane.
                    Some(mapping) => assert_eq!(
                        mapping.buffer.is_device_owned(),
                        !info.state.is_cpu_owned(),
                        "{context}: ownership of plane {p} of buffer {i} in {:?}",
                        info.state
                    ),
                    None => assert!(
                        info.state.is_cpu_owned(),
                        "{context}: device-owned buffer {i} without plane {p}'s mapping"
                    ),
                }
            }
        }
        assert_eq!(existing, self.q.count(), "{context}: count");
        // MMAP planes the queue let go of that userspace still mmaps or
        // exports: their memory alive and the CPU's, their mapping for the
        // device gone with the queue's buffer.
        let orphans = self.orphans();
        for orphan in &orphans {
            let id = orphan.id;
            assert!(!orphan.is_freed(), "{context}: orphan {id} freed");
            assert!(!orphan.is_device_owned(), "{context}: orphan {id} owned");
            assert!(
                !orphan.is_mapped_for_device(),
                "{context}: orphan {id} still mapped for the device"
            );
        }
        // Memory is freed exactly when the last of the queue's buffer, the
        // user mappings and the exports goes: alive, all those held...
        let queue_held = self.queue_mmaps();
        for buffer in self.user_held() {
            assert!(!buffer.is_freed(), "{context}: {} freed", buffer.id);
        }
        // ...and nothing else.
        assert_eq!(
            c.pages(),
            (queue_held.len() + orphans.len()) as u64,
            "{context}: MMAP memory alive"
        );
        assert_eq!(
            c.exports_alive(),
            self.exports.len() as u64,
            "{context}: exports"
        );
        assert_eq!(c.attachments(), attached, "{context}: attachments");
        assert_eq!(c.refs_held(), attached, "{context}: dma-buf references");
        assert_eq!(c.mappings(), mapped, "{context}: mappings");
        assert_eq!(c.dma_mappings(), dma_mapped, "{context}: DMA mappings");
        assert_eq!(
            c.mmap_freed_device_owned, 0,
            "{context}: MMAP buffer freed while the device owned it"
        );
        // Busy from the first buffer until REQBUFS(0) or close, which
        // leave no owner; REMOVE_BUFS of every buffer does not end it.
        if self.q.count() > 0 {
            assert!(self.q.is_busy(), "{context}: busy");
        }
        if self.q.owner().is_none() {
            assert!(!self.q.is_busy(), "{context}: busy without an owner");
        }
        self.check_claims(context);
    }
}

// ---- Planes of imported buffers

/// REQBUFS(DMABUF) of `count` buffers of `num_planes` planes for owner A.
fn import_buffers(r: &mut Rig, count: usize, num_planes: usize) {
    let request = buffers(Memory::DmaBuf, count, num_planes, false);
    assert_eq!(r.reqbufs(A, &request).map(|a| a.count), Ok(count));
}

/// Buffer `index` queued with `fds`, filled, dequeued (every plane read
/// byte-exact by the rig) and then overwritten by userspace, plane `p`
/// with `0x40 + p`.
fn cycle_and_write(r: &mut Rig, index: usize, fds: &[i32]) -> BufferInfo {
    r.qbuf(A, &planes_request(index, Memory::DmaBuf, fds))
        .unwrap();
    r.streamon(A).unwrap();
    assert_eq!(r.engine_tick(), Some(index));
    let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
    assert_eq!(info.index, index);
    for (p, buffer) in r.user_planes(&info).iter().enumerate() {
        r.user_fill(buffer, 0x40 + p as u8);
    }
    info
}

#[test]
fn each_plane_gets_its_own_attachment_mapping_and_frame() {
    in_every_setup(|r| {
        let memory = r.export_planes(&[10, 11, 12]);
        import_buffers(r, 1, 3);
        let info = r
            .qbuf(A, &planes_request(0, Memory::DmaBuf, &[10, 11, 12]))
            .unwrap();
        for (p, plane) in info.planes().iter().enumerate() {
            assert!(plane.attached && plane.mapped_for_device, "plane {p}");
            assert_eq!((plane.fd, plane.length), (10 + p as i32, SIZES[p]));
        }
        let c = r.counters();
        assert_eq!((c.attaches, c.maps, c.syncs_for_device), (3, 3, 3));
        r.streamon(A).unwrap();
        r.engine_tick_with([Some(100), Some(200), Some(300)])
            .unwrap();
        // The rig reads each plane in its own dma-buf.
        let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
        let used: Vec<usize> = info.planes().iter().map(|p| p.bytesused).collect();
        assert_eq!(used, [100, 200, 300]);
        for (p, buffer) in memory.iter().enumerate() {
            assert_eq!(buffer.cpu_peek(0..100), plane_frame(0, p, 100), "plane {p}");
        }
        r.check_invariants("after a frame of three planes");
    });
}

#[test]
fn one_dmabuf_for_two_planes_is_einval_and_changes_nothing() {
    in_every_setup(|r| {
        r.export_planes(&[10, 11, 12]);
        r.export(13, SIZES[0]);
        import_buffers(r, 2, 3);
        // A fresh buffer: nothing attached.
        for fds in [[13, 13, 12], [13, 11, 13], [10, 13, 13]] {
            let before = (r.all_infos(), r.counters());
            let req = planes_request(1, Memory::DmaBuf, &fds);
            assert_eq!(errno(r.qbuf(A, &req)), Errno::EINVAL, "{fds:?}");
            let mut after = r.counters();
            assert_eq!(after.attaches, before.1.attaches, "{fds:?}: attached");
            assert_eq!(after.gets - before.1.gets, after.puts - before.1.puts);
            (after.gets, after.puts) = (before.1.gets, before.1.puts);
            assert_eq!((r.all_infos(), after), before, "{fds:?}");
        }
        // A dequeued buffer holding three dma-bufs its user wrote into.
        cycle_and_write(r, 0, &[10, 11, 12]);
        for fds in [[10, 10, 12], [12, 11, 12], [11, 11, 11]] {
            let before = (r.all_infos(), r.counters());
            for prepare in [false, true] {
                let req = planes_request(0, Memory::DmaBuf, &fds);
                let result = if prepare {
                    r.prepare(A, &req)
                } else {
                    r.qbuf(A, &req)
                };
                assert_eq!(errno(result), Errno::EINVAL, "{fds:?}");
            }
            let mut after = r.counters();
            assert_eq!(after.gets - before.1.gets, after.puts - before.1.puts);
            (after.gets, after.puts) = (before.1.gets, before.1.puts);
            assert_eq!((r.all_infos(), after), before, "{fds:?}");
            r.check_claims("after a refused QBUF of one dma-buf for two planes");
        }
        r.check_invariants("after the refusals");
    });
}

#[test]
fn swapping_two_planes_dmabufs_needs_no_detach_and_no_map() {
    in_every_setup(|r| {
        // Two dma-bufs both planes fit.
        r.export(10, SIZES[0]);
        r.export(11, SIZES[0]);
        import_buffers(r, 1, 2);
        cycle_and_write(r, 0, &[10, 11]);
        let before = r.counters();
        let info = r
            .qbuf(A, &planes_request(0, Memory::DmaBuf, &[11, 10]))
            .unwrap();
        assert_eq!((info.planes[0].fd, info.planes[1].fd), (11, 10));
        assert_eq!(
            (info.planes[0].length, info.planes[1].length),
            (SIZES[0], SIZES[0])
        );
        let c = r.counters();
        assert_eq!(
            (
                c.attaches,
                c.detaches,
                c.maps,
                c.unmaps,
                c.dma_maps,
                c.dma_unmaps
            ),
            (
                before.attaches,
                before.detaches,
                before.maps,
                before.unmaps,
                before.dma_maps,
                before.dma_unmaps
            ),
            "the two mappings only change planes"
        );
        assert_eq!(c.hand_overs, before.hand_overs, "nothing released");
        r.check_invariants("after the swap");
        // The device writes plane 0 into dma-buf 11 now; the rig checks both.
        r.engine_tick_with([Some(SIZES[0]), Some(SIZES[1]), None])
            .unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        assert_eq!(
            r.world.buffer(11).unwrap().cpu_peek(0..SIZES[0]),
            plane_frame(1, 0, SIZES[0])
        );
        assert_eq!(
            r.world.buffer(10).unwrap().cpu_peek(0..SIZES[1]),
            plane_frame(1, 1, SIZES[1])
        );
        r.check_invariants("after the frame");
        // After STREAMOFF both are unmapped, still attached: swapped back,
        // each is mapped again for its new plane, nothing detached, and
        // what userspace wrote into them is the device's now.
        r.streamoff(A).unwrap();
        for fd in [10, 11] {
            let buffer = r.world.buffer(fd).unwrap();
            r.user_fill(&buffer, fd as u8);
        }
        let before = r.counters();
        r.qbuf(A, &planes_request(0, Memory::DmaBuf, &[10, 11]))
            .unwrap();
        assert!(r.claims.is_empty());
        let c = r.counters();
        assert_eq!((c.attaches, c.detaches), (before.attaches, before.detaches));
        assert_eq!(c.maps, before.maps + 2);
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        r.check_invariants("after the swap back");
    });
}

#[test]
fn dmabuf_moves_from_plane_1_of_buffer_0_to_plane_0_of_buffer_1() {
    in_every_setup(|r| {
        r.export(10, SIZES[0]);
        r.export(11, SIZES[0]);
        r.export(12, SIZES[0]);
        r.export(13, SIZES[1]);
        r.export(14, SIZES[1]);
        import_buffers(r, 2, 2);
        cycle_and_write(r, 0, &[10, 11]);
        cycle_and_write(r, 1, &[12, 13]);
        let before = r.counters();
        // Buffer 1 takes 11 (plane 1 of buffer 0) for plane 0 and keeps 13:
        // 12 is released, with what userspace wrote into it.
        let info = r
            .qbuf(A, &planes_request(1, Memory::DmaBuf, &[11, 13]))
            .unwrap();
        assert_eq!((info.planes[0].fd, info.planes[1].fd), (11, 13));
        let slot0 = r.info(0);
        assert!(slot0.planes[0].attached && slot0.planes[0].mapped_for_device);
        assert!(!slot0.planes[1].attached && !slot0.planes[1].mapped_for_device);
        let c = r.counters();
        assert_eq!(
            (c.attaches, c.maps),
            (before.attaches, before.maps),
            "11 keeps its attachment and mapping"
        );
        assert_eq!(
            (c.detaches, c.unmaps),
            (before.detaches + 1, before.unmaps + 1),
            "only 12 goes"
        );
        r.check_claims("after the move");
        r.check_invariants("after the move");
        // Buffer 0 cannot take 11 back while buffer 1 is queued...
        let req = planes_request(0, Memory::DmaBuf, &[10, 11]);
        assert_eq!(errno(r.qbuf(A, &req)), Errno::EINVAL);
        // ...but another dma-buf for its plane 1, yes.
        r.qbuf(A, &planes_request(0, Memory::DmaBuf, &[10, 14]))
            .unwrap();
        assert_eq!(r.engine_tick(), Some(1));
        assert_eq!(r.engine_tick(), Some(0));
        let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
        assert_eq!((info.index, info.planes[0].fd), (1, 11));
        assert_eq!(
            r.world.buffer(11).unwrap().cpu_peek(0..SIZES[0]),
            plane_frame(2, 0, SIZES[0]),
            "buffer 1's plane 0 in dma-buf 11"
        );
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        r.check_invariants("after both frames");
        r.close(A);
        r.check_claims("after close");
        assert_eq!(r.counters().held(), (0, 0, 0, 0));
    });
}

#[test]
fn a_refused_multi_plane_qbuf_changes_no_plane_and_leaks_nothing() {
    in_every_setup(|r| {
        r.export_planes(&[10, 11, 12]);
        r.export_planes(&[20, 21]);
        r.export(22, SIZES[2] - 1);
        r.export_planes(&[30, 31, 32]);
        import_buffers(r, 2, 3);
        cycle_and_write(r, 0, &[10, 11, 12]);
        r.qbuf(A, &planes_request(1, Memory::DmaBuf, &[30, 31, 32]))
            .unwrap();
        // Userspace wrote into the new dma-bufs too.
        for fd in [20, 21, 22] {
            let buffer = r.world.buffer(fd).unwrap();
            r.user_fill(&buffer, fd as u8);
        }
        // Plane 2's fd no dma-buf, its dma-buf too small, or too short a
        // length: refused by the checks of every plane, before anything is
        // attached. Plane 2's map failing: planes 0 and 1 freshly attached
        // and mapped, then released.
        let mut too_short = planes_request(0, Memory::DmaBuf, &[20, 21, 32]);
        too_short.planes[2].length = SIZES[2] - 1;
        r.export(23, SIZES[2]);
        // (request, attachments made, mappings made, maps before one fails)
        let cases = [
            (planes_request(0, Memory::DmaBuf, &[20, 21, 99]), 0, 0, 0),
            (planes_request(0, Memory::DmaBuf, &[20, 21, 22]), 0, 0, 0),
            (too_short, 0, 0, 0),
            (planes_request(0, Memory::DmaBuf, &[20, 21, 23]), 3, 2, 2),
        ];
        for (n, (req, attached, mapped, maps_before_failure)) in cases.into_iter().enumerate() {
            let before = (r.all_infos(), r.counters());
            if maps_before_failure > 0 {
                r.world.maps_before_failure.set(maps_before_failure);
                r.world.fail_maps.set(1);
            }
            let expected = if n == 3 { Errno::ENOMEM } else { Errno::EINVAL };
            assert_eq!(errno(r.qbuf(A, &req)), expected, "case {n}");
            r.world.fail_maps.set(0);
            r.world.maps_before_failure.set(0);
            let c = r.counters();
            assert_eq!(r.all_infos(), before.0, "case {n}: a slot changed");
            assert_eq!(c.held(), before.1.held(), "case {n}: leak");
            assert_eq!(
                (
                    c.attaches - before.1.attaches,
                    c.detaches - before.1.detaches
                ),
                (attached, attached),
                "case {n}: attachments"
            );
            assert_eq!(
                (c.maps - before.1.maps, c.unmaps - before.1.unmaps),
                (mapped, mapped),
                "case {n}: mappings"
            );
            r.check_claims(&format!("case {n}"));
            r.check_invariants(&format!("case {n}"));
        }
        // And then the QBUF goes through.
        r.qbuf(A, &planes_request(0, Memory::DmaBuf, &[20, 21, 12]))
            .unwrap();
        r.engine_tick().unwrap();
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        r.check_invariants("after the frames");
    });
}

/// Streams buffers of `num_planes` planes of `memory` (their planes read
/// by userspace first, so that a cache holds their lines), has the device
/// write every plane whole but report `bytesused`, and DQBUFs: returns the
/// buffer and the counters before the DQBUF.
fn frame_shorter_than_written(
    r: &mut Rig,
    memory: Memory,
    bytesused: [usize; MAX_PLANES],
) -> (BufferInfo, Counters) {
    let num_planes = 3;
    if memory == Memory::DmaBuf {
        r.export_planes(&[10, 11, 12]);
    }
    let request = buffers(memory, 1, num_planes, false);
    r.reqbufs(A, &request).unwrap();
    let info = r.info(0);
    for buffer in r.user_planes(&info) {
        buffer.cpu_read(0..buffer.len());
    }
    r.qbuf(A, &planes_request(0, memory, &[10, 11, 12]))
        .unwrap();
    r.streamon(A).unwrap();
    let (index, mappings) = r.q.hand_to_device().unwrap();
    for p in 0..num_planes {
        let whole = plane_frame(0, p, SIZES[p]);
        mappings[p].as_ref().unwrap().device_write(0, &whole);
    }
    let done = FrameDone {
        bytesused,
        sequence: 0,
        timestamp_ns: 1,
        error: false,
        synced_for_cpu: [false; MAX_PLANES],
    };
    assert!(r.q.finish_frame(index, done));
    let before = r.counters();
    let info = r.dqbuf_unread(A, memory).unwrap();
    (info, before)
}

#[test]
fn dqbuf_syncs_each_plane_over_exactly_its_bytesused() {
    let bytesused = [1000, LINE + 1, 0];
    let check = |r: &mut Rig, memory: Memory| {
        let (info, before) = frame_shorter_than_written(r, memory, bytesused);
        let c = r.counters();
        assert_eq!(
            c.syncs_for_cpu - before.syncs_for_cpu,
            3,
            "one sync a plane"
        );
        assert_eq!(
            c.bytes_synced_for_cpu - before.bytes_synced_for_cpu,
            bytesused.iter().sum::<usize>() as u64
        );
        let needs_sync = r.setup.platform.needs_sync();
        for (p, plane) in info.planes().iter().enumerate() {
            assert_eq!(plane.bytesused, bytesused[p]);
            let buffer = r.plane_memory(&info, p).unwrap();
            let whole = plane_frame(0, p, SIZES[p]);
            assert_eq!(
                buffer.cpu_peek(0..bytesused[p]),
                whole[..bytesused[p]],
                "plane {p}: the frame"
            );
            // Past the frame (and the cache line it ends in) nothing was
            // synced: the CPU still sees what it read before, unless DMA
            // needs no syncs.
            let past = bytesused[p].next_multiple_of(LINE)..SIZES[p];
            let fresh = buffer.cpu_peek(past.clone()) == whole[past.clone()];
            assert_eq!(fresh, !needs_sync, "plane {p}: past bytesused");
        }
    };
    in_every_setup(|r| check(r, Memory::DmaBuf));
    on_every_platform(|r| check(r, Memory::Mmap));
}

#[test]
fn full_sync_policy_syncs_each_plane_whole() {
    on_every_platform(|r| {
        r.q.set_policy(Policy {
            full_sync: true,
            ..Policy::default()
        });
        let (info, before) = frame_shorter_than_written(r, Memory::Mmap, [1000, LINE + 1, 0]);
        let c = r.counters();
        assert_eq!(
            c.bytes_synced_for_cpu - before.bytes_synced_for_cpu,
            SIZES.iter().sum::<usize>() as u64
        );
        for p in 0..3 {
            let buffer = r.plane_memory(&info, p).unwrap();
            assert_eq!(buffer.cpu_peek(0..SIZES[p]), plane_frame(0, p, SIZES[p]));
        }
    });
}

// ---- REMOVE_BUFS

/// Which indices hold a buffer.
fn taken(r: &Rig) -> Vec<usize> {
    r.all_infos()
        .iter()
        .flatten()
        .map(|info| info.index)
        .collect()
}

#[test]
fn remove_bufs_errnos_follow_the_rules() {
    let mut r = Rig::new(Setup {
        platform: Platform::NonCoherentBounced,
        exporter: Exporter::SyncsAtUnmap,
    });
    // No buffers: count 0 is fine, anything else is not.
    assert_eq!(r.remove_bufs(A, 0, 0), Ok(()));
    assert_eq!(errno(r.remove_bufs(A, 0, 1)), Errno::EINVAL);
    r.reqbufs(A, &buffers(Memory::Mmap, 6, 2, false)).unwrap();
    let all: Vec<usize> = (0..6).collect();
    let refused = |r: &mut Rig, index: usize, count: usize, expected: Errno| {
        let before = (r.all_infos(), r.counters());
        assert_eq!(
            errno(r.remove_bufs(A, index, count)),
            expected,
            "REMOVE_BUFS({index}, {count})"
        );
        assert_eq!((r.all_infos(), r.counters()), before, "nothing removed");
    };
    assert_eq!(
        r.remove_bufs(A, 1000, 0),
        Ok(()),
        "count 0, whatever the index"
    );
    assert_eq!(taken(&r), all);
    refused(&mut r, 0, 7, Errno::EINVAL); // more than there are
    refused(&mut r, MAX_BUFFERS - 2, 3, Errno::EINVAL); // past the table
    refused(&mut r, usize::MAX, 1, Errno::EINVAL);
    refused(&mut r, MAX_BUFFERS - 3, 3, Errno::EINVAL); // no buffers there
    refused(&mut r, 4, 3, Errno::EINVAL); // 6 is missing
    assert_eq!(errno(r.remove_bufs(B, 0, 1)), Errno::EBUSY, "not the owner");
    assert_eq!(r.remove_bufs(A, 2, 1), Ok(()));
    assert_eq!(taken(&r), [0, 1, 3, 4, 5]);
    refused(&mut r, 1, 3, Errno::EINVAL); // 2 is a hole now
    refused(&mut r, 2, 1, Errno::EINVAL);
    // Queued buffers in every state: EBUSY, nothing removed.
    r.qbuf(A, &mmap_request(1, CacheHints::default())).unwrap();
    r.qbuf(A, &mmap_request(3, CacheHints::default())).unwrap();
    r.qbuf(A, &mmap_request(4, CacheHints::default())).unwrap();
    refused(&mut r, 1, 1, Errno::EBUSY); // queued
    refused(&mut r, 0, 2, Errno::EBUSY); // a dequeued one and a queued one
    r.streamon(A).unwrap();
    r.qbuf(A, &mmap_request(0, CacheHints::default())).unwrap();
    assert_eq!(r.engine_tick(), Some(1));
    refused(&mut r, 1, 1, Errno::EBUSY); // done
    let (active, mappings) = r.q.hand_to_device().unwrap();
    assert_eq!(active, 3);
    refused(&mut r, 3, 3, Errno::EBUSY); // active
    drop(mappings);
    r.streamoff(A).unwrap();
    r.check_invariants("after the refusals");
    // All CPU-owned again: the range goes, whatever states they had.
    assert_eq!(r.remove_bufs(A, 3, 3), Ok(()));
    assert_eq!(taken(&r), [0, 1]);
    assert_eq!((r.q.count(), r.q.memory()), (2, Some(Memory::Mmap)));
    // A prepared buffer is not queued yet: it goes too, as in videobuf2.
    r.prepare(A, &mmap_request(0, CacheHints::default()))
        .unwrap();
    assert_eq!(r.remove_bufs(A, 0, 2), Ok(()));
    // None left: the memory type is free, the owner stays.
    assert_eq!((r.q.count(), r.q.memory(), r.q.owner()), (0, None, Some(A)));
    assert_eq!(r.counters().held(), (0, 0, 0, 0));
    assert_eq!(
        errno(r.create_bufs(B, &buffers(Memory::DmaBuf, 1, 1, false))),
        Errno::EBUSY
    );
    let a = r
        .create_bufs(A, &buffers(Memory::DmaBuf, 2, 3, false))
        .unwrap();
    assert_eq!((a.first, a.count), (0, 2));
    assert_eq!(
        (r.q.memory(), r.info(1).num_planes),
        (Some(Memory::DmaBuf), 3)
    );
    r.check_invariants("after CREATE_BUFS of another memory type");
}

#[test]
fn a_removed_mmap_buffer_still_mmapped_stays_readable_until_munmap() {
    on_every_platform(|r| {
        r.reqbufs(A, &buffers(Memory::Mmap, 2, 3, false)).unwrap();
        r.qbuf(A, &mmap_request(0, CacheHints::default())).unwrap();
        r.streamon(A).unwrap();
        r.engine_tick_with([Some(3000), Some(SIZES[1]), Some(10)])
            .unwrap();
        let info = r.dqbuf(A, Memory::Mmap).unwrap();
        // Userspace mmaps planes 0 and 2, not 1, and overwrites the end of
        // plane 0.
        let plane0 = r.user_mmap(0, 0);
        let plane2 = r.user_mmap(0, 2);
        r.user_write(&plane0, 3000, &[0x77; 1096]);
        let before = r.counters();
        r.remove_bufs(A, 0, 1).unwrap();
        assert!(r.q.query(&r.dma, 0).is_err());
        assert!(r.q.mmap_buffer(0, 0).is_err());
        let c = r.counters();
        assert_eq!(
            c.frees,
            before.frees + 1,
            "only the unmmapped plane is freed"
        );
        assert_eq!(c.mmap_freed_device_owned, 0);
        assert_eq!(r.orphans().len(), 2);
        r.check_invariants("after REMOVE_BUFS");
        // The orphans hold the frame and what userspace wrote.
        assert_eq!(
            plane0.cpu_peek(0..3000),
            plane_frame(info.sequence, 0, 3000)
        );
        assert_eq!(plane2.cpu_peek(0..10), plane_frame(info.sequence, 2, 10));
        r.check_claims("orphans");
        // Streaming goes on with buffer 1.
        r.qbuf(A, &mmap_request(1, CacheHints::default())).unwrap();
        assert_eq!(r.engine_tick(), Some(1));
        r.dqbuf(A, Memory::Mmap).unwrap();
        r.check_invariants("after a frame in buffer 1");
        r.user_munmap(&plane0);
        assert_eq!(r.counters().frees, before.frees + 2);
        r.user_munmap(&plane2);
        let c = r.counters();
        assert_eq!(
            c.frees,
            before.frees + 3,
            "freed when the user mapping goes"
        );
        assert_eq!(c.held(), (0, 0, 3, 3), "buffer 1's planes only");
        r.check_invariants("after munmap");
    });
}

#[test]
fn removed_imports_are_detached_and_every_cpu_written_byte_survives() {
    in_every_setup(|r| {
        r.export_planes(&[10, 11]);
        r.export_planes(&[12, 13]);
        r.export_planes(&[14, 15]);
        import_buffers(r, 3, 2);
        for (i, fds) in [[10, 11], [12, 13], [14, 15]].iter().enumerate() {
            r.qbuf(A, &planes_request(i, Memory::DmaBuf, fds)).unwrap();
        }
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.engine_tick().unwrap();
        // Buffer 0 dequeued and overwritten, still mapped: removed while
        // streaming (buffer 1 is done, buffer 2 queued).
        let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
        assert_eq!(info.index, 0);
        for buffer in r.user_planes(&info) {
            r.user_fill(&buffer, 0xd0);
        }
        assert_eq!(errno(r.remove_bufs(A, 0, 2)), Errno::EBUSY);
        r.remove_bufs(A, 0, 1).unwrap();
        let c = r.counters();
        assert_eq!((c.attachments(), c.refs_held()), (4, 4));
        r.check_claims("after removing a mapped import");
        r.check_invariants("after removing a mapped import");
        // After STREAMOFF the others are unmapped but attached: userspace
        // writes them, then removes them.
        r.streamoff(A).unwrap();
        for fd in 12..16 {
            let buffer = r.world.buffer(fd).unwrap();
            r.user_fill(&buffer, fd as u8);
        }
        r.remove_bufs(A, 1, 2).unwrap();
        r.check_claims("after removing unmapped imports");
        assert_eq!(r.counters().held(), (0, 0, 0, 0));
        assert_eq!((r.q.count(), r.q.memory()), (0, None));
        r.check_invariants("after removing everything");
    });
}

#[test]
fn streaming_goes_on_with_the_remaining_buffers_and_refilled_holes() {
    let run = |r: &mut Rig, memory: Memory| {
        let fds: Vec<[i32; 2]> = (0..4).map(|i| [10 + 2 * i, 11 + 2 * i]).collect();
        if memory == Memory::DmaBuf {
            for pair in &fds {
                r.export_planes(pair);
            }
        }
        r.reqbufs(A, &buffers(memory, 4, 2, false)).unwrap();
        for (i, pair) in fds.iter().enumerate() {
            r.qbuf(A, &planes_request(i, memory, pair)).unwrap();
        }
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.engine_tick().unwrap();
        let first = r.dqbuf(A, memory).unwrap().index;
        let second = r.dqbuf(A, memory).unwrap().index;
        assert_eq!((first, second), (0, 1));
        r.remove_bufs(A, 0, 2).unwrap();
        assert_eq!(
            errno(r.qbuf(A, &planes_request(0, memory, &fds[0]))),
            Errno::EINVAL
        );
        for n in 0..20u8 {
            let index = r
                .engine_tick_with([Some(100 + n as usize), None, None])
                .unwrap();
            assert!(index >= 2, "a removed buffer filled");
            let info = r.dqbuf(A, memory).unwrap();
            for buffer in r.user_planes(&info) {
                r.user_write(&buffer, 0, &[n; 16]);
            }
            let pair = fds[info.index];
            r.qbuf(A, &planes_request(info.index, memory, &pair))
                .unwrap();
            r.check_invariants(&format!("frame {n}"));
        }
        // CREATE_BUFS refills the holes while streaming; they stream too.
        let a = r.create_bufs(A, &buffers(memory, 2, 2, false)).unwrap();
        assert_eq!((a.first, a.count), (0, 2));
        for (i, pair) in fds.iter().enumerate().take(2) {
            r.qbuf(A, &planes_request(i, memory, pair)).unwrap();
        }
        let mut filled = Vec::new();
        for _ in 0..4 {
            filled.push(r.engine_tick().unwrap());
            r.dqbuf(A, memory).unwrap();
        }
        filled.sort();
        assert_eq!(filled, [0, 1, 2, 3]);
        r.check_invariants("after the refilled holes streamed");
    };
    in_every_setup(|r| run(r, Memory::DmaBuf));
    on_every_platform(|r| run(r, Memory::Mmap));
}

// ---- CREATE_BUFS into holes, and the most buffers

#[test]
fn create_bufs_fills_the_first_free_run_that_fits() {
    let mut r = Rig::new(Setup {
        platform: Platform::NonCoherent,
        exporter: Exporter::SyncsAtUnmap,
    });
    r.reqbufs(A, &buffers(Memory::Mmap, 8, 2, false)).unwrap();
    r.remove_bufs(A, 1, 1).unwrap();
    r.remove_bufs(A, 3, 2).unwrap();
    r.remove_bufs(A, 6, 1).unwrap();
    assert_eq!(taken(&r), [0, 2, 5, 7]);
    let create = |r: &mut Rig, count: usize| {
        let mut request = buffers(Memory::Mmap, count, 2, false);
        request.plane_sizes[1] = 3000;
        let a = r.create_bufs(A, &request).unwrap();
        for i in a.first..a.first + a.count {
            let info = r.info(i);
            assert_eq!(
                (info.planes[0].length, info.planes[1].length),
                (SIZES[0], 3000)
            );
            assert!(r.q.mmap_buffer(i, 1).is_ok(), "memory for {i}");
        }
        (a.first, a.count)
    };
    assert_eq!(create(&mut r, 2), (3, 2), "the first run of two");
    assert_eq!(create(&mut r, 1), (1, 1), "the first hole");
    assert_eq!(create(&mut r, 2), (8, 2), "6 is too short: after the last");
    assert_eq!(create(&mut r, 1), (6, 1));
    assert_eq!(taken(&r), (0..10).collect::<Vec<_>>());
    assert_eq!(r.q.count(), 10);
    r.check_invariants("after the holes are filled");
}

#[test]
fn create_bufs_makes_fewer_buffers_when_no_free_run_is_long_enough() {
    let mut r = Rig::new(Setup {
        platform: Platform::Bounced,
        exporter: Exporter::SyncsAtUnmap,
    });
    let a = r
        .reqbufs(A, &buffers(Memory::DmaBuf, 100, 3, false))
        .unwrap();
    assert_eq!(a.count, MAX_BUFFERS);
    r.remove_bufs(A, 3, 1).unwrap();
    r.remove_bufs(A, 10, 2).unwrap();
    r.remove_bufs(A, 20, 1).unwrap();
    assert_eq!(r.q.count(), 60);
    let create = |r: &mut Rig, count: usize| {
        let a = r
            .create_bufs(A, &buffers(Memory::DmaBuf, count, 3, false))
            .unwrap();
        (a.first, a.count)
    };
    assert_eq!(create(&mut r, 3), (10, 2), "the longest run");
    assert_eq!(create(&mut r, 3), (3, 1), "the first of the longest");
    assert_eq!(create(&mut r, 1), (20, 1));
    assert_eq!(r.q.count(), MAX_BUFFERS);
    assert_eq!(
        errno(r.create_bufs(A, &buffers(Memory::DmaBuf, 1, 3, false))),
        Errno::ENOBUFS
    );
    // At the end of the table: as many as the table still holds.
    r.remove_bufs(A, 60, 4).unwrap();
    assert_eq!(create(&mut r, 10), (60, 4));
    r.check_invariants("at the most buffers");
}

#[test]
fn reqbufs_100_gives_64_and_create_bufs_at_64_is_enobufs() {
    for memory in [Memory::Mmap, Memory::DmaBuf] {
        let mut r = Rig::new(Setup {
            platform: Platform::NonCoherentBounced,
            exporter: Exporter::SyncsAtUnmap,
        });
        let a = r.reqbufs(A, &buffers(memory, 100, 3, false)).unwrap();
        assert_eq!((a.first, a.count), (0, MAX_BUFFERS));
        assert_eq!(MAX_BUFFERS, 64);
        assert_eq!(taken(&r), (0..64).collect::<Vec<_>>());
        assert!(r.q.query(&r.dma, 64).is_err());
        let allocs = r.counters().allocs;
        let expected = if memory == Memory::Mmap { 3 * 64 } else { 0 };
        assert_eq!(allocs, expected, "{memory:?}: a plane, an allocation");
        let before = r.all_infos();
        assert_eq!(
            errno(r.create_bufs(A, &buffers(memory, 1, 3, false))),
            Errno::ENOBUFS,
            "{memory:?}"
        );
        assert_eq!(r.all_infos(), before);
        assert_eq!(r.counters().allocs, allocs);
        // Every buffer streams.
        let fds: Vec<i32> = (100..100 + 3 * 64).collect();
        if memory == Memory::DmaBuf {
            for triple in fds.chunks(3) {
                r.export_planes(triple);
            }
        }
        for i in 0..MAX_BUFFERS {
            r.qbuf(A, &planes_request(i, memory, &fds[3 * i..3 * i + 3]))
                .unwrap();
        }
        r.streamon(A).unwrap();
        for i in 0..MAX_BUFFERS {
            assert_eq!(r.engine_tick_with([Some(64), Some(64), Some(64)]), Some(i));
            assert_eq!(r.dqbuf(A, memory).unwrap().index, i);
        }
        r.check_invariants("after 64 frames");
    }
}

// ---- Cache hints

/// A first frame in each of `count` MMAP buffers, queued without hints and
/// dequeued (so that the hints below start from buffers synced once).
fn mmap_stream(r: &mut Rig, count: usize, num_planes: usize, non_coherent: bool) -> Allocated {
    let a = r
        .reqbufs(A, &buffers(Memory::Mmap, count, num_planes, non_coherent))
        .unwrap();
    assert_eq!(a.count, count);
    r.streamon(A).unwrap();
    for i in 0..count {
        r.qbuf(A, &mmap_request(i, CacheHints::default())).unwrap();
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::Mmap).unwrap();
    }
    a
}

/// A coherent MMAP queue keeps the hints, as videobuf2 does (and
/// v4l2-compliance wants them back in QBUF's reply), but makes every sync:
/// its memory must stay coherent.
#[test]
fn hints_are_kept_but_every_sync_made_on_a_coherent_mmap_queue() {
    on_every_platform(|r| {
        let a = mmap_stream(r, 2, 3, false);
        assert!(!a.non_coherent && !r.q.is_non_coherent());
        for hints in [SKIP_FOR_DEVICE, SKIP_FOR_CPU, SKIP_BOTH] {
            let before = r.counters();
            let info = r.qbuf(A, &mmap_request(0, hints)).unwrap();
            assert_eq!(info.hints, hints, "reported back");
            r.engine_tick().unwrap();
            // The rig reads every plane: synced whatever the hints said.
            let info = r.dqbuf(A, Memory::Mmap).unwrap();
            assert_eq!(info.hints, hints);
            let c = r.counters();
            assert_eq!(
                (
                    c.syncs_for_device - before.syncs_for_device,
                    c.syncs_for_cpu - before.syncs_for_cpu
                ),
                (3, 3),
                "{hints:?}"
            );
        }
        let prepared = r.prepare(A, &mmap_request(1, SKIP_BOTH)).unwrap();
        assert_eq!(prepared.hints, SKIP_BOTH);
        assert_eq!(r.q.hint_skips(), HintSkips::default());
        r.check_invariants("after hints on a coherent queue");
    });
}

#[test]
fn hints_and_the_non_coherent_flag_are_ignored_for_dmabuf() {
    in_every_setup(|r| {
        r.export_planes(&[10, 11]);
        let a = r.reqbufs(A, &buffers(Memory::DmaBuf, 2, 2, true)).unwrap();
        assert!(
            !a.non_coherent && !r.q.is_non_coherent(),
            "no such thing for imports"
        );
        // CREATE_BUFS says it either way: both are the same to imports.
        let a = r
            .create_bufs(A, &buffers(Memory::DmaBuf, 1, 2, false))
            .unwrap();
        assert_eq!((a.first, a.count, a.non_coherent), (2, 1, false));
        let mut req = planes_request(0, Memory::DmaBuf, &[10, 11]);
        r.streamon(A).unwrap();
        for hints in [SKIP_FOR_DEVICE, SKIP_FOR_CPU, SKIP_BOTH] {
            req.hints = hints;
            let before = r.counters();
            let info = r.qbuf(A, &req).unwrap();
            assert_eq!(info.hints, CacheHints::default(), "not reported");
            r.engine_tick().unwrap();
            r.dqbuf(A, Memory::DmaBuf).unwrap();
            let c = r.counters();
            assert_eq!(
                (
                    c.syncs_for_device - before.syncs_for_device,
                    c.syncs_for_cpu - before.syncs_for_cpu
                ),
                (2, 2),
                "{hints:?}"
            );
        }
        assert_eq!(r.q.hint_skips(), HintSkips::default());
        r.check_invariants("after hints on imports");
    });
}

#[test]
fn skip_for_device_is_honoured_on_a_non_coherent_mmap_queue() {
    on_every_platform(|r| {
        let a = mmap_stream(r, 2, 3, true);
        assert!(a.non_coherent && r.q.is_non_coherent());
        let before = r.counters();
        let info = r.qbuf(A, &mmap_request(0, SKIP_FOR_DEVICE)).unwrap();
        assert_eq!(info.hints, SKIP_FOR_DEVICE, "reported");
        assert_eq!(r.counters().syncs_for_device, before.syncs_for_device);
        assert_eq!(
            r.q.hint_skips(),
            HintSkips {
                for_device: 3,
                for_cpu: 0
            },
            "one a plane"
        );
        // The CPU wrote nothing since the last DQBUF, as promised: the frame
        // reaches it byte-exact through DQBUF's syncs.
        r.engine_tick_with([Some(1000), Some(LINE + 1), None])
            .unwrap();
        r.dqbuf(A, Memory::Mmap).unwrap();
        assert_eq!(r.counters().syncs_for_cpu, before.syncs_for_cpu + 3);
        // PREPARE_BUF with the hint, QBUF without: skipped once (at
        // PREPARE_BUF); QBUF's hints are the buffer's from then on, as in
        // videobuf2.
        r.prepare(A, &mmap_request(1, SKIP_FOR_DEVICE)).unwrap();
        let info = r.qbuf(A, &mmap_request(1, CacheHints::default())).unwrap();
        assert_eq!(info.hints, CacheHints::default());
        assert_eq!(r.q.hint_skips().for_device, 6);
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::Mmap).unwrap();
        let info = r.qbuf(A, &mmap_request(1, CacheHints::default())).unwrap();
        assert_eq!(info.hints, CacheHints::default());
        assert_eq!(r.counters().syncs_for_device, before.syncs_for_device + 3);
        assert_eq!(r.q.hint_skips().for_device, 6);
        r.check_invariants("after skipped syncs for the device");
    });
}

#[test]
fn skip_for_cpu_is_honoured_and_the_cpu_may_read_stale_data() {
    on_every_platform(|r| {
        mmap_stream(r, 2, 2, true);
        // Userspace reads both planes of buffer 0: a cache holds them.
        let info = r.info(0);
        let planes = r.user_planes(&info);
        let old: Vec<Vec<u8>> = planes.iter().map(|b| b.cpu_read(0..b.len())).collect();
        let before = r.counters();
        let info = r.qbuf(A, &mmap_request(0, SKIP_FOR_CPU)).unwrap();
        assert_eq!(info.hints, SKIP_FOR_CPU);
        assert_eq!(r.counters().syncs_for_device, before.syncs_for_device + 2);
        r.engine_tick().unwrap();
        let info = r.dqbuf_unread(A, Memory::Mmap).unwrap();
        assert_eq!((info.index, info.hints), (0, SKIP_FOR_CPU));
        let c = r.counters();
        assert_eq!(c.syncs_for_cpu, before.syncs_for_cpu, "no sync for the CPU");
        assert_eq!(
            r.q.hint_skips(),
            HintSkips {
                for_device: 0,
                for_cpu: 2
            }
        );
        // The application promised not to read; if it does, it may see the
        // previous frame where DMA needs syncs. Not a bug: proof that the
        // sync was skipped.
        let needs_sync = r.setup.platform.needs_sync();
        for (p, buffer) in planes.iter().enumerate() {
            let seen = buffer.cpu_peek(0..buffer.len());
            let frame = plane_frame(info.sequence, p, SIZES[p]);
            assert_eq!(seen == frame, !needs_sync, "plane {p}: fresh?");
            assert_eq!(seen == old[p], needs_sync, "plane {p}: stale?");
        }
        r.check_invariants("after a DQBUF without a sync for the CPU");
        // At STREAMOFF too: a done buffer with the hint comes back unsynced.
        r.qbuf(A, &mmap_request(1, SKIP_FOR_CPU)).unwrap();
        r.engine_tick().unwrap();
        let before = r.counters();
        r.streamoff(A).unwrap();
        assert_eq!(r.counters().syncs_for_cpu, before.syncs_for_cpu);
        assert_eq!(r.q.hint_skips().for_cpu, 4);
        r.check_invariants("after STREAMOFF");
    });
}

#[test]
fn without_hints_frames_are_byte_exact_for_both_coherencies() {
    on_every_platform(|r| {
        let setup = r.setup;
        for non_coherent in [false, true] {
            for num_planes in 1..=MAX_PLANES {
                let mut r = Rig::new(setup);
                let a = r
                    .reqbufs(A, &buffers(Memory::Mmap, 2, num_planes, non_coherent))
                    .unwrap();
                assert_eq!(a.non_coherent, non_coherent);
                for i in 0..2 {
                    r.qbuf(A, &mmap_request(i, CacheHints::default())).unwrap();
                }
                r.streamon(A).unwrap();
                let lengths = [1, LINE - 1, LINE, LINE + 1, 999, SIZES[0]];
                for (n, used) in lengths.into_iter().enumerate() {
                    r.engine_tick_with([Some(used), Some(used / 2), Some(used / 3)])
                        .unwrap();
                    // The rig reads every plane byte-exact.
                    let info = r.dqbuf(A, Memory::Mmap).unwrap();
                    for buffer in r.user_planes(&info) {
                        r.user_fill(&buffer, 0x90 | n as u8);
                    }
                    r.check_invariants(&format!("{non_coherent} {num_planes} frame {n}"));
                    r.qbuf(A, &mmap_request(info.index, CacheHints::default()))
                        .unwrap();
                }
                assert_eq!(r.q.hint_skips(), HintSkips::default());
            }
        }
    });
}

#[test]
fn create_bufs_with_another_coherency_or_plane_count_is_einval() {
    let mut r = Rig::new(Setup {
        platform: Platform::NonCoherent,
        exporter: Exporter::SyncsAtUnmap,
    });
    r.reqbufs(A, &buffers(Memory::Mmap, 2, 3, true)).unwrap();
    let before = (r.all_infos(), r.counters());
    for request in [
        buffers(Memory::Mmap, 1, 3, false),
        buffers(Memory::Mmap, 1, 2, true),
        buffers(Memory::Mmap, 1, 1, false),
        buffers(Memory::DmaBuf, 1, 3, true),
    ] {
        assert_eq!(
            errno(r.create_bufs(A, &request)),
            Errno::EINVAL,
            "{request:?}"
        );
        assert_eq!((r.all_infos(), r.counters()), before);
    }
    let a = r
        .create_bufs(A, &buffers(Memory::Mmap, 1, 3, true))
        .unwrap();
    assert_eq!((a.first, a.count, a.non_coherent), (2, 1, true));
    // A coherent queue refuses non-coherent buffers likewise.
    r.reqbufs(A, &buffers(Memory::Mmap, 1, 1, false)).unwrap();
    assert!(!r.q.is_non_coherent());
    assert_eq!(
        errno(r.create_bufs(A, &buffers(Memory::Mmap, 1, 1, true))),
        Errno::EINVAL
    );
    // With none left, anything goes.
    r.remove_bufs(A, 0, 1).unwrap();
    let a = r
        .create_bufs(A, &buffers(Memory::Mmap, 1, 2, true))
        .unwrap();
    assert!(a.non_coherent && r.q.is_non_coherent());
}

// ---- EXPBUF

/// Single- and multi-planar buffers.
const PLANE_COUNTS: [usize; 2] = [1, MAX_PLANES];

/// [`snapshot`] but for what exports count: what EXPBUF must not change.
fn snapshot_but_exports(r: &Rig) -> (Vec<Option<BufferInfo>>, usize, Option<Memory>, Counters) {
    let mut s = snapshot(r);
    (s.3.exports, s.3.exports_released) = (0, 0);
    s
}

/// EXPBUF of every plane of buffer `index` (plane 0 twice: each EXPBUF
/// makes a dma-buf of its own), which must change nothing but the exports
/// and export the plane's memory itself, not a copy.
fn export_every_plane(r: &mut Rig, index: usize) -> Vec<Rc<Buffer>> {
    let before = snapshot_but_exports(r);
    let num_planes = r.info(index).num_planes;
    let mut exported = Vec::new();
    for plane in (0..num_planes).chain([0]) {
        let buffer = r.expbuf(index, plane).unwrap();
        let mapping = r.q.mmap_buffer(index, plane).unwrap();
        assert_eq!(buffer.id, mapping.buffer.id, "export of {index}/{plane}");
        exported.push(buffer);
    }
    assert_eq!(snapshot_but_exports(r), before, "EXPBUF of {index} changed");
    exported.pop();
    exported
}

#[test]
fn expbuf_is_einval_but_for_a_plane_of_an_mmap_buffer() {
    for num_planes in PLANE_COUNTS {
        on_every_platform(|r| {
            let context = format!("{num_planes} planes");
            assert_eq!(
                r.expbuf(0, 0).map(|b| b.id),
                Err(Errno::EINVAL),
                "{context}: no buffers"
            );
            r.reqbufs(A, &buffers(Memory::Mmap, 3, num_planes, false))
                .unwrap();
            r.remove_bufs(A, 1, 1).unwrap();
            let before = snapshot(r);
            for (index, plane) in [
                (1, 0),
                (3, 0),
                (MAX_BUFFERS, 0),
                (usize::MAX, 0),
                (0, num_planes),
                (2, MAX_PLANES),
                (0, usize::MAX),
            ] {
                assert_eq!(
                    r.expbuf(index, plane).map(|b| b.id),
                    Err(Errno::EINVAL),
                    "{context}: buffer {index} plane {plane}"
                );
            }
            assert_eq!(snapshot(r), before, "{context}: a refused EXPBUF changed");
            // Every plane of the buffers there are, each time a new export.
            for index in [0, 2] {
                export_every_plane(r, index);
            }
            let exports = 2 * (num_planes as u64 + 1);
            assert_eq!(r.counters().exports_alive(), exports, "{context}");
            r.check_invariants(&context);
            // No plane of a DMABUF queue, mapped for the device or not:
            // those pages are the exporter's.
            let fds: Vec<i32> = (10..10 + num_planes as i32).collect();
            r.export_planes(&fds);
            import_buffers(r, 2, num_planes);
            r.qbuf(A, &planes_request(0, Memory::DmaBuf, &fds)).unwrap();
            assert!(r.info(0).planes().iter().all(|p| p.mapped_for_device));
            let before = snapshot(r);
            for index in 0..3 {
                for plane in 0..=MAX_PLANES {
                    assert_eq!(
                        r.expbuf(index, plane).map(|b| b.id),
                        Err(Errno::EINVAL),
                        "{context}: DMABUF buffer {index} plane {plane}"
                    );
                }
            }
            assert_eq!(snapshot(r), before, "{context}: EXPBUF of an import");
            r.check_invariants(&format!("{context}: DMABUF"));
        });
    }
}

/// One round of streaming through buffer `round % 2`: QBUF (then, if
/// `export`, EXPBUF of every plane while the device owns it), a frame, DQBUF
/// (the rig checks every byte) and userspace writing into every plane.
fn stream_round(r: &mut Rig, round: usize, export: bool) -> Vec<BufferInfo> {
    let index = round % 2;
    let mut infos = vec![r
        .qbuf(A, &mmap_request(index, CacheHints::default()))
        .unwrap()];
    if export {
        export_every_plane(r, index);
    }
    r.streamon(A).unwrap();
    let bytesused = [Some(100 * (round + 1)), None, Some(1000 - round)];
    assert_eq!(r.engine_tick_with(bytesused), Some(index));
    let info = r.dqbuf(A, Memory::Mmap).unwrap();
    for (p, plane) in r.user_planes(&info).iter().enumerate() {
        r.user_write(plane, 10 * round, &[(round + p) as u8; 70]);
    }
    infos.push(info);
    infos
}

/// Exporting changes nothing: a buffer exported while the CPU owns it and
/// one exported while the device does stream exactly as on a queue that
/// exports nothing, sync for sync, every frame byte-exact.
#[test]
fn an_exported_buffer_streams_as_it_would_unexported() {
    for num_planes in PLANE_COUNTS {
        for platform in Platform::ALL {
            let setup = Setup {
                platform,
                ..Setup::default()
            };
            let (mut exported, mut plain) = (Rig::new(setup), Rig::new(setup));
            for r in [&mut exported, &mut plain] {
                r.reqbufs(A, &buffers(Memory::Mmap, 2, num_planes, false))
                    .unwrap();
            }
            export_every_plane(&mut exported, 0);
            for round in 0..6 {
                let context = format!("{platform:?}, {num_planes} planes, round {round}");
                let infos = stream_round(&mut exported, round, round == 1);
                assert_eq!(infos, stream_round(&mut plain, round, false), "{context}");
                let mut c = exported.counters();
                (c.exports, c.exports_released) = (0, 0);
                assert_eq!(c, plain.counters(), "{context}: the DMA side did otherwise");
                exported.check_invariants(&context);
            }
            assert_eq!(
                exported.counters().exports_alive(),
                2 * (num_planes as u64 + 1)
            );
        }
    }
}

/// How the queue lets its buffers go.
#[derive(Clone, Copy, Debug)]
enum LetGo {
    Reqbufs0,
    RemoveBufs,
    Close,
}

/// REQBUFS(0), REMOVE_BUFS and close (while streaming) with exports alive:
/// the queue forgets the buffer and unmaps it for the device at once; its
/// memory, with the frame and what userspace wrote through an export,
/// lives on while the queue streams new buffers, until its last export
/// goes.
#[test]
fn letting_go_of_an_exported_buffer_orphans_its_memory_until_the_last_export_goes() {
    for num_planes in PLANE_COUNTS {
        for let_go in [LetGo::Reqbufs0, LetGo::RemoveBufs, LetGo::Close] {
            on_every_platform(|r| {
                let context = format!("{num_planes} planes, {let_go:?}");
                let request = buffers(Memory::Mmap, 2, num_planes, false);
                r.reqbufs(A, &request).unwrap();
                r.qbuf(A, &mmap_request(0, CacheHints::default())).unwrap();
                r.streamon(A).unwrap();
                r.engine_tick_with([Some(3000), None, Some(10)]).unwrap();
                let info = r.dqbuf(A, Memory::Mmap).unwrap();
                // Buffer 1 queued: the device owns it when close lets it go.
                r.qbuf(A, &mmap_request(1, CacheHints::default())).unwrap();
                let exported = export_every_plane(r, 0);
                r.user_write(&exported[0], 3000, &[0x77; 1096]);
                let before = r.counters();
                match let_go {
                    LetGo::Reqbufs0 => {
                        r.streamoff(A).unwrap();
                        let none = buffers(Memory::Mmap, 0, num_planes, false);
                        r.reqbufs(A, &none).unwrap();
                    }
                    LetGo::RemoveBufs => {
                        r.streamoff(A).unwrap();
                        r.remove_bufs(A, 0, 1).unwrap();
                    }
                    LetGo::Close => r.close(A),
                }
                assert!(r.q.query(&r.dma, 0).is_err(), "{context}: buffer 0 stays");
                assert!(r.q.mmap_buffer(0, 0).is_err(), "{context}: buffer 0 stays");
                // Every plane let go of is unmapped for the device at once;
                // only the exported ones' memory lives on.
                let gone = match let_go {
                    LetGo::RemoveBufs => 1,
                    _ => 2,
                };
                let c = r.counters();
                assert_eq!(
                    (c.mmap_unmaps - before.mmap_unmaps, c.frees - before.frees),
                    ((gone * num_planes) as u64, ((gone - 1) * num_planes) as u64),
                    "{context}: unmapped, freed"
                );
                assert_eq!(c.mmap_freed_device_owned, 0, "{context}");
                assert_eq!(r.orphans().len(), num_planes, "{context}");
                for buffer in &exported {
                    assert!(!buffer.is_freed(), "{context}");
                    assert!(!buffer.is_mapped_for_device(), "{context}");
                }
                r.check_invariants(&context);
                // The frame is there, where userspace did not write.
                assert_eq!(
                    exported[0].cpu_peek(0..3000),
                    plane_frame(info.sequence, 0, 3000),
                    "{context}"
                );
                for p in 1..num_planes {
                    let used = info.planes[p].bytesused;
                    let frame = plane_frame(info.sequence, p, used);
                    assert_eq!(exported[p].cpu_peek(0..used), frame, "{context}: {p}");
                }
                // The queue gets new buffers meanwhile, of memory of their
                // own, and streams.
                r.reqbufs(A, &request).unwrap();
                for id in r.queue_mmaps() {
                    assert!(exported.iter().all(|b| b.id != id), "{context}");
                }
                for i in 0..2 {
                    r.qbuf(A, &mmap_request(i, CacheHints::default())).unwrap();
                }
                r.streamon(A).unwrap();
                for _ in 0..2 {
                    r.engine_tick().unwrap();
                    r.dqbuf(A, Memory::Mmap).unwrap();
                }
                r.check_invariants(&format!("{context}: new buffers"));
                // Each plane's memory goes with its last export (plane 0 has
                // two), not before.
                while !r.exports.is_empty() {
                    let buffer = r.exports[0].buffer().clone();
                    r.release_export(0);
                    let last = r.exports.iter().all(|e| e.buffer().id != buffer.id);
                    assert_eq!(buffer.is_freed(), last, "{context}: {}", buffer.id);
                    r.check_invariants(&format!("{context}: an export gone"));
                }
                r.close(A);
                let c = r.counters();
                assert_eq!(
                    (c.held(), c.pages(), c.exports_alive()),
                    ((0, 0, 0, 0), 0, 0),
                    "{context}: leak"
                );
            });
        }
    }
}

/// What userspace holds of an orphan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    Export,
    NodeMmap,
    ExportMmap,
}

/// An MMAP plane exported, mmapped through the video node and through the
/// dma-buf, then let go of by the queue: its memory lives until the last
/// of the three goes, whichever it is; the planes nothing holds go at once.
#[test]
fn an_orphan_lives_until_the_last_of_its_export_and_mappings_in_any_order() {
    use Hold::*;
    let orders = [
        [Export, NodeMmap, ExportMmap],
        [Export, ExportMmap, NodeMmap],
        [NodeMmap, Export, ExportMmap],
        [NodeMmap, ExportMmap, Export],
        [ExportMmap, Export, NodeMmap],
        [ExportMmap, NodeMmap, Export],
    ];
    for order in orders {
        on_every_platform(|r| {
            let context = format!("{order:?}");
            r.reqbufs(A, &buffers(Memory::Mmap, 1, 3, false)).unwrap();
            let orphan = r.expbuf(0, 1).unwrap();
            // A mapping of the export counts as one of the buffer's, while
            // it lives.
            let mapped = |r: &Rig| -> Vec<bool> {
                r.info(0)
                    .planes()
                    .iter()
                    .map(|p| p.mapped_to_user)
                    .collect()
            };
            r.mmap_export(0);
            assert_eq!(mapped(r), [false, true, false], "{context}");
            r.user_mmaps.clear();
            assert_eq!(mapped(r), [false; 3], "{context}");
            r.user_mmap(0, 1);
            r.mmap_export(0);
            // In `r.user_mmaps`' order.
            let mut mappings = vec![NodeMmap, ExportMmap];
            r.user_fill(&orphan, 0x3c);
            let before = r.counters();
            r.reqbufs(A, &buffers(Memory::Mmap, 0, 3, false)).unwrap();
            let c = r.counters();
            assert_eq!(
                (c.mmap_unmaps - before.mmap_unmaps, c.frees - before.frees),
                (3, 2),
                "{context}: every plane unmapped, the two not held freed"
            );
            assert_eq!((c.mappings(), c.dma_mappings(), c.pages()), (0, 0, 1));
            r.check_invariants(&context);
            for (k, hold) in order.into_iter().enumerate() {
                assert!(!orphan.is_freed(), "{context}: freed before {hold:?} went");
                if hold == Export {
                    r.release_export(0);
                } else {
                    let at = mappings.iter().position(|&m| m == hold).unwrap();
                    mappings.remove(at);
                    r.world.disturb();
                    r.user_mmaps.remove(at);
                }
                assert_eq!(orphan.is_freed(), k == 2, "{context}: {hold:?} went");
                r.check_invariants(&format!("{context}: {hold:?} went"));
            }
            let c = r.counters();
            assert_eq!((c.held(), c.pages()), ((0, 0, 0, 0), 0), "{context}");
        });
    }
}

/// Exports of buffers the device holds (one done, one queued) when the
/// queue is closed while streaming: the queue gives them back to the CPU
/// before it unmaps them, so the orphans hold the device's last frame and
/// are the CPU's to write.
#[test]
fn exports_of_buffers_the_device_holds_at_close_keep_its_frame() {
    for num_planes in PLANE_COUNTS {
        on_every_platform(|r| {
            let context = format!("{num_planes} planes");
            r.reqbufs(A, &buffers(Memory::Mmap, 2, num_planes, false))
                .unwrap();
            for i in 0..2 {
                r.qbuf(A, &mmap_request(i, CacheHints::default())).unwrap();
            }
            r.streamon(A).unwrap();
            assert_eq!(r.engine_tick(), Some(0));
            let sequence = r.sequence - 1;
            let done = export_every_plane(r, 0);
            let queued = export_every_plane(r, 1);
            assert_eq!(r.info(0).state, State::Done, "{context}");
            r.close(A);
            assert_eq!(r.counters().mmap_freed_device_owned, 0, "{context}");
            for (p, buffer) in done.iter().enumerate() {
                let frame = plane_frame(sequence, p, SIZES[p]);
                assert_eq!(buffer.cpu_peek(0..SIZES[p]), frame, "{context}: {p}");
            }
            r.check_invariants(&context);
            for buffer in done.iter().chain(&queued) {
                assert!(!buffer.is_device_owned(), "{context}");
                r.user_fill(buffer, 0xa5);
            }
            r.check_invariants(&format!("{context}: written"));
            r.exports.clear();
            let c = r.counters();
            assert_eq!((c.held(), c.pages()), ((0, 0, 0, 0), 0), "{context}");
        });
    }
}

// ---- Randomized sequences

/// Sequences per platform, and operations per sequence.
const SEQUENCES: u64 = 50;
const STEPS: usize = 300;

/// What userspace sees of the queue, to find out that a refused call
/// changed nothing.
fn snapshot(r: &Rig) -> (Vec<Option<BufferInfo>>, usize, Option<Memory>, Counters) {
    (r.all_infos(), r.q.count(), r.q.memory(), r.counters())
}

/// One random sequence of ioctls (REMOVE_BUFS and CREATE_BUFS into holes
/// among them, EXPBUF), engine frames, userspace writes, mmaps and munmaps
/// (of the video node's buffers and of exports) and closes of exports on
/// `platform`, with buffers of 1 to 3 planes, each dma-buf from an
/// exporter of its own.
fn random_sequence(platform: Platform, seed: u64) {
    // Each platform its own sequences.
    let mut rng = Rng::new(seed * Platform::ALL.len() as u64 + platform as u64);
    let setup = Setup {
        platform,
        exporter: Exporter::SyncsAtUnmap,
    };
    let mut r = Rig::with_seed(setup, seed);
    let fds: Vec<i32> = (10..22).collect();
    for &fd in &fds {
        // Some too small for some planes, some larger and ending mid-line.
        let size = [500, 1000, 2048, 4096, 4096 + 100, 2048 + 40][fd as usize % 6];
        r.world.export(fd, size, rng.pick(&Exporter::ALL));
    }
    let mut last_sequence: Option<u32> = None;
    for step in 0..STEPS {
        let context = format!("{platform:?} seed {seed} step {step}");
        let who = if rng.one_in(20) { B } else { A };
        let memory = setup::random_memory(r.q.memory(), &mut rng);
        // Mostly the buffers' plane count; now and then another.
        let existing_planes = r
            .all_infos()
            .into_iter()
            .flatten()
            .next()
            .map(|i| i.num_planes);
        let num_planes = match existing_planes {
            Some(n) if !rng.one_in(8) => n,
            _ => 1 + rng.below(MAX_PLANES),
        };
        let non_coherent = if rng.one_in(8) {
            !r.q.is_non_coherent()
        } else {
            r.q.is_non_coherent()
        };
        // Past the last buffer: holes make indices reach beyond the count.
        let span = r
            .all_infos()
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        let byte = step as u8 ^ 0x5a;
        match rng.below(29) {
            0 => {
                // Now and then close to the most buffers a queue holds.
                let n = if rng.one_in(12) {
                    MAX_BUFFERS - 4 + rng.below(4)
                } else {
                    rng.below(6)
                };
                let request = buffers(memory, n, num_planes, non_coherent);
                if let Ok(a) = r.reqbufs(who, &request) {
                    assert_eq!(a.count, n, "{context}");
                    assert_eq!(
                        a.non_coherent,
                        n > 0 && non_coherent && memory == Memory::Mmap,
                        "{context}: coherency"
                    );
                }
            }
            1 | 2 => {
                let n = rng.below(5);
                let mut request = buffers(memory, n, num_planes, non_coherent);
                if rng.one_in(3) {
                    request.plane_sizes[0] += 64;
                }
                let before = snapshot(&r);
                let takes_hints = r.q.is_non_coherent();
                let result = r.create_bufs(who, &request);
                let mismatch = before.1 > 0
                    && (Some(memory) != before.2
                        || existing_planes != Some(num_planes)
                        || (memory == Memory::Mmap && non_coherent != takes_hints));
                match result {
                    Ok(a) if n > 0 => {
                        assert!(!mismatch, "{context}: CREATE_BUFS unlike the buffers");
                        assert!(a.count >= 1 && a.count <= n, "{context}");
                        assert_eq!(r.q.count(), before.1 + a.count, "{context}");
                        for i in a.first..a.first + a.count {
                            let was = before.0.get(i).copied().flatten();
                            assert!(was.is_none(), "{context}: {i} was taken");
                            let info = r.info(i);
                            assert_eq!(info.num_planes, num_planes, "{context}");
                            assert_eq!(info.planes[0].length, request.plane_sizes[0], "{context}");
                        }
                    }
                    Ok(_) => assert_eq!(snapshot(&r).0, before.0, "{context}"),
                    Err(_) => {
                        let after = snapshot(&r);
                        assert_eq!(
                            (&after.0, after.1),
                            (&before.0, before.1),
                            "{context}: a refused CREATE_BUFS changed the queue"
                        );
                    }
                }
            }
            3 | 23 => {
                let count = rng.below(4);
                let index = if rng.one_in(10) {
                    MAX_BUFFERS - rng.below(3)
                } else {
                    rng.below(span + 2)
                };
                let before = snapshot(&r);
                match r.remove_bufs(who, index, count) {
                    Ok(()) => {
                        for i in index..index + count {
                            let was = before.0[i].expect("removed a hole");
                            // Dequeued, or prepared (not queued yet, as in
                            // videobuf2).
                            assert!(
                                matches!(was.state, State::Dequeued | State::Prepared),
                                "{context}: removed {i}"
                            );
                            assert!(r.q.query(&r.dma, i).is_err(), "{context}: {i} stays");
                        }
                        assert_eq!(r.q.count(), before.1 - count, "{context}");
                        if r.q.count() == 0 {
                            assert_eq!(r.q.memory(), None, "{context}");
                        }
                    }
                    Err(e) => {
                        let after = snapshot(&r);
                        assert_eq!(after, before, "{context}: a refused REMOVE_BUFS changed");
                        let range = index..(index + count).min(MAX_BUFFERS);
                        let missing = range
                            .clone()
                            .any(|i| before.0.get(i).is_none_or(Option::is_none));
                        let busy = range.clone().any(|i| {
                            before.0.get(i).is_some_and(|info| {
                                info.is_some_and(|info| !info.state.is_cpu_owned())
                            })
                        });
                        match e {
                            Errno::Inval => assert!(
                                count > before.1 || index + count > MAX_BUFFERS || missing,
                                "{context}: EINVAL"
                            ),
                            Errno::Busy => assert!(
                                r.q.owner().is_some_and(|o| o != who) || busy,
                                "{context}: EBUSY"
                            ),
                            e => panic!("{context}: REMOVE_BUFS gave {e:?}"),
                        }
                    }
                }
            }
            4..=8 => {
                let index = rng.below(span + 2);
                let mut req = planes_request(index, memory, &[]);
                for (p, plane) in req.planes.iter_mut().take(num_planes).enumerate() {
                    // Mostly a dma-buf large enough for the plane; sometimes
                    // any, or an fd that is no dma-buf.
                    let fitting: Vec<i32> = fds
                        .iter()
                        .copied()
                        .filter(|&fd| r.world.buffer(fd).is_some_and(|b| b.len() >= SIZES[p]))
                        .collect();
                    plane.fd = if rng.one_in(4) {
                        rng.pick(&fds) + 1000 * i32::from(rng.one_in(5))
                    } else {
                        rng.pick(&fitting)
                    };
                    plane.length = if rng.one_in(4) { SIZES[p] } else { 0 };
                }
                // Hints only where the queue must ignore them: a queue that
                // takes them would leave frames unsynced.
                if !r.q.is_non_coherent() {
                    req.hints = rng.pick(&[CacheHints::default(), SKIP_FOR_DEVICE, SKIP_BOTH]);
                }
                let before = snapshot(&r);
                let result = if rng.one_in(4) {
                    r.prepare(who, &req)
                } else {
                    r.qbuf(who, &req)
                };
                match result {
                    Ok(info) => {
                        assert!(!info.state.is_cpu_owned(), "{context}");
                        // Kept on an MMAP queue (which syncs all the same,
                        // being coherent), dropped for imports.
                        let kept = if memory == Memory::Mmap {
                            req.hints
                        } else {
                            CacheHints::default()
                        };
                        assert_eq!(info.hints, kept, "{context}: hints");
                    }
                    Err(_) => {
                        // Whatever a refusal took it gave back.
                        let after = snapshot(&r);
                        assert_eq!(after.0, before.0, "{context}: a refused QBUF changed");
                        assert_eq!(after.3.held(), before.3.held(), "{context}: leak");
                    }
                }
            }
            9..=12 => {
                if let Ok(info) = r.dqbuf(who, memory) {
                    assert!(info.state.is_cpu_owned(), "{context}");
                    if let Some(last) = last_sequence {
                        assert!(info.sequence > last, "{context}: sequence");
                    }
                    last_sequence = Some(info.sequence);
                    let planes = r.user_planes(&info);
                    let plane = planes[rng.below(planes.len())].clone();
                    r.user_scribble(&plane, &mut rng, byte);
                }
            }
            13 | 24 => {
                let _ = r.streamon(who);
            }
            14 => {
                if r.streamoff(who).is_ok() {
                    for buffer in r.user_owned_buffers(&fds) {
                        if rng.one_in(2) {
                            r.user_scribble(&buffer, &mut rng, byte);
                        }
                    }
                }
            }
            15..=18 => {
                let mut bytesused = [None; MAX_PLANES];
                for used in &mut bytesused {
                    if !rng.one_in(3) {
                        *used = Some(rng.below(SIZES[0] + 1));
                    }
                }
                r.engine_tick_with(bytesused);
            }
            19 => {
                r.q.set_policy(Policy {
                    map_per_qbuf: rng.one_in(2),
                    full_sync: rng.one_in(2),
                });
            }
            20 => {
                let owned = r.user_owned_buffers(&fds);
                if !owned.is_empty() {
                    let buffer = owned[rng.below(owned.len())].clone();
                    r.user_scribble(&buffer, &mut rng, byte);
                }
            }
            21 => {
                if !r.user_mmaps.is_empty() {
                    let at = rng.below(r.user_mmaps.len());
                    r.world.disturb();
                    r.user_mmaps.remove(at);
                }
            }
            22 => {
                // An mmap of a plane userspace does not write (yet).
                let infos: Vec<BufferInfo> = r.all_infos().into_iter().flatten().collect();
                if r.q.memory() == Some(Memory::Mmap) && !infos.is_empty() {
                    let info = infos[rng.below(infos.len())];
                    r.user_mmap(info.index, rng.below(info.num_planes));
                }
            }
            25 => r.close(who),
            26 => {
                // Any index and plane, valid or not, whatever the state.
                let index = rng.below(span + 2);
                let plane = rng.below(MAX_PLANES + 1);
                let before = snapshot(&r);
                let exportable = before.2 == Some(Memory::Mmap)
                    && before
                        .0
                        .get(index)
                        .copied()
                        .flatten()
                        .is_some_and(|info| plane < info.num_planes);
                let exports = r.exports.len();
                match r.expbuf(index, plane) {
                    Ok(buffer) => {
                        assert!(exportable, "{context}: exported {index}/{plane}");
                        let mapping = r.q.mmap_buffer(index, plane).unwrap();
                        assert_eq!(buffer.id, mapping.buffer.id, "{context}: memory");
                    }
                    Err(e) => {
                        assert!(!exportable, "{context}: EXPBUF of {index}/{plane}: {e:?}");
                        assert_eq!(e, Errno::EINVAL, "{context}");
                        assert_eq!(r.exports.len(), exports, "{context}");
                    }
                }
                // Exporting changes nothing in the queue, nor what the DMA
                // side holds: only the export counts.
                let mut after = snapshot(&r);
                (after.3.exports, after.3.exports_released) =
                    (before.3.exports, before.3.exports_released);
                assert_eq!(after, before, "{context}: EXPBUF changed");
            }
            27 => {
                if !r.exports.is_empty() {
                    let n = rng.below(r.exports.len());
                    r.release_export(n);
                }
            }
            28 => {
                if !r.exports.is_empty() {
                    let n = rng.below(r.exports.len());
                    r.mmap_export(n);
                }
            }
            _ => unreachable!(),
        }
        assert_eq!(r.q.hint_skips(), HintSkips::default(), "{context}: skips");
        r.check_invariants(&context);
    }
    r.close(A);
    r.close(B);
    let context = format!("{platform:?} seed {seed}: at close");
    r.check_invariants(&context);
    // Orphans hold their memory, no mapping.
    let c = r.counters();
    assert_eq!(c.held(), (0, 0, 0, 0), "{context}: leak");
    assert_eq!(c.pages(), r.orphans().len() as u64, "{context}");
    r.user_mmaps.clear();
    r.exports.clear();
    let c = r.counters();
    assert_eq!(
        (c.held(), c.pages(), c.exports_alive()),
        ((0, 0, 0, 0), 0, 0),
        "{context}: leak after the last munmap and export"
    );
}

#[test]
fn random_multi_plane_sequences_keep_every_invariant() {
    for platform in Platform::ALL {
        for seed in 1..=SEQUENCES {
            random_sequence(platform, seed);
        }
    }
}

/// A planes array too short for the buffer's planes: `EINVAL` from the
/// queue itself (under its lock), for QUERYBUF, QBUF and DQBUF, and a
/// refused DQBUF leaves the buffer done for the next one.
#[test]
fn a_planes_array_shorter_than_the_buffers_planes_is_einval_and_changes_nothing() {
    let mut r = Rig::new(Setup {
        platform: Platform::NonCoherentBounced,
        exporter: Exporter::SyncsAtUnmap,
    });
    r.reqbufs(A, &buffers(Memory::Mmap, 2, 3, false)).unwrap();
    assert_eq!(
        r.q.query_into(&r.dma, 0, 2).map_err(|e| e.errno),
        Err(Errno::EINVAL)
    );
    assert!(r.q.query_into(&r.dma, 0, 3).is_ok());
    let short = QueueRequest {
        room: 2,
        ..mmap_request(0, CacheHints::default())
    };
    let before = r.counters();
    assert_eq!(errno(r.qbuf(A, &short)), Errno::EINVAL);
    assert_eq!(errno(r.prepare(A, &short)), Errno::EINVAL);
    assert_eq!(r.counters().syncs_for_device, before.syncs_for_device);
    assert!(r.info(0).state.is_cpu_owned());
    r.qbuf(A, &mmap_request(0, CacheHints::default())).unwrap();
    r.streamon(A).unwrap();
    r.engine_tick().unwrap();
    assert_eq!(
        r.q.dqbuf(&mut r.dma, A, Memory::Mmap, 1)
            .map_err(|e| e.errno),
        Err(Errno::EINVAL)
    );
    assert!(r.q.has_done(), "the refused DQBUF kept the buffer");
    let info = r.dqbuf(A, Memory::Mmap).unwrap();
    assert_eq!(info.index, 0);
}

/// As videobuf2's `vb2_is_busy`: removing every buffer does not free the
/// format (a stream keeps the one its engine started with); REQBUFS(0)
/// does.
#[test]
fn the_queue_stays_busy_after_remove_bufs_of_every_buffer() {
    let mut r = Rig::new(Setup {
        platform: Platform::NonCoherentBounced,
        exporter: Exporter::SyncsAtUnmap,
    });
    assert!(!r.q.is_busy());
    r.reqbufs(A, &buffers(Memory::Mmap, 2, 1, false)).unwrap();
    assert!(r.q.is_busy());
    assert_eq!(r.remove_bufs(A, 0, 2), Ok(()));
    assert_eq!(r.q.count(), 0);
    assert!(r.q.is_busy(), "still busy");
    r.reqbufs(A, &buffers(Memory::Mmap, 0, 1, false)).unwrap();
    assert!(!r.q.is_busy());
}
