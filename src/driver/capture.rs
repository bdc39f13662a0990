// SPDX-License-Identifier: GPL-2.0

//! One capture device: the V4L2 semantics on top of the queue core, the
//! frame engine and the DMA side. [`super::v4l2`] maps the ioctls onto the
//! methods here.
//!
//! # Locking
//!
//! Two mutexes, always taken in this order:
//! - `control` serialises what starts or stops the engine or frees buffers
//!   (REQBUFS, CREATE_BUFS, STREAMON, STREAMOFF, close). It is held while the
//!   engine thread is stopped, so nobody sees a half-stopped stream.
//! - `state` (in [`Shared`]) protects the queue and the format. QBUF, DQBUF,
//!   poll and mmap take only this one, briefly; a blocking DQBUF waits
//!   with it released.
//!
//! The engine takes neither: it shares only the device's queue with the
//! ioctls, under a spinlock taken after `state` ([`Shared`]).
//!
//! # Disconnect
//!
//! When the device goes away while files are open (its DMA master `edu`
//! is removed, and the driver core unbinds the capture device first),
//! [`Capture::disconnect`] stops the engine and releases every buffer
//! under both locks, so that nothing stays mapped for the DMA master, and
//! marks the state disconnected: every request that got past the V4L2
//! core before it unregistered the video node fails with `ENODEV` (a
//! blocked DQBUF wakes and does too), and close frees what is left.

use super::device_dma::KernelDma;
use super::edu::EduDma;
use super::engine::Engine;
use super::inject::Inject;
use super::shared::{Shared, State, POOLED_FENCES};
use crate::dma_master::Mapping;
use crate::format::{self, FrameFormat, Interval};
use crate::kapi::debugfs::{self, ScopedDir};
use crate::kapi::debugfs_knobs::KnobFiles;
use crate::kapi::device::DeviceRef;
use crate::kapi::dma_buf_export;
use crate::kapi::dma_fence::FenceSource;
use crate::kapi::error;
use crate::kapi::log::DevLog;
use crate::kapi::param;
use crate::kapi::ratelimit::{ratelimit, RateLimit};
use crate::kapi::str::Text;
use crate::kapi::sync::atomic::{Atomic, Relaxed};
use crate::pattern::Pattern;
use crate::queue::{
    self, Allocated, BufferInfo, BufferRequest, Errno, Memory, OwnerId, Policy, QueueRequest,
};
use core::convert::Infallible;
use core::fmt;
use kernel::c_str;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// What the control lock protects.
struct Control {
    engine: Option<Engine>,
    /// The device's debugfs directory, removed at disconnect (so that a
    /// device probed again can make its own).
    debugfs: Option<DebugfsDir>,
}

/// A capture device's debugfs directory, with the [`Shared`] its files
/// read.
type DebugfsDir = Pin<KBox<debugfs::Scope<Arc<Shared>>>>;

/// A capture device.
#[pin_data]
pub(crate) struct Capture {
    #[pin]
    control: Mutex<Control>,
    shared: Arc<Shared>,
    warned_small_dmabuf: Atomic<bool>,
}

/// Bytes the DMA master writes after an unmap (`inject_dma_after_unmap`).
const STALE_WRITE_BYTES: usize = 64;

/// Where buffer 0 was for the DMA master (`inject_dma_after_unmap`).
struct UnmapProbe {
    edu: Arc<EduDma>,
    addr: u64,
    len: usize,
    /// A device access there faults once it is unmapped (a strict IOMMU).
    faults: bool,
}

/// What REQBUFS or CREATE_BUFS asks of the queue for `count` buffers of
/// `format`'s planes.
fn buffer_request(
    format: &FrameFormat,
    memory: Memory,
    count: usize,
    non_coherent: bool,
) -> BufferRequest {
    let mut plane_sizes = [0; queue::MAX_PLANES];
    for (size, plane) in plane_sizes.iter_mut().zip(format.mem_planes()) {
        *size = plane.size_image as usize;
    }
    BufferRequest {
        memory,
        count,
        num_planes: format.num_planes,
        plane_sizes,
        non_coherent,
    }
}

/// The kernel's errno for a queue error (the core names them; the numbers
/// are the architecture's).
fn to_error(e: queue::Error) -> Error {
    match e.errno {
        Errno::Io => EIO,
        Errno::Again => EAGAIN,
        Errno::NoMem => ENOMEM,
        Errno::Busy => EBUSY,
        Errno::Inval => EINVAL,
        Errno::NoBufs => error::enobufs(),
        Errno::Dma(code) => Error::from_errno(code),
    }
}

impl Capture {
    /// Capture device `index` of `dev`, whose buffers are mapped for the DMA
    /// master `dma_dev` (`edu`'s device, if given: then its DMA engine is
    /// used too), with its debugfs directory (named after `dev`) under
    /// `debugfs_root`; `multiplanar`: it offers the multi-planar API.
    pub(crate) fn new(
        dev: DeviceRef,
        dma_dev: DeviceRef,
        edu: Option<Arc<EduDma>>,
        index: u32,
        multiplanar: bool,
        debugfs_root: &debugfs::Dir,
    ) -> Result<impl PinInit<Self, Error>> {
        let log = DevLog::new(dev.clone());
        let has_edu = edu.is_some();
        let inject = Arc::new(Inject::default(), GFP_KERNEL)?;
        let dma = KernelDma::new(dma_dev, log.clone(), param::contig(), inject.clone())?;
        let fences = FenceSource::new(dev.name(), queue::MAX_BUFFERS, POOLED_FENCES)?;
        let shared = Arc::pin_init(
            Shared::new(index, multiplanar, dma, fences, edu, inject, log.clone())?,
            GFP_KERNEL,
        )?;
        // debugfs failures only lose the files. (Its data is a value: only
        // the allocation can fail.)
        let dir = KBox::pin_init::<Infallible>(
            debugfs_root.scope(shared.clone(), dev.name(), |shared, dir| {
                add_debugfs_files(shared, dir, has_edu)
            }),
            GFP_KERNEL,
        )
        .ok();
        Ok(try_pin_init!(Self {
            control <- new_mutex!(
                Control {
                    engine: None,
                    debugfs: dir,
                },
                "rvcap::control"
            ),
            shared,
            warned_small_dmabuf: Atomic::new(false),
        }? Error))
    }

    /// The instance number (the platform device id).
    pub(crate) fn index(&self) -> u32 {
        self.shared.index
    }

    /// Kernel log messages about this device.
    pub(crate) fn log(&self) -> &DevLog {
        &self.shared.log
    }

    /// Logs why a request from userspace failed (a debug message rate-limited
    /// by `limit`, one per kind of request) and converts the queue error to a
    /// kernel error. A too small dma-buf (QBUF or PREPARE_BUF) is also worth
    /// one warning: an exporter set up for another format.
    fn refuse(&self, limit: &RateLimit, what: &str, e: queue::Error) -> Error {
        if e == queue::Error::DMABUF_TOO_SMALL && !self.warned_small_dmabuf.xchg(true, Relaxed) {
            self.log().warn(format_args!(
                "{what}: a dma-buf smaller than the format's buffers was refused with EINVAL (warned once)"
            ));
        }
        self.log().dbg(limit, format_args!("{what}: {}", e.why));
        to_error(e)
    }

    /// Runs `f` with the queue state locked.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.shared.state.lock())
    }

    /// Engine counters.
    pub(crate) fn frame_counters(&self) -> &super::shared::FrameCounters {
        &self.shared.counters
    }

    // ---- controls

    /// `V4L2_CID_TEST_PATTERN` changed.
    pub(crate) fn set_pattern(&self, index: u32) -> Result {
        Pattern::from_index(index).ok_or(EINVAL)?;
        self.shared.pattern.store(index, Relaxed);
        Ok(())
    }

    // ---- formats and parameters

    /// VIDIOC_G_FMT.
    pub(crate) fn format(&self) -> FrameFormat {
        self.shared.state.lock().format
    }

    /// VIDIOC_S_FMT: `EBUSY` once buffers exist.
    pub(crate) fn set_format(&self, fourcc: u32, width: u32, height: u32) -> Result<FrameFormat> {
        let mut st = self.shared.state.lock();
        let format = FrameFormat::negotiate(fourcc, width, height, self.is_multiplanar());
        if st.queue.is_busy() {
            if format != st.format {
                self.log().dbg(
                    ratelimit!(),
                    format_args!("S_FMT while buffers are allocated"),
                );
                return Err(EBUSY);
            }
            return Ok(format);
        }
        st.format = format;
        Ok(format)
    }

    /// VIDIOC_G_PARM.
    pub(crate) fn interval(&self) -> Interval {
        self.shared.state.lock().interval
    }

    /// VIDIOC_S_PARM: the nearest supported interval; applies at once, also
    /// while streaming.
    pub(crate) fn set_interval(&self, numerator: u32, denominator: u32) -> Interval {
        let mut st = self.shared.state.lock();
        self.shared
            .set_interval(&mut st, Interval::nearest(numerator, denominator));
        st.interval
    }

    // ---- buffers

    /// Whether the device offers the multi-planar API (the `multiplanar`
    /// module parameter).
    pub(crate) fn is_multiplanar(&self) -> bool {
        self.shared.multiplanar
    }

    /// VIDIOC_REQBUFS, for buffers of the current format's planes;
    /// `non_coherent`: `V4L2_MEMORY_FLAG_NON_COHERENT`.
    pub(crate) fn reqbufs(
        &self,
        who: OwnerId,
        memory: Memory,
        count: usize,
        non_coherent: bool,
    ) -> Result<Allocated> {
        let _control = self.control.lock();
        let mut st = self.shared.state.lock();
        self.check_connected(&st)?;
        let request = buffer_request(&st.format, memory, count, non_coherent);
        let probe = self.unmap_probe(&st);
        let State { queue, dma, .. } = &mut *st;
        let result = queue
            .reqbufs(dma, who, &request)
            .map_err(|e| self.refuse(ratelimit!(), "REQBUFS", e));
        let empty = queue.count() == 0;
        drop(st);
        self.dma_after_unmap(probe, empty);
        result
    }

    /// VIDIOC_CREATE_BUFS of buffers with `num_planes` planes of `sizes`
    /// bytes (at least the current format's). Returns the first index and
    /// how many were created.
    pub(crate) fn create_bufs(
        &self,
        who: OwnerId,
        memory: Memory,
        count: usize,
        sizes: &[usize],
        num_planes: usize,
        non_coherent: bool,
    ) -> Result<Allocated> {
        let _control = self.control.lock();
        let mut st = self.shared.state.lock();
        self.check_connected(&st)?;
        let mut request = buffer_request(&st.format, memory, count, non_coherent);
        if count > 0 {
            if num_planes != st.format.num_planes {
                self.log().dbg(
                    ratelimit!(),
                    format_args!(
                        "CREATE_BUFS: {num_planes} planes, the format has {}",
                        st.format.num_planes
                    ),
                );
                return Err(EINVAL);
            }
            for (p, (&size, plane)) in sizes.iter().zip(st.format.mem_planes()).enumerate() {
                if size < plane.size_image as usize {
                    self.log().dbg(
                        ratelimit!(),
                        format_args!(
                            "CREATE_BUFS: {size} bytes for plane {p} is smaller than the format"
                        ),
                    );
                    return Err(EINVAL);
                }
                if size > format::MAX_SIZE_IMAGE as usize {
                    self.log().dbg(
                        ratelimit!(),
                        format_args!("CREATE_BUFS: {size} bytes is larger than any frame"),
                    );
                    return Err(EINVAL);
                }
                request.plane_sizes[p] = size;
            }
        }
        let State { queue, dma, .. } = &mut *st;
        queue
            .create_bufs(dma, who, &request)
            .map_err(|e| self.refuse(ratelimit!(), "CREATE_BUFS", e))
    }

    /// VIDIOC_REMOVE_BUFS of buffers `index..index + count`.
    pub(crate) fn remove_bufs(&self, who: OwnerId, index: usize, count: usize) -> Result {
        let _control = self.control.lock();
        let mut st = self.shared.state.lock();
        self.check_connected(&st)?;
        let State { queue, dma, .. } = &mut *st;
        queue
            .remove_bufs(dma, who, index, count)
            .map_err(|e| self.refuse(ratelimit!(), "REMOVE_BUFS", e))
    }

    /// VIDIOC_QUERYBUF into a planes array of `room` entries.
    pub(crate) fn querybuf(&self, index: usize, room: usize) -> Result<BufferInfo> {
        let st = self.shared.state.lock();
        self.check_connected(&st)?;
        st.queue
            .query_into(&st.dma, index, room)
            .map_err(|e| self.refuse(ratelimit!(), "QUERYBUF", e))
    }

    /// VIDIOC_PREPARE_BUF.
    pub(crate) fn prepare_buf(&self, who: OwnerId, req: &QueueRequest) -> Result<BufferInfo> {
        let mut st = self.shared.state.lock();
        self.check_connected(&st)?;
        let State { queue, dma, .. } = &mut *st;
        queue
            .prepare(dma, who, req)
            .map_err(|e| self.refuse(ratelimit!(), "PREPARE_BUF", e))
    }

    /// VIDIOC_QBUF.
    pub(crate) fn qbuf(&self, who: OwnerId, req: &QueueRequest) -> Result<BufferInfo> {
        let (info, handed) = {
            let mut st = self.shared.state.lock();
            self.check_connected(&st)?;
            let State { queue, dma, .. } = &mut *st;
            let info = queue
                .qbuf(dma, who, req)
                .map_err(|e| self.refuse(ratelimit!(), "QBUF", e))?;
            // While streaming, the buffer goes to the device at once.
            (info, self.shared.hand_queued(&mut st))
        };
        if handed {
            self.shared.wake_engine();
        }
        Ok(info)
    }

    /// VIDIOC_DQBUF into a planes array of `room` entries: waits
    /// (interruptibly) for a done buffer unless `nonblock`; STREAMOFF ends
    /// the wait with `EINVAL`, a disconnect with `ENODEV`.
    pub(crate) fn dqbuf(
        &self,
        who: OwnerId,
        memory: Memory,
        room: usize,
        nonblock: bool,
    ) -> Result<BufferInfo> {
        loop {
            let seen = {
                let mut st = self.shared.state.lock();
                self.check_connected(&st)?;
                self.shared.take_finished(&mut st);
                let seen = self.shared.wakeups();
                let State { queue, dma, .. } = &mut *st;
                match queue.dqbuf(dma, who, memory, room) {
                    Err(e) if e.errno == Errno::EAGAIN && !nonblock => seen,
                    Err(e) if e.errno == Errno::EAGAIN => return Err(EAGAIN),
                    other => return other.map_err(|e| self.refuse(ratelimit!(), "DQBUF", e)),
                }
            };
            // Without the state lock: a frame, STREAMOFF or a disconnect
            // wakes it, and it looks again.
            self.shared.wait_for_done(seen)?;
        }
    }

    /// VIDIOC_STREAMON: starts the engine, in the benchmark modes the
    /// device's debugfs knobs `unpaced`, `map_per_qbuf` and `full_sync` ask
    /// for.
    pub(crate) fn streamon(&self, who: OwnerId) -> Result {
        let mut control = self.control.lock();
        let mut st = self.shared.state.lock();
        self.check_connected(&st)?;
        st.queue
            .streamon(who)
            .map_err(|e| self.refuse(ratelimit!(), "STREAMON", e))?;
        if control.engine.is_none() {
            let knobs = &self.shared.knobs;
            let unpaced = knobs.unpaced.load(Relaxed);
            let policy = Policy {
                map_per_qbuf: knobs.map_per_qbuf.load(Relaxed),
                full_sync: knobs.full_sync.load(Relaxed),
            };
            if unpaced || policy != Policy::default() {
                self.log().info(format_args!(
                    "streaming in a benchmark mode: unpaced={} map_per_qbuf={} full_sync={}",
                    u8::from(unpaced),
                    u8::from(policy.map_per_qbuf),
                    u8::from(policy.full_sync)
                ));
            }
            let stamp = st.edu.clone().filter(|_| knobs.device_stamp.load(Relaxed));
            if let Some(edu) = &stamp {
                self.log().info(format_args!(
                    "streaming with device_stamp: {} writes the first {} bytes of every frame by DMA (about 100 ms a transfer)",
                    Text(edu.device().name()),
                    crate::pattern::STAMP_LEN
                ));
            }
            st.fences_on = knobs.fences.load(Relaxed);
            if !st.fences_on {
                self.log().info(format_args!(
                    "streaming without fences (the fences knob): no write fences published, none waited for"
                ));
            }
            st.queue.set_policy(policy);
            match Engine::start(&self.shared, st.format, unpaced, stamp) {
                Ok(engine) => control.engine = Some(engine),
                Err(e) => {
                    let State { queue, dma, .. } = &mut *st;
                    let _ = queue.streamoff(dma, who);
                    return Err(e);
                }
            }
        }
        // The buffers queued before STREAMON go to the device.
        if self.shared.hand_queued(&mut st) {
            drop(st);
            self.shared.wake_engine();
        }
        Ok(())
    }

    /// VIDIOC_STREAMOFF: stops the engine and waits for it, then returns
    /// every buffer to the application (unmapping imports).
    pub(crate) fn streamoff(&self, who: OwnerId) -> Result {
        let mut control = self.control.lock();
        let owned_by_another = {
            let st = self.shared.state.lock();
            self.check_connected(&st)?;
            st.queue.owner().is_some_and(|owner| owner != who)
        };
        if owned_by_another {
            self.log().dbg(
                ratelimit!(),
                format_args!("STREAMOFF: the queue belongs to another file handle"),
            );
            return Err(EBUSY);
        }
        self.stop_then(&mut control, |st| {
            let State { queue, dma, .. } = st;
            queue
                .streamoff(dma, who)
                .map_err(|e| self.refuse(ratelimit!(), "STREAMOFF", e))
        })
    }

    /// Fault injection (`inject_dma_after_unmap`), taken before an
    /// operation that may free the buffers: where buffer 0 starts for the
    /// DMA master. No reference to its mapping is kept: only the queue's
    /// release paths unmap (and may map an import again, to hand the CPU's
    /// bytes over before the detach), and no mapping outlives them.
    fn unmap_probe(&self, st: &State) -> Option<UnmapProbe> {
        if self.shared.inject.dma_after_unmap.load(Relaxed) == 0 {
            return None;
        }
        let edu = st.edu.clone()?;
        let mapping = st.queue.mapping(0, 0)?;
        let (addr, len) = mapping.first_run()?;
        Some(UnmapProbe {
            edu,
            addr,
            len,
            faults: mapping.unmap_faults_at_once(),
        })
    }

    /// Fault injection: if the operation left the queue `empty` (REQBUFS(0)
    /// or close: buffer 0 unmapped, and an import detached, which undoes
    /// the mapping even where the dma-buf core caches it), makes the DMA
    /// master write to the address buffer 0 had, as a device still holding
    /// it would. Only then: this device mapped nothing since (the control
    /// lock is held). Another capture device mapping for the same `edu`
    /// meanwhile could be given that IOVA again, and the write would land
    /// in its buffer instead of faulting, so the tests inject this only
    /// with one capture device streaming. Behind an IOMMU in strict mode
    /// the write must fault; the test checks the IOMMU's report.
    fn dma_after_unmap(&self, probe: Option<UnmapProbe>, empty: bool) {
        let Some(probe) = probe.filter(|_| empty) else {
            return;
        };
        let edu = &probe.edu;
        // Without an IOMMU that invalidates at unmap (strict mode), the
        // write would land in freed memory.
        if !probe.faults {
            if self.shared.inject.take_dma_after_unmap() {
                self.log().warn(format_args!(
                    "inject_dma_after_unmap: {} is not behind a strict IOMMU, which alone makes a write after unmap harmless; not injected",
                    Text(edu.device().name())
                ));
            }
            return;
        }
        if !self.shared.inject.take_dma_after_unmap() {
            return;
        }
        let (addr, len) = (probe.addr, probe.len.min(STALE_WRITE_BYTES));
        self.log().info(format_args!(
            "inject_dma_after_unmap: {} writes {len} bytes to {addr:#x}, buffer 0's DMA address before it was unmapped",
            Text(edu.device().name())
        ));
        if let Err(e) = edu.write_stale(addr, len) {
            self.log().warn(format_args!(
                "inject_dma_after_unmap: the transfer failed ({e:?})"
            ));
        }
    }

    /// Close of file handle `who`: if it owns the queue, stop streaming and
    /// release every buffer.
    pub(crate) fn release(&self, who: OwnerId) {
        let mut control = self.control.lock();
        if self.shared.state.lock().queue.owner() == Some(who) {
            let (probe, empty) = self.stop_then(&mut control, |st| {
                let probe = self.unmap_probe(st);
                st.queue.release(&mut st.dma, who);
                (probe, st.queue.count() == 0)
            });
            self.dma_after_unmap(probe, empty);
        }
    }

    /// Stops the engine and waits for it, then runs `op` on the queue and
    /// wakes whoever waits for a buffer or polls.
    fn stop_then<R>(&self, control: &mut Control, op: impl FnOnce(&mut State) -> R) -> R {
        drop(control.engine.take());
        let mut st = self.shared.state.lock();
        // The device stopped: what it finished goes to the queue, what it
        // still held comes back unwritten, its fences cancelled.
        self.shared.take_back(&mut st);
        let result = op(&mut st);
        drop(st);
        self.shared.wake_waiters();
        result
    }

    /// `ENODEV` once the device is disconnected.
    fn check_connected(&self, st: &State) -> Result {
        if st.disconnected {
            self.log().dbg(
                ratelimit!(),
                format_args!("the device is gone (its DMA master went away)"),
            );
            return Err(ENODEV);
        }
        Ok(())
    }

    /// The device is going away (unbound: its DMA master is being removed,
    /// or the module unloads), with files possibly still open. Before this
    /// returns, nothing of the device uses the DMA master any more: the
    /// engine (and with it any transfer of the master's own DMA engine) is
    /// stopped, every buffer is released as at close (every DMA mapping made
    /// for the master is unmapped, every attachment detached, every dma-buf
    /// reference put; MMAP buffers userspace still has mmapped keep their
    /// pages, not their mapping), the debugfs directory is removed and the
    /// reference to the master's engine dropped. From then on every request
    /// fails with `ENODEV`, waiters wake and get it too, and close frees the
    /// rest.
    pub(crate) fn disconnect(&self) {
        let mut control = self.control.lock();
        let edu = self.stop_then(&mut control, |st| {
            st.disconnected = true;
            if let Some(owner) = st.queue.owner() {
                st.queue.release(&mut st.dma, owner);
            }
            st.edu.take()
        });
        let debugfs = control.debugfs.take();
        drop(control);
        // After the lock: removing a debugfs file waits for its readers.
        drop(debugfs);
        drop(edu);
    }

    // ---- poll

    /// Buffer readiness for poll(): `None` while not streaming (EPOLLERR),
    /// else whether a buffer is done.
    pub(crate) fn poll_ready(&self) -> Option<bool> {
        let mut st = self.shared.state.lock();
        self.shared.take_finished(&mut st);
        (st.queue.is_streaming() && !st.disconnected).then(|| st.queue.has_done())
    }

    /// The condition variable poll() sleeps on.
    pub(crate) fn poll_queue(&self) -> &crate::kapi::sync::poll::PollCondVar {
        &self.shared.poll
    }

    // ---- mmap

    /// Runs `f` (the mmap() of its pages) on the memory of plane `plane`
    /// of MMAP buffer `index`, with the state locked: a disconnect cannot
    /// release the buffer meanwhile, so no reference to its DMA mapping
    /// outlives the queue's.
    pub(crate) fn with_mmap_memory<R>(
        &self,
        index: usize,
        plane: usize,
        f: impl FnOnce(&Mapping) -> Result<R>,
    ) -> Result<R> {
        let st = self.shared.state.lock();
        self.check_connected(&st)?;
        let memory = st
            .queue
            .mmap_buffer(index, plane)
            .map_err(|e| self.refuse(ratelimit!(), "mmap", e))?;
        f(memory)
    }

    /// VIDIOC_EXPBUF: a new dma-buf of the memory of plane `plane` of MMAP
    /// buffer `index` (`EINVAL` for a DMABUF queue, no buffers, or an index
    /// or plane out of range) and a file descriptor for it; `flags`:
    /// `O_ACCMODE` and `O_CLOEXEC`. Anyone may export, as with videobuf2
    /// (no owner check); the dma-buf keeps the pages alive, not the
    /// buffer (the queue's rules: `queue::Queue::export`).
    pub(crate) fn expbuf(&self, index: usize, plane: usize, flags: u32) -> Result<i32> {
        let st = self.shared.state.lock();
        self.check_connected(&st)?;
        let pages = st
            .queue
            .export(&st.dma, index, plane)
            .map_err(|e| self.refuse(ratelimit!(), "EXPBUF", e))?;
        // A buffer the device holds: the new dma-buf gets its write fence
        // (the buffer's other dma-bufs got it when it was handed over).
        let handed = st
            .queue
            .query(&st.dma, index)
            .is_ok_and(|b| b.state == queue::State::Active);
        let fence = st
            .last_fences
            .get(index)
            .and_then(Option::as_ref)
            .filter(|_| handed);
        dma_buf_export::export(pages, flags, fence)
    }
}

/// The device's debugfs files, under `/sys/kernel/debug/rvcap/<device>/`:
/// `counters`, `buffers` and `dma_device` (read-only), the error injection knobs
/// `inject_*`, the benchmark knobs `unpaced`, `map_per_qbuf` and
/// `full_sync` and the comparison knob `fences` (see
/// [`super::shared::Knobs`]); with the `edu` DMA master,
/// also `device_stamp` and `inject_dma_after_unmap`.
fn add_debugfs_files<'data>(shared: &'data Shared, dir: &ScopedDir<'data, '_>, edu: bool) {
    dir.read_callback_file(c_str!("counters"), shared, &show_counters);
    dir.read_callback_file(c_str!("buffers"), shared, &show_buffers);
    dir.read_callback_file(c_str!("dma_device"), shared, &show_dma_device);
    let inject = &*shared.inject;
    dir.u32_knob(c_str!("inject_error_every"), &inject.error_every);
    dir.u32_knob(c_str!("inject_drop_every"), &inject.drop_every);
    dir.u32_knob(c_str!("inject_stall_ms"), &inject.stall_ms);
    dir.u32_knob(c_str!("inject_map_failures"), &inject.map_failures);
    dir.u32_knob(
        c_str!("inject_import_skips_cpu_sync"),
        &inject.import_skips_cpu_sync,
    );
    let knobs = &shared.knobs;
    dir.bool_knob(c_str!("unpaced"), &knobs.unpaced);
    dir.bool_knob(c_str!("map_per_qbuf"), &knobs.map_per_qbuf);
    dir.bool_knob(c_str!("full_sync"), &knobs.full_sync);
    dir.bool_knob(c_str!("fences"), &knobs.fences);
    if edu {
        dir.bool_knob(c_str!("device_stamp"), &knobs.device_stamp);
        dir.u32_knob(c_str!("inject_dma_after_unmap"), &inject.dma_after_unmap);
    }
}

/// The `counters` file: what the DMA side and the engine did, one
/// `name value` line each.
fn show_counters(shared: &Shared, w: &mut fmt::Formatter<'_>) -> fmt::Result {
    let st = shared.state.lock();
    let c = st.dma.stats();
    let dma = [
        ("attach", &c.attach),
        ("detach", &c.detach),
        ("map", &c.map),
        ("unmap", &c.unmap),
        ("sync_for_device", &c.sync_for_device),
        ("sync_for_cpu", &c.sync_for_cpu),
        ("bytes_synced_for_device", &c.bytes_for_device),
        ("bytes_synced_for_cpu", &c.bytes_for_cpu),
        ("sync_calls", &c.sync_calls),
        ("sync_before_unmap", &c.sync_before_unmap),
        ("bytes_synced_before_unmap", &c.bytes_before_unmap),
        ("dmabuf_get", &c.get),
        ("dmabuf_put", &c.put),
        ("export", &c.export),
        ("export_release", &c.export_release),
        ("export_begin_cpu_access", &c.export_begin_cpu_access),
        ("export_end_cpu_access", &c.export_end_cpu_access),
        ("export_syncs", &c.export_syncs),
        ("export_unmap_syncs", &c.export_unmap_syncs),
        ("export_pushes", &c.export_pushes),
        ("export_bytes_synced", &c.export_bytes_synced),
    ];
    let frames = &shared.counters;
    let engine = [
        ("frames", &frames.frames),
        ("drops", &frames.drops),
        ("errors", &frames.errors),
        ("fill_ns", &frames.fill_ns),
        ("device_stamps", &frames.device_stamps),
        ("fences_waited", &frames.fences_waited),
        ("fence_wait_ns_total", &frames.fence_wait_ns_total),
        ("fence_wait_ns_max", &frames.fence_wait_ns_max),
        ("fences_published", &shared.fences.stats.published),
        ("fences_signalled", &shared.fences.stats.signalled),
        (
            "fences_signalled_error",
            &shared.fences.stats.signalled_error,
        ),
        ("fence_pool_allocs", &shared.fences.stats.pool_allocs),
    ];
    for (name, value) in Iterator::chain(dma.iter(), engine.iter()) {
        writeln!(w, "{name} {}", value.load(Relaxed))?;
    }
    let skips = st.queue.hint_skips();
    writeln!(w, "cache_hint_skips_for_device {}", skips.for_device)?;
    writeln!(w, "cache_hint_skips_for_cpu {}", skips.for_cpu)?;
    if let Some(edu) = &st.edu {
        // The device's, for all capture devices.
        writeln!(w, "edu_transfers {}", edu.transfers())?;
    }
    Ok(())
}

/// The `dma_device` file: the name of the device buffers are mapped for
/// (the platform device itself, or the PCI DMA master), as the dma-buf
/// core's `bufinfo` names attachments; then `coherent yes` or `coherent no`
/// (whether its syncs do cache maintenance).
fn show_dma_device(shared: &Shared, w: &mut fmt::Formatter<'_>) -> fmt::Result {
    let st = shared.state.lock();
    let dev = st.dma.device();
    writeln!(w, "{}", Text(dev.name()))?;
    let coherent = if dev.is_dma_coherent() { "yes" } else { "no" };
    writeln!(w, "coherent {coherent}")
}

/// The `buffers` file: a header, then one line per plane of each buffer
/// (one per buffer for single-plane buffers): where it is, who owns it,
/// what is attached and mapped.
fn show_buffers(shared: &Shared, w: &mut fmt::Formatter<'_>) -> fmt::Result {
    let st = shared.state.lock();
    writeln!(
        w,
        "index plane memory state    owner  attached mapped dmabuf_size length   queued   exports"
    )?;
    for index in st.queue.indices() {
        let Ok(b) = st.queue.query(&st.dma, index) else {
            continue;
        };
        for (p, plane) in b.planes().iter().enumerate() {
            let exports = st.queue.mapping(index, p).map_or(0, |m| m.exports());
            writeln!(
                w,
                "{:<5} {:<5} {:<6} {:<8} {:<6} {:<8} {:<6} {:<11} {:<8} {:<8} {}",
                index,
                p,
                match b.memory {
                    Memory::Mmap => "mmap",
                    Memory::DmaBuf => "dmabuf",
                },
                match b.state {
                    queue::State::Dequeued => "dequeued",
                    queue::State::Prepared => "prepared",
                    queue::State::Queued => "queued",
                    queue::State::Active => "active",
                    queue::State::Done => "done",
                },
                if b.state.is_cpu_owned() {
                    "cpu"
                } else {
                    "device"
                },
                if plane.attached { "yes" } else { "no" },
                if plane.mapped_for_device { "yes" } else { "no" },
                plane.dmabuf_size,
                plane.length,
                b.times_queued,
                exports,
            )?;
        }
    }
    Ok(())
}
