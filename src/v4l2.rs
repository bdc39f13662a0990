// SPDX-License-Identifier: GPL-2.0

//! The V4L2 adapter: registers a [`Capture`] with the V4L2 core and turns
//! the core's C callbacks (ioctl ops, file operations, control ops, VMA ops)
//! into calls of its methods, converting the UAPI structures on the way.
//!
//! # Lifetime
//!
//! The capture device is allocated by [`register`] and freed by the
//! `v4l2_device` release callback, when the last reference to the
//! `v4l2_device` goes: the core keeps one for the registered video device,
//! [`unregister`] drops ours. Open files pin the module (the file
//! operations' owner), and the platform driver suppresses sysfs unbinding,
//! so [`unregister`] only runs with no file open and the engine stopped.

use crate::bindings;
use crate::capture::{Capture, State};
use crate::format::{self, FrameFormat, FORMATS, INTERVALS};
use crate::pattern::PATTERN_MENU;
use crate::queue::{BufferInfo, Memory, OwnerId, QueueRequest, MAX_BUFFERS};
use core::fmt::{self, Write};
use core::ptr::{self, NonNull};
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE`, the only buffer type.
const CAPTURE: u32 = bindings::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE;

/// Flags every buffer carries: the timestamp is CLOCK_MONOTONIC, taken at
/// the end of the frame.
const TIMESTAMP_FLAGS: u32 =
    bindings::V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | bindings::V4L2_BUF_FLAG_TSTAMP_SRC_EOF;

/// Buffer capabilities reported by REQBUFS and CREATE_BUFS.
const BUF_CAPS: u32 = bindings::V4L2_BUF_CAP_SUPPORTS_MMAP
    | bindings::V4L2_BUF_CAP_SUPPORTS_DMABUF
    | bindings::V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS
    | bindings::V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS;

// ---- small conversions

/// Formats into a fixed C string field, truncating, always NUL-terminated.
struct CField<'a> {
    dst: &'a mut [c_char],
    len: usize,
}

impl Write for CField<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len + 1 >= self.dst.len() {
                return Err(fmt::Error);
            }
            self.dst[self.len] = b as c_char;
            self.len += 1;
        }
        Ok(())
    }
}

fn set_cstr(dst: &mut [c_char], args: fmt::Arguments<'_>) {
    dst.fill(0);
    // Truncation is fine: the field stays NUL-terminated.
    let _ = CField { dst, len: 0 }.write_fmt(args);
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
    // SAFETY: `v4l2_pix_format` is plain data; all zeroes is a valid value.
    *pix = unsafe { core::mem::zeroed() };
    pix.width = f.width;
    pix.height = f.height;
    pix.pixelformat = f.format.fourcc;
    pix.field = bindings::v4l2_field_V4L2_FIELD_NONE;
    pix.bytesperline = f.bytes_per_line;
    pix.sizeimage = f.size_image;
    pix.colorspace = if f.format.is_yuv {
        bindings::v4l2_colorspace_V4L2_COLORSPACE_SMPTE170M
    } else {
        bindings::v4l2_colorspace_V4L2_COLORSPACE_SRGB
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
    // SAFETY: `v4l2_timecode` is plain data; all zeroes is a valid value.
    b.timecode = unsafe { core::mem::zeroed() };
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
        // SAFETY: `m` is a union of plain integers; for DMABUF the
        // application set `fd`, for MMAP the value is not used.
        fd: unsafe { b.m.fd },
        length: b.length as usize,
    })
}

// ---- ioctl dispatch

/// The capture device of an open rvcap file.
///
/// # Safety
///
/// `file` must be an open file of a video device registered by [`register`].
unsafe fn capture_of<'a>(file: *mut bindings::file) -> &'a Capture {
    // SAFETY: `register` set the video device's driver data to the capture
    // device, which outlives every open file (see the module docs).
    unsafe { &*bindings::rvcap_video_drvdata(file).cast::<Capture>() }
}

/// Runs an ioctl handler with the capture device, the caller's file handle
/// and the ioctl argument, and turns its result into a C return value.
///
/// # Safety
///
/// `file` must be an open rvcap file, `fh` its `v4l2_fh` and `arg` the
/// kernel copy of the ioctl argument, valid for the call.
unsafe fn ioctl<T>(
    file: *mut bindings::file,
    fh: *mut c_void,
    arg: *mut T,
    handler: impl FnOnce(&Capture, OwnerId, &mut T) -> Result,
) -> c_int {
    // SAFETY: the function's contract.
    let (capture, arg) = unsafe { (capture_of(file), &mut *arg) };
    match handler(capture, OwnerId(fh as usize), arg) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Declares an ioctl op: an `unsafe extern "C"` function taking the file,
/// the file handle and a pointer to `$arg`, dispatched through [`ioctl`].
macro_rules! ioctl_op {
    ($name:ident, $arg:ty, |$cap:ident, $who:ident, $a:ident| $body:expr) => {
        /// # Safety
        ///
        /// Called by the V4L2 core with an open rvcap file, its file handle
        /// and the kernel copy of the ioctl argument.
        unsafe extern "C" fn $name(
            file: *mut bindings::file,
            fh: *mut c_void,
            arg: *mut $arg,
        ) -> c_int {
            #[allow(unused_variables)]
            let handler = |$cap: &Capture, $who: OwnerId, $a: &mut $arg| -> Result { $body };
            // SAFETY: the V4L2 core passes exactly what `ioctl` requires.
            unsafe { ioctl(file, fh, arg, handler) }
        }
    };
}

ioctl_op!(querycap, bindings::v4l2_capability, |cap, who, c| {
    set_cstr(&mut c.driver, format_args!("rvcap"));
    set_cstr(
        &mut c.card,
        format_args!("rvcap virtual capture {}", cap.index()),
    );
    set_cstr(
        &mut c.bus_info,
        format_args!("platform:rvcap-{}", cap.index()),
    );
    Ok(())
});

ioctl_op!(enum_fmt, bindings::v4l2_fmtdesc, |cap, who, f| {
    let format = FORMATS.get(f.index as usize).ok_or(EINVAL)?;
    // The core fills in the description.
    f.pixelformat = format.fourcc;
    f.flags = 0;
    Ok(())
});

ioctl_op!(g_fmt, bindings::v4l2_format, |cap, who, f| {
    // SAFETY: the core checked `type` is VIDEO_CAPTURE, whose member is `pix`.
    fill_pix(unsafe { &mut f.fmt.pix }, &cap.format());
    Ok(())
});

ioctl_op!(try_fmt, bindings::v4l2_format, |cap, who, f| {
    // SAFETY: as in `g_fmt`.
    let pix = unsafe { &mut f.fmt.pix };
    fill_pix(
        pix,
        &FrameFormat::negotiate(pix.pixelformat, pix.width, pix.height),
    );
    Ok(())
});

ioctl_op!(s_fmt, bindings::v4l2_format, |cap, who, f| {
    // SAFETY: as in `g_fmt`.
    let pix = unsafe { &mut f.fmt.pix };
    let format = cap.set_format(pix.pixelformat, pix.width, pix.height)?;
    fill_pix(pix, &format);
    Ok(())
});

ioctl_op!(
    enum_framesizes,
    bindings::v4l2_frmsizeenum,
    |cap, who, s| {
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
);

ioctl_op!(
    enum_frameintervals,
    bindings::v4l2_frmivalenum,
    |cap, who, i| {
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
);

fn fill_parm(p: &mut bindings::v4l2_streamparm, interval: format::Interval) {
    // SAFETY: `parm` is a union of plain data; all zeroes is valid for it.
    p.parm = unsafe { core::mem::zeroed() };
    // SAFETY: writing the capture member of a plain-data union.
    let c = unsafe { &mut p.parm.capture };
    c.capability = bindings::V4L2_CAP_TIMEPERFRAME;
    c.timeperframe = bindings::v4l2_fract {
        numerator: interval.numerator,
        denominator: interval.denominator,
    };
}

ioctl_op!(g_parm, bindings::v4l2_streamparm, |cap, who, p| {
    fill_parm(p, cap.interval());
    Ok(())
});

ioctl_op!(s_parm, bindings::v4l2_streamparm, |cap, who, p| {
    // SAFETY: the core checked `type` is VIDEO_CAPTURE, whose member is
    // `capture`.
    let t = unsafe { p.parm.capture.timeperframe };
    let interval = cap.set_interval(t.numerator, t.denominator);
    fill_parm(p, interval);
    Ok(())
});

ioctl_op!(enum_input, bindings::v4l2_input, |cap, who, i| {
    if i.index != 0 {
        return Err(EINVAL);
    }
    let index = i.index;
    // SAFETY: `v4l2_input` is plain data; all zeroes is a valid value.
    *i = unsafe { core::mem::zeroed() };
    i.index = index;
    set_cstr(&mut i.name, format_args!("Virtual Camera"));
    i.type_ = bindings::V4L2_INPUT_TYPE_CAMERA;
    Ok(())
});

ioctl_op!(g_input, c_uint, |cap, who, i| {
    *i = 0;
    Ok(())
});

/// # Safety
///
/// Called by the V4L2 core with an open rvcap file.
unsafe extern "C" fn s_input(_file: *mut bindings::file, _fh: *mut c_void, i: c_uint) -> c_int {
    if i == 0 {
        0
    } else {
        EINVAL.to_errno()
    }
}

ioctl_op!(reqbufs, bindings::v4l2_requestbuffers, |cap, who, r| {
    let memory = memory_from_uapi(r.memory)?;
    r.count = cap.reqbufs(who, memory, r.count as usize)? as u32;
    r.capabilities |= BUF_CAPS;
    // No cache hints: V4L2_MEMORY_FLAG_NON_COHERENT is not supported.
    r.flags = 0;
    Ok(())
});

ioctl_op!(create_bufs, bindings::v4l2_create_buffers, |cap, who, c| {
    let memory = memory_from_uapi(c.memory)?;
    // SAFETY: the core checked `format.type` is VIDEO_CAPTURE (`pix`).
    let size = unsafe { c.format.fmt.pix.sizeimage } as usize;
    if c.count > 0 && size == 0 {
        return Err(EINVAL);
    }
    let (first, added) = cap.create_bufs(who, memory, c.count as usize, size)?;
    c.index = first as u32;
    c.count = added as u32;
    c.capabilities |= BUF_CAPS;
    c.flags = 0;
    c.max_num_buffers = MAX_BUFFERS as u32;
    Ok(())
});

ioctl_op!(querybuf, bindings::v4l2_buffer, |cap, who, b| {
    fill_buffer(b, &cap.querybuf(b.index as usize)?);
    Ok(())
});

ioctl_op!(prepare_buf, bindings::v4l2_buffer, |cap, who, b| {
    let req = queue_request(b)?;
    fill_buffer(b, &cap.prepare_buf(who, &req)?);
    Ok(())
});

ioctl_op!(qbuf, bindings::v4l2_buffer, |cap, who, b| {
    let req = queue_request(b)?;
    fill_buffer(b, &cap.qbuf(who, &req)?);
    Ok(())
});

/// # Safety
///
/// Called by the V4L2 core with an open rvcap file, its file handle and the
/// kernel copy of the ioctl argument.
unsafe extern "C" fn dqbuf(
    file: *mut bindings::file,
    fh: *mut c_void,
    b: *mut bindings::v4l2_buffer,
) -> c_int {
    // SAFETY: `file` is an open file.
    let nonblock = unsafe { (*file).f_flags } & bindings::O_NONBLOCK != 0;
    let handler = |cap: &Capture, who: OwnerId, b: &mut bindings::v4l2_buffer| -> Result {
        let memory = memory_from_uapi(b.memory)?;
        fill_buffer(b, &cap.dqbuf(who, memory, nonblock)?);
        Ok(())
    };
    // SAFETY: as in `ioctl_op!`.
    unsafe { ioctl(file, fh, b, handler) }
}

/// STREAMON and STREAMOFF: check the buffer type, then `op`.
///
/// # Safety
///
/// As for [`ioctl`].
unsafe fn stream(
    file: *mut bindings::file,
    fh: *mut c_void,
    t: bindings::v4l2_buf_type,
    op: fn(&Capture, OwnerId) -> Result,
) -> c_int {
    let handler = |cap: &Capture, who: OwnerId, (): &mut ()| -> Result {
        if t != CAPTURE {
            return Err(EINVAL);
        }
        op(cap, who)
    };
    // SAFETY: the caller's contract; the argument is a local unit value.
    unsafe { ioctl(file, fh, &mut (), handler) }
}

/// # Safety
///
/// Called by the V4L2 core with an open rvcap file and its file handle.
unsafe extern "C" fn streamon(
    file: *mut bindings::file,
    fh: *mut c_void,
    t: bindings::v4l2_buf_type,
) -> c_int {
    // SAFETY: as received from the V4L2 core.
    unsafe { stream(file, fh, t, Capture::streamon) }
}

/// # Safety
///
/// Called by the V4L2 core with an open rvcap file and its file handle.
unsafe extern "C" fn streamoff(
    file: *mut bindings::file,
    fh: *mut c_void,
    t: bindings::v4l2_buf_type,
) -> c_int {
    // SAFETY: as received from the V4L2 core.
    unsafe { stream(file, fh, t, Capture::streamoff) }
}

/// # Safety
///
/// Called by the V4L2 core with an open rvcap file and its file handle.
unsafe extern "C" fn log_status(file: *mut bindings::file, fh: *mut c_void) -> c_int {
    // SAFETY: `file` is an open rvcap file.
    let cap = unsafe { capture_of(file) };
    cap.with_state(|st: &mut State| {
        cap.log().info(format_args!(
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
    let frames = cap.frame_counters();
    cap.log().info(format_args!(
        "frames: {}, dropped: {}, errors: {}",
        frames.frames.load(core::sync::atomic::Ordering::Relaxed),
        frames.drops.load(core::sync::atomic::Ordering::Relaxed),
        frames.errors.load(core::sync::atomic::Ordering::Relaxed),
    ));
    // SAFETY: the core's own helper, with the arguments the core gave us.
    unsafe { bindings::v4l2_ctrl_log_status(file, fh) }
}

/// # Safety
///
/// Called by the V4L2 core with a file handle and a valid subscription.
unsafe extern "C" fn subscribe_event(
    fh: *mut bindings::v4l2_fh,
    sub: *const bindings::v4l2_event_subscription,
) -> c_int {
    // SAFETY: forwarded as received; control events are the only kind.
    unsafe { bindings::v4l2_ctrl_subscribe_event(fh, sub) }
}

/// # Safety
///
/// Called by the V4L2 core with a file handle and a valid subscription.
unsafe extern "C" fn unsubscribe_event(
    fh: *mut bindings::v4l2_fh,
    sub: *const bindings::v4l2_event_subscription,
) -> c_int {
    // SAFETY: forwarded as received.
    unsafe { bindings::v4l2_event_unsubscribe(fh, sub) }
}

// SAFETY: all-zero `v4l2_ioctl_ops` is valid: every member is an optional
// function pointer, and `None` means "not supported".
const NO_IOCTL_OPS: bindings::v4l2_ioctl_ops = unsafe { core::mem::zeroed() };

static IOCTL_OPS: bindings::v4l2_ioctl_ops = bindings::v4l2_ioctl_ops {
    vidioc_querycap: Some(querycap),
    vidioc_enum_fmt_vid_cap: Some(enum_fmt),
    vidioc_g_fmt_vid_cap: Some(g_fmt),
    vidioc_s_fmt_vid_cap: Some(s_fmt),
    vidioc_try_fmt_vid_cap: Some(try_fmt),
    vidioc_enum_framesizes: Some(enum_framesizes),
    vidioc_enum_frameintervals: Some(enum_frameintervals),
    vidioc_g_parm: Some(g_parm),
    vidioc_s_parm: Some(s_parm),
    vidioc_enum_input: Some(enum_input),
    vidioc_g_input: Some(g_input),
    vidioc_s_input: Some(s_input),
    vidioc_reqbufs: Some(reqbufs),
    vidioc_create_bufs: Some(create_bufs),
    vidioc_querybuf: Some(querybuf),
    vidioc_prepare_buf: Some(prepare_buf),
    vidioc_qbuf: Some(qbuf),
    vidioc_dqbuf: Some(dqbuf),
    vidioc_streamon: Some(streamon),
    vidioc_streamoff: Some(streamoff),
    vidioc_log_status: Some(log_status),
    vidioc_subscribe_event: Some(subscribe_event),
    vidioc_unsubscribe_event: Some(unsubscribe_event),
    ..NO_IOCTL_OPS
};

// ---- file operations

/// # Safety
///
/// Called by the V4L2 core when the last reference to an open rvcap file
/// goes.
unsafe extern "C" fn release(file: *mut bindings::file) -> c_int {
    // SAFETY: `file` is an open rvcap file; `private_data` is its v4l2_fh.
    let (cap, fh) = unsafe { (capture_of(file), (*file).private_data) };
    cap.release(OwnerId(fh as usize));
    // SAFETY: the counterpart of `v4l2_fh_open`, called once per open.
    unsafe { bindings::v4l2_fh_release(file) }
}

/// # Safety
///
/// Called by the V4L2 core with an open rvcap file and a poll table.
unsafe extern "C" fn poll(
    file: *mut bindings::file,
    pt: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: `file` is an open rvcap file; `private_data` is its v4l2_fh.
    let (cap, fh) = unsafe {
        (
            capture_of(file),
            (*file).private_data.cast::<bindings::v4l2_fh>(),
        )
    };
    let mut mask = 0;
    // SAFETY: `pt` comes from the core (or is null); helpers accept both.
    let requested = unsafe { bindings::rvcap_poll_requested_events(pt) };
    // SAFETY: the wait queue lives as long as the capture device.
    unsafe { bindings::rvcap_poll_wait(file, cap.poll_wait_queue(), pt) };
    let readable = bindings::RVCAP_CONST_EPOLLIN | bindings::RVCAP_CONST_EPOLLRDNORM;
    if requested & readable != 0 {
        // As videobuf2: an error while not streaming, readable when a
        // buffer is done.
        mask |= match cap.poll_ready() {
            None => bindings::RVCAP_CONST_EPOLLERR,
            Some(true) => readable,
            Some(false) => 0,
        };
    }
    // SAFETY: `fh` is the file's v4l2_fh; its wait queue lives as long.
    unsafe {
        bindings::rvcap_poll_wait(file, ptr::addr_of_mut!((*fh).wait), pt);
        if bindings::v4l2_event_pending(fh) != 0 {
            mask |= bindings::RVCAP_CONST_EPOLLPRI;
        }
    }
    mask
}

/// # Safety
///
/// Called by the mm core when a VMA made by [`mmap`] is duplicated or split.
unsafe extern "C" fn vma_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: `vm_private_data` holds one `Arc` reference made by `mmap` for
    // the original VMA; this VMA gets a reference of its own.
    unsafe {
        let memory = core::mem::ManuallyDrop::new(crate::dma::Mapping::from_raw(
            (*vma).vm_private_data.cast(),
        ));
        if let Some(m) = memory.mmap() {
            m.user_mapping(true);
        }
        let _ = crate::dma::Mapping::into_raw((*memory).clone());
    }
}

/// # Safety
///
/// Called by the mm core when a VMA made by [`mmap`] (or copied by
/// [`vma_open`]) goes away.
unsafe extern "C" fn vma_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the VMA owns one reference (see `vma_open`), dropped here.
    let memory = unsafe { crate::dma::Mapping::from_raw((*vma).vm_private_data.cast()) };
    if let Some(m) = memory.mmap() {
        m.user_mapping(false);
    }
}

// SAFETY: all-zero `vm_operations_struct` is valid: optional callbacks.
const NO_VM_OPS: bindings::vm_operations_struct = unsafe { core::mem::zeroed() };

static VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
    open: Some(vma_open),
    close: Some(vma_close),
    ..NO_VM_OPS
};

/// # Safety
///
/// Called by the V4L2 core with an open rvcap file and a new VMA.
unsafe extern "C" fn mmap(file: *mut bindings::file, vma: *mut bindings::vm_area_struct) -> c_int {
    // SAFETY: `file` is an open rvcap file.
    let cap = unsafe { capture_of(file) };
    // SAFETY: `vma` is a VMA being set up for this file, ours to initialise.
    let vma = unsafe { &mut *vma };
    let result = (|| -> Result {
        // SAFETY: reads the flags of a valid VMA.
        let flags = unsafe { bindings::rvcap_vma_flags(vma) };
        if flags & bindings::RVCAP_CONST_VM_SHARED == 0
            || flags & bindings::RVCAP_CONST_VM_READ == 0
        {
            cap.log()
                .dbg(format_args!("mmap: needs MAP_SHARED and PROT_READ"));
            return Err(EINVAL);
        }
        let memory = cap.mmap_memory(vma.vm_pgoff)?;
        let mmap = memory.mmap().ok_or(EINVAL)?;
        let pages = mmap.pages();
        // SAFETY: reads the bounds of a valid VMA.
        if unsafe { bindings::rvcap_vma_pages(vma) } as usize > pages.len() {
            cap.log().dbg(format_args!("mmap: larger than the buffer"));
            return Err(EINVAL);
        }
        // The offset was a cookie naming the buffer; the pages start at 0.
        vma.vm_pgoff = 0;
        // SAFETY: the VMA is being set up; the page array holds valid pages,
        // which `vm_map_pages` takes references to.
        kernel::error::to_result(unsafe {
            bindings::vm_map_pages(
                vma,
                pages.as_ptr() as *mut *mut bindings::page,
                pages.len() as c_ulong,
            )
        })?;
        // SAFETY: as above.
        unsafe {
            bindings::rvcap_vm_flags_set(
                vma,
                (bindings::RVCAP_CONST_VM_DONTEXPAND | bindings::RVCAP_CONST_VM_DONTDUMP)
                    as c_ulong,
            )
        };
        mmap.user_mapping(true);
        vma.vm_private_data = crate::dma::Mapping::into_raw(memory.clone()) as *mut c_void;
        vma.vm_ops = &VM_OPS;
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

// ---- controls

/// # Safety
///
/// Called by the control framework with one of our controls.
unsafe extern "C" fn s_ctrl(ctrl: *mut bindings::v4l2_ctrl) -> c_int {
    // SAFETY: `priv_` was set to the capture device when the control was
    // made; the handler (and so the control) lives as long as the device.
    let (cap, id, value) = unsafe { (&*(*ctrl).priv_.cast::<Capture>(), (*ctrl).id, (*ctrl).val) };
    let result = match id {
        bindings::RVCAP_CONST_V4L2_CID_TEST_PATTERN => cap.set_pattern(value as u32),
        _ => Err(EINVAL),
    };
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

// SAFETY: all-zero `v4l2_ctrl_ops` is valid: optional callbacks.
const NO_CTRL_OPS: bindings::v4l2_ctrl_ops = unsafe { core::mem::zeroed() };

static CTRL_OPS: bindings::v4l2_ctrl_ops = bindings::v4l2_ctrl_ops {
    s_ctrl: Some(s_ctrl),
    ..NO_CTRL_OPS
};

/// The test pattern menu as the control framework wants it: a
/// NULL-terminated array of C strings.
struct Menu([*const c_char; PATTERN_MENU.len() + 1]);

// SAFETY: the pointers point to 'static, immutable C string literals.
unsafe impl Sync for Menu {}

static TEST_PATTERN_MENU: Menu = Menu([
    PATTERN_MENU[0].as_ptr().cast(),
    PATTERN_MENU[1].as_ptr().cast(),
    PATTERN_MENU[2].as_ptr().cast(),
    ptr::null(),
]);

// ---- registration

/// Allocates a capture device for `dev` and registers it with the V4L2
/// core as `/dev/videoN`.
///
/// # Safety
///
/// `dev` must be a registered device with a DMA mask that outlives the
/// capture device, that is, until [`unregister`] of the returned pointer.
pub(crate) unsafe fn register(dev: *mut bindings::device, index: u32) -> Result<NonNull<Capture>> {
    // SAFETY: the caller's guarantee about `dev`.
    let init = unsafe { Capture::new(dev, index)? };
    let boxed = KBox::pin_init(init, GFP_KERNEL)?;
    // From here on the `v4l2_device` release callback frees the device.
    // SAFETY: the capture device is never moved out of its allocation: it is
    // only used through this pointer until `release_capture` re-boxes it.
    let cap = unsafe { NonNull::new_unchecked(KBox::into_raw(Pin::into_inner_unchecked(boxed))) };
    // SAFETY: `cap` is valid and pinned.
    let c = unsafe { cap.as_ref() };
    let v4l2_dev = c.v4l2_dev.get();
    // SAFETY: `v4l2_dev` is the capture device's own (uninitialised) memory,
    // zeroed and filled in here before anything else uses it.
    unsafe {
        ptr::write_bytes(v4l2_dev, 0, 1);
        set_cstr(&mut (*v4l2_dev).name, format_args!("rvcap-{index}"));
        (*v4l2_dev).release = Some(release_capture);
    }
    // SAFETY: `dev` is live; `v4l2_dev` is initialised above and pinned.
    let registered = unsafe { bindings::v4l2_device_register(dev, v4l2_dev) };
    if let Err(e) = kernel::error::to_result(registered) {
        // SAFETY: registration failed, so the core holds no reference: free
        // the device ourselves.
        drop(unsafe { KBox::from_raw(cap.as_ptr()) });
        return Err(e);
    }
    // SAFETY: `cap` is registered; on failure `unregister` undoes exactly
    // what `setup` did and drops our reference.
    if let Err(e) = unsafe { setup(cap, dev) } {
        // SAFETY: see above.
        unsafe { unregister(cap) };
        return Err(e);
    }
    Ok(cap)
}

/// Sets up controls and the video device and registers the latter.
///
/// # Safety
///
/// `cap` must be a capture device whose `v4l2_device` is registered.
unsafe fn setup(cap: NonNull<Capture>, dev: *mut bindings::device) -> Result {
    // SAFETY: the function's contract.
    let c = unsafe { cap.as_ref() };
    let hdl = c.ctrls.get();
    let vdev = c.vdev.get();
    let fops = c.fops.get();
    // SAFETY: the structures are the capture device's own and pinned; they
    // are zeroed before the core sees them, as C drivers' kzalloc would.
    unsafe {
        ptr::write_bytes(hdl, 0, 1);
        ptr::write_bytes(vdev, 0, 1);
        ptr::write_bytes(fops, 0, 1);
        kernel::error::to_result(bindings::rvcap_ctrl_handler_init(hdl, 1))?;
        let ctrl = bindings::v4l2_ctrl_new_std_menu_items(
            hdl,
            &CTRL_OPS,
            bindings::RVCAP_CONST_V4L2_CID_TEST_PATTERN,
            (PATTERN_MENU.len() - 1) as u8,
            0,
            0,
            TEST_PATTERN_MENU.0.as_ptr(),
        );
        kernel::error::to_result((*hdl).error)?;
        if ctrl.is_null() {
            return Err(ENOMEM);
        }
        (*ctrl).priv_ = cap.as_ptr().cast();

        *fops = bindings::v4l2_file_operations {
            owner: crate::THIS_MODULE.as_ptr().cast(),
            poll: Some(poll),
            unlocked_ioctl: Some(bindings::video_ioctl2),
            mmap: Some(mmap),
            open: Some(bindings::v4l2_fh_open),
            release: Some(release),
            ..core::mem::zeroed()
        };
        set_cstr(&mut (*vdev).name, format_args!("rvcap-{}", c.index()));
        (*vdev).fops = fops;
        (*vdev).ioctl_ops = &IOCTL_OPS;
        (*vdev).release = Some(bindings::video_device_release_empty);
        (*vdev).v4l2_dev = c.v4l2_dev.get();
        (*vdev).vfl_dir = bindings::vfl_devnode_direction_VFL_DIR_RX;
        (*vdev).device_caps = bindings::V4L2_CAP_VIDEO_CAPTURE | bindings::V4L2_CAP_STREAMING;
        (*vdev).ctrl_handler = hdl;
        bindings::rvcap_video_set_drvdata(vdev, cap.as_ptr().cast());
        kernel::error::to_result(bindings::rvcap_video_register_device(vdev))?;
    }
    // SAFETY: registered above, so the device has its node name; `dev`
    // is live (the caller's guarantee).
    let (node, mask) = unsafe {
        (
            kernel::str::CStr::from_char_ptr(bindings::rvcap_dev_name(ptr::addr_of_mut!(
                (*vdev).dev
            ))),
            bindings::rvcap_dma_get_mask(dev),
        )
    };
    c.log().info(format_args!(
        "/dev/{node}: virtual capture, DMA mask {mask:#x}"
    ));
    // SAFETY: `dev` is live (the caller's guarantee) and named.
    c.add_debugfs(unsafe { kernel::str::CStr::from_char_ptr(bindings::rvcap_dev_name(dev)) });
    Ok(())
}

/// Unregisters a capture device made by [`register`] and drops the driver's
/// reference; the device is freed when the core drops the last one.
///
/// # Safety
///
/// `cap` must come from [`register`] (or be in its error path) and no file
/// of it may be open; it must not be used afterwards.
pub(crate) unsafe fn unregister(cap: NonNull<Capture>) {
    // SAFETY: the function's contract: `cap` is valid until the put below.
    let c = unsafe { cap.as_ref() };
    c.shutdown();
    // SAFETY: each call accepts a structure that was never registered (or
    // initialised: zeroed), and undoes what registration did otherwise.
    unsafe {
        bindings::video_unregister_device(c.vdev.get());
        bindings::v4l2_ctrl_handler_free(c.ctrls.get());
        bindings::v4l2_device_unregister(c.v4l2_dev.get());
        bindings::v4l2_device_put(c.v4l2_dev.get());
    }
}

/// The `v4l2_device` release callback: frees the capture device.
///
/// # Safety
///
/// Called by the V4L2 core once, when the last reference goes.
unsafe extern "C" fn release_capture(v4l2_dev: *mut bindings::v4l2_device) {
    let offset = core::mem::offset_of!(Capture, v4l2_dev);
    // SAFETY: `v4l2_dev` is the `v4l2_dev` field of a capture device
    // allocated by `register` with `KBox`; nothing uses it any more.
    unsafe {
        let cap = v4l2_dev.cast::<u8>().sub(offset).cast::<Capture>();
        drop(KBox::from_raw(cap));
    }
}
