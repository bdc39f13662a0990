// SPDX-License-Identifier: GPL-2.0

//! What the ioctl side ([`super::capture`]) and the frame engine
//! ([`super::engine`]) share, in one [`Arc`]: the queue and the format under
//! the state lock, the condition variables both sides wait on, the counters
//! and the knobs. Neither side points at the other.

use super::device_dma::KernelDma;
use super::edu::EduDma;
use super::inject::Inject;
use crate::format::{FrameFormat, Interval, DEFAULT_INTERVAL};
use crate::kapi::log::DevLog;
use crate::kapi::poll::PollQueue;
use crate::pattern::Pattern;
use crate::queue::{FrameDone, Queue};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::{Arc, CondVar, Mutex};
use kernel::{new_condvar, new_mutex};

/// What the state lock protects.
pub(crate) struct State {
    pub(crate) queue: Queue<KernelDma>,
    pub(crate) dma: KernelDma,
    pub(crate) format: FrameFormat,
    pub(crate) interval: Interval,
    /// The running engine must return (set by [`super::engine::Engine`]'s
    /// drop, under this lock, so that its wait cannot miss it).
    pub(crate) engine_stop: bool,
    /// The DMA master's DMA engine, if it is QEMU's `edu`; `None` once the
    /// device is disconnected.
    pub(crate) edu: Option<Arc<EduDma>>,
    /// The device went away ([`super::capture::Capture::disconnect`]):
    /// nothing is mapped any more, and every request fails with `ENODEV`.
    pub(crate) disconnected: bool,
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
    /// Frames whose first bytes the DMA master's own engine wrote
    /// (`device_stamp`).
    pub(crate) device_stamps: AtomicU64,
}

/// Benchmark and comparison modes: debugfs files of each device, read at
/// STREAMON, so that a stream keeps one policy (README "Benchmarks").
#[derive(Default)]
pub(crate) struct Knobs {
    /// Fill each buffer as soon as it is queued instead of once per frame
    /// interval, for measuring the queue.
    pub(crate) unpaced: AtomicBool,
    /// Map imported dma-bufs at every QBUF and unmap them at DQBUF, as
    /// videobuf2 did before Linux 5.1.
    pub(crate) map_per_qbuf: AtomicBool,
    /// DQBUF syncs the whole buffer for the CPU, not just the frame.
    pub(crate) full_sync: AtomicBool,
    /// The DMA master's own DMA engine (`edu`) writes the first bytes of
    /// every frame through the IOMMU; only offered with that device.
    pub(crate) device_stamp: AtomicBool,
}

/// The state of one capture device that the engine needs too.
#[pin_data]
pub(crate) struct Shared {
    #[pin]
    pub(crate) state: Mutex<State>,
    /// A buffer is done, or the stream stopped: wakes blocking DQBUFs.
    #[pin]
    pub(crate) done: CondVar,
    /// A buffer was queued, or the engine must stop: wakes an unpaced
    /// engine waiting for work.
    #[pin]
    pub(crate) work: CondVar,
    /// Wakes `poll()` when a buffer is done or the stream stops.
    #[pin]
    pub(crate) poll: PollQueue,
    pub(crate) pattern: AtomicU32,
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
    /// The shared state of device `index`, whose DMA side is `dma`.
    pub(crate) fn new(
        index: u32,
        multiplanar: bool,
        dma: KernelDma,
        edu: Option<Arc<EduDma>>,
        inject: Arc<Inject>,
        log: DevLog,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            state <- new_mutex!(
                State {
                    queue: Queue::new(),
                    dma,
                    format: FrameFormat::default_format(),
                    interval: DEFAULT_INTERVAL,
                    engine_stop: false,
                    edu,
                    disconnected: false,
                },
                "rvcap::state"
            ),
            done <- new_condvar!("rvcap::done"),
            work <- new_condvar!("rvcap::work"),
            poll <- PollQueue::new(),
            pattern: AtomicU32::new(Pattern::ColorBars as u32),
            counters: FrameCounters::default(),
            knobs: Knobs::default(),
            inject,
            log,
            index,
            multiplanar,
        })
    }

    /// The test pattern the engine draws.
    pub(crate) fn pattern(&self) -> Pattern {
        Pattern::from_index(self.pattern.load(Ordering::Relaxed)).unwrap_or(Pattern::ColorBars)
    }

    /// Wakes whoever waits for a buffer or polls.
    pub(crate) fn wake_waiters(&self) {
        self.done.notify_all();
        self.poll.wake_up();
    }

    // ---- engine side

    /// The engine's frame period.
    pub(crate) fn frame_interval_ns(&self) -> u64 {
        self.state.lock().interval.as_nanos()
    }

    /// The engine takes the oldest queued buffer, if streaming.
    pub(crate) fn start_frame(
        &self,
    ) -> Option<(
        usize,
        [Option<crate::kapi::dma::Mapping>; crate::queue::MAX_PLANES],
    )> {
        self.state.lock().queue.start_frame()
    }

    /// The unpaced engine waits until a buffer is queued while streaming,
    /// or until it must stop; `false` if it must stop.
    pub(crate) fn wait_for_queued(&self) -> bool {
        let mut st = self.state.lock();
        loop {
            if st.engine_stop {
                return false;
            }
            if st.queue.is_streaming() && st.queue.queued_count() > 0 {
                return true;
            }
            // Interruptible, so that a long wait does not count as a hung
            // task; a kthread gets no signals, so it only wakes when notified.
            let _ = self.work.wait_interruptible(&mut st);
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
