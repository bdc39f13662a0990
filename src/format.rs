// SPDX-License-Identifier: GPL-2.0

//! Pixel formats and frame geometry.
//!
//! Pure Rust over `core` only: the module and the host test crate
//! (`tests/host`) compile this same file.

/// Builds a V4L2 fourcc code, as the C macro `v4l2_fourcc` does.
pub(crate) const fn fourcc(code: &[u8; 4]) -> u32 {
    (code[0] as u32) | (code[1] as u32) << 8 | (code[2] as u32) << 16 | (code[3] as u32) << 24
}

/// How the bytes of one image line (and for NV12 the chroma plane) are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One plane, `bytes_per_pixel` bytes per pixel.
    Packed {
        /// Bytes one pixel occupies.
        bytes_per_pixel: u32,
    },
    /// NV12 in one buffer: a full-resolution luma plane followed by an
    /// interleaved CbCr plane at half resolution in both directions.
    SemiPlanar420,
}

/// A pixel format the device can capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PixelFormat {
    /// V4L2 fourcc (`V4L2_PIX_FMT_*`).
    pub(crate) fourcc: u32,
    /// Human-readable description reported by ENUM_FMT.
    pub(crate) description: &'static str,
    /// Memory layout.
    pub(crate) layout: Layout,
    /// Whether it is a YUV (as opposed to RGB or greyscale) format.
    pub(crate) is_yuv: bool,
}

/// Every format, in ENUM_FMT order. The first one is the default.
pub(crate) const FORMATS: [PixelFormat; 4] = [
    PixelFormat {
        fourcc: fourcc(b"YUYV"),
        description: "YUYV 4:2:2",
        layout: Layout::Packed { bytes_per_pixel: 2 },
        is_yuv: true,
    },
    PixelFormat {
        fourcc: fourcc(b"NV12"),
        description: "Y/UV 4:2:0",
        layout: Layout::SemiPlanar420,
        is_yuv: true,
    },
    PixelFormat {
        fourcc: fourcc(b"RGB3"),
        description: "24-bit RGB 8-8-8",
        layout: Layout::Packed { bytes_per_pixel: 3 },
        is_yuv: false,
    },
    PixelFormat {
        fourcc: fourcc(b"GREY"),
        description: "8-bit Greyscale",
        layout: Layout::Packed { bytes_per_pixel: 1 },
        is_yuv: false,
    },
];

/// Smallest frame, in pixels (as vivid).
pub(crate) const MIN_WIDTH: u32 = 16;
/// Smallest frame height.
pub(crate) const MIN_HEIGHT: u32 = 16;
/// Largest frame: 1080p keeps every buffer within what one DMA mapping of a
/// test system can bounce.
pub(crate) const MAX_WIDTH: u32 = 1920;
/// Largest frame height.
pub(crate) const MAX_HEIGHT: u32 = 1080;
/// Width and height are multiples of this, for every format (NV12 and YUYV
/// need even sizes; one step for all keeps ENUM_FRAMESIZES and TRY_FMT in
/// exact agreement).
pub(crate) const SIZE_STEP: u32 = 2;
/// The largest `sizeimage` of any format (RGB24 at the largest size): the
/// most a CREATE_BUFS buffer may ask for.
pub(crate) const MAX_SIZE_IMAGE: u32 = MAX_WIDTH * MAX_HEIGHT * 3;
/// The default frame size.
pub(crate) const DEFAULT_SIZE: (u32, u32) = (640, 480);

/// Looks a format up by fourcc.
pub(crate) fn find(fourcc: u32) -> Option<&'static PixelFormat> {
    FORMATS.iter().find(|f| f.fourcc == fourcc)
}

/// A fully determined frame layout: what G/S/TRY_FMT report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameFormat {
    /// The pixel format.
    pub(crate) format: &'static PixelFormat,
    /// Width in pixels.
    pub(crate) width: u32,
    /// Height in pixels.
    pub(crate) height: u32,
    /// Bytes per line of the first (or only) plane.
    pub(crate) bytes_per_line: u32,
    /// Bytes of one whole frame.
    pub(crate) size_image: u32,
}

fn clamp_aligned(value: u32, min: u32, max: u32) -> u32 {
    let v = value.clamp(min, max);
    // `min` and `max` are multiples of the step, so rounding down stays in
    // range.
    v - v % SIZE_STEP
}

impl FrameFormat {
    /// What TRY_FMT makes of a request: an unknown fourcc becomes the default
    /// format; width and height are clamped to the supported range and
    /// aligned as the format needs. Bytes per line are always the minimum.
    pub(crate) fn negotiate(fourcc: u32, width: u32, height: u32) -> Self {
        let format = find(fourcc).unwrap_or(&FORMATS[0]);
        let width = clamp_aligned(width, MIN_WIDTH, MAX_WIDTH);
        let height = clamp_aligned(height, MIN_HEIGHT, MAX_HEIGHT);
        let (bytes_per_line, size_image) = match format.layout {
            Layout::Packed { bytes_per_pixel } => {
                let bpl = width * bytes_per_pixel;
                (bpl, bpl * height)
            }
            Layout::SemiPlanar420 => (width, width * height + width * height / 2),
        };
        Self {
            format,
            width,
            height,
            bytes_per_line,
            size_image,
        }
    }

    /// The default format: the first format at [`DEFAULT_SIZE`].
    pub(crate) fn default_format() -> Self {
        Self::negotiate(FORMATS[0].fourcc, DEFAULT_SIZE.0, DEFAULT_SIZE.1)
    }
}

/// A frame interval (`timeperframe`), in seconds: `numerator / denominator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interval {
    /// Numerator.
    pub(crate) numerator: u32,
    /// Denominator.
    pub(crate) denominator: u32,
}

/// The frame intervals ENUM_FRAMEINTERVALS offers, fastest first.
pub(crate) const INTERVALS: [Interval; 4] = [
    Interval {
        numerator: 1,
        denominator: 60,
    },
    Interval {
        numerator: 1,
        denominator: 30,
    },
    Interval {
        numerator: 1,
        denominator: 15,
    },
    Interval {
        numerator: 1,
        denominator: 5,
    },
];

/// The default frame interval: 30 frames per second.
pub(crate) const DEFAULT_INTERVAL: Interval = INTERVALS[1];

impl Interval {
    /// The interval in nanoseconds (0 for a zero denominator).
    pub(crate) fn as_nanos(&self) -> u64 {
        if self.denominator == 0 {
            return 0;
        }
        u64::from(self.numerator) * 1_000_000_000 / u64::from(self.denominator)
    }

    /// What S_PARM makes of a request: the supported interval closest to
    /// it; a zero numerator or denominator asks for the default.
    pub(crate) fn nearest(numerator: u32, denominator: u32) -> Self {
        if numerator == 0 || denominator == 0 {
            return DEFAULT_INTERVAL;
        }
        let want = Interval {
            numerator,
            denominator,
        }
        .as_nanos();
        let mut best = INTERVALS[0];
        for candidate in INTERVALS {
            if candidate.as_nanos().abs_diff(want) < best.as_nanos().abs_diff(want) {
                best = candidate;
            }
        }
        best
    }
}

/// Whether `width` x `height` is a frame size (what ENUM_FRAMESIZES
/// describes, the same for every format), for ENUM_FRAMEINTERVALS.
pub(crate) fn is_frame_size(width: u32, height: u32) -> bool {
    (MIN_WIDTH..=MAX_WIDTH).contains(&width)
        && (MIN_HEIGHT..=MAX_HEIGHT).contains(&height)
        && width % SIZE_STEP == 0
        && height % SIZE_STEP == 0
}
