// SPDX-License-Identifier: GPL-2.0

//! rvcap's V4L2 policy: what each ioctl of a [`Capture`] answers, and the
//! conversions between the UAPI structures and the queue core's types.
//! The C callbacks are the abstraction layer's ([`crate::kapi::ioctl`]).

use super::capture::Capture;
use crate::format::{self, FrameFormat, INTERVALS};
use crate::kapi::dma_buf_export;
use crate::kapi::error;
use crate::kapi::ioctl::{buffer_dmabuf_fd, plane_dmabuf_fd, BufferArg, CreateFormat};
use crate::kapi::mm::{VmaNew, VmaNewExt as _};
use crate::kapi::ratelimit::ratelimit;
use crate::kapi::sync::atomic::Relaxed;
use crate::kapi::sync::poll::{self, PollTable};
use crate::kapi::uapi;
use crate::kapi::video::{set_cstr, FileId, VideoOps};
use crate::queue::{
    BufferInfo, CacheHints, Memory, OwnerId, PlaneRequest, QueueRequest, MAX_BUFFERS, MAX_PLANES,
};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE`: the buffer type of a single-planar device.
const CAPTURE: u32 = uapi::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE;

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`: that of a multi-planar device.
const CAPTURE_MPLANE: u32 = uapi::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;

/// The capabilities of a video device, single- or multi-planar.
pub(crate) fn device_caps(multiplanar: bool) -> u32 {
    let capture = if multiplanar {
        uapi::V4L2_CAP_VIDEO_CAPTURE_MPLANE
    } else {
        uapi::V4L2_CAP_VIDEO_CAPTURE
    };
    capture | uapi::V4L2_CAP_STREAMING
}

/// Flags every buffer carries: the timestamp is CLOCK_MONOTONIC, taken at
/// the end of the frame.
const TIMESTAMP_FLAGS: u32 =
    uapi::V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | uapi::V4L2_BUF_FLAG_TSTAMP_SRC_EOF;

/// Buffer capabilities reported by REQBUFS and CREATE_BUFS (the core adds
/// `SUPPORTS_REMOVE_BUFS`, since the driver offers the ioctl).
const BUF_CAPS: u32 = uapi::V4L2_BUF_CAP_SUPPORTS_MMAP
    | uapi::V4L2_BUF_CAP_SUPPORTS_DMABUF
    | uapi::V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS
    | uapi::V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS
    | uapi::V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS;

/// `V4L2_MEMORY_FLAG_NON_COHERENT`.
const NON_COHERENT: u32 = uapi::V4L2_MEMORY_FLAG_NON_COHERENT;

/// mmap() offsets: pages per buffer, one per plane (a power of two at
/// least [`MAX_PLANES`]).
const PAGES_PER_BUFFER: usize = 4;
const _: () = assert!(PAGES_PER_BUFFER >= MAX_PLANES);

/// The queue's owner identity of a file handle.
fn owner(fh: FileId) -> OwnerId {
    OwnerId(fh.0)
}

fn memory_from_uapi(memory: u32) -> Result<Memory> {
    match memory {
        uapi::v4l2_memory_V4L2_MEMORY_MMAP => Ok(Memory::Mmap),
        uapi::v4l2_memory_V4L2_MEMORY_DMABUF => Ok(Memory::DmaBuf),
        _ => Err(EINVAL),
    }
}

fn memory_to_uapi(memory: Memory) -> u32 {
    match memory {
        Memory::Mmap => uapi::v4l2_memory_V4L2_MEMORY_MMAP,
        Memory::DmaBuf => uapi::v4l2_memory_V4L2_MEMORY_DMABUF,
    }
}

/// The reply's memory flags of REQBUFS and CREATE_BUFS, as videobuf2's:
/// what was asked of `NON_COHERENT` for MMAP, nothing for DMABUF.
fn memory_flags(memory: Memory, flags: u32) -> u32 {
    match memory {
        Memory::Mmap => flags & NON_COHERENT,
        Memory::DmaBuf => 0,
    }
}

/// The mmap() offset cookie of plane `plane` of MMAP buffer `index`.
fn mmap_offset(index: usize, plane: usize) -> u32 {
    ((index * PAGES_PER_BUFFER + plane) * PAGE_SIZE) as u32
}

/// The buffer and plane of an mmap() page offset.
fn mmap_target(page_offset: usize) -> (usize, usize) {
    (
        page_offset / PAGES_PER_BUFFER,
        page_offset % PAGES_PER_BUFFER,
    )
}

fn colorspace(f: &FrameFormat) -> u32 {
    if f.format.is_yuv {
        uapi::v4l2_colorspace_V4L2_COLORSPACE_SMPTE170M
    } else {
        uapi::v4l2_colorspace_V4L2_COLORSPACE_SRGB
    }
}

fn fill_pix(pix: &mut uapi::v4l2_pix_format, f: &FrameFormat) {
    *pix = uapi::v4l2_pix_format {
        width: f.width,
        height: f.height,
        pixelformat: f.format.fourcc,
        field: uapi::v4l2_field_V4L2_FIELD_NONE,
        bytesperline: f.bytes_per_line,
        sizeimage: f.size_image,
        colorspace: colorspace(f),
        ..Default::default()
    };
}

fn fill_pix_mp(pix: &mut uapi::v4l2_pix_format_mplane, f: &FrameFormat) {
    *pix = uapi::v4l2_pix_format_mplane {
        width: f.width,
        height: f.height,
        pixelformat: f.format.fourcc,
        field: uapi::v4l2_field_V4L2_FIELD_NONE,
        colorspace: colorspace(f),
        num_planes: f.num_planes as u8,
        ..Default::default()
    };
    for (out, plane) in pix.plane_fmt.iter_mut().zip(f.mem_planes()) {
        out.sizeimage = plane.size_image;
        out.bytesperline = plane.bytes_per_line;
    }
}

fn fill_buffer(b: &mut BufferArg<'_>, info: &BufferInfo) {
    use crate::queue::State as S;
    let mut flags = TIMESTAMP_FLAGS;
    flags |= match info.state {
        S::Dequeued => 0,
        S::Prepared => uapi::V4L2_BUF_FLAG_PREPARED,
        S::Queued | S::Active => uapi::V4L2_BUF_FLAG_QUEUED,
        S::Done => uapi::V4L2_BUF_FLAG_DONE,
    };
    if info.error {
        flags |= uapi::V4L2_BUF_FLAG_ERROR;
    }
    if info.planes().iter().any(|p| p.mapped_to_user) {
        flags |= uapi::V4L2_BUF_FLAG_MAPPED;
    }
    if info.hints.skip_for_cpu {
        flags |= uapi::V4L2_BUF_FLAG_NO_CACHE_INVALIDATE;
    }
    if info.hints.skip_for_device {
        flags |= uapi::V4L2_BUF_FLAG_NO_CACHE_CLEAN;
    }
    let multiplanar = b.buf.type_ == CAPTURE_MPLANE;
    let room = b.planes().len();
    let buf = &mut *b.buf;
    buf.index = info.index as u32;
    buf.memory = memory_to_uapi(info.memory);
    buf.flags = flags;
    buf.field = uapi::v4l2_field_V4L2_FIELD_NONE;
    buf.sequence = info.sequence;
    // (The conversions cannot fail: seconds of a u64 of nanoseconds, and
    // microseconds below a million, fit any `long`.)
    buf.timestamp.tv_sec = (info.timestamp_ns / 1_000_000_000)
        .try_into()
        .unwrap_or_default();
    buf.timestamp.tv_usec = (info.timestamp_ns % 1_000_000_000 / 1_000)
        .try_into()
        .unwrap_or_default();
    buf.timecode = Default::default();
    buf.reserved2 = 0;
    buf.__bindgen_anon_1.request_fd = 0;
    if multiplanar {
        // The queue checked that the planes array holds the buffer's
        // planes; never say more than it holds (a 32-bit application's
        // array is copied back by `length`).
        buf.bytesused = 0;
        buf.length = info.num_planes.min(room) as u32;
        for (p, (out, plane)) in b.planes().iter_mut().zip(info.planes()).enumerate() {
            out.bytesused = plane.bytesused as u32;
            out.length = plane.length as u32;
            out.data_offset = 0;
            out.reserved = Default::default();
            match info.memory {
                Memory::Mmap => out.m.mem_offset = mmap_offset(info.index, p),
                Memory::DmaBuf => out.m.fd = plane.fd,
            }
        }
    } else {
        let plane = &info.planes[0];
        buf.bytesused = plane.bytesused as u32;
        buf.length = plane.length as u32;
        match info.memory {
            Memory::Mmap => buf.m.offset = mmap_offset(info.index, 0),
            Memory::DmaBuf => buf.m.fd = plane.fd,
        }
    }
}

/// The checks of the V4L2 API every request of a device passes, and the
/// conversion of a buffer ioctl's argument into a queue request.
impl Capture {
    /// The buffer type of the device's API.
    fn buf_type(&self) -> u32 {
        if self.is_multiplanar() {
            CAPTURE_MPLANE
        } else {
            CAPTURE
        }
    }

    /// `EINVAL` unless `buf_type` is the device's (the core accepts either
    /// capture type, since the ioctl table serves both kinds of device).
    fn check_buf_type(&self, what: &str, buf_type: u32) -> Result {
        if buf_type == self.buf_type() {
            return Ok(());
        }
        self.log().dbg(
            ratelimit!(),
            format_args!("{what}: buffer type {buf_type} is not the device's"),
        );
        Err(EINVAL)
    }

    /// `EINVAL` on a multi-planar device (a format ioctl of the
    /// single-planar API).
    fn single_planar_api(&self) -> Result {
        self.check_buf_type("format", CAPTURE)
    }

    /// `EINVAL` on a single-planar device.
    fn multi_planar_api(&self) -> Result {
        self.check_buf_type("format", CAPTURE_MPLANE)
    }

    /// The checks of a buffer ioctl: the device's type. Returns how many
    /// planes the argument can describe: its planes array's length (the
    /// queue refuses a buffer with more, under its lock, as videobuf2:
    /// `EINVAL`), or one.
    fn check_buffer_arg(&self, what: &str, b: &mut BufferArg<'_>) -> Result<usize> {
        self.check_buf_type(what, b.buf.type_)?;
        Ok(if self.is_multiplanar() {
            b.planes().len()
        } else {
            1
        })
    }

    /// A QBUF or PREPARE_BUF request: the dma-buf of each plane (DMABUF)
    /// and the cache hints.
    fn queue_request(&self, what: &str, b: &mut BufferArg<'_>) -> Result<QueueRequest> {
        let room = self.check_buffer_arg(what, b)?;
        let flags = b.buf.flags;
        if flags & uapi::V4L2_BUF_FLAG_REQUEST_FD != 0 {
            // As videobuf2 for a queue without request support.
            return Err(error::ebadr());
        }
        let memory = memory_from_uapi(b.buf.memory)?;
        let mut planes = [PlaneRequest::NONE; MAX_PLANES];
        if self.is_multiplanar() {
            for (request, plane) in planes.iter_mut().zip(b.planes().iter()) {
                *request = PlaneRequest {
                    fd: plane_dmabuf_fd(plane),
                    length: plane.length as usize,
                };
            }
        } else {
            // For DMABUF the application set `fd`; for MMAP it is not used.
            planes[0] = PlaneRequest {
                fd: buffer_dmabuf_fd(b.buf),
                length: b.buf.length as usize,
            };
        }
        Ok(QueueRequest {
            index: b.buf.index as usize,
            memory,
            planes,
            room,
            hints: CacheHints {
                skip_for_device: flags & uapi::V4L2_BUF_FLAG_NO_CACHE_CLEAN != 0,
                skip_for_cpu: flags & uapi::V4L2_BUF_FLAG_NO_CACHE_INVALIDATE != 0,
            },
        })
    }
}

fn fill_parm(c: &mut uapi::v4l2_captureparm, interval: format::Interval) {
    *c = uapi::v4l2_captureparm {
        capability: uapi::V4L2_CAP_TIMEPERFRAME,
        timeperframe: uapi::v4l2_fract {
            numerator: interval.numerator,
            denominator: interval.denominator,
        },
        ..Default::default()
    };
}

#[vtable]
impl VideoOps for Capture {
    fn querycap(&self, c: &mut uapi::v4l2_capability) -> Result {
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

    fn enum_fmt_vid_cap(&self, f: &mut uapi::v4l2_fmtdesc) -> Result {
        // The core asks this for either capture type.
        if f.type_ != self.buf_type() {
            return Err(EINVAL);
        }
        let format = format::formats(self.is_multiplanar())
            .get(f.index as usize)
            .ok_or(EINVAL)?;
        // The core fills in the description.
        f.pixelformat = format.fourcc;
        f.flags = 0;
        Ok(())
    }

    fn g_fmt_vid_cap(&self, pix: &mut uapi::v4l2_pix_format) -> Result {
        self.single_planar_api()?;
        fill_pix(pix, &self.format());
        Ok(())
    }

    fn try_fmt_vid_cap(&self, pix: &mut uapi::v4l2_pix_format) -> Result {
        self.single_planar_api()?;
        let format = FrameFormat::negotiate(pix.pixelformat, pix.width, pix.height, false);
        fill_pix(pix, &format);
        Ok(())
    }

    fn s_fmt_vid_cap(&self, pix: &mut uapi::v4l2_pix_format) -> Result {
        self.single_planar_api()?;
        let format = self.set_format(pix.pixelformat, pix.width, pix.height)?;
        fill_pix(pix, &format);
        Ok(())
    }

    fn g_fmt_vid_cap_mplane(&self, pix: &mut uapi::v4l2_pix_format_mplane) -> Result {
        self.multi_planar_api()?;
        fill_pix_mp(pix, &self.format());
        Ok(())
    }

    fn try_fmt_vid_cap_mplane(&self, pix: &mut uapi::v4l2_pix_format_mplane) -> Result {
        self.multi_planar_api()?;
        let format = FrameFormat::negotiate(pix.pixelformat, pix.width, pix.height, true);
        fill_pix_mp(pix, &format);
        Ok(())
    }

    fn s_fmt_vid_cap_mplane(&self, pix: &mut uapi::v4l2_pix_format_mplane) -> Result {
        self.multi_planar_api()?;
        let format = self.set_format(pix.pixelformat, pix.width, pix.height)?;
        fill_pix_mp(pix, &format);
        Ok(())
    }

    fn enum_framesizes(&self, s: &mut uapi::v4l2_frmsizeenum) -> Result {
        format::find(s.pixel_format, self.is_multiplanar()).ok_or(EINVAL)?;
        if s.index != 0 {
            return Err(EINVAL);
        }
        s.type_ = uapi::v4l2_frmsizetypes_V4L2_FRMSIZE_TYPE_STEPWISE;
        s.__bindgen_anon_1.stepwise = uapi::v4l2_frmsize_stepwise {
            min_width: format::MIN_WIDTH,
            max_width: format::MAX_WIDTH,
            step_width: format::SIZE_STEP,
            min_height: format::MIN_HEIGHT,
            max_height: format::MAX_HEIGHT,
            step_height: format::SIZE_STEP,
        };
        Ok(())
    }

    fn enum_frameintervals(&self, i: &mut uapi::v4l2_frmivalenum) -> Result {
        format::find(i.pixel_format, self.is_multiplanar()).ok_or(EINVAL)?;
        if !format::is_frame_size(i.width, i.height) {
            return Err(EINVAL);
        }
        let interval = INTERVALS.get(i.index as usize).ok_or(EINVAL)?;
        i.type_ = uapi::v4l2_frmivaltypes_V4L2_FRMIVAL_TYPE_DISCRETE;
        i.__bindgen_anon_1.discrete = uapi::v4l2_fract {
            numerator: interval.numerator,
            denominator: interval.denominator,
        };
        Ok(())
    }

    fn g_parm(&self, p: &mut uapi::v4l2_captureparm) -> Result {
        fill_parm(p, self.interval());
        Ok(())
    }

    fn s_parm(&self, p: &mut uapi::v4l2_captureparm) -> Result {
        let t = p.timeperframe;
        let interval = self.set_interval(t.numerator, t.denominator);
        fill_parm(p, interval);
        Ok(())
    }

    fn enum_input(&self, i: &mut uapi::v4l2_input) -> Result {
        if i.index != 0 {
            return Err(EINVAL);
        }
        *i = uapi::v4l2_input {
            index: 0,
            type_: uapi::V4L2_INPUT_TYPE_CAMERA,
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

    fn reqbufs(&self, fh: FileId, r: &mut uapi::v4l2_requestbuffers) -> Result {
        self.check_buf_type("REQBUFS", r.type_)?;
        let memory = memory_from_uapi(r.memory)?;
        // `flags` is a `__u8` here, a `__u32` in CREATE_BUFS.
        let flags = u32::from(r.flags);
        let non_coherent = flags & NON_COHERENT != 0;
        let allocated = self.reqbufs(owner(fh), memory, r.count as usize, non_coherent)?;
        r.count = allocated.count as u32;
        r.capabilities |= BUF_CAPS;
        r.flags = memory_flags(memory, flags) as u8;
        Ok(())
    }

    fn create_bufs(
        &self,
        fh: FileId,
        c: &mut uapi::v4l2_create_buffers,
        format: CreateFormat,
    ) -> Result {
        self.check_buf_type("CREATE_BUFS", c.format.type_)?;
        let memory = memory_from_uapi(c.memory)?;
        let mut sizes = [0usize; MAX_PLANES];
        let num_planes = match format {
            CreateFormat::Single { size_image } => {
                sizes[0] = size_image as usize;
                1
            }
            CreateFormat::Multi {
                num_planes,
                sizes: asked,
            } => {
                let n = usize::from(num_planes);
                for (size, asked) in sizes.iter_mut().zip(asked.iter().take(n)) {
                    *size = *asked as usize;
                }
                n
            }
            CreateFormat::Other => return Err(EINVAL),
        };
        let non_coherent = c.flags & NON_COHERENT != 0;
        let allocated = self.create_bufs(
            owner(fh),
            memory,
            c.count as usize,
            &sizes[..num_planes.min(MAX_PLANES)],
            num_planes,
            non_coherent,
        )?;
        c.index = allocated.first as u32;
        c.count = allocated.count as u32;
        c.capabilities |= BUF_CAPS;
        c.flags = memory_flags(memory, c.flags);
        c.max_num_buffers = MAX_BUFFERS as u32;
        Ok(())
    }

    fn remove_bufs(&self, fh: FileId, r: &mut uapi::v4l2_remove_buffers) -> Result {
        self.check_buf_type("REMOVE_BUFS", r.type_)?;
        self.remove_bufs(owner(fh), r.index as usize, r.count as usize)
    }

    fn expbuf(&self, _fh: FileId, e: &mut uapi::v4l2_exportbuffer) -> Result {
        self.check_buf_type("EXPBUF", e.type_)?;
        if e.flags & !(dma_buf_export::ACCESS_MODE | dma_buf_export::CLOSE_ON_EXEC) != 0 {
            self.log().dbg(
                ratelimit!(),
                format_args!("EXPBUF: flags {:#x} beyond O_ACCMODE | O_CLOEXEC", e.flags),
            );
            return Err(EINVAL);
        }
        e.fd = self.expbuf(e.index as usize, e.plane as usize, e.flags)?;
        Ok(())
    }

    fn querybuf(&self, _fh: FileId, b: &mut BufferArg<'_>) -> Result {
        let room = self.check_buffer_arg("QUERYBUF", b)?;
        fill_buffer(b, &self.querybuf(b.buf.index as usize, room)?);
        Ok(())
    }

    fn prepare_buf(&self, fh: FileId, b: &mut BufferArg<'_>) -> Result {
        let req = self.queue_request("PREPARE_BUF", b)?;
        fill_buffer(b, &self.prepare_buf(owner(fh), &req)?);
        Ok(())
    }

    fn qbuf(&self, fh: FileId, b: &mut BufferArg<'_>) -> Result {
        let req = self.queue_request("QBUF", b)?;
        fill_buffer(b, &self.qbuf(owner(fh), &req)?);
        Ok(())
    }

    fn dqbuf(&self, fh: FileId, b: &mut BufferArg<'_>, nonblock: bool) -> Result {
        let room = self.check_buffer_arg("DQBUF", b)?;
        let memory = memory_from_uapi(b.buf.memory)?;
        fill_buffer(b, &self.dqbuf(owner(fh), memory, room, nonblock)?);
        Ok(())
    }

    fn streamon(&self, fh: FileId, buf_type: u32) -> Result {
        self.check_buf_type("STREAMON", buf_type)?;
        self.streamon(owner(fh))
    }

    fn streamoff(&self, fh: FileId, buf_type: u32) -> Result {
        self.check_buf_type("STREAMOFF", buf_type)?;
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
            frames.frames.load(Relaxed),
            frames.drops.load(Relaxed),
            frames.errors.load(Relaxed),
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

    fn mmap(&self, vma: &VmaNew) -> Result {
        if !vma.is_shared() || !vma.readable() {
            self.log().dbg(
                ratelimit!(),
                format_args!("mmap: needs MAP_SHARED and PROT_READ"),
            );
            return Err(EINVAL);
        }
        let (index, plane) = mmap_target(vma.page_offset());
        self.with_mmap_memory(index, plane, |memory| {
            if !memory.is_mmap() {
                return Err(EINVAL);
            }
            if vma.page_count() > memory.size().div_ceil(PAGE_SIZE) {
                self.log()
                    .dbg(ratelimit!(), format_args!("mmap: larger than the buffer"));
                return Err(EINVAL);
            }
            vma.map_buffer(memory.user_pages().ok_or(EINVAL)?)
        })
    }

    fn s_ctrl(&self, id: u32, value: i32) -> Result {
        match id {
            uapi::V4L2_CID_TEST_PATTERN => self.set_pattern(value as u32),
            _ => Err(EINVAL),
        }
    }
}
