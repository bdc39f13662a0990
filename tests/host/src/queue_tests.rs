// SPDX-License-Identifier: GPL-2.0

//! The queue core against the non-coherent device model: every life-cycle
//! rule of the design, each errno the V4L2 spec names, and randomized
//! operation sequences that check the invariants after every step.

use crate::model::{Model, World};
use crate::pattern_tests::verification_byte;
use crate::queue::*;
use std::format;
use std::rc::Rc;
use std::vec::Vec;

const A: OwnerId = OwnerId(1);
const B: OwnerId = OwnerId(2);
const SIZE: usize = 4096;

struct Rig {
    q: Queue<Model>,
    dma: Model,
    world: Rc<World>,
    sequence: u32,
    /// Memory userspace wrote after DQBUF and has not queued since, with
    /// what it wrote: nothing the driver does may change it.
    user_writes: Vec<(Rc<crate::model::Memory>, Vec<u8>)>,
}

impl Rig {
    fn new() -> Self {
        let world = World::new();
        Self {
            q: Queue::new(),
            dma: Model {
                world: world.clone(),
            },
            world,
            sequence: 0,
            user_writes: Vec::new(),
        }
    }

    /// The memory CPU-side of buffer `index` (MMAP) or of the dma-buf at
    /// `fd` (DMABUF).
    fn user_memory(&self, index: usize, fd: i32) -> Option<Rc<crate::model::Memory>> {
        match self.q.memory()? {
            Memory::Mmap => self.q.mmap_buffer(index).ok().map(|m| m.mem.clone()),
            Memory::DmaBuf => self.world.memory(fd),
        }
    }

    /// Userspace writes `byte` over all of dequeued buffer `info`.
    fn user_write(&mut self, info: &BufferInfo, byte: u8) {
        let mem = self.user_memory(info.index, info.fd).unwrap();
        mem.cpu.borrow_mut().fill(byte);
        let want = mem.cpu.borrow().clone();
        self.user_writes.retain(|(m, _)| m.id != mem.id);
        self.user_writes.push((mem, want));
    }

    /// The buffer is the device's again: its contents are no longer
    /// userspace's to keep.
    fn handed_to_device(&mut self, index: usize, fd: i32) {
        if let Some(mem) = self.user_memory(index, fd) {
            self.user_writes.retain(|(m, _)| m.id != mem.id);
        }
    }

    fn reqbufs(&mut self, who: OwnerId, memory: Memory, n: usize) -> Result<usize, Errno> {
        self.q
            .reqbufs(&mut self.dma, who, memory, n, SIZE)
            .map_err(|e| e.errno)
    }

    /// Exports `n` dma-bufs at fds 10, 11, ..., REQBUFS(DMABUF, n) for
    /// owner A and queues buffer i with fd 10 + i.
    fn queue_imports(&mut self, n: usize) {
        for i in 0..n {
            self.world.export(10 + i as i32, SIZE);
        }
        assert_eq!(self.reqbufs(A, Memory::DmaBuf, n), Ok(n));
        for i in 0..n {
            self.qbuf(A, i, Memory::DmaBuf, 10 + i as i32).unwrap();
        }
    }

    fn qbuf(
        &mut self,
        who: OwnerId,
        index: usize,
        memory: Memory,
        fd: i32,
    ) -> Result<BufferInfo, Errno> {
        let req = QueueRequest {
            index,
            memory,
            fd,
            length: 0,
        };
        self.q.qbuf(&mut self.dma, who, &req).map_err(|e| e.errno)
    }

    fn dqbuf(&mut self, who: OwnerId, memory: Memory) -> Result<BufferInfo, Errno> {
        self.q
            .dqbuf(&mut self.dma, who, memory)
            .map_err(|e| e.errno)
    }

    fn streamoff(&mut self, who: OwnerId) -> Result<(), Errno> {
        self.q.streamoff(&mut self.dma, who).map_err(|e| e.errno)
    }

    /// The engine fills the oldest queued buffer with the verification
    /// pattern, writing only through the device's view. Returns its index.
    fn engine_tick(&mut self) -> Option<usize> {
        let seq = self.sequence;
        self.sequence += 1;
        let (index, mapping) = self.q.start_frame()?;
        let frame: Vec<u8> = (0..SIZE).map(|i| verification_byte(i, seq)).collect();
        mapping.device_write(0, &frame);
        assert!(self.q.finish_frame(
            index,
            FrameDone {
                bytesused: SIZE,
                sequence: seq,
                timestamp_ns: 1_000 + u64::from(seq),
                error: false,
            }
        ));
        Some(index)
    }

    /// Whether DQBUF'd buffer `info` shows frame `info.sequence` to the CPU.
    fn cpu_sees_frame(&self, info: &BufferInfo) -> bool {
        let Ok(mapping) = self.mapping_of(info.index) else {
            return false;
        };
        let cpu = mapping.mem.cpu.borrow();
        (0..info.bytesused).all(|i| cpu[i] == verification_byte(i, info.sequence))
    }

    fn mapping_of(&self, index: usize) -> Result<Rc<crate::model::MappingInner>, ()> {
        // Reach the mapping through the engine-facing API of a scratch
        // queue is not possible; use the MMAP accessor or DMABUF fd memory.
        match self.q.memory() {
            Some(Memory::Mmap) => self.q.mmap_buffer(index).cloned().map_err(|_| ()),
            _ => Err(()),
        }
    }
}

fn errno(e: Result<impl core::fmt::Debug, Errno>) -> Errno {
    e.unwrap_err()
}

// ---- REQBUFS and ownership

#[test]
fn reqbufs_mmap_allocates_and_maps_each_buffer_once() {
    let mut r = Rig::new();
    assert_eq!(r.reqbufs(A, Memory::Mmap, 4), Ok(4));
    let c = r.world.counters();
    assert_eq!((c.allocs, c.mappings()), (4, 4));
    assert_eq!(r.q.owner(), Some(A));
    for i in 0..4 {
        let info = r.q.query(&r.dma, i).unwrap();
        assert_eq!((info.state, info.length), (State::Dequeued, SIZE));
    }
}

#[test]
fn reqbufs_clamps_to_max_buffers() {
    let mut r = Rig::new();
    assert_eq!(r.reqbufs(A, Memory::DmaBuf, 1000), Ok(MAX_BUFFERS));
}

#[test]
fn reqbufs_zero_frees_everything_and_gives_up_ownership() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 3).unwrap();
    assert_eq!(r.reqbufs(A, Memory::Mmap, 0), Ok(0));
    assert_eq!(r.world.counters().mappings(), 0);
    assert_eq!(r.q.owner(), None);
    assert_eq!(r.q.count(), 0);
    // Now another handle may take the queue.
    assert_eq!(r.reqbufs(B, Memory::DmaBuf, 2), Ok(2));
}

#[test]
fn other_handles_get_ebusy_for_every_queue_ioctl() {
    let mut r = Rig::new();
    r.world.export(10, SIZE);
    r.reqbufs(A, Memory::DmaBuf, 2).unwrap();
    assert_eq!(errno(r.reqbufs(B, Memory::DmaBuf, 2)), Errno::EBUSY);
    assert_eq!(errno(r.reqbufs(B, Memory::DmaBuf, 0)), Errno::EBUSY);
    assert_eq!(errno(r.qbuf(B, 0, Memory::DmaBuf, 10)), Errno::EBUSY);
    assert_eq!(r.q.streamon(B).unwrap_err().errno, Errno::EBUSY);
    assert_eq!(errno(r.streamoff(B)), Errno::EBUSY);
    assert_eq!(errno(r.dqbuf(B, Memory::DmaBuf)), Errno::EBUSY);
    let create = r.q.create_bufs(&mut r.dma, B, Memory::DmaBuf, 1, SIZE);
    assert_eq!(create.unwrap_err().errno, Errno::EBUSY);
    let prep = QueueRequest {
        index: 0,
        memory: Memory::DmaBuf,
        fd: 10,
        length: 0,
    };
    assert_eq!(
        r.q.prepare(&mut r.dma, B, &prep).unwrap_err().errno,
        Errno::EBUSY
    );
    // QUERYBUF is not an ownership-taking ioctl.
    assert!(r.q.query(&r.dma, 1).is_ok());
    // Closing the other handle changes nothing.
    r.q.release(&mut r.dma, B);
    assert_eq!(r.q.count(), 2);
}

#[test]
fn reqbufs_while_streaming_is_ebusy() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    r.q.streamon(A).unwrap();
    assert_eq!(errno(r.reqbufs(A, Memory::Mmap, 0)), Errno::EBUSY);
    assert_eq!(errno(r.reqbufs(A, Memory::Mmap, 4)), Errno::EBUSY);
}

#[test]
fn mmap_allocation_failure_gives_fewer_buffers_or_enomem() {
    let mut r = Rig::new();
    r.world.fail_maps.set(1);
    assert_eq!(errno(r.reqbufs(A, Memory::Mmap, 4)), Errno::ENOMEM);
    assert_eq!((r.q.count(), r.q.owner(), r.q.memory()), (0, None, None));
    // Third allocation fails: two buffers.
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 1).unwrap();
    r.reqbufs(A, Memory::Mmap, 0).unwrap();
    assert_eq!(r.reqbufs(A, Memory::Mmap, 2), Ok(2));
}

// ---- CREATE_BUFS

#[test]
fn create_bufs_appends_and_reports_the_first_index() {
    let mut r = Rig::new();
    let (first, n) =
        r.q.create_bufs(&mut r.dma, A, Memory::Mmap, 2, SIZE)
            .unwrap();
    assert_eq!((first, n), (0, 2));
    let (first, n) =
        r.q.create_bufs(&mut r.dma, A, Memory::Mmap, 3, 2 * SIZE)
            .unwrap();
    assert_eq!((first, n), (2, 3));
    assert_eq!(r.q.query(&r.dma, 4).unwrap().length, 2 * SIZE);
    // count 0 only reports.
    assert_eq!(
        r.q.create_bufs(&mut r.dma, A, Memory::Mmap, 0, SIZE)
            .unwrap(),
        (5, 0)
    );
    // Another memory type than the buffers': EINVAL.
    let e =
        r.q.create_bufs(&mut r.dma, A, Memory::DmaBuf, 1, SIZE)
            .unwrap_err();
    assert_eq!(e.errno, Errno::EINVAL);
}

#[test]
fn create_bufs_beyond_max_is_enobufs() {
    let mut r = Rig::new();
    let (_, n) =
        r.q.create_bufs(&mut r.dma, A, Memory::DmaBuf, 100, SIZE)
            .unwrap();
    assert_eq!(n, MAX_BUFFERS);
    let e =
        r.q.create_bufs(&mut r.dma, A, Memory::DmaBuf, 1, SIZE)
            .unwrap_err();
    assert_eq!(e.errno, Errno::ENOBUFS);
}

// ---- QBUF/DQBUF: syncs and data visibility

#[test]
fn mmap_frame_reaches_the_cpu_only_through_the_dqbuf_sync() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    assert_eq!(r.world.counters().syncs_for_device, 1);
    r.q.streamon(A).unwrap();
    assert_eq!(r.engine_tick(), Some(0));
    // Done but not dequeued: the CPU still sees stale memory.
    let info = r.q.query(&r.dma, 0).unwrap();
    assert_eq!(info.state, State::Done);
    assert!(!r.cpu_sees_frame(&info));
    let info = r.dqbuf(A, Memory::Mmap).unwrap();
    assert_eq!((info.index, info.sequence, info.bytesused), (0, 0, SIZE));
    assert!(r.cpu_sees_frame(&info));
    let c = r.world.counters();
    assert_eq!((c.syncs_for_cpu, c.bytes_synced_for_cpu), (1, SIZE as u64));
}

/// Streams one MMAP buffer under `policy`, completes a frame of `bytesused`
/// bytes in it and DQBUFs it; returns the bytes DQBUF synced for the CPU.
fn bytes_synced_at_dqbuf(policy: Policy, bytesused: usize) -> u64 {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 1).unwrap();
    r.q.set_policy(policy);
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    r.q.streamon(A).unwrap();
    let (index, _mapping) = r.q.start_frame().unwrap();
    let done = FrameDone {
        bytesused,
        sequence: 0,
        timestamp_ns: 1,
        error: false,
    };
    assert!(r.q.finish_frame(index, done));
    let info = r.dqbuf(A, Memory::Mmap).unwrap();
    assert_eq!(info.bytesused, bytesused);
    r.world.counters().bytes_synced_for_cpu
}

#[test]
fn dqbuf_syncs_only_the_bytes_the_frame_occupies() {
    assert_eq!(bytes_synced_at_dqbuf(Policy::default(), 1000), 1000);
}

#[test]
fn full_sync_policy_syncs_the_whole_buffer_at_dqbuf() {
    let policy = Policy {
        full_sync: true,
        ..Policy::default()
    };
    assert_eq!(bytes_synced_at_dqbuf(policy, 1000), SIZE as u64);
}

#[test]
fn buffers_complete_in_queue_order() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 4).unwrap();
    for i in [2, 0, 3, 1] {
        r.qbuf(A, i, Memory::Mmap, -1).unwrap();
    }
    r.q.streamon(A).unwrap();
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
    assert!(dequeued.iter().all(|b| r.cpu_sees_frame(b)));
}

#[test]
fn qbuf_errors_follow_the_spec() {
    let mut r = Rig::new();
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
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    assert_eq!(
        errno(r.dqbuf(A, Memory::Mmap)),
        Errno::EINVAL,
        "not streaming"
    );
    r.q.streamon(A).unwrap();
    assert_eq!(
        errno(r.dqbuf(A, Memory::Mmap)),
        Errno::EAGAIN,
        "nothing done"
    );
    assert_eq!(errno(r.dqbuf(A, Memory::DmaBuf)), Errno::EINVAL, "memory");
}

#[test]
fn streamon_needs_buffers_and_streamon_streamoff_are_idempotent() {
    let mut r = Rig::new();
    assert_eq!(r.q.streamon(A).unwrap_err().errno, Errno::EINVAL);
    assert_eq!(r.streamoff(A), Ok(()));
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    r.q.streamon(A).unwrap();
    r.q.streamon(A).unwrap();
    assert!(r.q.is_streaming());
    r.streamoff(A).unwrap();
    r.streamoff(A).unwrap();
    assert!(!r.q.is_streaming());
}

#[test]
fn streamoff_returns_every_buffer_without_reporting_them() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 4).unwrap();
    for i in 0..4 {
        r.qbuf(A, i, Memory::Mmap, -1).unwrap();
    }
    r.q.streamon(A).unwrap();
    r.engine_tick().unwrap();
    r.engine_tick().unwrap();
    r.streamoff(A).unwrap();
    for i in 0..4 {
        assert_eq!(r.q.query(&r.dma, i).unwrap().state, State::Dequeued);
    }
    // Done buffers are not reported after STREAMOFF.
    assert_eq!(errno(r.dqbuf(A, Memory::Mmap)), Errno::EINVAL);
    r.q.streamon(A).unwrap();
    assert_eq!(errno(r.dqbuf(A, Memory::Mmap)), Errno::EAGAIN);
    // Every buffer can be queued again.
    for i in 0..4 {
        r.qbuf(A, i, Memory::Mmap, -1).unwrap();
    }
}

#[test]
fn streamoff_before_streamon_cancels_queued_buffers() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    r.streamoff(A).unwrap();
    assert_eq!(r.q.query(&r.dma, 0).unwrap().state, State::Dequeued);
    assert_eq!(r.q.queued_count(), 0);
}

#[test]
fn prepared_buffer_is_queued_without_a_second_sync() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 1).unwrap();
    let req = QueueRequest {
        index: 0,
        memory: Memory::Mmap,
        fd: -1,
        length: 0,
    };
    let info = r.q.prepare(&mut r.dma, A, &req).unwrap();
    assert_eq!(info.state, State::Prepared);
    assert_eq!(
        r.q.prepare(&mut r.dma, A, &req).unwrap_err().errno,
        Errno::EINVAL
    );
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    assert_eq!(r.world.counters().syncs_for_device, 1);
}

#[test]
fn close_of_the_owner_releases_everything() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 3).unwrap();
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    r.q.streamon(A).unwrap();
    r.engine_tick().unwrap();
    r.q.release(&mut r.dma, A);
    assert_eq!(r.world.counters().mappings(), 0);
    assert_eq!(
        (r.q.count(), r.q.owner(), r.q.is_streaming()),
        (0, None, false)
    );
}

#[test]
fn finish_frame_of_a_cancelled_buffer_is_ignored() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 1).unwrap();
    r.qbuf(A, 0, Memory::Mmap, -1).unwrap();
    r.q.streamon(A).unwrap();
    let (index, mapping) = r.q.start_frame().unwrap();
    drop(mapping);
    r.streamoff(A).unwrap();
    let done = FrameDone {
        bytesused: 1,
        sequence: 0,
        timestamp_ns: 1,
        error: false,
    };
    assert!(!r.q.finish_frame(index, done));
    assert!(!r.q.finish_frame(99, done));
    assert!(!r.q.has_done());
}

// ---- DMABUF import

#[test]
fn dmabuf_is_attached_and_mapped_once_over_a_thousand_requeues() {
    let mut r = Rig::new();
    r.queue_imports(4);
    r.q.streamon(A).unwrap();
    for _ in 0..1000 {
        r.engine_tick().unwrap();
        let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
        let mem = r.world_memory(info.fd);
        assert!((0..SIZE).all(|i| mem[i] == verification_byte(i, info.sequence)));
        r.qbuf(A, info.index, Memory::DmaBuf, info.fd).unwrap();
    }
    let c = r.world.counters();
    assert_eq!(
        (c.attaches, c.maps),
        (4, 4),
        "attach and map once per buffer"
    );
    assert_eq!(
        c.refs_held(),
        4,
        "the extra reference of each requeue is dropped"
    );
    assert_eq!(c.syncs_for_device, 1004);
    assert_eq!(c.syncs_for_cpu, 1000);
}

impl Rig {
    /// What the CPU sees of the dma-buf exported at `fd`.
    fn world_memory(&self, fd: i32) -> Vec<u8> {
        self.world_memory_if_open(fd).unwrap()
    }

    /// What the CPU sees of the dma-buf at `fd`, if userspace still has it.
    fn world_memory_if_open(&self, fd: i32) -> Option<Vec<u8>> {
        let mut scratch = Model {
            world: self.world.clone(),
        };
        let buf = scratch.get_dmabuf(fd).ok()?;
        let data = buf.mem.cpu.borrow().clone();
        drop(buf);
        // The look-up is the test's own; do not count it.
        let mut c = self.world.counters();
        c.gets -= 1;
        c.puts -= 1;
        self.world.counters.set(c);
        Some(data)
    }
}

#[test]
fn map_per_qbuf_policy_maps_at_qbuf_and_unmaps_at_dqbuf() {
    let mut r = Rig::new();
    for i in 0..4 {
        r.world.export(10 + i, SIZE);
    }
    assert_eq!(r.reqbufs(A, Memory::DmaBuf, 4), Ok(4));
    r.q.set_policy(Policy {
        map_per_qbuf: true,
        ..Policy::default()
    });
    for i in 0..4 {
        r.qbuf(A, i, Memory::DmaBuf, 10 + i as i32).unwrap();
    }
    r.q.streamon(A).unwrap();
    for _ in 0..100 {
        r.engine_tick().unwrap();
        let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
        assert!(!info.mapped_for_device, "unmapped at DQBUF");
        assert!(info.attached, "the attachment stays");
        let mem = r.world_memory(info.fd);
        assert!((0..SIZE).all(|i| mem[i] == verification_byte(i, info.sequence)));
        let info = r.qbuf(A, info.index, Memory::DmaBuf, info.fd).unwrap();
        assert!(info.mapped_for_device, "mapped again at QBUF");
    }
    let c = r.world.counters();
    assert_eq!((c.attaches, c.maps, c.unmaps), (4, 104, 100));
    assert_eq!((c.syncs_for_device, c.syncs_for_cpu), (104, 100));
    // Back to map once: the mapping of the next QBUF stays.
    r.q.set_policy(Policy::default());
    r.engine_tick().unwrap();
    let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
    assert!(info.mapped_for_device);
    r.qbuf(A, info.index, Memory::DmaBuf, info.fd).unwrap();
    assert_eq!(r.world.counters().maps, 104);
}

#[test]
fn dmabuf_qbuf_rejects_bad_fds_and_small_buffers_with_einval() {
    let mut r = Rig::new();
    r.world.export(10, SIZE - 1);
    r.world.export(11, SIZE);
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
    let req = QueueRequest {
        index: 0,
        memory: Memory::DmaBuf,
        fd: 11,
        length: SIZE + 1,
    };
    assert_eq!(
        r.q.qbuf(&mut r.dma, A, &req).unwrap_err().errno,
        Errno::EINVAL,
        "length"
    );
    let c = r.world.counters();
    assert_eq!(
        (c.refs_held(), c.attachments(), c.mappings()),
        (0, 0, 0),
        "nothing kept"
    );
    // And the queue still works.
    r.qbuf(A, 0, Memory::DmaBuf, 11).unwrap();
    r.q.streamon(A).unwrap();
    r.engine_tick().unwrap();
    assert_eq!(r.dqbuf(A, Memory::DmaBuf).unwrap().index, 0);
}

#[test]
fn dmabuf_error_reasons_are_specific() {
    let mut r = Rig::new();
    r.world.export(10, SIZE - 1);
    r.reqbufs(A, Memory::DmaBuf, 1).unwrap();
    let req = QueueRequest {
        index: 0,
        memory: Memory::DmaBuf,
        fd: 10,
        length: 0,
    };
    let e = r.q.qbuf(&mut r.dma, A, &req).unwrap_err();
    assert_eq!(e.why, "dma-buf is smaller than the format needs");
}

#[test]
fn dmabuf_swap_on_a_slot_releases_the_old_one_first() {
    let mut r = Rig::new();
    r.world.export(10, SIZE);
    r.world.export(11, SIZE);
    r.reqbufs(A, Memory::DmaBuf, 1).unwrap();
    r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
    r.q.streamon(A).unwrap();
    r.engine_tick().unwrap();
    r.dqbuf(A, Memory::DmaBuf).unwrap();
    r.qbuf(A, 0, Memory::DmaBuf, 11).unwrap();
    let c = r.world.counters();
    assert_eq!((c.attaches, c.detaches, c.maps, c.unmaps), (2, 1, 2, 1));
    assert_eq!(c.refs_held(), 1);
    r.engine_tick().unwrap();
    let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
    assert_eq!(info.fd, 11);
    assert!(r
        .world_memory(11)
        .iter()
        .enumerate()
        .all(|(i, &b)| b == verification_byte(i, 1)));
}

#[test]
fn streamoff_unmaps_every_import_and_keeps_attachments() {
    let mut r = Rig::new();
    r.queue_imports(3);
    r.q.streamon(A).unwrap();
    r.engine_tick().unwrap();
    r.dqbuf(A, Memory::DmaBuf).unwrap(); // CPU-owned but still mapped
    r.engine_tick().unwrap(); // done, not dequeued
    r.streamoff(A).unwrap();
    let c = r.world.counters();
    assert_eq!((c.mappings(), c.attachments(), c.refs_held()), (0, 3, 3));
    // The done-but-not-dequeued frame reached the CPU through the unmap.
    assert!(r
        .world_memory(11)
        .iter()
        .enumerate()
        .all(|(i, &b)| b == verification_byte(i, 1)));
    // QBUF of the same fd only re-maps.
    r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
    let c = r.world.counters();
    assert_eq!((c.attaches, c.maps), (3, 4));
}

#[test]
fn reqbufs_zero_and_close_drop_every_dmabuf_reference() {
    for close in [false, true] {
        let mut r = Rig::new();
        r.queue_imports(4);
        r.q.streamon(A).unwrap();
        r.engine_tick().unwrap();
        r.dqbuf(A, Memory::DmaBuf).unwrap();
        r.engine_tick().unwrap();
        if close {
            r.q.release(&mut r.dma, A);
        } else {
            r.streamoff(A).unwrap();
            r.reqbufs(A, Memory::DmaBuf, 0).unwrap();
        }
        let c = r.world.counters();
        assert_eq!(
            (c.refs_held(), c.attachments(), c.mappings()),
            (0, 0, 0),
            "close {close}"
        );
    }
}

#[test]
fn userspace_closing_its_fds_does_not_free_queued_memory() {
    let mut r = Rig::new();
    let mem = r.world.export(10, SIZE);
    r.reqbufs(A, Memory::DmaBuf, 1).unwrap();
    r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
    r.world.close(10);
    r.q.streamon(A).unwrap();
    r.engine_tick().unwrap();
    r.dqbuf(A, Memory::DmaBuf).unwrap();
    assert!(mem
        .cpu
        .borrow()
        .iter()
        .enumerate()
        .all(|(i, &b)| b == verification_byte(i, 0)));
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
        Rc::strong_count(&mem),
        1,
        "the model's memory is ours alone again"
    );
}

#[test]
fn one_dmabuf_in_two_slots_is_refused_while_queued_and_may_move_otherwise() {
    let mut r = Rig::new();
    r.world.export(10, SIZE);
    r.reqbufs(A, Memory::DmaBuf, 2).unwrap();
    r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
    // Queued in slot 0: it cannot be queued in slot 1 too.
    assert_eq!(errno(r.qbuf(A, 1, Memory::DmaBuf, 10)), Errno::EINVAL);
    r.q.streamon(A).unwrap();
    r.engine_tick().unwrap();
    r.dqbuf(A, Memory::DmaBuf).unwrap();
    // Back with the CPU: it moves to slot 1, and slot 0 lets go of it.
    r.qbuf(A, 1, Memory::DmaBuf, 10).unwrap();
    let slot0 = r.q.query(&r.dma, 0).unwrap();
    assert!(!slot0.attached && !slot0.mapped_for_device);
    let c = r.world.counters();
    assert_eq!((c.attachments(), c.mappings(), c.refs_held()), (1, 1, 1));
    r.engine_tick().unwrap();
    assert_eq!(r.dqbuf(A, Memory::DmaBuf).unwrap().index, 1);
}

#[test]
fn prepared_dmabuf_queued_with_fd_minus_one_keeps_its_fd_and_length() {
    let mut r = Rig::new();
    r.world.export(10, 2 * SIZE);
    r.reqbufs(A, Memory::DmaBuf, 1).unwrap();
    let req = QueueRequest {
        index: 0,
        memory: Memory::DmaBuf,
        fd: 10,
        length: 0,
    };
    r.q.prepare(&mut r.dma, A, &req).unwrap();
    let info = r.qbuf(A, 0, Memory::DmaBuf, -1).unwrap();
    assert_eq!(
        (info.fd, info.length, info.state),
        (10, 2 * SIZE, State::Queued)
    );
}

#[test]
fn map_failure_changes_nothing_and_the_qbuf_can_be_retried() {
    let mut r = Rig::new();
    r.world.export(10, SIZE);
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
        (c.refs_held(), c.attachments(), c.mappings()),
        (0, 0, 0),
        "a refused QBUF kept something of the dma-buf"
    );
    r.qbuf(A, 0, Memory::DmaBuf, 10).unwrap();
    let c = r.world.counters();
    assert_eq!((c.attachments(), c.mappings()), (1, 1));
}

// ---- Nothing lost after DQBUF: every path that drops the mapping of a
// CPU-owned import, with the model copying bounce slots back at unmap as
// swiotlb does

/// Two imports (fds 10 and 11) queued and streaming; buffer 0 filled,
/// dequeued, and overwritten by userspace with 0xc3. Returns its memory.
fn dequeued_import_written_by_user(r: &mut Rig) -> Rc<crate::model::Memory> {
    r.queue_imports(2);
    r.q.streamon(A).unwrap();
    r.engine_tick().unwrap();
    let info = r.dqbuf(A, Memory::DmaBuf).unwrap();
    assert_eq!(info.fd, 10);
    r.user_write(&info, 0xc3);
    r.world.memory(10).unwrap()
}

fn holds_user_bytes(mem: &crate::model::Memory) -> bool {
    mem.cpu.borrow().iter().all(|&b| b == 0xc3)
}

#[test]
fn user_data_survives_streamoff() {
    let mut r = Rig::new();
    let mem = dequeued_import_written_by_user(&mut r);
    r.streamoff(A).unwrap();
    assert!(holds_user_bytes(&mem));
    assert_eq!(
        r.world.counters().syncs_before_unmap,
        1,
        "only the CPU-owned buffer"
    );
}

#[test]
fn user_data_survives_its_slot_taking_another_dmabuf() {
    let mut r = Rig::new();
    let mem = dequeued_import_written_by_user(&mut r);
    r.world.export(12, SIZE);
    r.qbuf(A, 0, Memory::DmaBuf, 12).unwrap();
    assert!(holds_user_bytes(&mem));
}

#[test]
fn user_data_survives_the_dmabuf_moving_to_another_slot() {
    let mut r = Rig::new();
    let mem = dequeued_import_written_by_user(&mut r);
    // Slot 1 gives back its own dma-buf first, so that it is CPU-owned.
    r.engine_tick().unwrap();
    r.dqbuf(A, Memory::DmaBuf).unwrap();
    let unmaps = r.world.counters().unmaps;
    r.qbuf(A, 1, Memory::DmaBuf, 10).unwrap();
    assert!(holds_user_bytes(&mem));
    let c = r.world.counters();
    assert_eq!(
        c.unmaps,
        unmaps + 1,
        "only slot 1's own dma-buf is unmapped"
    );
    assert_eq!(c.maps, 2, "the moving dma-buf keeps its mapping");
}

#[test]
fn user_data_survives_streamoff_and_reqbufs_zero() {
    let mut r = Rig::new();
    let mem = dequeued_import_written_by_user(&mut r);
    r.streamoff(A).unwrap();
    r.reqbufs(A, Memory::DmaBuf, 0).unwrap();
    assert!(holds_user_bytes(&mem));
    assert_eq!(r.world.counters().attachments(), 0);
}

#[test]
fn user_data_survives_close_while_streaming() {
    let mut r = Rig::new();
    let mem = dequeued_import_written_by_user(&mut r);
    r.q.release(&mut r.dma, A);
    assert!(holds_user_bytes(&mem));
    assert_eq!(r.world.counters().refs_held(), 0);
}

#[test]
fn user_data_in_mmap_buffers_survives_reqbufs_zero() {
    let mut r = Rig::new();
    r.reqbufs(A, Memory::Mmap, 2).unwrap();
    for i in 0..2 {
        r.qbuf(A, i, Memory::Mmap, -1).unwrap();
    }
    r.q.streamon(A).unwrap();
    r.engine_tick().unwrap();
    let info = r.dqbuf(A, Memory::Mmap).unwrap();
    r.user_write(&info, 0xc3);
    let mem = r.user_memory(info.index, -1).unwrap();
    r.streamoff(A).unwrap();
    r.reqbufs(A, Memory::Mmap, 0).unwrap();
    assert!(holds_user_bytes(&mem));
    assert_eq!(r.world.counters().mmap_freed_device_owned, 0);
}

// ---- A refused QBUF changes nothing

#[test]
fn refused_qbuf_does_not_take_the_dmabuf_from_another_slot() {
    let mut r = Rig::new();
    let _ = dequeued_import_written_by_user(&mut r);
    r.engine_tick().unwrap();
    r.dqbuf(A, Memory::DmaBuf).unwrap();
    let holder = r.q.query(&r.dma, 0).unwrap();
    let counters = r.world.counters();
    for length in [2 * SIZE, SIZE / 2] {
        let req = QueueRequest {
            index: 1,
            memory: Memory::DmaBuf,
            fd: 10,
            length,
        };
        assert_eq!(
            r.q.qbuf(&mut r.dma, A, &req).unwrap_err().errno,
            Errno::EINVAL
        );
        assert_eq!(r.q.query(&r.dma, 0).unwrap(), holder, "length {length}");
        let mut c = r.world.counters();
        // The refused request's own reference came and went.
        c.gets -= 1;
        c.puts -= 1;
        r.world.counters.set(c);
        assert_eq!(c, counters, "length {length}");
    }
}

// ---- Randomized sequences

/// xorshift64*: deterministic, so a failing seed reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Invariants that hold after every operation, whatever it was.
fn check_invariants(r: &Rig, step: usize, seed: u64) {
    let ctx = |what: &str| format!("seed {seed} step {step}: {what}");
    let c = r.world.counters();
    let mut attached = 0;
    let mut mapped = 0;
    for i in 0..r.q.count() {
        let info = r.q.query(&r.dma, i).unwrap();
        attached += u64::from(info.attached);
        mapped += u64::from(info.mapped_for_device);
        if !info.state.is_cpu_owned() {
            assert!(
                info.mapped_for_device,
                "{}",
                ctx("device-owned buffer without mapping")
            );
        }
        if r.q.memory() == Some(Memory::Mmap) {
            let m = r.q.mmap_buffer(i).unwrap();
            // Never both: device-owned exactly when not CPU-owned.
            assert_eq!(
                m.device_owned.get(),
                !info.state.is_cpu_owned(),
                "{}",
                ctx(&format!("ownership of buffer {i} in {:?}", info.state))
            );
        }
    }
    assert_eq!(c.attachments(), attached, "{}", ctx("attachments leaked"));
    assert_eq!(
        c.refs_held(),
        attached,
        "{}",
        ctx("dma-buf references leaked")
    );
    assert_eq!(c.mappings(), mapped, "{}", ctx("mappings leaked"));
    assert_eq!(
        c.mmap_freed_device_owned,
        0,
        "{}",
        ctx("MMAP buffer freed while the device owned it")
    );
    assert_eq!(r.q.is_busy(), r.q.count() > 0, "{}", ctx("busy"));
    for (i, (mem, want)) in r.user_writes.iter().enumerate() {
        assert!(
            *mem.cpu.borrow() == *want,
            "{}",
            ctx(&format!(
                "what userspace wrote into dequeued buffer {i} changed"
            ))
        );
    }
}

#[test]
fn random_operation_sequences_keep_every_invariant() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut r = Rig::new();
        let fds: Vec<i32> = (10..18).collect();
        for &fd in &fds {
            // Some exporters too small for the format.
            r.world
                .export(fd, if fd % 7 == 0 { SIZE / 2 } else { SIZE });
        }
        let mut last_seq: Option<u32> = None;
        for step in 0..300 {
            let who = if rng.below(10) == 0 { B } else { A };
            let memory = if rng.below(2) == 0 {
                Memory::Mmap
            } else {
                Memory::DmaBuf
            };
            match rng.below(13) {
                0 => {
                    let n = rng.below(6) as usize;
                    let res = r.reqbufs(who, memory, n);
                    if let Ok(got) = res {
                        assert_eq!(got, n, "seed {seed} step {step}");
                    }
                }
                1 => {
                    let n = rng.below(3) as usize;
                    let _ = r.q.create_bufs(&mut r.dma, who, memory, n, SIZE);
                }
                2..=4 => {
                    let index = rng.below(8) as usize;
                    let fd =
                        fds[rng.below(fds.len() as u64) as usize] + i32::from(rng.below(20) == 0);
                    let req = QueueRequest {
                        index,
                        memory: r.q.memory().unwrap_or(memory),
                        fd,
                        length: 0,
                    };
                    let res = if rng.below(4) == 0 {
                        r.q.prepare(&mut r.dma, who, &req)
                    } else {
                        r.q.qbuf(&mut r.dma, who, &req)
                    };
                    if let Ok(info) = res {
                        assert!(!info.state.is_cpu_owned(), "seed {seed} step {step}");
                        r.handed_to_device(info.index, info.fd);
                    }
                }
                5..=6 => {
                    let m = r.q.memory().unwrap_or(memory);
                    if let Ok(info) = r.dqbuf(who, m) {
                        assert!(info.state.is_cpu_owned());
                        if let Some(prev) = last_seq {
                            assert!(info.sequence > prev, "seed {seed} step {step}: sequence");
                        }
                        last_seq = Some(info.sequence);
                        if m == Memory::Mmap {
                            assert!(
                                r.cpu_sees_frame(&info),
                                "seed {seed} step {step}: stale frame"
                            );
                        } else {
                            let mem = r.world_memory_if_open(info.fd);
                            if let Some(mem) = mem {
                                let ok = (0..info.bytesused)
                                    .all(|i| mem[i] == verification_byte(i, info.sequence));
                                assert!(ok, "seed {seed} step {step}: stale import");
                            }
                        }
                        // Userspace uses the buffer as its own.
                        if r.user_memory(info.index, info.fd).is_some() {
                            r.user_write(&info, step as u8 ^ 0x5a);
                        }
                    }
                }
                7 => {
                    let _ = r.q.streamon(who);
                }
                8 => {
                    let _ = r.streamoff(who);
                    if r.q.owner() != Some(B) || who == B {
                        assert!(!r.q.is_streaming() || r.q.owner() != Some(who));
                    }
                }
                9 | 10 => {
                    r.engine_tick();
                }
                11 => {
                    // The policies may change between any two operations.
                    r.q.set_policy(Policy {
                        map_per_qbuf: rng.below(2) == 0,
                        full_sync: rng.below(2) == 0,
                    });
                }
                _ => {
                    r.q.release(&mut r.dma, who);
                }
            }
            check_invariants(&r, step, seed);
        }
        r.q.release(&mut r.dma, A);
        r.q.release(&mut r.dma, B);
        let c = r.world.counters();
        assert_eq!(
            (c.refs_held(), c.attachments(), c.mappings()),
            (0, 0, 0),
            "seed {seed}: leak at close"
        );
    }
}
