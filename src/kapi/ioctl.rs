// SPDX-License-Identifier: GPL-2.0

//! The adapter from the V4L2 core's C callbacks to [`VideoOps`] methods:
//! each callback turns its raw pointers into typed references on its first
//! line (as Rust binder's do), calls the method, and turns the `Result`
//! into a C return value. The ioctl table is built from the `HAS_*`
//! constants of `#[vtable]`, so an ioctl the driver does not implement is
//! not offered.

use super::bindings;
use super::mm::VmaNew;
use super::sync::poll::{self, PollTable};
use super::types::Opaque;
use super::video::{FileId, Inner, VideoOps};
use core::marker::PhantomData;
use kernel::error::from_result;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;

/// Most planes a `v4l2_buffer` or `v4l2_pix_format_mplane` describes.
pub(crate) const VIDEO_MAX_PLANES: usize = bindings::RVCAP_CONST_VIDEO_MAX_PLANES as usize;

/// The file handle's `O_NONBLOCK`.
const NONBLOCK: u32 = bindings::O_NONBLOCK;

/// The callbacks of a [`VideoOps`] implementation.
pub(super) struct Adapter<T>(PhantomData<T>);

/// The driver data of an open file of a video device registered by
/// `Registration<T>`.
///
/// # Safety
///
/// `file` must be an open file of such a device, for `'a`.
unsafe fn data_of<'a, T: VideoOps>(file: *mut bindings::file) -> &'a T {
    // SAFETY: `file` is an open file of one of our video devices (the
    // caller's contract).
    let data = unsafe { bindings::rvcap_video_drvdata(file) };
    // SAFETY: `Registration::setup` set the video device's driver data to its
    // `T`, which outlives every open file (see `video`'s "Lifetime").
    unsafe { &*data.cast::<T>() }
}

/// The single-planar capture format of a `_vid_cap` format ioctl.
fn pix(f: &mut bindings::v4l2_format) -> &mut bindings::v4l2_pix_format {
    // SAFETY: the core checked `type` is VIDEO_CAPTURE, whose member is
    // `pix`; every member of the union is plain integers, valid for any bits.
    unsafe { &mut f.fmt.pix }
}

/// The multi-planar capture format of a `_vid_cap_mplane` format ioctl.
fn pix_mp(f: &mut bindings::v4l2_format) -> &mut bindings::v4l2_pix_format_mplane {
    // SAFETY: the core checked `type` is VIDEO_CAPTURE_MPLANE, whose member
    // is `pix_mp`; every member of the union is plain integers, valid for
    // any bits.
    unsafe { &mut f.fmt.pix_mp }
}

/// The format of a CREATE_BUFS request, by its `type`: the buffer sizes
/// asked for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CreateFormat {
    /// `V4L2_BUF_TYPE_VIDEO_CAPTURE`: one plane of `sizeimage` bytes.
    Single {
        /// `fmt.pix.sizeimage`.
        size_image: u32,
    },
    /// `V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`: `num_planes` planes, each of
    /// `plane_fmt[p].sizeimage` bytes.
    Multi {
        /// `fmt.pix_mp.num_planes`.
        num_planes: u8,
        /// `fmt.pix_mp.plane_fmt[p].sizeimage`.
        sizes: [u32; VIDEO_MAX_PLANES],
    },
    /// Any other type.
    Other,
}

impl CreateFormat {
    fn of(f: &bindings::v4l2_format) -> Self {
        match f.type_ {
            bindings::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE => Self::Single {
                // SAFETY: `pix` is the member of this type; the union is
                // plain integers, valid for any bits.
                size_image: unsafe { f.fmt.pix.sizeimage },
            },
            bindings::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE => {
                // SAFETY: as above, `pix_mp`.
                let mp = unsafe { &f.fmt.pix_mp };
                Self::Multi {
                    num_planes: mp.num_planes,
                    sizes: core::array::from_fn(|p| mp.plane_fmt[p].sizeimage),
                }
            }
            _ => Self::Other,
        }
    }
}

/// The `struct v4l2_buffer` of a buffer ioctl with, for the multi-planar
/// API, its array of planes.
///
/// # Invariants
///
/// `planes` is the array `buf.m.planes` points to when `buf.type_` is a
/// multi-planar type and `buf.length` is 1 to `VIDEO_MAX_PLANES`: the
/// kernel copy the V4L2 core made (`video_usercopy`, `check_array_args`)
/// and copies back after the call; empty otherwise.
pub(crate) struct BufferArg<'a> {
    /// The buffer.
    pub(crate) buf: &'a mut bindings::v4l2_buffer,
    planes: &'a mut [bindings::v4l2_plane],
}

impl<'a> BufferArg<'a> {
    /// The argument of a buffer ioctl.
    ///
    /// # Safety
    ///
    /// `buf` must be the argument the V4L2 core passed to a QUERYBUF,
    /// PREPARE_BUF, QBUF or DQBUF callback, for the duration of the call.
    unsafe fn new(buf: &'a mut bindings::v4l2_buffer) -> Self {
        let multiplanar = buf.type_ == bindings::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
            || buf.type_ == bindings::v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
        let len = buf.length as usize;
        let planes = if multiplanar && (1..=VIDEO_MAX_PLANES).contains(&len) {
            // SAFETY: `m.planes` is the member a multi-planar buffer uses;
            // every member of the union is a plain integer or pointer.
            let kernel_copy = unsafe { buf.m.planes };
            // SAFETY: for such a buffer the core replaced the user's planes
            // pointer with its kernel copy of `length` planes, which lives
            // until the callback returns (the function's contract); it is
            // not part of `*buf`, so the two borrows do not overlap. (With
            // any other length the pointer is the user's: not read.)
            unsafe { core::slice::from_raw_parts_mut(kernel_copy, len) }
        } else {
            &mut []
        };
        // INVARIANT: as argued above.
        Self { buf, planes }
    }

    /// The planes array of a multi-planar buffer (empty for single-planar
    /// ones, or when the application passed none).
    pub(crate) fn planes(&mut self) -> &mut [bindings::v4l2_plane] {
        self.planes
    }
}

/// The dma-buf fd of a `v4l2_plane` (`m.fd`), as the application set it
/// for `V4L2_MEMORY_DMABUF`; meaningless (but harmless) for other memory.
pub(crate) fn plane_dmabuf_fd(p: &bindings::v4l2_plane) -> i32 {
    // SAFETY: `m` is a union of plain integers and pointers-as-integers;
    // any bits are a valid `i32`.
    unsafe { p.m.fd }
}

/// The handle of an open file of ours: its `v4l2_fh`, which `v4l2_fh_open`
/// put in `private_data` (what videobuf2 calls a queue's owner). The
/// ioctl callbacks' own `priv` argument is that handle on 6.12 and null on
/// 7.3, so it is not used.
///
/// # Safety
///
/// `file` is an open file of ours.
unsafe fn file_id(file: *mut bindings::file) -> FileId {
    // SAFETY: open (the caller's contract), so readable; set at open.
    FileId(unsafe { (*file).private_data } as usize)
}

/// Declares an ioctl callback: the file and a pointer to the kernel copy of
/// `$arg`, turned into `&T`, [`FileId`] and `&mut $arg`.
macro_rules! ioctl_op {
    ($name:ident, $arg:ty, |$data:ident, $fh:ident, $a:ident| $body:expr) => {
        /// # Safety
        ///
        /// Called by the V4L2 core with an open file of a device registered
        /// by `Registration<T>` and the kernel copy of the ioctl argument,
        /// valid for the call.
        unsafe extern "C" fn $name(
            file: *mut bindings::file,
            _priv: *mut c_void,
            arg: *mut $arg,
        ) -> c_int {
            // SAFETY: the function's contract: an open file of ours.
            let $data = unsafe { data_of::<T>(file) };
            // SAFETY: the function's contract: the kernel copy of the
            // argument, valid and ours for the call.
            let $a = unsafe { &mut *arg };
            // SAFETY: the function's contract: an open file of ours.
            #[allow(unused_variables)]
            let $fh = unsafe { file_id(file) };
            from_result(|| {
                $body?;
                Ok(0)
            })
        }
    };
}

/// Declares the callback of a buffer ioctl, whose argument the method
/// `$name` gets as a [`BufferArg`].
macro_rules! buffer_op {
    ($name:ident) => {
        /// # Safety
        ///
        /// Called by the V4L2 core with an open file of a device registered
        /// by `Registration<T>` and the kernel copy of the buffer ioctl's
        /// argument, valid for the call.
        unsafe extern "C" fn $name(
            file: *mut bindings::file,
            _priv: *mut c_void,
            b: *mut bindings::v4l2_buffer,
        ) -> c_int {
            // SAFETY: the function's contract: an open file of ours.
            let data = unsafe { data_of::<T>(file) };
            // SAFETY: the function's contract: the kernel copy of the
            // argument, valid and ours for the call.
            let b = unsafe { &mut *b };
            // SAFETY: `b` is a buffer ioctl's argument, as `BufferArg::new`
            // requires.
            let mut b = unsafe { BufferArg::new(b) };
            // SAFETY: the function's contract: an open file of ours.
            let fh = unsafe { file_id(file) };
            from_result(|| {
                data.$name(fh, &mut b)?;
                Ok(0)
            })
        }
    };
}

impl<T: VideoOps> Adapter<T> {
    ioctl_op!(querycap, bindings::v4l2_capability, |data, fh, c| data
        .querycap(c));
    ioctl_op!(enum_fmt_vid_cap, bindings::v4l2_fmtdesc, |data, fh, f| data
        .enum_fmt_vid_cap(f));
    ioctl_op!(g_fmt_vid_cap, bindings::v4l2_format, |data, fh, f| data
        .g_fmt_vid_cap(pix(f)));
    ioctl_op!(s_fmt_vid_cap, bindings::v4l2_format, |data, fh, f| data
        .s_fmt_vid_cap(pix(f)));
    ioctl_op!(try_fmt_vid_cap, bindings::v4l2_format, |data, fh, f| data
        .try_fmt_vid_cap(pix(f)));
    ioctl_op!(
        g_fmt_vid_cap_mplane,
        bindings::v4l2_format,
        |data, fh, f| data.g_fmt_vid_cap_mplane(pix_mp(f))
    );
    ioctl_op!(
        s_fmt_vid_cap_mplane,
        bindings::v4l2_format,
        |data, fh, f| data.s_fmt_vid_cap_mplane(pix_mp(f))
    );
    ioctl_op!(
        try_fmt_vid_cap_mplane,
        bindings::v4l2_format,
        |data, fh, f| data.try_fmt_vid_cap_mplane(pix_mp(f))
    );
    ioctl_op!(
        enum_framesizes,
        bindings::v4l2_frmsizeenum,
        |data, fh, s| data.enum_framesizes(s)
    );
    ioctl_op!(
        enum_frameintervals,
        bindings::v4l2_frmivalenum,
        |data, fh, i| data.enum_frameintervals(i)
    );
    ioctl_op!(g_parm, bindings::v4l2_streamparm, |data, fh, p| {
        let mut capture = bindings::v4l2_captureparm::default();
        data.g_parm(&mut capture).map(|()| {
            p.parm = Default::default();
            p.parm.capture = capture;
        })
    });
    ioctl_op!(s_parm, bindings::v4l2_streamparm, |data, fh, p| {
        // SAFETY: the core checked `type` is VIDEO_CAPTURE (`capture`), plain
        // integers.
        let mut capture = unsafe { p.parm.capture };
        data.s_parm(&mut capture).map(|()| {
            p.parm = Default::default();
            p.parm.capture = capture;
        })
    });
    ioctl_op!(enum_input, bindings::v4l2_input, |data, fh, i| data
        .enum_input(i));
    ioctl_op!(g_input, c_uint, |data, fh, i| data
        .g_input()
        .map(|v| *i = v));
    ioctl_op!(reqbufs, bindings::v4l2_requestbuffers, |data, fh, r| data
        .reqbufs(fh, r));
    ioctl_op!(create_bufs, bindings::v4l2_create_buffers, |data, fh, c| {
        let format = CreateFormat::of(&c.format);
        data.create_bufs(fh, c, format)
    });
    ioctl_op!(remove_bufs, bindings::v4l2_remove_buffers, |data, fh, r| {
        data.remove_bufs(fh, r)
    });
    ioctl_op!(expbuf, bindings::v4l2_exportbuffer, |data, fh, e| data
        .expbuf(fh, e));
    buffer_op!(querybuf);
    buffer_op!(prepare_buf);
    buffer_op!(qbuf);

    /// # Safety
    ///
    /// As for the callbacks of `ioctl_op!`.
    unsafe extern "C" fn dqbuf(
        file: *mut bindings::file,
        _priv: *mut c_void,
        b: *mut bindings::v4l2_buffer,
    ) -> c_int {
        // SAFETY: the function's contract: an open file of ours.
        let data = unsafe { data_of::<T>(file) };
        // SAFETY: the function's contract: the kernel copy of the argument,
        // valid and ours for the call.
        let b = unsafe { &mut *b };
        // SAFETY: `b` is DQBUF's argument, as `BufferArg::new` requires.
        let mut b = unsafe { BufferArg::new(b) };
        // SAFETY: `file` is open, so its flags can be read.
        let flags = unsafe { (*file).f_flags };
        // SAFETY: the function's contract: an open file of ours.
        let fh = unsafe { file_id(file) };
        from_result(|| {
            data.dqbuf(fh, &mut b, flags & NONBLOCK != 0)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the V4L2 core with an open file of ours.
    unsafe extern "C" fn s_input(file: *mut bindings::file, _fh: *mut c_void, i: c_uint) -> c_int {
        // SAFETY: the function's contract.
        let data = unsafe { data_of::<T>(file) };
        from_result(|| {
            data.s_input(i)?;
            Ok(0)
        })
    }

    /// STREAMON and STREAMOFF: `op` with the file handle and buffer type.
    ///
    /// # Safety
    ///
    /// `file` must be an open file of ours.
    unsafe fn stream(
        file: *mut bindings::file,
        t: bindings::v4l2_buf_type,
        op: fn(&T, FileId, u32) -> Result,
    ) -> c_int {
        // SAFETY: the function's contract: an open file of ours.
        let data = unsafe { data_of::<T>(file) };
        // SAFETY: as above.
        let fh = unsafe { file_id(file) };
        from_result(|| {
            op(data, fh, t)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the V4L2 core with an open file of ours.
    unsafe extern "C" fn streamon(
        file: *mut bindings::file,
        _priv: *mut c_void,
        t: bindings::v4l2_buf_type,
    ) -> c_int {
        // SAFETY: as received from the V4L2 core.
        unsafe { Self::stream(file, t, T::streamon) }
    }

    /// # Safety
    ///
    /// Called by the V4L2 core with an open file of ours.
    unsafe extern "C" fn streamoff(
        file: *mut bindings::file,
        _priv: *mut c_void,
        t: bindings::v4l2_buf_type,
    ) -> c_int {
        // SAFETY: as received from the V4L2 core.
        unsafe { Self::stream(file, t, T::streamoff) }
    }

    /// # Safety
    ///
    /// Called by the V4L2 core with an open file of ours.
    unsafe extern "C" fn log_status(file: *mut bindings::file, priv_: *mut c_void) -> c_int {
        // SAFETY: the function's contract.
        let data = unsafe { data_of::<T>(file) };
        data.log_status();
        // SAFETY: the core's own helper, with the arguments the core gave us
        // (it finds the file handle from `file`, on both kernels).
        unsafe { bindings::v4l2_ctrl_log_status(file, priv_) }
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

    /// The ioctl table: what `T` implements, plus control events.
    pub(super) const IOCTL_OPS: bindings::v4l2_ioctl_ops = bindings::v4l2_ioctl_ops {
        vidioc_querycap: if T::HAS_QUERYCAP {
            Some(Self::querycap)
        } else {
            None
        },
        vidioc_enum_fmt_vid_cap: if T::HAS_ENUM_FMT_VID_CAP {
            Some(Self::enum_fmt_vid_cap)
        } else {
            None
        },
        vidioc_g_fmt_vid_cap: if T::HAS_G_FMT_VID_CAP {
            Some(Self::g_fmt_vid_cap)
        } else {
            None
        },
        vidioc_s_fmt_vid_cap: if T::HAS_S_FMT_VID_CAP {
            Some(Self::s_fmt_vid_cap)
        } else {
            None
        },
        vidioc_try_fmt_vid_cap: if T::HAS_TRY_FMT_VID_CAP {
            Some(Self::try_fmt_vid_cap)
        } else {
            None
        },
        vidioc_g_fmt_vid_cap_mplane: if T::HAS_G_FMT_VID_CAP_MPLANE {
            Some(Self::g_fmt_vid_cap_mplane)
        } else {
            None
        },
        vidioc_s_fmt_vid_cap_mplane: if T::HAS_S_FMT_VID_CAP_MPLANE {
            Some(Self::s_fmt_vid_cap_mplane)
        } else {
            None
        },
        vidioc_try_fmt_vid_cap_mplane: if T::HAS_TRY_FMT_VID_CAP_MPLANE {
            Some(Self::try_fmt_vid_cap_mplane)
        } else {
            None
        },
        vidioc_enum_framesizes: if T::HAS_ENUM_FRAMESIZES {
            Some(Self::enum_framesizes)
        } else {
            None
        },
        vidioc_enum_frameintervals: if T::HAS_ENUM_FRAMEINTERVALS {
            Some(Self::enum_frameintervals)
        } else {
            None
        },
        vidioc_g_parm: if T::HAS_G_PARM {
            Some(Self::g_parm)
        } else {
            None
        },
        vidioc_s_parm: if T::HAS_S_PARM {
            Some(Self::s_parm)
        } else {
            None
        },
        vidioc_enum_input: if T::HAS_ENUM_INPUT {
            Some(Self::enum_input)
        } else {
            None
        },
        vidioc_g_input: if T::HAS_G_INPUT {
            Some(Self::g_input)
        } else {
            None
        },
        vidioc_s_input: if T::HAS_S_INPUT {
            Some(Self::s_input)
        } else {
            None
        },
        vidioc_reqbufs: if T::HAS_REQBUFS {
            Some(Self::reqbufs)
        } else {
            None
        },
        vidioc_create_bufs: if T::HAS_CREATE_BUFS {
            Some(Self::create_bufs)
        } else {
            None
        },
        vidioc_remove_bufs: if T::HAS_REMOVE_BUFS {
            Some(Self::remove_bufs)
        } else {
            None
        },
        vidioc_expbuf: if T::HAS_EXPBUF {
            Some(Self::expbuf)
        } else {
            None
        },
        vidioc_querybuf: if T::HAS_QUERYBUF {
            Some(Self::querybuf)
        } else {
            None
        },
        vidioc_prepare_buf: if T::HAS_PREPARE_BUF {
            Some(Self::prepare_buf)
        } else {
            None
        },
        vidioc_qbuf: if T::HAS_QBUF { Some(Self::qbuf) } else { None },
        vidioc_dqbuf: if T::HAS_DQBUF {
            Some(Self::dqbuf)
        } else {
            None
        },
        vidioc_streamon: if T::HAS_STREAMON {
            Some(Self::streamon)
        } else {
            None
        },
        vidioc_streamoff: if T::HAS_STREAMOFF {
            Some(Self::streamoff)
        } else {
            None
        },
        vidioc_log_status: if T::HAS_LOG_STATUS {
            Some(Self::log_status)
        } else {
            None
        },
        vidioc_subscribe_event: Some(Self::subscribe_event),
        vidioc_unsubscribe_event: Some(Self::unsubscribe_event),
        // SAFETY: all-zero is a valid `v4l2_ioctl_ops`: every member is an
        // optional function pointer, and `None` means "not supported".
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    /// The file operations, owned by `module`.
    pub(super) fn file_operations(module: *mut bindings::module) -> bindings::v4l2_file_operations {
        bindings::v4l2_file_operations {
            owner: module,
            poll: Some(Self::poll),
            unlocked_ioctl: Some(bindings::video_ioctl2),
            mmap: Some(Self::mmap),
            open: Some(bindings::v4l2_fh_open),
            release: Some(Self::release),
            ..Default::default()
        }
    }

    /// # Safety
    ///
    /// Called by the V4L2 core when the last reference to an open file of
    /// ours goes.
    unsafe extern "C" fn release(file: *mut bindings::file) -> c_int {
        // SAFETY: `file` is an open file of ours, closing.
        let data = unsafe { data_of::<T>(file) };
        // SAFETY: as above.
        let fh = unsafe { file_id(file) };
        data.release(fh);
        // SAFETY: the counterpart of `v4l2_fh_open`, called once per open.
        unsafe { bindings::v4l2_fh_release(file) }
    }

    /// # Safety
    ///
    /// Called by the V4L2 core with an open file of ours and a poll table.
    unsafe extern "C" fn poll(
        file: *mut bindings::file,
        pt: *mut bindings::poll_table_struct,
    ) -> bindings::__poll_t {
        // SAFETY: `file` is an open file of ours being polled with `pt`.
        let data = unsafe { data_of::<T>(file) };
        // SAFETY: as above; `private_data` is its v4l2_fh.
        let fh = unsafe { (*file).private_data.cast::<bindings::v4l2_fh>() };
        // SAFETY: as above: this call's file and poll table.
        let table = unsafe { PollTable::from_raw(file, pt) };
        // SAFETY: as above.
        let mut mask = data.poll(unsafe { file_id(file) }, &table);
        // SAFETY: `fh` is the file's live v4l2_fh, so the projection stays
        // inside it.
        let wait = unsafe { core::ptr::addr_of_mut!((*fh).wait) };
        // SAFETY: `wait` is the v4l2_fh's wait queue, which lives as long as
        // the file.
        unsafe { table.register_raw(wait) };
        // SAFETY: `fh` is the file's live v4l2_fh.
        if unsafe { bindings::v4l2_event_pending(fh) } != 0 {
            mask |= poll::PRIORITY;
        }
        mask
    }

    /// # Safety
    ///
    /// Called by the V4L2 core with an open file of ours and a new VMA.
    unsafe extern "C" fn mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: `file` is an open file of ours.
        let data = unsafe { data_of::<T>(file) };
        // SAFETY: `vma` is being set up for `file`, ours to initialise for
        // this call.
        let vma = unsafe { VmaNew::from_raw(vma.cast()) };
        from_result(|| {
            data.mmap(vma)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the control framework with a control made by
    /// `Registration::setup`.
    unsafe extern "C" fn s_ctrl(ctrl: *mut bindings::v4l2_ctrl) -> c_int {
        // SAFETY: a live control of our handler (the function's contract).
        let data = unsafe { (*ctrl).priv_ }.cast::<T>();
        // SAFETY: `priv_` was set to the registration's `T`, which lives as
        // long as the handler (and so the control).
        let data = unsafe { &*data };
        // SAFETY: a live control of our handler (the function's contract).
        let id = unsafe { (*ctrl).id };
        // SAFETY: as above; the control framework set `val` to the new
        // value for this call.
        let value = unsafe { (*ctrl).val };
        from_result(|| {
            data.s_ctrl(id, value)?;
            Ok(0)
        })
    }

    /// The control operations.
    pub(super) const CTRL_OPS: bindings::v4l2_ctrl_ops = bindings::v4l2_ctrl_ops {
        s_ctrl: Some(Self::s_ctrl),
        // SAFETY: all-zero is a valid `v4l2_ctrl_ops`: optional callbacks.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    /// The `v4l2_device` release callback: frees the control handler and the
    /// registration.
    ///
    /// # Safety
    ///
    /// Called by the V4L2 core once, when the last reference goes.
    pub(super) unsafe extern "C" fn release_registration(v4l2_dev: *mut bindings::v4l2_device) {
        // `v4l2_dev` is the `v4l2_dev` field of an `Inner<T>` that
        // `Registration::register` allocated with `KBox`; nothing uses it any
        // more.
        let v4l2_dev = v4l2_dev.cast::<Opaque<bindings::v4l2_device>>();
        // SAFETY: as above: the field of a live `Inner<T>`, so the
        // container is in the same allocation.
        // (`*mut` on 7.3, `*const` on 6.12.)
        let inner: *const Inner<T> = unsafe { kernel::container_of!(v4l2_dev, Inner<T>, v4l2_dev) };
        // SAFETY: as above: `inner` is live until freed below.
        let ctrls = unsafe { (*inner).ctrls.get() };
        // SAFETY: the last file is closed: no control callback can run any
        // more. Zeroed (never initialised) is accepted.
        unsafe { bindings::v4l2_ctrl_handler_free(ctrls) };
        // SAFETY: as above: allocated with `KBox` and unused from here on;
        // freed once, here.
        drop(unsafe { KBox::from_raw(inner.cast_mut()) });
    }
}

/// The dma-buf fd of a `v4l2_buffer` (`m.fd`), as the application set it
/// for `V4L2_MEMORY_DMABUF`; meaningless (but harmless) for other memory.
pub(crate) fn buffer_dmabuf_fd(b: &bindings::v4l2_buffer) -> i32 {
    // SAFETY: `m` is a union of plain integers and pointers-as-integers;
    // any bits are a valid `i32`.
    unsafe { b.m.fd }
}
