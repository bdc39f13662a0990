// SPDX-License-Identifier: GPL-2.0

//! V4L2's userspace API (`videodev2.h`): the ioctl arguments and flags the
//! driver reads and fills, plain data shared with userspace, re-exported
//! from the bindings as the `kernel` crate's `uapi` re-exports its own
//! (which has no V4L2). Nothing here has a raw pointer to follow or an
//! invariant to keep; the driver names these and nothing else of the C API.

pub(crate) use super::bindings::{
    v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE, v4l2_buf_type_V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
    v4l2_capability, v4l2_captureparm, v4l2_colorspace_V4L2_COLORSPACE_SMPTE170M,
    v4l2_colorspace_V4L2_COLORSPACE_SRGB, v4l2_create_buffers, v4l2_exportbuffer,
    v4l2_field_V4L2_FIELD_NONE, v4l2_fmtdesc, v4l2_fract, v4l2_frmivalenum,
    v4l2_frmivaltypes_V4L2_FRMIVAL_TYPE_DISCRETE, v4l2_frmsize_stepwise, v4l2_frmsizeenum,
    v4l2_frmsizetypes_V4L2_FRMSIZE_TYPE_STEPWISE, v4l2_input, v4l2_memory_V4L2_MEMORY_DMABUF,
    v4l2_memory_V4L2_MEMORY_MMAP, v4l2_pix_format, v4l2_pix_format_mplane, v4l2_remove_buffers,
    v4l2_requestbuffers, V4L2_BUF_CAP_SUPPORTS_DMABUF, V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS,
    V4L2_BUF_CAP_SUPPORTS_MMAP, V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS,
    V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS, V4L2_BUF_FLAG_DONE, V4L2_BUF_FLAG_ERROR,
    V4L2_BUF_FLAG_MAPPED, V4L2_BUF_FLAG_NO_CACHE_CLEAN, V4L2_BUF_FLAG_NO_CACHE_INVALIDATE,
    V4L2_BUF_FLAG_PREPARED, V4L2_BUF_FLAG_QUEUED, V4L2_BUF_FLAG_REQUEST_FD,
    V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, V4L2_BUF_FLAG_TSTAMP_SRC_EOF, V4L2_CAP_STREAMING,
    V4L2_CAP_TIMEPERFRAME, V4L2_CAP_VIDEO_CAPTURE, V4L2_CAP_VIDEO_CAPTURE_MPLANE,
    V4L2_INPUT_TYPE_CAMERA, V4L2_MEMORY_FLAG_NON_COHERENT,
};

/// `V4L2_CID_TEST_PATTERN` (`v4l2-controls.h`; a macro bindgen cannot see
/// through, so `include/rvcap_bindings.h` makes it a constant).
pub(crate) const V4L2_CID_TEST_PATTERN: u32 = super::bindings::RVCAP_CONST_V4L2_CID_TEST_PATTERN;
