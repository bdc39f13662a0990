// SPDX-License-Identifier: GPL-2.0

//! The frame engine: rvcap's "hardware". A kernel thread per stream that,
//! once per frame interval, takes the oldest buffer handed to the device
//! that it may write (its fences signalled: see
//! [`super::device_work`]), writes a frame into it through its DMA
//! addresses only, signals its write fence, and reports the frame done.
//! Unpaced (the `unpaced` knob, for benchmarks) it fills each buffer as
//! soon as it may instead, so that the queue's own cost shows. Stopping
//! the engine (dropping [`Engine`]) waits until the thread no longer
//! touches any buffer. The thread holds an [`Arc`] of the [`Shared`]
//! state, nothing else of the device (and, with `device_stamp`, of the DMA
//! master's DMA engine, which then writes the first bytes of every frame
//! itself). It never takes the state lock: from taking a buffer to
//! signalling its fence it takes only the device queue's spinlock, the
//! mutex of an export's importer views (pushing the frame into them) and,
//! with `device_stamp`, the DMA engine's lock, none of which anything holds
//! around an allocation (a fence signalling section, checked by lockdep).

use super::device_work::Work;
use super::edu::EduDma;
use super::inject::Inject;
use super::shared::{now_ns, Shared};
use crate::dma_master::{sleep_until, DeviceMemory, ToDevice};
use crate::format::FrameFormat;
use crate::kapi::dma::DataDirection;
use crate::kapi::dma_fence::{SignallingSection, WriteFence};
use crate::kapi::kthread::{Current, Thread};
use crate::kapi::ratelimit::ratelimit;
use crate::kapi::sync::atomic::Relaxed;
use crate::pattern::{self, FrameSink, Pattern, Renderer, STAMP_LEN, STAMP_SOURCE_LEN};
use crate::queue::device::Next;
use crate::queue::{CpuSync, FrameDone, MAX_PLANES};
use kernel::prelude::*;
use kernel::sync::Arc;

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
    /// frame.
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
                mapped: None,
                pattern: None,
                content: 0,
            }),
            None => None,
        };
        shared.engine_starts();
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
        // An unpaced engine may wait for work: the flag is in its wait's
        // condition.
        self.shared.stop_engine();
        // Stops a paced engine's sleep, then waits for the thread to return.
        drop(self.thread.take());
    }
}

/// The first bytes of every frame, written by the DMA master's own engine
/// from its buffer, which holds [`pattern::stamp_source`] of the pattern.
struct DeviceStamp {
    edu: Arc<EduDma>,
    source: KBox<[u8; STAMP_SOURCE_LEN]>,
    /// `source`, mapped for the device to load from.
    mapped: Option<ToDevice>,
    /// The pattern `source` is for.
    pattern: Option<Pattern>,
    /// The engine's key for `source` ([`EduDma::new_content`]).
    content: u64,
}

impl DeviceStamp {
    /// Prepares the source for frames of `pattern`, mapped for the device
    /// (a new one only when the pattern changed): before the frame's
    /// signalling section, since mapping allocates.
    fn prepare(&mut self, format: FrameFormat, pattern: Pattern, template: &mut [u8]) -> Result {
        if self.pattern != Some(pattern) {
            self.mapped = None;
            let ok = pattern::stamp_source(format, pattern, template, &mut self.source);
            self.pattern = ok.then_some(pattern);
            self.content = self.edu.new_content();
        }
        if self.pattern.is_some() && self.mapped.is_none() {
            self.mapped = Some(self.edu.map_source(&self.source[..])?);
        }
        Ok(())
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
        let source = self.mapped.as_ref().ok_or(EINVAL)?;
        self.edu
            .copy_out(self.content, source, STAMP_SOURCE_LEN, offset, addr, len)
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
            if !shared.wait_for_work() {
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
            sleep_until(current, next);
        }
        if current.should_stop() {
            break;
        }
        let stall = u64::from(inject.stall_ms.load(Relaxed));
        if stall > 0 {
            sleep_until(current, now_ns() + stall * 1_000_000);
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
        let pattern = shared.pattern();
        if let Some(stamp) = stamp.as_deref_mut() {
            if let Err(e) = stamp.prepare(format, pattern, template) {
                // The stamp's write then fails too, and says which frame.
                shared.log.dbg(
                    ratelimit!(),
                    format_args!("the DMA engine did not load the stamp ({e:?})"),
                );
            }
        }
        // From taking a buffer to signalling its write fence.
        let section = SignallingSection::begin();
        let (index, work) = match shared.take_work() {
            Next::Ready(index, work) => (index, work),
            Next::Blocked | Next::Empty => {
                drop(section);
                shared.frame_dropped();
                continue;
            }
        };
        if work.waited_for > 0 {
            shared.fences_waited(work.waited_for, now_ns().saturating_sub(work.handed_ns));
        }
        let Work {
            planes,
            write,
            cpu_sync,
            failed,
            ..
        } = work;
        if let Some(e) = failed {
            // Never written: others may still use it (see `Work::failed`).
            drop(planes);
            finish_unwritten(shared, index, this, write, e);
            continue;
        }
        let Some(renderer) = Renderer::new(format, pattern, this, template) else {
            // Cannot happen: the template was sized for this format. The
            // engine lets go of the buffer before it is done.
            drop(planes);
            finish_unwritten(shared, index, this, write, EIO);
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
        // The buffer is `Active`: the queue handed it to the device synced
        // for the device, and nothing takes it back before the frame is
        // finished (STREAMOFF and close stop this thread first).
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
                    shared.counters.device_stamps.fetch_add(1, Relaxed);
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
        if !reached {
            // An address the engine cannot reach is a device fault.
            shared.log.dbg(
                ratelimit!(),
                format_args!(
                    "frame {this}: buffer {index} has a DMA address the device cannot reach (fault)"
                ),
            );
        }
        let failed = error || !reached || stamp_failed;
        let mut synced = [false; MAX_PLANES];
        if let Some(fence) = write {
            synced = frame_to_memory(shared, &planes, &bytesused, &cpu_sync);
            fence.signal(failed.then_some(EIO));
        }
        drop(planes);
        shared.finish_frame(index, frame(bytesused, this, failed, synced));
        drop(section);
    }
}

/// Before a buffer's write fence signals: whoever waits for it may read
/// the frame at once, with a device or the CPU, before any DQBUF; so the
/// frame must be in memory, not in a bounce buffer (swiotlb) or behind
/// stale cache lines, and in the other views of the memory (the importers
/// of an exported buffer, whose bounce buffers a CPU bracket would
/// otherwise copy back over it). This is DQBUF's sync for the CPU
/// (`cpu_sync`) and hand-on, made early for each plane, so DQBUF does not
/// make them again; not for a plane whose hint says the CPU will not read
/// it and that no dma-buf shows to others (DQBUF skips it then, and
/// counts the skip), nor for imports under the
/// `inject_import_skips_cpu_sync` knob (which DQBUF then leaves unsynced
/// too). Returns the planes synced.
fn frame_to_memory(
    shared: &Shared,
    planes: &[Option<crate::dma_master::Mapping>; MAX_PLANES],
    bytesused: &[usize; MAX_PLANES],
    cpu_sync: &[CpuSync; MAX_PLANES],
) -> [bool; MAX_PLANES] {
    let mut synced = [false; MAX_PLANES];
    for (p, memory) in planes.iter().enumerate() {
        let Some(memory) = memory else {
            continue;
        };
        if !memory.is_mmap() && shared.inject.import_skips_cpu_sync() {
            continue;
        }
        let end = match cpu_sync[p] {
            CpuSync::None => continue,
            CpuSync::Hinted if !memory.has_dma_buf() => continue,
            CpuSync::Hinted | CpuSync::Frame => bytesused[p],
            CpuSync::Whole(length) => length,
        };
        memory.sync_for_cpu(0..end, DataDirection::FromDevice);
        if bytesused[p] > 0 {
            // And into the other views of the memory (importers of an
            // export): what DQBUF's `frame_written` would do.
            memory.hand_frame_to_other_views();
        }
        synced[p] = true;
    }
    synced
}

/// Buffer `index`, which the engine let go of without writing it, comes
/// back as error frame `sequence`, its write fence signalled with `error`.
fn finish_unwritten(
    shared: &Shared,
    index: usize,
    sequence: u32,
    write: Option<WriteFence>,
    error: Error,
) {
    if let Some(fence) = write {
        fence.signal(Some(error));
    }
    shared.finish_frame(
        index,
        frame([0; MAX_PLANES], sequence, true, [false; MAX_PLANES]),
    );
}

fn frame(
    bytesused: [usize; MAX_PLANES],
    sequence: u32,
    error: bool,
    synced_for_cpu: [bool; MAX_PLANES],
) -> FrameDone {
    FrameDone {
        bytesused,
        sequence,
        timestamp_ns: now_ns(),
        error,
        synced_for_cpu,
    }
}
