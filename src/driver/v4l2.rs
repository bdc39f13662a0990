// SPDX-License-Identifier: GPL-2.0

//! rvcap's V4L2 policy: what each ioctl of a [`Capture`] answers, and the
//! conversions between the UAPI structures and the queue core's types.
//! The C callbacks are the abstraction layer's ([`crate::kapi::ioctl`]).

use super::capture::Capture;
use crate::format::{self, FrameFormat, FORMATS, INTERVALS};
use crate::kapi::bindings;
use crate::kapi::ioctl::buffer_dmabuf_fd;
use crate::kapi::mm::Vma;
use crate::kapi::poll::{self, PollTable};
use crate::kapi::ratelimit::ratelimit;
use crate::kapi::video::{set_cstr, FileId, VideoOps};
use crate::queue::{BufferInfo, Memory, OwnerId, QueueRequest, MAX_BUFFERS};
use core::sync::atomic::Ordering;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE`, the only buffer type.
const CAPTURE: u32 = bindings::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE;

/// The capabilities of the video device.
pub(crate) const DEVICE_CAPS: u32 = bindings::V4L2_CAP_VIDEO_CAPTURE | bindings::V4L2_CAP_STREAMING;

/// Flags every buffer carries: the timestamp is CLOCK_MONOTONIC, taken at
/// the end of the frame.
const TIMESTAMP_FLAGS: u32 =
    bindings::V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | bindings::V4L2_BUF_FLAG_TSTAMP_SRC_EOF;

/// Buffer capabilities reported by REQBUFS and CREATE_BUFS.
const BUF_CAPS: u32 = bindings::V4L2_BUF_CAP_SUPPORTS_MMAP
    | bindings::V4L2_BUF_CAP_SUPPORTS_DMABUF
    | bindings::V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS
    | bindings::V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS;

/// The queue's owner identity of a file handle.
fn owner(fh: FileId) -> OwnerId {
    OwnerId(fh.0)
}

fn memory_from_uapi(memory: u32) -> Result<Memory> {
    match memory {
        bindings::v4l2_memory_V4L2_MEMORY_MMAP => Ok(Memory::Mmap),
        bindings::v4l2_memory_V4L2_MEMORY_DMABUF => Ok(Memory::DmaBuf),
        _ => Err(EINVAL),
    }
}

fn memory_to_uapi(memory: Memory) -> u32 {
    match memory {
        Memory::Mmap => bindings::v4l2_memory_V4L2_MEMORY_MMAP,
        Memory::DmaBuf => bindings::v4l2_memory_V4L2_MEMORY_DMABUF,
    }
}

/// The mmap() offset cookie of MMAP buffer `index`.
fn mmap_offset(index: usize) -> u32 {
    (index * PAGE_SIZE) as u32
}

fn fill_pix(pix: &mut bindings::v4l2_pix_format, f: &FrameFormat) {
    *pix = bindings::v4l2_pix_format {
        width: f.width,
        height: f.height,
        pixelformat: f.format.fourcc,
        field: bindings::v4l2_field_V4L2_FIELD_NONE,
        bytesperline: f.bytes_per_line,
        sizeimage: f.size_image,
        colorspace: if f.format.is_yuv {
            bindings::v4l2_colorspace_V4L2_COLORSPACE_SMPTE170M
        } else {
            bindings::v4l2_colorspace_V4L2_COLORSPACE_SRGB
        },
        ..Default::default()
    };
}

fn fill_buffer(b: &mut bindings::v4l2_buffer, info: &BufferInfo) {
    use crate::queue::State as S;
    let mut flags = TIMESTAMP_FLAGS;
    flags |= match info.state {
        S::Dequeued => 0,
        S::Prepared => bindings::V4L2_BUF_FLAG_PREPARED,
        S::Queued | S::Active => bindings::V4L2_BUF_FLAG_QUEUED,
        S::Done => bindings::V4L2_BUF_FLAG_DONE,
    };
    if info.error {
        flags |= bindings::V4L2_BUF_FLAG_ERROR;
    }
    if info.mapped_to_user {
        flags |= bindings::V4L2_BUF_FLAG_MAPPED;
    }
    b.index = info.index as u32;
    b.type_ = CAPTURE;
    b.memory = memory_to_uapi(info.memory);
    b.flags = flags;
    b.field = bindings::v4l2_field_V4L2_FIELD_NONE;
    b.bytesused = info.bytesused as u32;
    b.length = info.length as u32;
    b.sequence = info.sequence;
    b.timestamp.tv_sec = (info.timestamp_ns / 1_000_000_000) as _;
    b.timestamp.tv_usec = (info.timestamp_ns % 1_000_000_000 / 1_000) as _;
    b.timecode = Default::default();
    b.reserved2 = 0;
    b.__bindgen_anon_1.request_fd = 0;
    match info.memory {
        Memory::Mmap => b.m.offset = mmap_offset(info.index),
        Memory::DmaBuf => b.m.fd = info.fd,
    }
}

fn queue_request(b: &bindings::v4l2_buffer) -> Result<QueueRequest> {
    if b.flags & bindings::V4L2_BUF_FLAG_REQUEST_FD != 0 {
        // As videobuf2 for a queue without request support.
        return Err(Error::from_errno(-(bindings::EBADR as i32)));
    }
    let memory = memory_from_uapi(b.memory)?;
    Ok(QueueRequest {
        index: b.index as usize,
        memory,
        // For DMABUF the application set `fd`; for MMAP it is not used.
        fd: buffer_dmabuf_fd(b),
        length: b.length as usize,
    })
}

fn fill_parm(c: &mut bindings::v4l2_captureparm, interval: format::Interval) {
    *c = bindings::v4l2_captureparm {
        capability: bindings::V4L2_CAP_TIMEPERFRAME,
        timeperframe: bindings::v4l2_fract {
            numerator: interval.numerator,
            denominator: interval.denominator,
        },
        ..Default::default()
    };
}

#[vtable]
impl VideoOps for Capture {
    fn querycap(&self, c: &mut bindings::v4l2_capability) -> Result {
        set_cstr(&mut c.driver, format_args!("rvcap"));
        set_cstr(
            &mut c.card,
            format_args!("rvcap virtual capture {}", self.index()),
        );
        set_cstr(
            &mut c.bus_info,
            format_args!("platform:rvcap-{}", self.index()),
        );
        Ok(())
    }

    fn enum_fmt_vid_cap(&self, f: &mut bindings::v4l2_fmtdesc) -> Result {
        let format = FORMATS.get(f.index as usize).ok_or(EINVAL)?;
        // The core fills in the description.
        f.pixelformat = format.fourcc;
        f.flags = 0;
        Ok(())
    }

    fn g_fmt_vid_cap(&self, pix: &mut bindings::v4l2_pix_format) -> Result {
        fill_pix(pix, &self.format());
        Ok(())
    }

    fn try_fmt_vid_cap(&self, pix: &mut bindings::v4l2_pix_format) -> Result {
        let format = FrameFormat::negotiate(pix.pixelformat, pix.width, pix.height);
        fill_pix(pix, &format);
        Ok(())
    }

    fn s_fmt_vid_cap(&self, pix: &mut bindings::v4l2_pix_format) -> Result {
        let format = self.set_format(pix.pixelformat, pix.width, pix.height)?;
        fill_pix(pix, &format);
        Ok(())
    }

    fn enum_framesizes(&self, s: &mut bindings::v4l2_frmsizeenum) -> Result {
        format::find(s.pixel_format).ok_or(EINVAL)?;
        if s.index != 0 {
            return Err(EINVAL);
        }
        s.type_ = bindings::v4l2_frmsizetypes_V4L2_FRMSIZE_TYPE_STEPWISE;
        s.__bindgen_anon_1.stepwise = bindings::v4l2_frmsize_stepwise {
            min_width: format::MIN_WIDTH,
            max_width: format::MAX_WIDTH,
            step_width: format::SIZE_STEP,
            min_height: format::MIN_HEIGHT,
            max_height: format::MAX_HEIGHT,
            step_height: format::SIZE_STEP,
        };
        Ok(())
    }

    fn enum_frameintervals(&self, i: &mut bindings::v4l2_frmivalenum) -> Result {
        format::find(i.pixel_format).ok_or(EINVAL)?;
        if !format::is_frame_size(i.width, i.height) {
            return Err(EINVAL);
        }
        let interval = INTERVALS.get(i.index as usize).ok_or(EINVAL)?;
        i.type_ = bindings::v4l2_frmivaltypes_V4L2_FRMIVAL_TYPE_DISCRETE;
        i.__bindgen_anon_1.discrete = bindings::v4l2_fract {
            numerator: interval.numerator,
            denominator: interval.denominator,
        };
        Ok(())
    }

    fn g_parm(&self, p: &mut bindings::v4l2_captureparm) -> Result {
        fill_parm(p, self.interval());
        Ok(())
    }

    fn s_parm(&self, p: &mut bindings::v4l2_captureparm) -> Result {
        let t = p.timeperframe;
        let interval = self.set_interval(t.numerator, t.denominator);
        fill_parm(p, interval);
        Ok(())
    }

    fn enum_input(&self, i: &mut bindings::v4l2_input) -> Result {
        if i.index != 0 {
            return Err(EINVAL);
        }
        *i = bindings::v4l2_input {
            index: 0,
            type_: bindings::V4L2_INPUT_TYPE_CAMERA,
            ..Default::default()
        };
        set_cstr(&mut i.name, format_args!("Virtual Camera"));
        Ok(())
    }

    fn g_input(&self) -> Result<u32> {
        Ok(0)
    }

    fn s_input(&self, index: u32) -> Result {
        if index == 0 {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    fn reqbufs(&self, fh: FileId, r: &mut bindings::v4l2_requestbuffers) -> Result {
        let memory = memory_from_uapi(r.memory)?;
        r.count = self.reqbufs(owner(fh), memory, r.count as usize)? as u32;
        r.capabilities |= BUF_CAPS;
        // No cache hints: V4L2_MEMORY_FLAG_NON_COHERENT is not supported.
        r.flags = 0;
        Ok(())
    }

    fn create_bufs(
        &self,
        fh: FileId,
        c: &mut bindings::v4l2_create_buffers,
        size_image: u32,
    ) -> Result {
        let memory = memory_from_uapi(c.memory)?;
        if c.count > 0 && size_image == 0 {
            return Err(EINVAL);
        }
        let (first, added) =
            self.create_bufs(owner(fh), memory, c.count as usize, size_image as usize)?;
        c.index = first as u32;
        c.count = added as u32;
        c.capabilities |= BUF_CAPS;
        c.flags = 0;
        c.max_num_buffers = MAX_BUFFERS as u32;
        Ok(())
    }

    fn querybuf(&self, _fh: FileId, b: &mut bindings::v4l2_buffer) -> Result {
        fill_buffer(b, &self.querybuf(b.index as usize)?);
        Ok(())
    }

    fn prepare_buf(&self, fh: FileId, b: &mut bindings::v4l2_buffer) -> Result {
        let req = queue_request(b)?;
        fill_buffer(b, &self.prepare_buf(owner(fh), &req)?);
        Ok(())
    }

    fn qbuf(&self, fh: FileId, b: &mut bindings::v4l2_buffer) -> Result {
        let req = queue_request(b)?;
        fill_buffer(b, &self.qbuf(owner(fh), &req)?);
        Ok(())
    }

    fn dqbuf(&self, fh: FileId, b: &mut bindings::v4l2_buffer, nonblock: bool) -> Result {
        let memory = memory_from_uapi(b.memory)?;
        fill_buffer(b, &self.dqbuf(owner(fh), memory, nonblock)?);
        Ok(())
    }

    fn streamon(&self, fh: FileId, buf_type: u32) -> Result {
        if buf_type != CAPTURE {
            return Err(EINVAL);
        }
        self.streamon(owner(fh))
    }

    fn streamoff(&self, fh: FileId, buf_type: u32) -> Result {
        if buf_type != CAPTURE {
            return Err(EINVAL);
        }
        self.streamoff(owner(fh))
    }

    fn log_status(&self) {
        self.with_state(|st| {
            self.log().info(format_args!(
                "streaming: {}, buffers: {} ({:?}), queued: {}, format: {}x{} {:?}",
                st.queue.is_streaming(),
                st.queue.count(),
                st.queue.memory(),
                st.queue.queued_count(),
                st.format.width,
                st.format.height,
                st.format.format.description,
            ))
        });
        let frames = self.frame_counters();
        self.log().info(format_args!(
            "frames: {}, dropped: {}, errors: {}",
            frames.frames.load(Ordering::Relaxed),
            frames.drops.load(Ordering::Relaxed),
            frames.errors.load(Ordering::Relaxed),
        ));
    }

    fn release(&self, fh: FileId) {
        Capture::release(self, owner(fh));
    }

    fn poll(&self, _fh: FileId, table: &PollTable<'_>) -> u32 {
        table.register(self.poll_queue());
        if table.requested_events() & poll::READABLE == 0 {
            return 0;
        }
        // As videobuf2: an error while not streaming, readable when a
        // buffer is done.
        match self.poll_ready() {
            None => poll::ERROR,
            Some(true) => poll::READABLE,
            Some(false) => 0,
        }
    }

    fn mmap(&self, vma: &mut Vma<'_>) -> Result {
        if !vma.is_shared() || !vma.is_readable() {
            self.log().dbg(
                ratelimit!(),
                format_args!("mmap: needs MAP_SHARED and PROT_READ"),
            );
            return Err(EINVAL);
        }
        self.with_mmap_memory(vma.page_offset(), |memory| {
            if !memory.is_mmap() {
                return Err(EINVAL);
            }
            if vma.page_count() > memory.size().div_ceil(PAGE_SIZE) {
                self.log()
                    .dbg(ratelimit!(), format_args!("mmap: larger than the buffer"));
                return Err(EINVAL);
            }
            vma.map_buffer(memory)
        })
    }

    fn s_ctrl(&self, id: u32, value: i32) -> Result {
        match id {
            bindings::RVCAP_CONST_V4L2_CID_TEST_PATTERN => self.set_pattern(value as u32),
            _ => Err(EINVAL),
        }
    }
}
