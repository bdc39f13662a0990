// SPDX-License-Identifier: GPL-2.0

//! One capture device: the V4L2 semantics on top of the queue core, the
//! frame engine and the DMA side. `v4l2.rs` adapts the C callbacks to the
//! methods here.
//!
//! # Locking
//!
//! Two mutexes, always taken in this order:
//! - `control` serialises what starts or stops the engine or frees buffers
//!   (REQBUFS, CREATE_BUFS, STREAMON, STREAMOFF, close). It is held while the
//!   engine thread is stopped, so nobody sees a half-stopped stream.
//! - `state` protects the queue and the format. QBUF, DQBUF, poll, mmap and
//!   the engine take only this one, briefly; a blocking DQBUF waits on
//!   `done` with it released.

use crate::bindings;
use crate::dma::{KernelDma, Mapping};
use crate::engine::Engine;
use crate::format::{self, FrameFormat, Interval, DEFAULT_INTERVAL};
use crate::inject::Inject;
use crate::log::DevLog;
use crate::pattern::Pattern;
use crate::queue::{
    self, BufferInfo, Errno, FrameDone, Memory, OwnerId, Policy, Queue, QueueRequest,
};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::{Arc, CondVar, Mutex};
use kernel::types::Opaque;
use kernel::{new_condvar, new_mutex};

/// What the queue lock protects.
pub(crate) struct State {
    pub(crate) queue: Queue<KernelDma>,
    pub(crate) dma: KernelDma,
    pub(crate) format: FrameFormat,
    pub(crate) interval: Interval,
}

/// What the control lock protects.
struct Control {
    engine: Option<Engine>,
}

/// Frame counters of the engine.
#[derive(Default)]
pub(crate) struct FrameCounters {
    /// Frames delivered.
    pub(crate) frames: AtomicU64,
    /// Frame periods with no buffer queued.
    pub(crate) drops: AtomicU64,
    /// Frames delivered with `V4L2_BUF_FLAG_ERROR`.
    pub(crate) errors: AtomicU64,
    /// Time spent writing frames into buffers, in nanoseconds.
    pub(crate) fill_ns: AtomicU64,
}

/// A capture device. Pinned: the C structures inside it are registered with
/// the V4L2 core by `v4l2.rs`, which also frees it (from the `v4l2_device`
/// release callback).
#[pin_data]
pub(crate) struct Capture {
    #[pin]
    pub(crate) v4l2_dev: Opaque<bindings::v4l2_device>,
    #[pin]
    pub(crate) vdev: Opaque<bindings::video_device>,
    #[pin]
    pub(crate) ctrls: Opaque<bindings::v4l2_ctrl_handler>,
    #[pin]
    pub(crate) fops: Opaque<bindings::v4l2_file_operations>,
    #[pin]
    poll_wq: Opaque<bindings::wait_queue_head>,
    /// Wakes an unpaced engine waiting for a queued buffer.
    #[pin]
    kick: Opaque<bindings::rvcap_kick>,
    #[pin]
    control: Mutex<Control>,
    #[pin]
    state: Mutex<State>,
    #[pin]
    done: CondVar,
    pattern: AtomicU32,
    counters: FrameCounters,
    warned_small_dmabuf: AtomicBool,
    debugfs: AtomicPtr<bindings::dentry>,
    inject: Arc<Inject>,
    index: u32,
    log: DevLog,
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
        Errno::NoBufs => Error::from_errno(-(bindings::ENOBUFS as i32)),
        Errno::Dma(code) => Error::from_errno(code),
    }
}

impl Capture {
    /// A capture device doing DMA for `dev`, instance `index`.
    ///
    /// # Safety
    ///
    /// `dev` must be a registered device with a DMA mask that outlives the
    /// capture device.
    pub(crate) unsafe fn new(
        dev: *mut bindings::device,
        index: u32,
    ) -> Result<impl PinInit<Self, Error>> {
        // SAFETY: the caller guarantees `dev` outlives us.
        let log = unsafe { DevLog::new(dev) };
        // SAFETY: reads a module parameter.
        let contiguous = unsafe { bindings::rvcap_param_contig() };
        let inject = Arc::new(Inject::default(), GFP_KERNEL)?;
        // SAFETY: as above.
        let dma = unsafe { KernelDma::new(dev, log, contiguous, inject.clone())? };
        Ok(try_pin_init!(Self {
            v4l2_dev: Opaque::uninit(),
            vdev: Opaque::uninit(),
            ctrls: Opaque::uninit(),
            fops: Opaque::uninit(),
            // SAFETY: `init_waitqueue_head` initialises the wait queue in
            // place; it is pinned from here on.
            poll_wq <- Opaque::ffi_init(|wq| unsafe { bindings::rvcap_init_waitqueue_head(wq) }),
            // SAFETY: `rvcap_kick_init` initialises the kick in place; it is
            // pinned from here on.
            kick <- Opaque::ffi_init(|kick| unsafe { bindings::rvcap_kick_init(kick) }),
            control <- new_mutex!(Control { engine: None }, "rvcap::control"),
            state <- new_mutex!(
                State {
                    queue: Queue::new(),
                    dma,
                    format: FrameFormat::default_format(),
                    interval: DEFAULT_INTERVAL,
                },
                "rvcap::state"
            ),
            done <- new_condvar!("rvcap::done"),
            pattern: AtomicU32::new(Pattern::ColorBars as u32),
            counters: FrameCounters::default(),
            warned_small_dmabuf: AtomicBool::new(false),
            debugfs: AtomicPtr::new(core::ptr::null_mut()),
            inject,
            index,
            log,
        }? Error))
    }

    /// The instance number (the platform device id).
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Kernel log messages about this device.
    pub(crate) fn log(&self) -> &DevLog {
        &self.log
    }

    /// Logs why a request from userspace failed (rate-limited debug) and
    /// converts the queue error to a kernel error. A too small dma-buf (QBUF
    /// or PREPARE_BUF) is also worth one warning: an exporter set up for
    /// another format.
    fn refuse(&self, what: &str, e: queue::Error) -> Error {
        if e == queue::Error::DMABUF_TOO_SMALL
            && !self.warned_small_dmabuf.swap(true, Ordering::Relaxed)
        {
            self.log.warn(format_args!(
                "{what}: a dma-buf smaller than the format's buffers was refused with EINVAL (warned once)"
            ));
        }
        self.log.dbg(format_args!("{what}: {}", e.why));
        to_error(e)
    }

    /// Runs `f` with the queue state locked.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock())
    }

    /// Engine counters.
    pub(crate) fn frame_counters(&self) -> &FrameCounters {
        &self.counters
    }

    /// The error injection knobs.
    pub(crate) fn inject(&self) -> &Inject {
        &self.inject
    }

    // ---- debugfs

    /// The `counters` debugfs file: one `name value` line each.
    pub(crate) fn write_counters(&self, w: &mut impl fmt::Write) -> fmt::Result {
        let st = self.state.lock();
        let c = st.dma.counters();
        let dma = [
            ("attach", &c.attach),
            ("detach", &c.detach),
            ("map", &c.map),
            ("unmap", &c.unmap),
            ("sync_for_device", &c.sync_for_device),
            ("sync_for_cpu", &c.sync_for_cpu),
            ("bytes_synced_for_device", &c.bytes_for_device),
            ("bytes_synced_for_cpu", &c.bytes_for_cpu),
            ("sync_before_unmap", &c.sync_before_unmap),
            ("bytes_synced_before_unmap", &c.bytes_before_unmap),
            ("dmabuf_get", &c.get),
            ("dmabuf_put", &c.put),
        ];
        let engine = [
            ("frames", &self.counters.frames),
            ("drops", &self.counters.drops),
            ("errors", &self.counters.errors),
            ("fill_ns", &self.counters.fill_ns),
        ];
        for (name, value) in Iterator::chain(dma.iter(), engine.iter()) {
            writeln!(w, "{name} {}", value.load(Ordering::Relaxed))?;
        }
        Ok(())
    }

    /// The `buffers` debugfs file: a header, then one line per buffer.
    pub(crate) fn write_buffers(&self, w: &mut impl fmt::Write) -> fmt::Result {
        let st = self.state.lock();
        writeln!(
            w,
            "index memory state    owner  attached mapped dmabuf_size length   queued"
        )?;
        for index in 0..st.queue.count() {
            let Ok(b) = st.queue.query(&st.dma, index) else {
                continue;
            };
            writeln!(
                w,
                "{:<5} {:<6} {:<8} {:<6} {:<8} {:<6} {:<11} {:<8} {}",
                index,
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
                if b.attached { "yes" } else { "no" },
                if b.mapped_for_device { "yes" } else { "no" },
                b.dmabuf_size,
                b.length,
                b.times_queued,
            )?;
        }
        Ok(())
    }

    // ---- controls

    /// The test pattern the engine draws.
    pub(crate) fn pattern(&self) -> Pattern {
        Pattern::from_index(self.pattern.load(Ordering::Relaxed)).unwrap_or(Pattern::ColorBars)
    }

    /// `V4L2_CID_TEST_PATTERN` changed.
    pub(crate) fn set_pattern(&self, index: u32) -> Result {
        Pattern::from_index(index).ok_or(EINVAL)?;
        self.pattern.store(index, Ordering::Relaxed);
        Ok(())
    }

    // ---- formats and parameters

    /// VIDIOC_G_FMT.
    pub(crate) fn format(&self) -> FrameFormat {
        self.state.lock().format
    }

    /// VIDIOC_S_FMT: `EBUSY` once buffers exist.
    pub(crate) fn set_format(&self, fourcc: u32, width: u32, height: u32) -> Result<FrameFormat> {
        let mut st = self.state.lock();
        let format = FrameFormat::negotiate(fourcc, width, height);
        if st.queue.is_busy() {
            if format != st.format {
                self.log
                    .dbg(format_args!("S_FMT while buffers are allocated"));
                return Err(EBUSY);
            }
            return Ok(format);
        }
        st.format = format;
        Ok(format)
    }

    /// VIDIOC_G_PARM.
    pub(crate) fn interval(&self) -> Interval {
        self.state.lock().interval
    }

    /// VIDIOC_S_PARM: the nearest supported interval; applies at once, also
    /// while streaming.
    pub(crate) fn set_interval(&self, numerator: u32, denominator: u32) -> Interval {
        let mut st = self.state.lock();
        st.interval = Interval::nearest(numerator, denominator);
        st.interval
    }

    /// The engine's frame period.
    pub(crate) fn frame_interval_ns(&self) -> u64 {
        self.state.lock().interval.as_nanos()
    }

    // ---- buffers

    /// VIDIOC_REQBUFS.
    pub(crate) fn reqbufs(&self, who: OwnerId, memory: Memory, count: usize) -> Result<usize> {
        let _control = self.control.lock();
        let mut st = self.state.lock();
        let size = st.format.size_image as usize;
        let State { queue, dma, .. } = &mut *st;
        queue
            .reqbufs(dma, who, memory, count, size)
            .map_err(|e| self.refuse("REQBUFS", e))
    }

    /// VIDIOC_CREATE_BUFS with buffers of `size` bytes (at least the current
    /// format's). Returns the first index and how many were created.
    pub(crate) fn create_bufs(
        &self,
        who: OwnerId,
        memory: Memory,
        count: usize,
        size: usize,
    ) -> Result<(usize, usize)> {
        let _control = self.control.lock();
        let mut st = self.state.lock();
        if count > 0 && size < st.format.size_image as usize {
            self.log.dbg(format_args!(
                "CREATE_BUFS: {size} bytes is smaller than the format"
            ));
            return Err(EINVAL);
        }
        if size > format::MAX_SIZE_IMAGE as usize {
            self.log.dbg(format_args!(
                "CREATE_BUFS: {size} bytes is larger than any frame"
            ));
            return Err(EINVAL);
        }
        let State { queue, dma, .. } = &mut *st;
        queue
            .create_bufs(dma, who, memory, count, size)
            .map_err(|e| self.refuse("CREATE_BUFS", e))
    }

    /// VIDIOC_QUERYBUF.
    pub(crate) fn querybuf(&self, index: usize) -> Result<BufferInfo> {
        let st = self.state.lock();
        st.queue
            .query(&st.dma, index)
            .map_err(|e| self.refuse("QUERYBUF", e))
    }

    /// VIDIOC_PREPARE_BUF.
    pub(crate) fn prepare_buf(&self, who: OwnerId, req: &QueueRequest) -> Result<BufferInfo> {
        let mut st = self.state.lock();
        let State { queue, dma, .. } = &mut *st;
        queue
            .prepare(dma, who, req)
            .map_err(|e| self.refuse("PREPARE_BUF", e))
    }

    /// VIDIOC_QBUF.
    pub(crate) fn qbuf(&self, who: OwnerId, req: &QueueRequest) -> Result<BufferInfo> {
        let info = {
            let mut st = self.state.lock();
            let State { queue, dma, .. } = &mut *st;
            queue
                .qbuf(dma, who, req)
                .map_err(|e| self.refuse("QBUF", e))?
        };
        // SAFETY: the kick was initialised in `new` and is pinned.
        unsafe { bindings::rvcap_kick(self.kick.get()) };
        Ok(info)
    }

    /// VIDIOC_DQBUF: waits (interruptibly) for a done buffer unless
    /// `nonblock`; STREAMOFF ends the wait with `EINVAL`.
    pub(crate) fn dqbuf(&self, who: OwnerId, memory: Memory, nonblock: bool) -> Result<BufferInfo> {
        let mut st = self.state.lock();
        loop {
            let State { queue, dma, .. } = &mut *st;
            match queue.dqbuf(dma, who, memory) {
                Err(e) if e.errno == Errno::EAGAIN && !nonblock => {
                    if self.done.wait_interruptible(&mut st) {
                        return Err(ERESTARTSYS);
                    }
                }
                Err(e) if e.errno == Errno::EAGAIN => return Err(EAGAIN),
                other => return other.map_err(|e| self.refuse("DQBUF", e)),
            }
        }
    }

    /// VIDIOC_STREAMON: starts the engine, with the benchmark modes the
    /// module parameters `unpaced`, `map_per_qbuf` and `full_sync` ask for.
    pub(crate) fn streamon(&self, who: OwnerId) -> Result {
        let mut control = self.control.lock();
        let mut st = self.state.lock();
        st.queue
            .streamon(who)
            .map_err(|e| self.refuse("STREAMON", e))?;
        if control.engine.is_none() {
            // SAFETY: these only read module parameters.
            let (unpaced, policy) = unsafe {
                (
                    bindings::rvcap_param_unpaced(),
                    Policy {
                        map_per_qbuf: bindings::rvcap_param_map_per_qbuf(),
                        full_sync: bindings::rvcap_param_full_sync(),
                    },
                )
            };
            if unpaced || policy != Policy::default() {
                self.log.info(format_args!(
                    "streaming in a benchmark mode: unpaced={} map_per_qbuf={} full_sync={}",
                    u8::from(unpaced),
                    u8::from(policy.map_per_qbuf),
                    u8::from(policy.full_sync)
                ));
            }
            st.queue.set_policy(policy);
            // SAFETY: the engine is stopped before this device is freed:
            // STREAMOFF or close of the owner stops it, and the device is only
            // freed with no file open (see `v4l2.rs`), after `shutdown`.
            match unsafe { Engine::start(self, st.format, unpaced) } {
                Ok(engine) => control.engine = Some(engine),
                Err(e) => {
                    let State { queue, dma, .. } = &mut *st;
                    let _ = queue.streamoff(dma, who);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// VIDIOC_STREAMOFF: stops the engine and waits for it, then returns
    /// every buffer to the application (unmapping imports).
    pub(crate) fn streamoff(&self, who: OwnerId) -> Result {
        let mut control = self.control.lock();
        if self
            .state
            .lock()
            .queue
            .owner()
            .is_some_and(|owner| owner != who)
        {
            self.log.dbg(format_args!(
                "STREAMOFF: the queue belongs to another file handle"
            ));
            return Err(EBUSY);
        }
        self.stop_then(&mut control, |queue, dma| {
            queue
                .streamoff(dma, who)
                .map_err(|e| self.refuse("STREAMOFF", e))
        })
    }

    /// Close of file handle `who`: if it owns the queue, stop streaming and
    /// release every buffer.
    pub(crate) fn release(&self, who: OwnerId) {
        let mut control = self.control.lock();
        if self.state.lock().queue.owner() == Some(who) {
            self.stop_then(&mut control, |queue, dma| queue.release(dma, who));
        }
    }

    /// Stops the engine and waits for it, then runs `op` on the queue and
    /// wakes whoever waits for a buffer or polls.
    fn stop_then<R>(
        &self,
        control: &mut Control,
        op: impl FnOnce(&mut Queue<KernelDma>, &mut KernelDma) -> R,
    ) -> R {
        // Stopped without the state lock: the engine may be waiting for it.
        drop(control.engine.take());
        let result = {
            let mut st = self.state.lock();
            let State { queue, dma, .. } = &mut *st;
            op(queue, dma)
        };
        self.wake_waiters();
        result
    }

    /// Creates this device's debugfs directory, named `name`.
    pub(crate) fn add_debugfs(&self, name: &kernel::str::CStr) {
        let inject: *const Inject = &*self.inject;
        // SAFETY: `name` is NUL-terminated; the data pointer is this device,
        // which removes the directory (waiting for readers and writers)
        // before it goes, and the knobs (`#[repr(C)]`, laid out as
        // `struct rvcap_inject`) live in an `Arc` this device holds.
        let dir = unsafe {
            bindings::rvcap_debugfs_add(
                name.as_char_ptr(),
                (self as *const Self).cast_mut().cast(),
                inject.cast_mut().cast(),
            )
        };
        self.debugfs.store(dir, Ordering::Relaxed);
    }

    /// Stops the engine if it still runs and removes the debugfs files: the
    /// device is going away.
    pub(crate) fn shutdown(&self) {
        let dir = self.debugfs.swap(core::ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: `dir` came from `rvcap_debugfs_add` (or is null, which
        // debugfs ignores) and is removed once.
        unsafe { bindings::rvcap_debugfs_remove(dir) };
        drop(self.control.lock().engine.take());
    }

    // ---- poll

    /// The wait queue poll() sleeps on.
    pub(crate) fn poll_wait_queue(&self) -> *mut bindings::wait_queue_head {
        self.poll_wq.get()
    }

    /// Buffer readiness for poll(): `None` while not streaming (EPOLLERR),
    /// else whether a buffer is done.
    pub(crate) fn poll_ready(&self) -> Option<bool> {
        let st = self.state.lock();
        st.queue.is_streaming().then(|| st.queue.has_done())
    }

    fn wake_waiters(&self) {
        self.done.notify_all();
        // SAFETY: the wait queue was initialised in `new` and is pinned.
        unsafe { bindings::rvcap_wake_up_interruptible(self.poll_wq.get()) };
    }

    // ---- mmap

    /// The memory of MMAP buffer `index`, for mmap().
    pub(crate) fn mmap_memory(&self, index: usize) -> Result<Mapping> {
        let st = self.state.lock();
        st.queue
            .mmap_buffer(index)
            .cloned()
            .map_err(|e| self.refuse("mmap", e))
    }

    // ---- engine side

    /// The engine takes the oldest queued buffer, if streaming.
    pub(crate) fn start_frame(&self) -> Option<(usize, Mapping)> {
        self.state.lock().queue.start_frame()
    }

    /// The unpaced engine waits until a buffer is queued while streaming,
    /// or until it is asked to stop.
    pub(crate) fn wait_for_queued(&self, should_stop: impl Fn() -> bool) {
        loop {
            if should_stop() {
                return;
            }
            {
                let st = self.state.lock();
                if st.queue.is_streaming() && st.queue.queued_count() > 0 {
                    return;
                }
            }
            // SAFETY: the kick was initialised in `new` and is pinned; this
            // runs on the engine kthread, which `kthread_stop` wakes.
            unsafe { bindings::rvcap_kick_wait(self.kick.get()) };
        }
    }

    /// The engine spent `ns` nanoseconds writing a frame.
    pub(crate) fn frame_filled(&self, ns: u64) {
        self.counters.fill_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The engine found no buffer queued for a frame period.
    pub(crate) fn frame_dropped(&self) {
        self.counters.drops.fetch_add(1, Ordering::Relaxed);
    }

    /// The engine filled buffer `index`.
    pub(crate) fn finish_frame(&self, index: usize, frame: FrameDone) {
        let finished = self.state.lock().queue.finish_frame(index, frame);
        if finished {
            self.counters.frames.fetch_add(1, Ordering::Relaxed);
            if frame.error {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
            }
            self.wake_waiters();
        }
    }
}
