// SPDX-License-Identifier: GPL-2.0

//! The frame engine: rvcap's "hardware". A kernel thread per stream that,
//! once per frame interval, takes the oldest queued buffer, writes a frame
//! into it through its DMA addresses only, and marks it done. Unpaced (the
//! `unpaced` knob, for benchmarks) it fills each buffer as soon as it is
//! queued instead, so that the queue's own cost shows. Stopping the engine
//! (dropping [`Engine`]) waits until the thread no longer touches any
//! buffer. The thread holds an [`Arc`] of the [`Shared`] state, nothing
//! else of the device.

use super::inject::Inject;
use super::shared::Shared;
use crate::format::FrameFormat;
use crate::kapi::kthread::{Current, Thread};
use crate::kapi::ratelimit::ratelimit;
use crate::pattern::{self, FrameSink, Renderer};
use crate::queue::FrameDone;
use core::sync::atomic::Ordering;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::time::Ktime;

/// Monotonic time in nanoseconds.
fn now_ns() -> u64 {
    u64::try_from(Ktime::ktime_get().to_ns()).unwrap_or(0)
}

fn ktime(ns: u64) -> Ktime {
    Ktime::from_raw(i64::try_from(ns).unwrap_or(i64::MAX))
}

/// A running engine. Dropping it stops the thread and waits for it.
pub(crate) struct Engine {
    shared: Arc<Shared>,
    // `None` once stopped (in `drop`).
    thread: Option<Thread>,
}

impl Engine {
    /// Starts filling the queued buffers of `shared` with frames in
    /// `format`, once per frame interval or, `unpaced`, as soon as they are
    /// queued. The caller clears `engine_stop` first.
    pub(crate) fn start(shared: &Arc<Shared>, format: FrameFormat, unpaced: bool) -> Result<Self> {
        let mut template = KVec::from_elem(0, pattern::template_len(&format), GFP_KERNEL)?;
        let thread_shared = shared.clone();
        let thread = Thread::spawn(shared.index, move |current| {
            run(current, &thread_shared, format, &mut template, unpaced)
        })?;
        Ok(Self {
            shared: shared.clone(),
            thread: Some(thread),
        })
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // An unpaced engine may wait for work: tell it under the lock it
        // waits with, so that the request cannot slip past its check.
        self.shared.state.lock().engine_stop = true;
        self.shared.work.notify_all();
        // Stops a paced engine's sleep, then waits for the thread to return.
        drop(self.thread.take());
    }
}

fn run(
    current: &Current,
    shared: &Shared,
    format: FrameFormat,
    template: &mut [u8],
    unpaced: bool,
) {
    let inject = &*shared.inject;
    let mut sequence: u32 = 0;
    // Frame periods so far, for the "every Nth frame" injection knobs.
    let mut period: u64 = 0;
    let mut next = now_ns();
    while !current.should_stop() {
        if unpaced {
            if !shared.wait_for_queued() {
                break;
            }
        } else {
            let interval = shared.frame_interval_ns();
            next += interval;
            let now = now_ns();
            if now > next + interval {
                // More than a frame late (a stall): do not catch up in a burst.
                next = now;
            }
            current.sleep_until(ktime(next));
        }
        if current.should_stop() {
            break;
        }
        let stall = u64::from(inject.stall_ms.load(Ordering::Relaxed));
        if stall > 0 {
            current.sleep_until(ktime(now_ns() + stall * 1_000_000));
            if current.should_stop() {
                break;
            }
        }
        period += 1;
        let this = sequence;
        sequence = sequence.wrapping_add(1);
        if Inject::hits(&inject.drop_every, period) {
            shared.frame_dropped();
            continue;
        }
        let Some((index, memory)) = shared.start_frame() else {
            shared.frame_dropped();
            continue;
        };
        let Some(renderer) = Renderer::new(format, shared.pattern(), this, template) else {
            // Cannot happen: the template was sized for this format.
            shared.finish_frame(index, frame(0, this, true));
            continue;
        };
        // An injected error frame is cut off halfway, as by a bus error.
        let error = Inject::hits(&inject.error_every, period);
        let size = format.size_image as usize / if error { 2 } else { 1 };
        let started = now_ns();
        // The buffer is `Active`: `start_frame` handed it to this thread
        // synced for the device, and nothing takes it back before
        // `finish_frame` (STREAMOFF and close stop this thread first).
        let reached = memory.write_as_device(|offset, window| {
            let room = window.room();
            window.limit(size.saturating_sub(offset));
            renderer.fill(offset, window);
            offset + room < size
        });
        shared.frame_filled(now_ns().saturating_sub(started));
        drop(memory);
        if !reached {
            // An address the engine cannot reach is a device fault.
            shared.log.dbg(
                ratelimit!(),
                format_args!(
                    "frame {this}: buffer {index} has a DMA address the device cannot reach (fault)"
                ),
            );
        }
        shared.finish_frame(index, frame(size, this, error || !reached));
    }
}

fn frame(bytesused: usize, sequence: u32, error: bool) -> FrameDone {
    FrameDone {
        bytesused,
        sequence,
        timestamp_ns: now_ns(),
        error,
    }
}
