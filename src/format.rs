// SPDX-License-Identifier: GPL-2.0

//! Pixel formats and frame geometry.
//!
//! Pure Rust over `core` only: the module and the host test crate
//! (`tests/host`) compile this same file.

/// Builds a V4L2 fourcc code, as the C macro `v4l2_fourcc` does.
pub(crate) const fn fourcc(code: &[u8; 4]) -> u32 {
    (code[0] as u32) | (code[1] as u32) << 8 | (code[2] as u32) << 16 | (code[3] as u32) << 24
}

/// Most memory planes (and colour planes) of any format: YUV420M's Y, Cb
/// and Cr. The multi-planar API allows up to `VIDEO_MAX_PLANES` (8).
pub(crate) const MAX_PLANES: usize = 3;

/// How a format's pixels are laid out in colour planes.
///
/// The planar Y'CbCr formats are described by data, as the kernel's
/// `v4l2_format_info` describes them (`hdiv`, `vdiv`, component planes),
/// rather than one case per format: a full-resolution luma plane, then the
/// chroma, subsampled, either interleaved in one plane or in a Cb and a Cr
/// plane. [`Layout::color_planes`] derives the geometry of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One plane, `bytes_per_pixel` bytes per pixel.
    Packed {
        /// Bytes one pixel occupies.
        bytes_per_pixel: u32,
    },
    /// Y'CbCr in colour planes: luma, one byte per pixel, then chroma.
    Planar {
        /// Pixels per chroma sample horizontally (2 for 4:2:0 and 4:2:2).
        h_sub: u32,
        /// Lines per chroma sample vertically (2 for 4:2:0, 1 for 4:2:2).
        v_sub: u32,
        /// Cb and Cr alternate in one plane, Cb first (NV12, NV16), rather
        /// than each having a plane of its own, Cb's first (YUV420).
        interleaved: bool,
    },
}

/// What the bytes of a colour plane hold, so that the pattern generator can
/// render a line of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Samples {
    /// Whole pixels of a packed format ([`Layout::Packed`] says which).
    #[default]
    Pixels,
    /// Luma (Y'), one byte per pixel.
    Luma,
    /// Cb and Cr alternating, a pair per chroma sample.
    CbCr,
    /// Cb only, a byte per chroma sample.
    Cb,
    /// Cr only, a byte per chroma sample.
    Cr,
}

/// One colour plane of a frame: a run of `lines` lines of `bytes_per_line`
/// bytes. The colour planes follow each other in the frame, in this order,
/// whether they share a memory plane or have one each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ColorPlane {
    /// What its bytes hold.
    pub(crate) samples: Samples,
    /// Pixels per sample horizontally: 1, or the chroma subsampling.
    pub(crate) h_sub: u32,
    /// Bytes per line.
    pub(crate) bytes_per_line: u32,
    /// Lines.
    pub(crate) lines: u32,
}

impl ColorPlane {
    /// Bytes of the whole plane.
    pub(crate) const fn size(&self) -> u32 {
        self.bytes_per_line * self.lines
    }
}

impl Layout {
    /// The colour planes of a `width` x `height` frame, in frame order, and
    /// how many there are; entries past the count are zero. Chroma sizes
    /// are exact for the sizes [`FrameFormat::negotiate`] gives: width and
    /// height are multiples of [`SIZE_STEP`], a multiple of every
    /// subsampling.
    pub(crate) fn color_planes(
        &self,
        width: u32,
        height: u32,
    ) -> (usize, [ColorPlane; MAX_PLANES]) {
        let mut planes = [ColorPlane::default(); MAX_PLANES];
        match *self {
            Layout::Packed { bytes_per_pixel } => {
                planes[0] = ColorPlane {
                    samples: Samples::Pixels,
                    h_sub: 1,
                    bytes_per_line: width * bytes_per_pixel,
                    lines: height,
                };
                (1, planes)
            }
            Layout::Planar {
                h_sub,
                v_sub,
                interleaved,
            } => {
                // Guards the divisions; no format has a zero subsampling.
                let (h_sub, v_sub) = (h_sub.max(1), v_sub.max(1));
                planes[0] = ColorPlane {
                    samples: Samples::Luma,
                    h_sub: 1,
                    bytes_per_line: width,
                    lines: height,
                };
                let chroma = |samples, bytes_per_sample| ColorPlane {
                    samples,
                    h_sub,
                    bytes_per_line: width / h_sub * bytes_per_sample,
                    lines: height / v_sub,
                };
                if interleaved {
                    planes[1] = chroma(Samples::CbCr, 2);
                    (2, planes)
                } else {
                    planes[1] = chroma(Samples::Cb, 1);
                    planes[2] = chroma(Samples::Cr, 1);
                    (3, planes)
                }
            }
        }
    }
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
    /// Memory planes (separate buffers in the multi-planar API): 1, all
    /// colour planes in one buffer, or one per colour plane (the `M`
    /// formats, which only a multi-planar device offers).
    pub(crate) mem_planes: u8,
}

/// Every format, in ENUM_FMT order. The first one is the default. The first
/// [`SINGLE_PLANAR_FORMATS`] are those with one memory plane, which both
/// kinds of device offer; the rest need the multi-planar API.
const FORMATS: [PixelFormat; 7] = [
    PixelFormat {
        fourcc: fourcc(b"YUYV"),
        description: "YUYV 4:2:2",
        layout: Layout::Packed { bytes_per_pixel: 2 },
        is_yuv: true,
        mem_planes: 1,
    },
    PixelFormat {
        fourcc: fourcc(b"NV12"),
        description: "Y/UV 4:2:0",
        layout: Layout::Planar {
            h_sub: 2,
            v_sub: 2,
            interleaved: true,
        },
        is_yuv: true,
        mem_planes: 1,
    },
    PixelFormat {
        fourcc: fourcc(b"RGB3"),
        description: "24-bit RGB 8-8-8",
        layout: Layout::Packed { bytes_per_pixel: 3 },
        is_yuv: false,
        mem_planes: 1,
    },
    PixelFormat {
        fourcc: fourcc(b"GREY"),
        description: "8-bit Greyscale",
        layout: Layout::Packed { bytes_per_pixel: 1 },
        is_yuv: false,
        mem_planes: 1,
    },
    PixelFormat {
        fourcc: fourcc(b"NM12"),
        description: "Y/UV 4:2:0 (N-C)",
        layout: Layout::Planar {
            h_sub: 2,
            v_sub: 2,
            interleaved: true,
        },
        is_yuv: true,
        mem_planes: 2,
    },
    PixelFormat {
        fourcc: fourcc(b"NM16"),
        description: "Y/UV 4:2:2 (N-C)",
        layout: Layout::Planar {
            h_sub: 2,
            v_sub: 1,
            interleaved: true,
        },
        is_yuv: true,
        mem_planes: 2,
    },
    PixelFormat {
        fourcc: fourcc(b"YM12"),
        description: "Planar YUV 4:2:0 (N-C)",
        layout: Layout::Planar {
            h_sub: 2,
            v_sub: 2,
            interleaved: false,
        },
        is_yuv: true,
        mem_planes: 3,
    },
];

/// How many of [`FORMATS`] a single-planar device offers: the formats
/// existing clients of the single-planar API know, unchanged.
const SINGLE_PLANAR_FORMATS: usize = 4;

// `formats` relies on this.
const _: () = assert!(SINGLE_PLANAR_FORMATS <= FORMATS.len());

/// The formats a device offers, in ENUM_FMT order: a single-planar device
/// (`multiplanar` false) only those with one memory plane, a multi-planar
/// one all of them.
pub(crate) fn formats(multiplanar: bool) -> &'static [PixelFormat] {
    let all: &'static [PixelFormat] = &FORMATS;
    if multiplanar {
        all
    } else {
        // In range (asserted at compile time above).
        all.split_at(SINGLE_PLANAR_FORMATS).0
    }
}

/// Smallest frame, in pixels (as vivid).
pub(crate) const MIN_WIDTH: u32 = 16;
/// Smallest frame height.
pub(crate) const MIN_HEIGHT: u32 = 16;
/// Largest frame: 1080p keeps every buffer within what one DMA mapping of a
/// test system can bounce.
pub(crate) const MAX_WIDTH: u32 = 1920;
/// Largest frame height.
pub(crate) const MAX_HEIGHT: u32 = 1080;
/// Width and height are multiples of this, for every format (the 4:2:0 and
/// 4:2:2 formats need even sizes for whole chroma samples; one step for all
/// keeps ENUM_FRAMESIZES and TRY_FMT in exact agreement).
pub(crate) const SIZE_STEP: u32 = 2;
/// The largest `sizeimage` of any format (RGB24 at the largest size), the
/// total over all memory planes: the most a CREATE_BUFS buffer may ask for.
pub(crate) const MAX_SIZE_IMAGE: u32 = MAX_WIDTH * MAX_HEIGHT * 3;
/// The default frame size.
pub(crate) const DEFAULT_SIZE: (u32, u32) = (640, 480);

/// Looks a format up by fourcc among those a single-planar or
/// multi-planar device offers.
pub(crate) fn find(fourcc: u32, multiplanar: bool) -> Option<&'static PixelFormat> {
    formats(multiplanar).iter().find(|f| f.fourcc == fourcc)
}

/// One memory plane of a frame: what the multi-planar API reports per
/// plane (`v4l2_plane_pix_format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PlaneFormat {
    /// Bytes per line of its first colour plane.
    pub(crate) bytes_per_line: u32,
    /// Bytes of the whole memory plane.
    pub(crate) size_image: u32,
}

/// A fully determined frame layout: what G/S/TRY_FMT report.
///
/// A frame is the concatenation of its memory planes: plane 0's
/// `size_image` bytes, then plane 1's, and so on. The pattern generator
/// and the frame engine count offsets in that concatenation
/// ([`FrameFormat::plane_offset`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameFormat {
    /// The pixel format.
    pub(crate) format: &'static PixelFormat,
    /// Width in pixels.
    pub(crate) width: u32,
    /// Height in pixels.
    pub(crate) height: u32,
    /// Bytes per line of the first (or only) plane: `planes[0]`'s.
    pub(crate) bytes_per_line: u32,
    /// Bytes of one whole frame, all memory planes together (what the
    /// single-planar API reports).
    pub(crate) size_image: u32,
    /// Memory planes, 1 to [`MAX_PLANES`].
    pub(crate) num_planes: usize,
    /// The memory planes; entries from `num_planes` on are zero.
    pub(crate) planes: [PlaneFormat; MAX_PLANES],
}

fn clamp_aligned(value: u32, min: u32, max: u32) -> u32 {
    let v = value.clamp(min, max);
    // `min` and `max` are multiples of the step, so rounding down stays in
    // range.
    v - v % SIZE_STEP
}

impl FrameFormat {
    /// What TRY_FMT makes of a request on a single-planar or multi-planar
    /// device: a fourcc that device does not offer (unknown, or an `M`
    /// format on a single-planar device) becomes the default format; width
    /// and height are clamped to the supported range and aligned as the
    /// format needs. Bytes per line are always the minimum.
    pub(crate) fn negotiate(fourcc: u32, width: u32, height: u32, multiplanar: bool) -> Self {
        let format = find(fourcc, multiplanar).unwrap_or(&FORMATS[0]);
        let width = clamp_aligned(width, MIN_WIDTH, MAX_WIDTH);
        let height = clamp_aligned(height, MIN_HEIGHT, MAX_HEIGHT);
        let (count, color) = format.layout.color_planes(width, height);
        // One memory plane holds every colour plane; more hold one each.
        let separate = format.mem_planes > 1;
        let mut planes = [PlaneFormat::default(); MAX_PLANES];
        let mut size_image = 0;
        for (c, plane) in color.iter().take(count).enumerate() {
            let at = if separate { c } else { 0 };
            if let Some(mem) = planes.get_mut(at) {
                // A memory plane's lines are those of its first colour plane.
                if c == at {
                    mem.bytes_per_line = plane.bytes_per_line;
                }
                mem.size_image += plane.size();
            }
            size_image += plane.size();
        }
        Self {
            format,
            width,
            height,
            bytes_per_line: planes[0].bytes_per_line,
            size_image,
            num_planes: if separate { count } else { 1 },
            planes,
        }
    }

    /// The default format: the first format at [`DEFAULT_SIZE`], the same
    /// for both kinds of device.
    pub(crate) fn default_format() -> Self {
        Self::negotiate(FORMATS[0].fourcc, DEFAULT_SIZE.0, DEFAULT_SIZE.1, false)
    }

    /// The memory planes in use (`planes[..num_planes]`).
    pub(crate) fn mem_planes(&self) -> &[PlaneFormat] {
        self.planes.get(..self.num_planes).unwrap_or(&self.planes)
    }

    /// Where memory plane `plane` starts in the frame: the total size of
    /// the planes before it (the frame's size for `plane >= num_planes`).
    pub(crate) fn plane_offset(&self, plane: usize) -> usize {
        self.mem_planes()
            .iter()
            .take(plane)
            .map(|p| p.size_image as usize)
            .sum()
    }

    /// The frame's colour planes and how many there are (see
    /// [`Layout::color_planes`]).
    pub(crate) fn color_planes(&self) -> (usize, [ColorPlane; MAX_PLANES]) {
        self.format.layout.color_planes(self.width, self.height)
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
