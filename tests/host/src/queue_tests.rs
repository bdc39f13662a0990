// SPDX-License-Identifier: GPL-2.0

//! The queue core against the model of its DMA side (`crate::model`):
//! every life-cycle rule of the design and each errno the V4L2 spec names,
//! on every platform and with every kind of exporter, and randomized
//! operation sequences that check the invariants after every step.
//!
//! Userspace, as the [`Rig`] plays it, reads every frame it dequeues, which
//! must be byte for byte what the device wrote, and writes into buffers it
//! owns, which nothing the driver does may change until userspace queues
//! them again.

use crate::model::dma_api::Platform;
use crate::model::memory::LINE;
use crate::model::{Buffer, Exporter, Model, UserMapping, World};
use crate::pattern_tests::verification_byte;
use crate::queue::*;
use crate::rng::Rng;
use crate::setup::{self, Setup};
use crate::userspace::{Claims, Userspace};
use std::collections::BTreeMap;
use std::format;
use std::rc::Rc;
use std::vec::Vec;

const A: OwnerId = OwnerId(1);
const B: OwnerId = OwnerId(2);
const SIZE: usize = 4096;

/// [`setup::in_every_setup`] (every platform, every exporter) on this rig.
fn in_every_setup(test: impl Fn(&mut Rig)) {
    setup::in_every_setup(Rig::new, test);
}

/// [`setup::on_every_platform`] (MMAP buffers) on this rig.
fn on_every_platform(test: impl Fn(&mut Rig)) {
    setup::on_every_platform(Rig::new, test);
}

/// Frame `sequence` of the verification pattern, `bytesused` bytes long.
fn frame(sequence: u32, bytesused: usize) -> Vec<u8> {
    // The pattern repeats every 251 bytes: one period, copied (the tests
    // make thousands of frames, unoptimized).
    let period: Vec<u8> = (0..251).map(|i| verification_byte(i, sequence)).collect();
    let mut frame = Vec::with_capacity(bytesused);
    while frame.len() < bytesused {
        let n = period.len().min(bytesused - frame.len());
        frame.extend_from_slice(&period[..n]);
    }
    frame
}

/// Whether userspace reads frame `sequence` in the first `bytesused` bytes.
fn shows_frame(buffer: &Buffer, sequence: u32, bytesused: usize) -> bool {
    buffer.cpu_read(0..bytesused) == frame(sequence, bytesused)
}

struct Rig {
    q: Queue<Model>,
    dma: Model,
    world: Rc<World>,
    setup: Setup,
    /// The format's buffer size (`sizeimage`).
    format_size: usize,
    sequence: u32,
    /// What the device wrote for each frame not dequeued yet, by sequence.
    frames_written: BTreeMap<u32, Vec<u8>>,
    /// What userspace wrote and has not queued since.
    claims: Claims,
    /// MMAP buffers userspace keeps mapped: their memory outlives the queue's.
    user_mmaps: Vec<UserMapping>,
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
            format_size: SIZE,
            sequence: 0,
            frames_written: BTreeMap::new(),
            claims: Claims::default(),
            user_mmaps: Vec::new(),
        }
    }

    /// Exports a dma-buf of `size` bytes at `fd`, by the setup's exporter.
    fn export(&self, fd: i32, size: usize) -> Rc<Buffer> {
        self.world.export(fd, size, self.setup.exporter)
    }

    /// The memory userspace reaches of buffer `index` (MMAP) or of the
    /// dma-buf at `fd` (DMABUF).
    fn user_buffer(&self, index: usize, fd: i32) -> Option<Rc<Buffer>> {
        match self.q.memory()? {
            Memory::Mmap => self.q.mmap_buffer(index, 0).ok().map(|m| m.buffer.clone()),
            Memory::DmaBuf => self.world.buffer(fd),
        }
    }

    /// Userspace mmaps MMAP buffer `index` and keeps the mapping.
    fn user_mmap(&mut self, index: usize) -> Rc<Buffer> {
        let mapping = self.q.mmap_buffer(index, 0).unwrap().user_map();
        let buffer = mapping.buffer().clone();
        self.user_mmaps.push(mapping);
        buffer
    }

    /// Every buffer userspace owns: MMAP buffers it has dequeued, and the
    /// dma-bufs at `fds` that no buffer the device owns holds.
    fn user_owned_buffers(&self, fds: &[i32]) -> Vec<Rc<Buffer>> {
        let infos: Vec<BufferInfo> = (0..self.q.count())
            .map(|i| self.q.query(&self.dma, i).unwrap())
            .collect();
        match self.q.memory() {
            Some(Memory::Mmap) => infos
                .iter()
                .filter(|info| info.state.is_cpu_owned())
                .filter_map(|info| self.user_buffer(info.index, -1))
                .collect(),
            _ => fds
                .iter()
                .filter(|&&fd| {
                    !infos
                        .iter()
                        .any(|info| info.planes[0].fd == fd && !info.state.is_cpu_owned())
                })
                .filter_map(|&fd| self.world.buffer(fd))
                .collect(),
        }
    }

    /// Panics unless every byte userspace wrote into memory it still owns
    /// and reaches reads back as it wrote it.
    fn check_claims(&self, context: &str) {
        self.claims.check(context, |buffer| {
            self.user_mmaps.iter().any(|m| m.buffer().id == buffer.id)
                || (0..self.q.count()).any(|i| {
                    self.q
                        .mmap_buffer(i, 0)
                        .is_ok_and(|m| m.buffer.id == buffer.id)
                })
        });
    }

    /// Buffer `index` goes to the device: userspace gives up what it wrote.
    fn forget_claims(&mut self, info: &BufferInfo) {
        if let Some(buffer) = self.user_buffer(info.index, info.planes[0].fd) {
            self.claims.forget(&buffer);
        }
    }

    fn reqbufs(&mut self, who: OwnerId, memory: Memory, n: usize) -> Result<usize, Errno> {
        self.world.disturb();
        let size = self.format_size;
        self.q
            .reqbufs(&mut self.dma, who, &BufferRequest::single(memory, n, size))
            .map(|a| a.count)
            .map_err(|e| e.errno)
    }

    fn create_bufs(
        &mut self,
        who: OwnerId,
        memory: Memory,
        n: usize,
        size: usize,
    ) -> Result<(usize, usize), Errno> {
        self.world.disturb();
        self.q
            .create_bufs(&mut self.dma, who, &BufferRequest::single(memory, n, size))
            .map(|a| (a.first, a.count))
            .map_err(|e| e.errno)
    }

    /// Exports `n` dma-bufs at fds 10, 11, ..., REQBUFS(DMABUF, n) for
    /// owner A and queues buffer i with fd 10 + i.
    fn queue_imports(&mut self, n: usize) {
        for i in 0..n {
            self.export(10 + i as i32, SIZE);
        }
        assert_eq!(self.reqbufs(A, Memory::DmaBuf, n), Ok(n));
        for i in 0..n {
            self.qbuf(A, i, Memory::DmaBuf, 10 + i as i32).unwrap();
        }
    }

    fn request(index: usize, memory: Memory, fd: i32) -> QueueRequest {
        QueueRequest::single(index, memory, fd, 0)
    }

    fn qbuf_request(&mut self, who: OwnerId, req: &QueueRequest) -> Result<BufferInfo, Errno> {
        self.world.disturb();
        let info = self.q.qbuf(&mut self.dma, who, req).map_err(|e| e.errno)?;
        self.forget_claims(&info);
        Ok(info)
    }

    fn qbuf(
        &mut self,
        who: OwnerId,
        index: usize,
        memory: Memory,
        fd: i32,
    ) -> Result<BufferInfo, Errno> {
        self.qbuf_request(who, &Self::request(index, memory, fd))
    }

    fn prepare(&mut self, who: OwnerId, req: &QueueRequest) -> Result<BufferInfo, Errno> {
        self.world.disturb();
        let info = self
            .q
            .prepare(&mut self.dma, who, req)
            .map_err(|e| e.errno)?;
        self.forget_claims(&info);
        Ok(info)
    }

    /// DQBUF; then userspace reads the frame, which must be exactly what
    /// the device wrote.
    fn dqbuf(&mut self, who: OwnerId, memory: Memory) -> Result<BufferInfo, Errno> {
        self.world.disturb();
        let info = self
            .q
            .dqbuf(&mut self.dma, who, memory, MAX_PLANES)
            .map_err(|e| e.errno)?;
        let written = self
            .frames_written
            .remove(&info.sequence)
            .unwrap_or_default();
        if let Some(buffer) = self.user_buffer(info.index, info.planes[0].fd) {
            let read = buffer.cpu_read(0..info.planes[0].bytesused);
            assert!(
                read == written,
                "userspace does not read frame {} ({} bytes) in buffer {} as the device wrote it",
                info.sequence,
                info.planes[0].bytesused,
                info.index
            );
        }
        Ok(info)
    }

    fn streamon(&mut self, who: OwnerId) -> Result<(), Errno> {
        self.world.disturb();
        self.q.streamon(who).map_err(|e| e.errno)
    }

    fn streamoff(&mut self, who: OwnerId) -> Result<(), Errno> {
        self.world.disturb();
        self.q.streamoff(&mut self.dma, who).map_err(|e| e.errno)
    }

    /// Close of file handle `who`.
    fn close(&mut self, who: OwnerId) {
        self.world.disturb();
        self.q.release(&mut self.dma, who);
    }

    /// The engine fills the oldest queued buffer with the next frame over
    /// `bytesused` bytes (all of the buffer if `None`), writing only through
    /// the device's mapping. Returns the buffer's index.
    fn engine_tick_with(&mut self, bytesused: Option<usize>) -> Option<usize> {
        let sequence = self.sequence;
        self.sequence += 1;
        let (index, mappings) = self.q.hand_to_device()?;
        let mapping = mappings[0].clone().unwrap();
        let length = self.q.query(&self.dma, index).unwrap().planes[0].length;
        let bytesused = bytesused.unwrap_or(length).min(length);
        let written = frame(sequence, bytesused);
        mapping.device_write(0, &written);
        self.frames_written.insert(sequence, written);
        let done = FrameDone {
            bytesused: [bytesused, 0, 0],
            sequence,
            timestamp_ns: 1_000 + u64::from(sequence),
            error: false,
            synced_for_cpu: [false; MAX_PLANES],
        };
        assert!(self.q.finish_frame(index, done));
        Some(index)
    }

    fn engine_tick(&mut self) -> Option<usize> {
        self.engine_tick_with(None)
    }
}

fn errno(e: Result<impl core::fmt::Debug, Errno>) -> Errno {
    e.unwrap_err()
}

// ---- REQBUFS and ownership

#[test]
fn reqbufs_mmap_allocates_and_maps_each_buffer_once() {
    let mut r = Rig::new(Setup::default());
    assert_eq!(r.reqbufs(A, Memory::Mmap, 4), Ok(4));
    let c = r.world.counters();
    assert_eq!((c.allocs, c.mappings(), c.dma_mappings()), (4, 4, 4));
    assert_eq!(r.q.owner(), Some(A));
    for i in 0..4 {
        let info = r.q.query(&r.dma, i).unwrap();
        assert_eq!((info.state, info.planes[0].length), (State::Dequeued, SIZE));
    }
}

#[test]
fn reqbufs_clamps_to_max_buffers() {
    let mut r = Rig::new(Setup::default());
    assert_eq!(r.reqbufs(A, Memory::DmaBuf, 1000), Ok(MAX_BUFFERS));
}

#[test]
fn reqbufs_zero_frees_everything_and_gives_up_ownership() {
    let mut r = Rig::new(Setup::default());
    r.reqbufs(A, Memory::Mmap, 3).unwrap();
    assert_eq!(r.reqbufs(A, Memory::Mmap, 0), Ok(0));
    let c = r.world.counters();
    assert_eq!((c.mappings(), c.dma_mappings()), (0, 0));
    assert_eq!(r.q.owner(), None);
    assert_eq!(r.q.count(), 0);
    // Now another handle may take the queue.
    assert_eq!(r.reqbufs(B, Memory::DmaBuf, 2), Ok(2));
}

#[test]
fn other_handles_get_ebusy_for_every_queue_ioctl() {
    let mut r = Rig::new(Setup::default());
    r.export(10, SIZE);
    r.reqbufs(A, Memory::DmaBuf, 2).unwrap();
    assert_eq!(errno(r.reqbufs(B, Memory::DmaBuf, 2)), Errno::EBUSY);
    assert_eq!(errno(r.reqbufs(B, Memory::DmaBuf, 0)), Errno::EBUSY);
    assert_eq!(errno(r.qbuf(B, 0, Memory::DmaBuf, 10)), Errno::EBUSY);
    assert_eq!(errno(r.streamon(B)), Errno::EBUSY);
    assert_eq!(errno(r.streamoff(B)), Errno::EBUSY);
    assert_eq!(errno(r.dqbuf(B, Memory::DmaBuf)), Errno::EBUSY);
    assert_eq!(
        errno(r.create_bufs(B, Memory::DmaBuf, 1, SIZE)),
        Errno::EBUSY
    );
    let prep = Rig::request(0, Memory::DmaBuf, 10);
    assert_eq!(errno(r.prepare(B, &prep)), Errno::EBUSY);
    // QUERYBUF is not an ownership-taking ioctl.
    assert!(r.q.query(&r.dma, 1).is_ok());
    // Closing the other handle changes nothing.
    r.close(B);
    assert_eq!(r.q.count(), 2);
}

#[test]
fn reqbufs_while_streaming_is_ebusy() {
    let mut r = Rig::new(Setup::default());
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    r.streamon(A).unwrap();
    assert_eq!(errno(r.reqbufs(A, Memory::Mmap, 0)), Errno::EBUSY);
    assert_eq!(errno(r.reqbufs(A, Memory::Mmap, 4)), Errno::EBUSY);
}

#[test]
fn mmap_allocation_failure_gives_fewer_buffers_or_enomem() {
    let mut r = Rig::new(Setup::default());
    r.world.fail_maps.set(1);
    assert_eq!(errno(r.reqbufs(A, Memory::Mmap, 4)), Errno::ENOMEM);
    assert_eq!((r.q.count(), r.q.owner(), r.q.memory()), (0, None, None));
    // The third allocation fails: two buffers.
    r.world.maps_before_failure.set(2);
    r.world.fail_maps.set(1);
    assert_eq!(r.reqbufs(A, Memory::Mmap, 4), Ok(2));
    assert_eq!(r.world.counters().mappings(), 2);
}

// ---- CREATE_BUFS

#[test]
fn create_bufs_appends_and_reports_the_first_index() {
    let mut r = Rig::new(Setup::default());
    assert_eq!(r.create_bufs(A, Memory::Mmap, 2, SIZE), Ok((0, 2)));
    assert_eq!(r.create_bufs(A, Memory::Mmap, 3, 2 * SIZE), Ok((2, 3)));
    assert_eq!(r.q.query(&r.dma, 4).unwrap().planes[0].length, 2 * SIZE);
    // count 0 only reports.
    assert_eq!(r.create_bufs(A, Memory::Mmap, 0, SIZE), Ok((5, 0)));
    // Another memory type than the buffers': EINVAL.
    assert_eq!(
        errno(r.create_bufs(A, Memory::DmaBuf, 1, SIZE)),
        Errno::EINVAL
    );
}

#[test]
fn create_bufs_beyond_max_is_enobufs() {
    let mut r = Rig::new(Setup::default());
    assert_eq!(
        r.create_bufs(A, Memory::DmaBuf, 100, SIZE),
        Ok((0, MAX_BUFFERS))
    );
    assert_eq!(
        errno(r.create_bufs(A, Memory::DmaBuf, 1, SIZE)),
        Errno::ENOBUFS
    );
}

// ---- QBUF/DQBUF: syncs and data visibility

#[test]
fn mmap_frame_reaches_the_cpu_only_through_the_dqbuf_sync() {
    on_every_platform(|r| {
        r.reqbufs(A, Memory::Mmap, 2).unwrap();
        let buffer = r.user_buffer(0, -1).unwrap();
        // Userspace looks at the buffer: a cache holds its lines now.
        buffer.cpu_read(0..SIZE);
        r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
        assert_eq!(r.world.counters().syncs_for_device, 1);
        r.streamon(A).unwrap();
        assert_eq!(r.engine_tick(), Some(0));
        // Done but not dequeued: unless DMA is coherent, the CPU still sees
        // stale memory.
        assert_eq!(r.q.query(&r.dma, 0).unwrap().state, State::Done);
        let stale = buffer.cpu_peek(0..SIZE) != frame(0, SIZE);
        assert_eq!(stale, r.setup.platform.needs_sync());
        let info = r.dqbuf(A, Memory::Mmap).unwrap();
        assert_eq!(
            (info.index, info.sequence, info.planes[0].bytesused),
            (0, 0, SIZE)
        );
        let c = r.world.counters();
        assert_eq!((c.syncs_for_cpu, c.bytes_synced_for_cpu), (1, SIZE as u64));
    });
}

/// A frame goes to the other views of its memory (`Dma::frame_written`:
/// an exported buffer's importers) only when the device wrote it: at
/// DQBUF, and at STREAMOFF for a buffer the engine had filled; never for a
/// buffer still waiting at STREAMOFF, whose unchanged bytes would undo what
/// another device wrote into those views.
#[test]
fn only_frames_the_device_wrote_go_to_the_other_views() {
    on_every_platform(|r| {
        r.reqbufs(A, Memory::Mmap, 3).unwrap();
        for index in 0..3 {
            r.qbuf(A, index, Memory::Mmap, -1).unwrap();
        }
        r.streamon(A).unwrap();
        assert_eq!(r.engine_tick(), Some(0));
        assert_eq!(r.world.counters().frames_written, 0, "not before DQBUF");
        r.dqbuf(A, Memory::Mmap).unwrap();
        assert_eq!(r.world.counters().frames_written, 1);
        assert_eq!(r.engine_tick(), Some(1));
        let syncs = r.world.counters().syncs_for_cpu;
        r.streamoff(A).unwrap();
        let c = r.world.counters();
        // Buffers 1 (done) and 2 (waiting) are synced for the CPU; only
        // buffer 1's frame goes on.
        assert_eq!(c.syncs_for_cpu, syncs + 2);
        assert_eq!(c.frames_written, 2);
    });
}

/// Streams one MMAP buffer under `policy`, has the engine fill a frame of
/// `bytesused` bytes and DQBUFs it; returns the bytes DQBUF synced for the
/// CPU.
fn bytes_synced_at_dqbuf(r: &mut Rig, policy: Policy, bytesused: usize) -> u64 {
    r.reqbufs(A, Memory::Mmap, 1).unwrap();
    r.q.set_policy(policy);
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    r.streamon(A).unwrap();
    r.engine_tick_with(Some(bytesused)).unwrap();
    let info = r.dqbuf(A, Memory::Mmap).unwrap();
    assert_eq!(info.planes[0].bytesused, bytesused);
    r.world.counters().bytes_synced_for_cpu
}

#[test]
fn dqbuf_syncs_only_the_bytes_the_frame_occupies() {
    on_every_platform(|r| assert_eq!(bytes_synced_at_dqbuf(r, Policy::default(), 1000), 1000));
}

#[test]
fn full_sync_policy_syncs_the_whole_buffer_at_dqbuf() {
    let policy = Policy {
        full_sync: true,
        ..Policy::default()
    };
    on_every_platform(|r| assert_eq!(bytes_synced_at_dqbuf(r, policy, 1000), SIZE as u64));
}

/// Frames of every length that matters to a cache (within a line, a line,
/// across lines) into buffers userspace filled after each DQBUF: the next
/// frame's bytes must win over the dirty lines, the partial ones included.
fn short_frames_reach_the_cpu_byte_exact(r: &mut Rig, memory: Memory) {
    r.q.streamon(A).unwrap();
    let lengths = [
        1,
        LINE - 1,
        LINE,
        LINE + 1,
        1000,
        SIZE - 1,
        SIZE,
        7,
        2 * LINE,
    ];
    for (n, bytesused) in lengths.into_iter().enumerate() {
        r.engine_tick_with(Some(bytesused)).unwrap();
        let info = r.dqbuf(A, memory).unwrap();
        assert_eq!(info.planes[0].bytesused, bytesused);
        let buffer = r.user_buffer(info.index, info.planes[0].fd).unwrap();
        r.user_fill(&buffer, 0x80 | n as u8);
        r.qbuf(A, info.index, memory, info.planes[0].fd).unwrap();
    }
}

#[test]
fn short_imported_frames_reach_the_cpu_byte_exact() {
    in_every_setup(|r| {
        r.queue_imports(2);
        short_frames_reach_the_cpu_byte_exact(r, Memory::DmaBuf);
    });
}

#[test]
fn short_mmap_frames_reach_the_cpu_byte_exact() {
    on_every_platform(|r| {
        r.reqbufs(A, Memory::Mmap, 2).unwrap();
        for i in 0..2 {
            r.qbuf(A, i, Memory::Mmap, -1).unwrap();
        }
        short_frames_reach_the_cpu_byte_exact(r, Memory::Mmap);
    });
}

#[test]
fn buffers_complete_in_queue_order() {
    on_every_platform(|r| {
        r.reqbufs(A, Memory::Mmap, 4).unwrap();
        for i in [2, 0, 3, 1] {
            r.qbuf(A, i, Memory::Mmap, -1).unwrap();
        }
        r.streamon(A).unwrap();
        let filled: Vec<_> = (0..4).map(|_| r.engine_tick().unwrap()).collect();
        assert_eq!(filled, [2, 0, 3, 1]);
        let dequeued: Vec<_> = (0..4).map(|_| r.dqbuf(A, Memory::Mmap).unwrap()).collect();
        assert_eq!(
            dequeued.iter().map(|b| b.index).collect::<Vec<_>>(),
            [2, 0, 3, 1]
        );
        assert_eq!(
            dequeued.iter().map(|b| b.sequence).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    });
}

#[test]
fn qbuf_errors_follow_the_spec() {
    let mut r = Rig::new(Setup::default());
    assert_eq!(
        errno(r.qbuf(A, 0, Memory::Mmap, -1)),
        Errno::EINVAL,
        "no buffers"
    );
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    assert_eq!(
        errno(r.qbuf(A, 2, Memory::Mmap, -1)),
        Errno::EINVAL,
        "index"
    );
    assert_eq!(
        errno(r.qbuf(A, usize::MAX, Memory::Mmap, -1)),
        Errno::EINVAL,
        "index"
    );
    assert_eq!(
        errno(r.qbuf(A, 0, Memory::DmaBuf, 3)),
        Errno::EINVAL,
        "memory"
    );
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    assert_eq!(
        errno(r.qbuf(A, 0, Memory::Mmap, -1)),
        Errno::EINVAL,
        "double QBUF"
    );
}

#[test]
fn dqbuf_errors_follow_the_spec() {
    let mut r = Rig::new(Setup::default());
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    assert_eq!(
        errno(r.dqbuf(A, Memory::Mmap)),
        Errno::EINVAL,
        "not streaming"
    );
    r.streamon(A).unwrap();
    assert_eq!(
        errno(r.dqbuf(A, Memory::Mmap)),
        Errno::EAGAIN,
        "nothing done"
    );
    assert_eq!(errno(r.dqbuf(A, Memory::DmaBuf)), Errno::EINVAL, "memory");
}

#[test]
fn streamon_needs_buffers_and_streamon_streamoff_are_idempotent() {
    let mut r = Rig::new(Setup::default());
    assert_eq!(errno(r.streamon(A)), Errno::EINVAL);
    assert_eq!(r.streamoff(A), Ok(()));
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    r.streamon(A).unwrap();
    r.streamon(A).unwrap();
    assert!(r.q.is_streaming());
    r.streamoff(A).unwrap();
    r.streamoff(A).unwrap();
    assert!(!r.q.is_streaming());
}

#[test]
fn streamoff_returns_every_buffer_without_reporting_them() {
    on_every_platform(|r| {
        r.reqbufs(A, Memory::Mmap, 4).unwrap();
        for i in 0..4 {
            r.qbuf(A, i, Memory::Mmap, -1).unwrap();
        }
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.engine_tick().unwrap();
        r.streamoff(A).unwrap();
        for i in 0..4 {
            assert_eq!(r.q.query(&r.dma, i).unwrap().state, State::Dequeued);
            // Userspace's now, done, queued or not: it may write them.
            let buffer = r.user_buffer(i, -1).unwrap();
            r.user_fill(&buffer, 0x30 + i as u8);
        }
        // Done buffers are not reported after STREAMOFF.
        assert_eq!(errno(r.dqbuf(A, Memory::Mmap)), Errno::EINVAL);
        r.streamon(A).unwrap();
        assert_eq!(errno(r.dqbuf(A, Memory::Mmap)), Errno::EAGAIN);
        r.check_claims("after STREAMOFF and STREAMON");
        // Every buffer can be queued again, and filled.
        for i in 0..4 {
            r.qbuf(A, i, Memory::Mmap, -1).unwrap();
            r.engine_tick().unwrap();
            r.dqbuf(A, Memory::Mmap).unwrap();
        }
    });
}

#[test]
fn streamoff_before_streamon_cancels_queued_buffers() {
    let mut r = Rig::new(Setup::default());
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    r.streamoff(A).unwrap();
    assert_eq!(r.q.query(&r.dma, 0).unwrap().state, State::Dequeued);
    assert_eq!(r.q.queued_count(), 0);
}

#[test]
fn prepared_buffer_is_queued_without_a_second_sync() {
    let mut r = Rig::new(Setup::default());
    r.reqbufs(A, Memory::Mmap, 1).unwrap();
    let req = Rig::request(0, Memory::Mmap, -1);
    assert_eq!(r.prepare(A, &req).unwrap().state, State::Prepared);
    assert_eq!(errno(r.prepare(A, &req)), Errno::EINVAL);
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    assert_eq!(r.world.counters().syncs_for_device, 1);
}

#[test]
fn close_of_the_owner_releases_everything() {
    on_every_platform(|r| {
        r.reqbufs(A, Memory::Mmap, 3).unwrap();
        r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.close(A);
        let c = r.world.counters();
        assert_eq!((c.mappings(), c.dma_mappings()), (0, 0));
        assert_eq!(c.mmap_freed_device_owned, 0);
        assert_eq!(
            (r.q.count(), r.q.owner(), r.q.is_streaming()),
            (0, None, false)
        );
    });
}

#[test]
fn finish_frame_of_a_cancelled_buffer_is_ignored() {
    let mut r = Rig::new(Setup::default());
    r.reqbufs(A, Memory::Mmap, 1).unwrap();
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    r.streamon(A).unwrap();
    let (index, mapping) = r.q.hand_to_device().unwrap();
    drop(mapping);
    r.streamoff(A).unwrap();
    let done = FrameDone {
        bytesused: [1, 0, 0],
        sequence: 0,
        timestamp_ns: 1,
        error: false,
        synced_for_cpu: [false; MAX_PLANES],
    };
    assert!(!r.q.finish_frame(index, done));
    assert!(!r.q.finish_frame(99, done));
    assert!(!r.q.has_done());
}

// ---- The rig has teeth: what userspace or the engine must not do fails

#[test]
#[should_panic(expected = "which the CPU owns")]
fn the_engine_writing_a_dequeued_buffer_fails_the_test() {
    let mut r = Rig::new(Setup::default());
    r.reqbufs(A, Memory::Mmap, 1).unwrap();
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    r.streamon(A).unwrap();
    let (index, mappings) = r.q.hand_to_device().unwrap();
    let mapping = mappings[0].clone().unwrap();
    let done = FrameDone {
        bytesused: [0; MAX_PLANES],
        sequence: 0,
        timestamp_ns: 1,
        error: false,
        synced_for_cpu: [false; MAX_PLANES],
    };
    assert!(r.q.finish_frame(index, done));
    r.dqbuf(A, Memory::Mmap).unwrap();
    mapping.device_write(0, &[1]);
}

#[test]
#[should_panic(expected = "the device owns")]
fn userspace_writing_a_queued_buffer_fails_the_test() {
    let mut r = Rig::new(Setup::default());
    r.queue_imports(1);
    let buffer = r.world.buffer(10).unwrap();
    r.user_fill(&buffer, 1);
}

// ---- DMABUF import

#[test]
fn dmabuf_is_attached_and_mapped_once_over_a_thousand_requeues() {
    in_every_setup(|r| {
        r.queue_imports(4);
        r.streamon(A).unwrap();
        for n in 0..1000 {
            r.engine_tick().unwrap();
            let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
            // Userspace stamps the frame it read.
            let buffer = r.user_buffer(info.index, info.planes[0].fd).unwrap();
            r.user_write(&buffer, n % SIZE, &[0xa5; 16][..16.min(SIZE - n % SIZE)]);
            r.qbuf(A, info.index, Memory::DmaBuf, info.planes[0].fd)
                .unwrap();
        }
        let c = r.world.counters();
        assert_eq!(
            (c.attaches, c.maps, c.dma_maps),
            (4, 4, 4),
            "attach and map once per buffer"
        );
        assert_eq!(
            c.refs_held(),
            4,
            "the extra reference of each requeue is dropped"
        );
        assert_eq!((c.syncs_for_device, c.hand_overs), (1004, 0));
        assert_eq!(c.syncs_for_cpu, 1000);
    });
}

#[test]
fn map_per_qbuf_policy_maps_at_qbuf_and_unmaps_at_dqbuf() {
    in_every_setup(|r| {
        for i in 0..4 {
            r.export(10 + i, SIZE);
        }
        assert_eq!(r.reqbufs(A, Memory::DmaBuf, 4), Ok(4));
        r.q.set_policy(Policy {
            map_per_qbuf: true,
            ..Policy::default()
        });
        for i in 0..4 {
            r.qbuf(A, i, Memory::DmaBuf, 10 + i as i32).unwrap();
        }
        r.streamon(A).unwrap();
        for n in 0..100 {
            r.engine_tick_with(Some(SIZE - n)).unwrap();
            let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
            assert!(!info.planes[0].mapped_for_device, "unmapped at DQBUF");
            assert!(info.planes[0].attached, "the attachment stays");
            let buffer = r.user_buffer(info.index, info.planes[0].fd).unwrap();
            r.user_fill(&buffer, n as u8);
            let info = r
                .qbuf(A, info.index, Memory::DmaBuf, info.planes[0].fd)
                .unwrap();
            assert!(info.planes[0].mapped_for_device, "mapped again at QBUF");
        }
        let c = r.world.counters();
        assert_eq!((c.attaches, c.maps, c.unmaps), (4, 104, 100));
        assert_eq!((c.syncs_for_device, c.syncs_for_cpu), (104, 100));
        // Back to map once: the mapping of the next QBUF stays.
        r.q.set_policy(Policy::default());
        r.engine_tick().unwrap();
        let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
        assert!(info.planes[0].mapped_for_device);
        r.qbuf(A, info.index, Memory::DmaBuf, info.planes[0].fd)
            .unwrap();
        assert_eq!(r.world.counters().maps, 104);
    });
}

#[test]
fn dmabuf_qbuf_rejects_bad_fds_and_small_buffers_with_einval() {
    let mut r = Rig::new(Setup::default());
    r.export(10, SIZE - 1);
    r.export(11, SIZE);
    r.reqbufs(A, Memory::DmaBuf, 2).unwrap();
    assert_eq!(
        errno(r.qbuf(A, 0, Memory::DmaBuf, -1)),
        Errno::EINVAL,
        "fd -1"
    );
    assert_eq!(
        errno(r.qbuf(A, 0, Memory::DmaBuf, 99)),
        Errno::EINVAL,
        "not a dma-buf"
    );
    assert_eq!(
        errno(r.qbuf(A, 0, Memory::DmaBuf, 10)),
        Errno::EINVAL,
        "too small"
    );
    let req = QueueRequest::single(0, Memory::DmaBuf, 11, SIZE + 1);
    assert_eq!(errno(r.qbuf_request(A, &req)), Errno::EINVAL, "length");
    let c = r.world.counters();
    assert_eq!(c.held(), (0, 0, 0, 0), "nothing kept");
    // And the queue still works.
    r.qbuf(A, 0, Memory::DmaBuf, 11).unwrap();
    r.streamon(A).unwrap();
    r.engine_tick().unwrap();
    assert_eq!(r.dqbuf(A, Memory::DmaBuf).unwrap().index, 0);
}

#[test]
fn dmabuf_error_reasons_are_specific() {
    let mut r = Rig::new(Setup::default());
    r.export(10, SIZE - 1);
    r.reqbufs(A, Memory::DmaBuf, 1).unwrap();
    let req = Rig::request(0, Memory::DmaBuf, 10);
    let e = r.q.qbuf(&mut r.dma, A, &req).unwrap_err();
    assert_eq!(e.why, "dma-buf is smaller than the format needs");
}

#[test]
fn dmabuf_swap_on_a_slot_releases_the_old_one_first() {
    in_every_setup(|r| {
        r.export(10, SIZE);
        r.export(11, SIZE);
        r.reqbufs(A, Memory::DmaBuf, 1).unwrap();
        r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        r.qbuf(A, 0, Memory::DmaBuf, 11).unwrap();
        let c = r.world.counters();
        assert_eq!((c.attaches, c.detaches, c.maps, c.unmaps), (2, 1, 2, 1));
        assert_eq!((c.refs_held(), c.dma_mappings()), (1, 1));
        r.engine_tick().unwrap();
        assert_eq!(r.dqbuf(A, Memory::DmaBuf).unwrap().planes[0].fd, 11);
    });
}

#[test]
fn streamoff_unmaps_every_import_and_keeps_attachments() {
    in_every_setup(|r| {
        r.queue_imports(3);
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap(); // CPU-owned but still mapped
        r.engine_tick().unwrap(); // done, not dequeued
        r.streamoff(A).unwrap();
        let c = r.world.counters();
        assert_eq!((c.mappings(), c.attachments(), c.refs_held()), (0, 3, 3));
        // The done-but-not-dequeued frame reaches the CPU only through an
        // exporter's sync at unmap (or DMA needing none): V4L2 leaves a
        // buffer taken back by STREAMOFF undefined.
        if r.setup.exporter == Exporter::SyncsAtUnmap || !r.setup.platform.needs_sync() {
            assert!(shows_frame(&r.world.buffer(11).unwrap(), 1, SIZE));
        }
        // QBUF of the same fd only maps again.
        r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
        let c = r.world.counters();
        assert_eq!((c.attaches, c.maps), (3, 4));
    });
}

#[test]
fn reqbufs_zero_and_close_drop_every_dmabuf_reference() {
    in_every_setup(|r| {
        for close in [false, true] {
            let mut r = Rig::new(r.setup);
            r.queue_imports(4);
            r.streamon(A).unwrap();
            r.engine_tick().unwrap();
            r.dqbuf(A, Memory::DmaBuf).unwrap();
            r.engine_tick().unwrap();
            if close {
                r.close(A);
            } else {
                r.streamoff(A).unwrap();
                r.reqbufs(A, Memory::DmaBuf, 0).unwrap();
            }
            let c = r.world.counters();
            assert_eq!(c.held(), (0, 0, 0, 0), "close {close}");
        }
    });
}

#[test]
fn userspace_closing_its_fds_does_not_free_queued_memory() {
    in_every_setup(|r| {
        let buffer = r.export(10, SIZE);
        r.reqbufs(A, Memory::DmaBuf, 1).unwrap();
        r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
        r.world.close(10);
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        assert!(shows_frame(&buffer, 0, SIZE));
        // The closed fd cannot be queued again, but the queue is unharmed.
        assert_eq!(errno(r.qbuf(A, 0, Memory::DmaBuf, 10)), Errno::EINVAL);
        assert_eq!(
            errno(r.reqbufs(A, Memory::DmaBuf, 0)),
            Errno::EBUSY,
            "streaming"
        );
        r.streamoff(A).unwrap();
        r.reqbufs(A, Memory::DmaBuf, 0).unwrap();
        assert_eq!(
            Rc::strong_count(&buffer),
            1,
            "the model's memory is ours alone again"
        );
    });
}

#[test]
fn one_dmabuf_in_two_slots_is_refused_while_queued_and_may_move_otherwise() {
    in_every_setup(|r| {
        r.export(10, SIZE);
        r.reqbufs(A, Memory::DmaBuf, 2).unwrap();
        r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
        // Queued in slot 0: it cannot be queued in slot 1 too.
        assert_eq!(errno(r.qbuf(A, 1, Memory::DmaBuf, 10)), Errno::EINVAL);
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        // Back with the CPU: it moves to slot 1, and slot 0 lets go of it.
        r.qbuf(A, 1, Memory::DmaBuf, 10).unwrap();
        let slot0 = r.q.query(&r.dma, 0).unwrap();
        assert!(!slot0.planes[0].attached && !slot0.planes[0].mapped_for_device);
        let c = r.world.counters();
        assert_eq!((c.attachments(), c.mappings(), c.refs_held()), (1, 1, 1));
        r.engine_tick().unwrap();
        assert_eq!(r.dqbuf(A, Memory::DmaBuf).unwrap().index, 1);
    });
}

#[test]
fn prepared_dmabuf_queued_with_fd_minus_one_keeps_its_fd_and_length() {
    let mut r = Rig::new(Setup::default());
    r.export(10, 2 * SIZE);
    r.reqbufs(A, Memory::DmaBuf, 1).unwrap();
    r.prepare(A, &Rig::request(0, Memory::DmaBuf, 10)).unwrap();
    let info = r.qbuf(A, 0, Memory::DmaBuf, -1).unwrap();
    assert_eq!(
        (info.planes[0].fd, info.planes[0].length, info.state),
        (10, 2 * SIZE, State::Queued)
    );
}

#[test]
fn map_failure_changes_nothing_and_the_qbuf_can_be_retried() {
    in_every_setup(|r| {
        r.export(10, SIZE);
        r.reqbufs(A, Memory::DmaBuf, 1).unwrap();
        let before = r.q.query(&r.dma, 0).unwrap();
        r.world.fail_maps.set(1);
        assert_eq!(errno(r.qbuf(A, 0, Memory::DmaBuf, 10)), Errno::ENOMEM);
        assert_eq!(
            r.q.query(&r.dma, 0).unwrap(),
            before,
            "a refused QBUF changed the slot"
        );
        let c = r.world.counters();
        assert_eq!(
            c.held(),
            (0, 0, 0, 0),
            "a refused QBUF kept something of the dma-buf"
        );
        r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
        let c = r.world.counters();
        assert_eq!((c.attachments(), c.mappings()), (1, 1));
    });
}

// ---- Nothing lost: every path that drops the mapping or the attachment
// of a buffer userspace owns, with every exporter, on every platform

/// Two imports (fds 10 and 11) queued and streaming; buffer 0 filled,
/// dequeued, and overwritten by userspace. Returns its memory.
fn dequeued_import_written_by_user(r: &mut Rig) -> Rc<Buffer> {
    r.queue_imports(2);
    r.streamon(A).unwrap();
    r.engine_tick().unwrap();
    let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
    assert_eq!(info.planes[0].fd, 10);
    let buffer = r.user_buffer(info.index, info.planes[0].fd).unwrap();
    r.user_fill(&buffer, 0xc3);
    buffer
}

#[test]
fn user_data_survives_streamoff() {
    in_every_setup(|r| {
        dequeued_import_written_by_user(r);
        r.streamoff(A).unwrap();
        r.check_claims("after STREAMOFF");
        assert_eq!(
            r.world.counters().hand_overs,
            2,
            "both: the dequeued one, and the one the device held (synced for the CPU first)"
        );
    });
}

#[test]
fn user_data_survives_its_slot_taking_another_dmabuf() {
    in_every_setup(|r| {
        dequeued_import_written_by_user(r);
        r.export(12, SIZE);
        r.qbuf(A, 0, Memory::DmaBuf, 12).unwrap();
        r.check_claims("after its slot took another dma-buf");
    });
}

#[test]
fn user_data_survives_the_dmabuf_moving_to_another_slot() {
    in_every_setup(|r| {
        let moving = dequeued_import_written_by_user(r);
        // Slot 1 gives back its own dma-buf first, so that it is CPU-owned.
        r.engine_tick().unwrap();
        let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
        let own = r.user_buffer(info.index, info.planes[0].fd).unwrap();
        r.user_fill(&own, 0x3c);
        let unmaps = r.world.counters().unmaps;
        // Queueing it takes back what userspace wrote into it; only what it
        // wrote into slot 1's own dma-buf must stay.
        r.qbuf(A, 1, Memory::DmaBuf, 10).unwrap();
        assert!(!r.claims.holds(&moving));
        r.check_claims("after the move");
        let c = r.world.counters();
        assert_eq!(
            c.unmaps,
            unmaps + 1,
            "only slot 1's own dma-buf is unmapped"
        );
        assert_eq!(c.maps, 2, "the moving dma-buf keeps its mapping");
    });
}

#[test]
fn user_data_survives_streamoff_and_reqbufs_zero() {
    in_every_setup(|r| {
        dequeued_import_written_by_user(r);
        r.streamoff(A).unwrap();
        r.reqbufs(A, Memory::DmaBuf, 0).unwrap();
        r.check_claims("after STREAMOFF and REQBUFS(0)");
        assert_eq!(r.world.counters().attachments(), 0);
    });
}

#[test]
fn user_data_survives_close_while_streaming() {
    in_every_setup(|r| {
        dequeued_import_written_by_user(r);
        r.close(A);
        r.check_claims("after close");
        assert_eq!(r.world.counters().refs_held(), 0);
    });
}

/// After STREAMOFF every buffer is userspace's, those the device held
/// included: three imports (one dequeued, one done, one queued at
/// STREAMOFF) that userspace then overwrites, before `release` lets go of
/// them. An exporter that syncs for the CPU at detach copies back whatever
/// its mapping holds then.
fn user_data_written_after_streamoff_survives(r: &mut Rig, release: impl Fn(&mut Rig)) {
    r.queue_imports(3);
    r.streamon(A).unwrap();
    r.engine_tick().unwrap();
    r.dqbuf(A, Memory::DmaBuf).unwrap();
    r.engine_tick().unwrap();
    r.streamoff(A).unwrap();
    for (n, buffer) in r.user_owned_buffers(&[10, 11, 12]).iter().enumerate() {
        r.user_fill(buffer, 0x60 + n as u8);
    }
    assert_eq!(r.claims.len(), 3);
    release(r);
    r.check_claims("after the release");
    let c = r.world.counters();
    assert_eq!((c.mappings(), c.dma_mappings()), (0, 0));
}

#[test]
fn user_data_written_after_streamoff_survives_reqbufs_zero() {
    in_every_setup(|r| {
        user_data_written_after_streamoff_survives(r, |r| {
            r.reqbufs(A, Memory::DmaBuf, 0).unwrap();
        });
    });
}

#[test]
fn user_data_written_after_streamoff_survives_close() {
    in_every_setup(|r| user_data_written_after_streamoff_survives(r, |r| r.close(A)));
}

#[test]
fn user_data_written_after_streamoff_survives_its_slot_taking_another_dmabuf() {
    in_every_setup(|r| {
        user_data_written_after_streamoff_survives(r, |r| {
            for i in 0..3 {
                r.export(20 + i, SIZE);
                r.qbuf(A, i as usize, Memory::DmaBuf, 20 + i).unwrap();
            }
            r.close(A);
        });
    });
}

#[test]
fn user_data_in_mmap_buffers_survives_reqbufs_zero() {
    on_every_platform(|r| {
        r.reqbufs(A, Memory::Mmap, 2).unwrap();
        for i in 0..2 {
            r.qbuf(A, i, Memory::Mmap, -1).unwrap();
        }
        r.streamon(A).unwrap();
        r.engine_tick().unwrap();
        let info = r.dqbuf(A, Memory::Mmap).unwrap();
        let buffer = r.user_mmap(info.index);
        r.user_fill(&buffer, 0xc3);
        r.streamoff(A).unwrap();
        r.reqbufs(A, Memory::Mmap, 0).unwrap();
        r.check_claims("after REQBUFS(0)");
        assert_eq!(r.world.counters().mmap_freed_device_owned, 0);
    });
}

// ---- A refused QBUF changes nothing

#[test]
fn refused_qbuf_does_not_take_the_dmabuf_from_another_slot() {
    in_every_setup(|r| {
        dequeued_import_written_by_user(r);
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        let holder = r.q.query(&r.dma, 0).unwrap();
        for length in [2 * SIZE, SIZE / 2] {
            let before = r.world.counters();
            let req = QueueRequest::single(1, Memory::DmaBuf, 10, length);
            assert_eq!(errno(r.qbuf_request(A, &req)), Errno::EINVAL);
            assert_eq!(r.q.query(&r.dma, 0).unwrap(), holder, "length {length}");
            // The refused request's own reference came and went; nothing else.
            let mut after = r.world.counters();
            assert_eq!((after.gets, after.puts), (before.gets + 1, before.puts + 1));
            (after.gets, after.puts) = (before.gets, before.puts);
            assert_eq!(after, before, "length {length}");
            r.check_claims("after a refused QBUF");
        }
    });
}

// ---- Randomized sequences

/// Sequences per platform, and operations per sequence.
const SEQUENCES: u64 = 100;
const STEPS: usize = 300;

impl Rig {
    /// Invariants that hold after every operation, whatever it was.
    fn check_invariants(&self, context: &str) {
        let c = self.world.counters();
        let (mut attached, mut mapped, mut dma_mapped) = (0, 0, 0);
        for i in 0..self.q.count() {
            let info = self.q.query(&self.dma, i).unwrap();
            attached += u64::from(info.planes[0].attached);
            mapped += u64::from(info.planes[0].mapped_for_device);
            // A caching exporter's mapping lives as long as its attachment.
            let exporter = self
                .world
                .buffer(info.planes[0].fd)
                .and_then(|b| b.exporter());
            dma_mapped += u64::from(match exporter {
                Some(Exporter::NeverSyncs | Exporter::SyncsAtDetach) if info.planes[0].attached => {
                    true
                }
                _ => info.planes[0].mapped_for_device,
            });
            match self.q.mapping(i, 0) {
                // The model's ownership is the queue's.
                Some(mapping) => assert_eq!(
                    mapping.buffer.is_device_owned(),
                    !info.state.is_cpu_owned(),
                    "{context}: ownership of buffer {i} in {:?}",
                    info.state
                ),
                None => assert!(
                    info.state.is_cpu_owned(),
                    "{context}: device-owned buffer {i} without a mapping"
                ),
            }
        }
        assert_eq!(c.attachments(), attached, "{context}: attachments");
        assert_eq!(c.refs_held(), attached, "{context}: dma-buf references");
        assert_eq!(c.mappings(), mapped, "{context}: mappings");
        assert_eq!(c.dma_mappings(), dma_mapped, "{context}: DMA mappings");
        assert_eq!(
            c.mmap_freed_device_owned, 0,
            "{context}: MMAP buffer freed while the device owned it"
        );
        assert_eq!(self.q.is_busy(), self.q.count() > 0, "{context}: busy");
        self.check_claims(context);
    }
}

/// One random sequence of ioctls, engine frames and userspace writes on
/// `platform`, each dma-buf from an exporter of its own.
fn random_sequence(platform: Platform, seed: u64) {
    let mut rng = Rng::new(seed);
    let setup = Setup {
        platform,
        ..Setup::default()
    };
    let mut r = Rig::with_seed(setup, seed);
    // The format's size: whole cache lines or not.
    r.format_size = rng.pick(&[SIZE, SIZE - 40]);
    let fds: Vec<i32> = (10..18).collect();
    for &fd in &fds {
        // Some too small for the format, some larger and ending mid-line.
        let size = [SIZE / 2, SIZE + 100, SIZE, SIZE][fd as usize % 4];
        r.world.export(fd, size, rng.pick(&Exporter::ALL));
    }
    let mut last_sequence: Option<u32> = None;
    for step in 0..STEPS {
        let context = format!("{platform:?} seed {seed} step {step}");
        let who = if rng.one_in(20) { B } else { A };
        let memory = setup::random_memory(r.q.memory(), &mut rng);
        let byte = step as u8 ^ 0x5a;
        match rng.below(20) {
            0 => {
                let n = rng.below(6);
                if let Ok(got) = r.reqbufs(who, memory, n) {
                    assert_eq!(got, n, "{context}");
                }
            }
            1 => {
                let size = r.format_size;
                let _ = r.create_bufs(who, memory, rng.below(3), size);
            }
            2..=6 => {
                // Sometimes an index or an fd that is no buffer.
                let fd = rng.pick(&fds) + i32::from(rng.one_in(20));
                let length = if rng.one_in(3) { r.format_size } else { 0 };
                let req = QueueRequest::single(rng.below(r.q.count() + 1), memory, fd, length);
                let result = if rng.one_in(4) {
                    r.prepare(who, &req)
                } else {
                    r.qbuf_request(who, &req)
                };
                if let Ok(info) = result {
                    assert!(!info.state.is_cpu_owned(), "{context}");
                }
            }
            7..=10 => {
                // The rig checks the frame userspace reads.
                if let Ok(info) = r.dqbuf(who, memory) {
                    assert!(info.state.is_cpu_owned(), "{context}");
                    if let Some(last) = last_sequence {
                        assert!(info.sequence > last, "{context}: sequence");
                    }
                    last_sequence = Some(info.sequence);
                    if let Some(buffer) = r.user_buffer(info.index, info.planes[0].fd) {
                        r.user_scribble(&buffer, &mut rng, byte);
                    }
                }
            }
            11 => {
                let _ = r.streamon(who);
            }
            12 => {
                if r.streamoff(who).is_ok() {
                    // Every buffer is userspace's now.
                    for buffer in r.user_owned_buffers(&fds) {
                        r.user_scribble(&buffer, &mut rng, byte);
                    }
                }
            }
            13..=16 => {
                let bytesused = match rng.below(3) {
                    0 => None,
                    _ => Some(1 + rng.below(r.format_size)),
                };
                r.engine_tick_with(bytesused);
            }
            17 => {
                // The policies may change between any two operations.
                r.q.set_policy(Policy {
                    map_per_qbuf: rng.one_in(2),
                    full_sync: rng.one_in(2),
                });
            }
            18 => {
                let owned = r.user_owned_buffers(&fds);
                if !owned.is_empty() {
                    let buffer = owned[rng.below(owned.len())].clone();
                    r.user_scribble(&buffer, &mut rng, byte);
                }
            }
            _ => r.close(who),
        }
        r.check_invariants(&context);
    }
    r.close(A);
    r.close(B);
    r.check_claims(&format!("{platform:?} seed {seed}: at close"));
    let c = r.world.counters();
    assert_eq!(
        c.held(),
        (0, 0, 0, 0),
        "{platform:?} seed {seed}: leak at close"
    );
}

#[test]
fn random_operation_sequences_keep_every_invariant() {
    for platform in Platform::ALL {
        for seed in 1..=SEQUENCES {
            random_sequence(platform, seed);
        }
    }
}

// ---- The device's own queue and its fences (`queue::device`)

/// A buffer handed to the device with fences that signal when the test
/// says so: its mappings, as the engine holds them.
struct Handed {
    mappings: [Option<<Model as Dma>::Mapping>; MAX_PLANES],
    signalled: Rc<core::cell::Cell<bool>>,
}

impl device::DeviceWork for Handed {
    fn is_ready(&mut self) -> bool {
        self.signalled.get()
    }
}

/// A table for a device's queue, as the kernel allocates it.
fn device_entries() -> Vec<device::Entry<Handed>> {
    (0..MAX_BUFFERS).map(|_| device::Entry::default()).collect()
}

impl Rig {
    /// Hands every queued buffer to the device's queue `dq`, each with a
    /// fence that has `signalled`; returns the fences by index.
    fn hand_all(
        &mut self,
        dq: &mut device::DeviceQueue<Handed, Vec<device::Entry<Handed>>>,
        signalled: bool,
    ) -> BTreeMap<usize, Rc<core::cell::Cell<bool>>> {
        let mut fences = BTreeMap::new();
        while let Some((index, mappings)) = self.q.hand_to_device() {
            let fence = Rc::new(core::cell::Cell::new(signalled));
            let work = Handed {
                mappings,
                signalled: fence.clone(),
            };
            assert!(dq.hand(index, work).is_ok());
            fences.insert(index, fence);
        }
        fences
    }

    /// The engine writes the next frame into the oldest ready buffer of
    /// `dq`, syncs it for the CPU itself if `synced` (as before a write
    /// fence signals), and the queue takes the frame back. Returns the
    /// buffer's index, `None` if no buffer was ready.
    fn device_fill(
        &mut self,
        dq: &mut device::DeviceQueue<Handed, Vec<device::Entry<Handed>>>,
        synced: bool,
    ) -> Option<usize> {
        let device::Next::Ready(index, work) = dq.take_ready() else {
            return None;
        };
        let sequence = self.sequence;
        self.sequence += 1;
        let mapping = work.mappings[0].clone().unwrap();
        let length = self.q.query(&self.dma, index).unwrap().planes[0].length;
        let written = frame(sequence, length);
        mapping.device_write(0, &written);
        if synced {
            let to = match self.q.cpu_syncs(index)[0] {
                CpuSync::Whole(length) => length,
                _ => length,
            };
            self.dma.sync_for_cpu(&mapping, 0..to, FRAME_DIRECTION);
            self.dma.frame_written(&mapping);
        }
        self.frames_written.insert(sequence, written);
        let done = FrameDone {
            bytesused: [length, 0, 0],
            sequence,
            timestamp_ns: 1_000 + u64::from(sequence),
            error: false,
            synced_for_cpu: [synced, false, false],
        };
        assert!(dq.finish(index, done));
        let (index, done) = dq.take_finished().unwrap();
        assert!(self.q.finish_frame(index, done));
        Some(index)
    }
}

impl Rig {
    /// `n` buffers queued by A: MMAP ones, or imports of dma-bufs at fds
    /// 10, 11, ...
    fn queue_some(&mut self, n: usize, mmap: bool) {
        if mmap {
            self.reqbufs(A, Memory::Mmap, n).unwrap();
            for i in 0..n {
                self.qbuf(A, i, Memory::Mmap, -1).unwrap();
            }
        } else {
            self.queue_imports(n);
        }
    }
}

/// `test` with imports in every setup and with MMAP buffers on every
/// platform.
fn with_every_memory(test: impl Fn(&mut Rig, bool)) {
    in_every_setup(|r| test(r, false));
    on_every_platform(|r| test(r, true));
}

#[test]
fn a_buffer_held_off_by_a_fence_lets_younger_ones_through_and_comes_when_it_signals() {
    with_every_memory(|r, mmap| {
        let n = 3;
        let fds: Vec<i32> = (0..n).map(|i| 10 + i as i32).collect();
        r.queue_some(n, mmap);
        let memory = r.q.memory().unwrap();
        r.streamon(A).unwrap();
        let mut dq = device::DeviceQueue::new(device_entries());
        let fences = r.hand_all(&mut dq, true);
        fences[&0].set(false);
        assert_eq!(r.device_fill(&mut dq, true), Some(1));
        assert_eq!(r.device_fill(&mut dq, true), Some(2));
        assert_eq!(r.device_fill(&mut dq, true), None);
        // DQBUF returns them as the device finished them, each frame intact.
        assert_eq!(r.dqbuf(A, memory).unwrap().index, 1);
        assert_eq!(r.dqbuf(A, memory).unwrap().index, 2);
        assert_eq!(errno(r.dqbuf(A, memory)), Errno::EAGAIN);
        fences[&0].set(true);
        assert_eq!(r.device_fill(&mut dq, true), Some(0));
        assert_eq!(r.dqbuf(A, memory).unwrap().index, 0);
        assert_eq!(r.user_owned_buffers(&fds).len(), n);
    });
}

#[test]
fn streamoff_gives_back_buffers_still_held_off_without_handing_on_a_frame() {
    with_every_memory(|r, mmap| {
        let n = 2;
        let fds: Vec<i32> = (0..n).map(|i| 10 + i as i32).collect();
        r.queue_some(n, mmap);
        r.streamon(A).unwrap();
        let mut dq = device::DeviceQueue::new(device_entries());
        let fences = r.hand_all(&mut dq, false);
        assert_eq!(fences.len(), n);
        assert_eq!(r.device_fill(&mut dq, true), None);
        // The engine stopped: the device's queue gives back what it held
        // (the shell drops it, cancelling the fences), then STREAMOFF.
        let mut back = Vec::new();
        while let Some((index, work)) = dq.take_handed() {
            back.push(index);
            drop(work);
        }
        assert_eq!(back, [0, 1]);
        let written = r.world.counters().frames_written;
        r.streamoff(A).unwrap();
        // Nothing the device did not write goes on to other views.
        assert_eq!(r.world.counters().frames_written, written);
        assert_eq!(r.user_owned_buffers(&fds).len(), n);
        for i in 0..n {
            assert!(r.q.query(&r.dma, i).unwrap().state.is_cpu_owned());
        }
    });
}

#[test]
fn dqbuf_neither_syncs_nor_hands_on_again_a_frame_the_device_side_did() {
    with_every_memory(|r, mmap| {
        r.queue_some(1, mmap);
        let memory = r.q.memory().unwrap();
        for full_sync in [false, true] {
            r.q.set_policy(Policy {
                full_sync,
                ..Policy::default()
            });
            if full_sync {
                let fd = if mmap { -1 } else { 10 };
                r.qbuf(A, 0, memory, fd).unwrap();
            }
            r.streamon(A).unwrap();
            let mut dq = device::DeviceQueue::new(device_entries());
            r.hand_all(&mut dq, true);
            let before = r.world.counters();
            assert_eq!(r.device_fill(&mut dq, true), Some(0));
            let filled = r.world.counters();
            assert_eq!(filled.syncs_for_cpu, before.syncs_for_cpu + 1);
            assert_eq!(filled.frames_written, before.frames_written + 1);
            let length = r.q.query(&r.dma, 0).unwrap().planes[0].length as u64;
            assert_eq!(
                filled.bytes_synced_for_cpu - before.bytes_synced_for_cpu,
                length
            );
            // DQBUF: the frame intact (the rig checks), no second sync or
            // hand-on.
            r.dqbuf(A, memory).unwrap();
            let after = r.world.counters();
            assert_eq!(after.syncs_for_cpu, filled.syncs_for_cpu);
            assert_eq!(after.frames_written, filled.frames_written);
            r.streamoff(A).unwrap();
        }
    });
}
