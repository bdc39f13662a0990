// SPDX-License-Identifier: GPL-2.0

//! What the ioctl side ([`super::capture`]) and the frame engine
//! ([`super::engine`]) share, in one [`Arc`]: the queue and the format under
//! the state lock; the device's queue under a spinlock of its own (the
//! engine never takes the state lock while streaming, so that the path
//! from a buffer handed to the device to its write fence signalled waits
//! for nothing an ioctl holds while it allocates); the condition variables
//! both wait on; the counters and the knobs. Neither side points at the
//! other.
//!
//! The conditions DQBUF and the unpaced engine wait for are read under the
//! device's spinlock, which their condition variables release while they
//! sleep; so whatever changes such a condition changes it under that lock
//! before it notifies, or a notification could come between a waiter's
//! check and its sleep and be lost.

use super::device_dma::KernelDma;
use super::device_work::Work;
use super::edu::EduDma;
use super::inject::Inject;
use crate::format::{FrameFormat, Interval, DEFAULT_INTERVAL};
use crate::kapi::dma_fence::{Fence, FenceSource};
use crate::kapi::log::DevLog;
use crate::kapi::sync::atomic::{Acquire, Atomic, Relaxed, Release};
use crate::kapi::sync::poll::{new_poll_condvar, PollCondVar};
use crate::pattern::Pattern;
use crate::queue::device::{DeviceQueue, Entry, Next};
use crate::queue::{FrameDone, Queue, MAX_BUFFERS};
use kernel::prelude::*;
use kernel::sync::{Arc, CondVar, Mutex, SpinLock};
use kernel::{new_condvar, new_mutex, new_spinlock};

/// Fences kept in each device's pool: enough for every buffer's fence to
/// be waited on while the next is published, and for those released
/// within an RCU grace period at a benchmark's requeue rate.
pub(crate) const POOLED_FENCES: usize = 4 * MAX_BUFFERS;

/// Monotonic time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    crate::kapi::time::ktime_get_ns()
}

/// What the state lock protects.
pub(crate) struct State {
    pub(crate) queue: Queue<KernelDma>,
    pub(crate) dma: KernelDma,
    pub(crate) format: FrameFormat,
    pub(crate) interval: Interval,
    /// Whether this stream publishes and waits for fences (the `fences`
    /// knob, read at STREAMON).
    pub(crate) fences_on: bool,
    /// The write fence each buffer got when last handed to the device, for
    /// a dma-buf exported of it while the device holds it (EXPBUF).
    pub(crate) last_fences: KVec<Option<Fence>>,
    /// The DMA master's DMA engine, if it is QEMU's `edu`; `None` once the
    /// device is disconnected.
    pub(crate) edu: Option<Arc<EduDma>>,
    /// The device went away ([`super::capture::Capture::disconnect`]):
    /// nothing is mapped any more, and every request fails with `ENODEV`.
    pub(crate) disconnected: bool,
}

/// Frame counters of the engine.
pub(crate) struct FrameCounters {
    /// Frames delivered.
    pub(crate) frames: Atomic<u64>,
    /// Frame periods with no buffer queued.
    pub(crate) drops: Atomic<u64>,
    /// Frames delivered with `V4L2_BUF_FLAG_ERROR`.
    pub(crate) errors: Atomic<u64>,
    /// Time spent writing frames into buffers, in nanoseconds.
    pub(crate) fill_ns: Atomic<u64>,
    /// Frames whose first bytes the DMA master's own engine wrote
    /// (`device_stamp`).
    pub(crate) device_stamps: Atomic<u64>,
    /// Foreign fences that had not signalled when a buffer was handed to
    /// the device, so that it waited for them.
    pub(crate) fences_waited: Atomic<u64>,
    /// Time buffers held off by fences waited, from being handed until the
    /// engine found them ready, in nanoseconds: the sum and the longest.
    pub(crate) fence_wait_ns_total: Atomic<u64>,
    pub(crate) fence_wait_ns_max: Atomic<u64>,
}

// By hand: the kernel crate's `Atomic` has no `Default`.
impl Default for FrameCounters {
    fn default() -> Self {
        Self {
            frames: Atomic::new(0),
            drops: Atomic::new(0),
            errors: Atomic::new(0),
            fill_ns: Atomic::new(0),
            device_stamps: Atomic::new(0),
            fences_waited: Atomic::new(0),
            fence_wait_ns_total: Atomic::new(0),
            fence_wait_ns_max: Atomic::new(0),
        }
    }
}

/// Benchmark and comparison modes: debugfs files of each device, read at
/// STREAMON, so that a stream keeps one policy (README "Benchmarks").
pub(crate) struct Knobs {
    /// Fill each buffer as soon as it is queued instead of once per frame
    /// interval, for measuring the queue.
    pub(crate) unpaced: Atomic<bool>,
    /// Map imported dma-bufs at every QBUF and unmap them at DQBUF, as
    /// videobuf2 did before Linux 5.1.
    pub(crate) map_per_qbuf: Atomic<bool>,
    /// DQBUF syncs the whole buffer for the CPU, not just the frame.
    pub(crate) full_sync: Atomic<bool>,
    /// The DMA master's own DMA engine (`edu`) writes the first bytes of
    /// every frame through the IOMMU; only offered with that device.
    pub(crate) device_stamp: Atomic<bool>,
    /// Publish write fences and wait for others' (the default); off only
    /// for comparison.
    pub(crate) fences: Atomic<bool>,
}

// By hand: the kernel crate's `Atomic` has no `Default`.
impl Default for Knobs {
    fn default() -> Self {
        Self {
            unpaced: Atomic::new(false),
            map_per_qbuf: Atomic::new(false),
            full_sync: Atomic::new(false),
            device_stamp: Atomic::new(false),
            fences: Atomic::new(false),
        }
    }
}

impl Knobs {
    fn new() -> Self {
        Self {
            fences: Atomic::new(true),
            ..Self::default()
        }
    }
}

/// The state of one capture device that the engine needs too.
#[pin_data]
pub(crate) struct Shared {
    #[pin]
    pub(crate) state: Mutex<State>,
    /// The buffers handed to the device and the frames it finished.
    #[pin]
    device: SpinLock<DeviceQueue<Work, KVec<Entry<Work>>>>,
    /// Where the device's write fences come from.
    pub(crate) fences: Arc<FenceSource>,
    /// Wakes DQBUF and `poll()` when a frame is finished, the stream stops
    /// or the device goes away.
    #[pin]
    pub(crate) poll: PollCondVar,
    /// Wakes an unpaced engine waiting for work, and any engine that must
    /// stop.
    #[pin]
    work: CondVar,
    /// Counts the wake-ups of `poll` that were not finished frames
    /// (STREAMOFF, disconnect, a frame taken into the queue), so that a
    /// DQBUF waiting without the state lock sees them. Changed under the
    /// device's lock (see the module's doc).
    wakeups: Atomic<u64>,
    /// The running engine must return (set by [`super::engine::Engine`]'s
    /// drop, under the device's lock; cleared before an engine starts,
    /// when none waits).
    engine_stop: Atomic<bool>,
    /// The frame interval, for the engine, which does not take the state
    /// lock.
    interval_ns: Atomic<u64>,
    pub(crate) pattern: Atomic<u32>,
    pub(crate) counters: FrameCounters,
    pub(crate) knobs: Knobs,
    pub(crate) inject: Arc<Inject>,
    pub(crate) log: DevLog,
    /// The instance number (the platform device id).
    pub(crate) index: u32,
    /// Whether the device offers the multi-planar API.
    pub(crate) multiplanar: bool,
}

impl Shared {
    /// The shared state of device `index`, whose DMA side is `dma` and whose
    /// fences come from `fences`.
    pub(crate) fn new(
        index: u32,
        multiplanar: bool,
        dma: KernelDma,
        fences: Arc<FenceSource>,
        edu: Option<Arc<EduDma>>,
        inject: Arc<Inject>,
        log: DevLog,
    ) -> Result<impl PinInit<Self>> {
        let mut entries = KVec::with_capacity(MAX_BUFFERS, GFP_KERNEL)?;
        for _ in 0..MAX_BUFFERS {
            entries.push(Entry::default(), GFP_KERNEL)?;
        }
        let device = DeviceQueue::new(entries);
        let mut last_fences = KVec::with_capacity(MAX_BUFFERS, GFP_KERNEL)?;
        for _ in 0..MAX_BUFFERS {
            last_fences.push(None, GFP_KERNEL)?;
        }
        Ok(pin_init!(Self {
            state <- new_mutex!(
                State {
                    queue: Queue::new(),
                    dma,
                    format: FrameFormat::default_format(),
                    interval: DEFAULT_INTERVAL,
                    fences_on: true,
                    last_fences,
                    edu,
                    disconnected: false,
                },
                "rvcap::state"
            ),
            device <- new_spinlock!(device, "rvcap::device"),
            fences,
            poll <- new_poll_condvar!("rvcap::poll"),
            work <- new_condvar!("rvcap::work"),
            wakeups: Atomic::new(0),
            engine_stop: Atomic::new(false),
            interval_ns: Atomic::new(DEFAULT_INTERVAL.as_nanos()),
            pattern: Atomic::new(Pattern::ColorBars as u32),
            counters: FrameCounters::default(),
            knobs: Knobs::new(),
            inject,
            log,
            index,
            multiplanar,
        }))
    }

    /// The test pattern the engine draws.
    pub(crate) fn pattern(&self) -> Pattern {
        Pattern::from_index(self.pattern.load(Relaxed)).unwrap_or(Pattern::ColorBars)
    }

    /// Wakes whoever waits for a buffer or polls, for a change they must
    /// see under the state lock.
    pub(crate) fn wake_waiters(&self) {
        {
            let _device = self.device.lock();
            self.wakeups.fetch_add(1, Release);
        }
        self.poll.notify_all();
    }

    /// Sets the frame interval (under the state lock, which holds it too).
    pub(crate) fn set_interval(&self, st: &mut State, interval: Interval) {
        st.interval = interval;
        self.interval_ns.store(interval.as_nanos(), Relaxed);
    }

    // ---- ioctl side (under the state lock)

    /// Hands every queued buffer to the device, if streaming: each with its
    /// mappings and, with fences on, its write fence published and the
    /// fences it must wait for. Returns whether it handed any: then the
    /// caller wakes an unpaced engine ([`Shared::wake_engine`]) once it has
    /// let go of the state lock.
    pub(crate) fn hand_queued(&self, st: &mut State) -> bool {
        let mut handed = false;
        while let Some((index, planes)) = st.queue.hand_to_device() {
            let fences = st.fences_on.then_some(&self.fences);
            let cpu_sync = st.queue.cpu_syncs(index);
            let work = Work::new(index, planes, cpu_sync, fences, &self.log, now_ns());
            if let Some(last) = st.last_fences.get_mut(index) {
                *last = work.write.as_ref().and_then(|w| w.fence().cloned());
            }
            // Published outside the spinlock (reservation locks), dropped
            // outside it too if it comes back.
            let refused = self.device.lock().hand(index, work);
            if let Err(work) = refused {
                // Cannot happen: the queue hands a buffer once.
                self.log
                    .warn(format_args!("buffer {index} handed to the device twice"));
                drop(work);
            }
            handed = true;
        }
        handed
    }

    /// Wakes an unpaced engine waiting for work (handed under the device's
    /// lock).
    pub(crate) fn wake_engine(&self) {
        self.work.notify_all();
    }

    /// Moves the frames the device finished into the queue.
    pub(crate) fn take_finished(&self, st: &mut State) {
        let mut moved = false;
        loop {
            let Some((index, frame)) = self.device.lock().take_finished() else {
                break;
            };
            // Signalled: no export made from now on needs it, and a fence
            // kept would keep the module (its fences hold it) loaded.
            if let Some(last) = st.last_fences.get_mut(index) {
                *last = None;
            }
            moved |= st.queue.finish_frame(index, frame);
        }
        if moved {
            // A DQBUF waiting without the state lock must look again.
            self.wake_waiters();
        }
    }

    /// After the engine stopped: takes back every buffer the device still
    /// holds, unwritten (their write fences signal `-ECANCELED`), and the
    /// frames it finished into the queue.
    pub(crate) fn take_back(&self, st: &mut State) {
        self.take_finished(st);
        for last in st.last_fences.iter_mut() {
            *last = None;
        }
        loop {
            // The guard goes at the end of the statement: the work (its
            // fence signalled, its mappings let go) is dropped unlocked.
            let Some((_, work)) = self.device.lock().take_handed() else {
                break;
            };
            drop(work);
        }
    }

    /// Waits (interruptibly) until a frame is finished or another wake-up
    /// comes after `seen` ([`Shared::wakeups`]); `ERESTARTSYS` on a signal.
    pub(crate) fn wait_for_done(&self, seen: u64) -> Result {
        let mut device = self.device.lock();
        while !device.has_finished() && self.wakeups.load(Acquire) == seen {
            if self.poll.wait_interruptible(&mut device) {
                return Err(ERESTARTSYS);
            }
        }
        Ok(())
    }

    /// The count of wake-ups so far, taken under the state lock before
    /// [`Shared::wait_for_done`].
    pub(crate) fn wakeups(&self) -> u64 {
        self.wakeups.load(Acquire)
    }

    /// Before starting an engine (under the control lock).
    pub(crate) fn engine_starts(&self) {
        self.engine_stop.store(false, Relaxed);
    }

    /// The engine must return: tells it, and wakes it if it waits.
    pub(crate) fn stop_engine(&self) {
        {
            let _device = self.device.lock();
            self.engine_stop.store(true, Release);
        }
        self.work.notify_all();
    }

    // ---- engine side (never the state lock)

    /// The engine's frame period.
    pub(crate) fn frame_interval_ns(&self) -> u64 {
        self.interval_ns.load(Relaxed)
    }

    /// The engine takes the oldest buffer it may write.
    pub(crate) fn take_work(&self) -> Next<Work> {
        self.device.lock().take_ready()
    }

    /// The unpaced engine waits until a buffer handed to it is ready, or it
    /// must stop; `false` if it must stop. Held-off buffers are looked at
    /// again every jiffy: a fence's signal does not wake it.
    pub(crate) fn wait_for_work(&self) -> bool {
        let mut device = self.device.lock();
        loop {
            if self.engine_stop.load(Acquire) {
                return false;
            }
            if device.has_ready() {
                return true;
            }
            // Interruptible, so that a long wait does not count as a hung
            // task; a kthread gets no signals (it allows none), so it only
            // wakes when notified, at the timeout, or spuriously by
            // `kthread_stop`, which `Engine`'s drop calls only after
            // `stop_engine`.
            if device.has_handed() {
                let _ = self.work.wait_interruptible_timeout(&mut device, 1);
            } else {
                let _ = self.work.wait_interruptible(&mut device);
            }
        }
    }

    /// The engine spent `ns` nanoseconds writing a frame.
    pub(crate) fn frame_filled(&self, ns: u64) {
        self.counters.fill_ns.fetch_add(ns, Relaxed);
    }

    /// The engine found no buffer it could write for a frame period.
    pub(crate) fn frame_dropped(&self) {
        self.counters.drops.fetch_add(1, Relaxed);
    }

    /// The engine took a buffer that waited `ns` for `fences` fences.
    pub(crate) fn fences_waited(&self, fences: usize, ns: u64) {
        let c = &self.counters;
        c.fences_waited.fetch_add(fences as u64, Relaxed);
        c.fence_wait_ns_total.fetch_add(ns, Relaxed);
        // A maximum (the LKMM's atomics have no `fetch_max`).
        let mut max = c.fence_wait_ns_max.load(Relaxed);
        while ns > max {
            match c.fence_wait_ns_max.cmpxchg(max, ns, Relaxed) {
                Ok(_) => break,
                Err(now) => max = now,
            }
        }
    }

    /// The engine finished buffer `index` (its write fence signalled).
    pub(crate) fn finish_frame(&self, index: usize, frame: FrameDone) {
        if !self.device.lock().finish(index, frame) {
            self.log
                .warn(format_args!("buffer {index} finished twice by the device"));
            return;
        }
        self.counters.frames.fetch_add(1, Relaxed);
        if frame.error {
            self.counters.errors.fetch_add(1, Relaxed);
        }
        self.poll.notify_all();
    }
}
