// SPDX-License-Identifier: GPL-2.0

//! The frame engine: rvcap's "hardware". A kernel thread per stream that,
//! once per frame interval, takes the oldest queued buffer, writes a frame
//! into it through its DMA addresses only, and marks it done. Unpaced (the
//! `unpaced` knob, for benchmarks) it fills each buffer as soon as it is
//! queued instead, so that the queue's own cost shows. Stopping the engine
//! (dropping [`Engine`]) waits until the thread no longer touches any
//! buffer. The thread holds an [`Arc`] of the [`Shared`] state, nothing
//! else of the device (and, with `device_stamp`, of the DMA master's DMA
//! engine, which then writes the first bytes of every frame itself).

use super::edu::EduDma;
use super::inject::Inject;
use super::shared::Shared;
use crate::format::FrameFormat;
use crate::kapi::dma::DeviceMemory;
use crate::kapi::kthread::{Current, Thread};
use crate::kapi::ratelimit::ratelimit;
use crate::pattern::{self, FrameSink, Pattern, Renderer, STAMP_LEN, STAMP_SOURCE_LEN};
use crate::queue::{FrameDone, MAX_PLANES};
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
    /// queued; with `stamp`, that DMA engine writes the first bytes of each
    /// frame. The caller clears `engine_stop` first.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        format: FrameFormat,
        unpaced: bool,
        stamp: Option<Arc<EduDma>>,
    ) -> Result<Self> {
        let mut template = KVec::from_elem(0, pattern::template_len(&format), GFP_KERNEL)?;
        let mut stamp = match stamp {
            Some(edu) => Some(DeviceStamp {
                edu,
                source: KBox::new([0; STAMP_SOURCE_LEN], GFP_KERNEL)?,
                pattern: None,
                content: 0,
            }),
            None => None,
        };
        let thread_shared = shared.clone();
        let thread = Thread::spawn(shared.index, move |current| {
            run(
                current,
                &thread_shared,
                format,
                &mut template,
                unpaced,
                stamp.as_mut(),
            )
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

/// The first bytes of every frame, written by the DMA master's own engine
/// from its buffer, which holds [`pattern::stamp_source`] of the pattern.
struct DeviceStamp {
    edu: Arc<EduDma>,
    source: KBox<[u8; STAMP_SOURCE_LEN]>,
    /// The pattern `source` is for.
    pattern: Option<Pattern>,
    /// The engine's key for `source` ([`EduDma::new_content`]).
    content: u64,
}

impl DeviceStamp {
    /// Prepares the source for frames of `pattern` (a new one only when the
    /// pattern changed, so that the device loads it once).
    fn prepare(&mut self, format: FrameFormat, pattern: Pattern, template: &mut [u8]) {
        if self.pattern != Some(pattern) {
            let ok = pattern::stamp_source(format, pattern, template, &mut self.source);
            self.pattern = ok.then_some(pattern);
            self.content = self.edu.new_content();
        }
    }

    /// Where the device writes frame `sequence`'s first bytes in `memory`,
    /// and how many: up to [`STAMP_LEN`] of the frame's `size`, within the
    /// buffer's first run (one address and a length is all it takes).
    fn target(&self, memory: &DeviceMemory, size: usize) -> Option<(u64, usize)> {
        self.pattern?;
        let (addr, run) = memory.first_run()?;
        Some((addr, STAMP_LEN.min(size).min(run)))
    }

    /// The device writes `len` bytes of frame `sequence` at `addr`.
    fn write(&self, sequence: u32, addr: u64, len: usize) -> Result {
        let pattern = self.pattern.ok_or(EINVAL)?;
        let offset = pattern::stamp_offset(pattern, sequence);
        self.edu
            .copy_out(self.content, &self.source[..], offset, addr, len)
    }
}

fn run(
    current: &Current,
    shared: &Shared,
    format: FrameFormat,
    template: &mut [u8],
    unpaced: bool,
    mut stamp: Option<&mut DeviceStamp>,
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
        let Some((index, planes)) = shared.start_frame() else {
            shared.frame_dropped();
            continue;
        };
        let pattern = shared.pattern();
        if let Some(stamp) = stamp.as_deref_mut() {
            stamp.prepare(format, pattern, template);
        }
        let Some(renderer) = Renderer::new(format, pattern, this, template) else {
            // Cannot happen: the template was sized for this format. The
            // engine lets go of the buffer before it is done.
            drop(planes);
            shared.finish_frame(index, frame([0; MAX_PLANES], this, true));
            continue;
        };
        // An injected error frame is cut off halfway, as by a bus error.
        let error = Inject::hits(&inject.error_every, period);
        let size = format.size_image as usize / if error { 2 } else { 1 };
        // What each plane gets: its part of the frame's bytes (the frame
        // is its planes one after the other).
        let mut bytesused = [0; MAX_PLANES];
        for (p, used) in bytesused.iter_mut().enumerate().take(format.num_planes) {
            let start = format.plane_offset(p);
            let len = format.planes[p].size_image as usize;
            *used = size.saturating_sub(start).min(len);
        }
        // The bytes the DMA engine writes, which the fill leaves alone.
        let stamped = match (stamp.as_deref(), &planes[0]) {
            (Some(stamp), Some(memory)) => stamp.target(memory, bytesused[0]),
            _ => None,
        };
        let stamp_len = stamped.map_or(0, |(_, len)| len);
        let started = now_ns();
        // The buffer is `Active`: `start_frame` handed it to this thread
        // synced for the device, and nothing takes it back before
        // `finish_frame` (STREAMOFF and close stop this thread first).
        let mut reached = true;
        for (p, memory) in planes.iter().enumerate().take(format.num_planes) {
            let Some(memory) = memory else {
                reached = false;
                continue;
            };
            let base = format.plane_offset(p);
            let used = bytesused[p];
            let skip = if p == 0 { stamp_len } else { 0 };
            // Each plane only through its own DMA addresses.
            reached &= memory.write_as_device(|offset, window| {
                let room = window.room();
                window.limit(used.saturating_sub(offset));
                let skipped = window.skip(skip.saturating_sub(offset));
                renderer.fill(base + offset + skipped, window);
                offset + room < used
            });
        }
        shared.frame_filled(now_ns().saturating_sub(started));
        let mut stamp_failed = false;
        if let (Some(stamp), Some((addr, len)), true) = (stamp.as_deref(), stamped, reached) {
            // Waits for the transfer to end, even if asked to stop: the
            // buffer must not go back while the device writes it.
            match stamp.write(this, addr, len) {
                Ok(()) => {
                    shared
                        .counters
                        .device_stamps
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    shared.log.dbg(
                        ratelimit!(),
                        format_args!(
                            "frame {this}: the DMA engine did not write buffer {index}'s first {len} bytes ({e:?})"
                        ),
                    );
                    stamp_failed = true;
                }
            }
        }
        drop(planes);
        if !reached {
            // An address the engine cannot reach is a device fault.
            shared.log.dbg(
                ratelimit!(),
                format_args!(
                    "frame {this}: buffer {index} has a DMA address the device cannot reach (fault)"
                ),
            );
        }
        shared.finish_frame(
            index,
            frame(bytesused, this, error || !reached || stamp_failed),
        );
    }
}

fn frame(bytesused: [usize; MAX_PLANES], sequence: u32, error: bool) -> FrameDone {
    FrameDone {
        bytesused,
        sequence,
        timestamp_ns: now_ns(),
        error,
    }
}
