// SPDX-License-Identifier: GPL-2.0

//! The frame engine: rvcap's "hardware". A kernel thread per stream that,
//! once per frame interval, takes the oldest queued buffer, writes a frame
//! into it through its DMA addresses only, and marks it done. Unpaced (the
//! `unpaced` module parameter, for benchmarks) it fills each buffer as soon
//! as it is queued instead, so that the queue's own cost shows. Stopping the
//! engine (dropping [`Engine`]) waits until the thread no longer touches any
//! buffer.

use crate::bindings;
use crate::capture::Capture;
use crate::format::FrameFormat;
use crate::inject::Inject;
use crate::pattern::{self, FrameSink, Renderer};
use crate::queue::FrameDone;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;
use kernel::error::from_err_ptr;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// Monotonic time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: `ktime_get` has no preconditions.
    let t = unsafe { bindings::ktime_get() };
    u64::try_from(t).unwrap_or(0)
}

/// What the engine thread owns while it runs.
struct EngineCtx {
    capture: *const Capture,
    format: FrameFormat,
    template: KVec<u8>,
    unpaced: bool,
}

/// A running engine thread. Dropping it stops the thread and waits for it.
pub(crate) struct Engine {
    task: NonNull<bindings::task_struct>,
    // Freed after the thread has stopped (`drop` runs before the fields).
    _ctx: KBox<EngineCtx>,
}

// SAFETY: the task pointer is only used for `kthread_stop`, which may be
// called from any thread.
unsafe impl Send for Engine {}

impl Engine {
    /// Starts filling `capture`'s queued buffers with frames in `format`,
    /// once per frame interval or, `unpaced`, as soon as they are queued.
    ///
    /// # Safety
    ///
    /// `capture` must stay valid until the returned engine is dropped.
    pub(crate) unsafe fn start(
        capture: &Capture,
        format: FrameFormat,
        unpaced: bool,
    ) -> Result<Self> {
        let template = KVec::from_elem(0, pattern::template_len(&format), GFP_KERNEL)?;
        let mut ctx = KBox::new(
            EngineCtx {
                capture,
                format,
                template,
                unpaced,
            },
            GFP_KERNEL,
        )?;
        let data: *mut EngineCtx = &mut *ctx;
        // SAFETY: `engine_thread` matches the kthread signature; `data` points
        // to the boxed context, which stays put and alive until the thread
        // has stopped (see `Drop`).
        let task = from_err_ptr(unsafe {
            bindings::rvcap_kthread_run(Some(engine_thread), data.cast(), capture.index())
        })?;
        Ok(Self {
            task: NonNull::new(task).ok_or(ENOMEM)?,
            _ctx: ctx,
        })
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: the thread runs until `kthread_should_stop()` (it never
        // returns on its own), so its task is alive; it is stopped once.
        unsafe { bindings::kthread_stop(self.task.as_ptr()) };
    }
}

/// The engine thread.
///
/// # Safety
///
/// `data` must be the `EngineCtx` of an [`Engine`] whose drop stops this
/// thread.
unsafe extern "C" fn engine_thread(data: *mut c_void) -> c_int {
    // SAFETY: by the function's contract the context outlives the thread and
    // nothing else touches it while the thread runs.
    let ctx = unsafe { &mut *data.cast::<EngineCtx>() };
    // SAFETY: `Engine::start`'s contract: the capture device outlives us.
    let capture = unsafe { &*ctx.capture };
    run(capture, ctx.format, &mut ctx.template, ctx.unpaced);
    0
}

fn should_stop() -> bool {
    // SAFETY: called from the engine kthread.
    unsafe { bindings::kthread_should_stop() }
}

fn run(capture: &Capture, format: FrameFormat, template: &mut [u8], unpaced: bool) {
    let inject = capture.inject();
    let mut sequence: u32 = 0;
    // Frame periods so far, for the "every Nth frame" injection knobs.
    let mut period: u64 = 0;
    let mut next = now_ns();
    while !should_stop() {
        if unpaced {
            capture.wait_for_queued(should_stop);
        } else {
            let interval = capture.frame_interval_ns();
            next += interval;
            let now = now_ns();
            if now > next + interval {
                // More than a frame late (a stall): do not catch up in a burst.
                next = now;
            }
            // SAFETY: called from the engine kthread.
            unsafe { bindings::rvcap_engine_sleep_until(next) };
        }
        if should_stop() {
            break;
        }
        let stall = u64::from(inject.stall_ms.load(Ordering::Relaxed));
        if stall > 0 {
            // SAFETY: called from the engine kthread; stopping wakes it.
            unsafe { bindings::rvcap_engine_sleep_until(now_ns() + stall * 1_000_000) };
            if should_stop() {
                break;
            }
        }
        period += 1;
        let this = sequence;
        sequence = sequence.wrapping_add(1);
        if Inject::hits(&inject.drop_every, period) {
            capture.frame_dropped();
            continue;
        }
        let Some((index, memory)) = capture.start_frame() else {
            capture.frame_dropped();
            continue;
        };
        let Some(renderer) = Renderer::new(format, capture.pattern(), this, template) else {
            // Cannot happen: the template was sized for this format.
            capture.finish_frame(index, frame(0, this, true));
            continue;
        };
        // An injected error frame is cut off halfway, as by a bus error.
        let error = Inject::hits(&inject.error_every, period);
        let size = format.size_image as usize / if error { 2 } else { 1 };
        let started = now_ns();
        // SAFETY: the buffer is `Active`: `start_frame` handed it to this
        // thread synced for the device, and nothing takes it back before
        // `finish_frame` (STREAMOFF and close stop this thread first).
        unsafe {
            memory.write_as_device(|offset, window| {
                let segment = window.room();
                window.limit(size.saturating_sub(offset));
                renderer.fill(offset, window);
                offset + segment < size
            })
        };
        capture.frame_filled(now_ns().saturating_sub(started));
        drop(memory);
        capture.finish_frame(index, frame(size, this, error));
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
