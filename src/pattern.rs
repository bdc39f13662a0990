// SPDX-License-Identifier: GPL-2.0

//! Test patterns: what the frame engine writes into each frame.
//!
//! Pure Rust over `core` only (host-tested in `tests/host`). The engine writes
//! a frame as a series of chunks, one per DMA segment, at arbitrary offsets,
//! so the generator answers "the bytes of the frame from offset `o` on". For
//! the image patterns, every line of a colour plane is the same, so one
//! template line per colour plane is rendered once per stream and copied.
//!
//! A frame of a multi-planar format is the concatenation of its memory
//! planes (plane 0's `sizeimage` bytes, then plane 1's, ...), and offsets
//! count in that concatenation: byte `i` of memory plane `p` is frame byte
//! [`FrameFormat::plane_offset`]`(p) + i`. The engine writes plane `p` by
//! filling from that offset with a sink as large as the plane.
//!
//! # The verification pattern
//!
//! Byte `i` (counted from the start of the frame, `0 <= i < sizeimage`, the
//! total of all memory planes) of the frame with sequence number `s` is
//!
//! ```text
//!     (i mod 251 + 17 * s) mod 256
//! ```
//!
//! whatever the pixel format and however many memory planes it has (so an
//! NV12M frame has the bytes of the NV12 frame of the same size). Two
//! frames whose sequence numbers differ by less than 256 differ in every
//! byte, so a stale frame, a stale part of a frame or a frame of the wrong
//! sequence cannot pass a byte-exact check.

use crate::format::{ColorPlane, FrameFormat, Layout, Samples, MAX_PLANES};
use core::ffi::CStr;
use core::num::{NonZeroU32, NonZeroUsize};

/// A test pattern, as `V4L2_CID_TEST_PATTERN` selects it (menu index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// Eight vertical 75% colour bars: white, yellow, cyan, green, magenta,
    /// red, blue, black.
    ColorBars = 0,
    /// A horizontal ramp from black to white.
    Ramp = 1,
    /// Bytes coded by position and sequence number (see the module docs).
    Verification = 2,
}

/// Menu entries of `V4L2_CID_TEST_PATTERN`, in `Pattern` order.
pub(crate) const PATTERN_MENU: [&CStr; 3] = [c"75% Colorbar", c"Horizontal Ramp", c"Verification"];

impl Pattern {
    /// The pattern of a menu index, if there is one.
    pub(crate) fn from_index(index: u32) -> Option<Self> {
        match index {
            0 => Some(Self::ColorBars),
            1 => Some(Self::Ramp),
            2 => Some(Self::Verification),
            _ => None,
        }
    }
}

/// Period of the verification pattern, in bytes.
const VERIFY_PERIOD: usize = 251;
/// Bytes of the verification pattern rendered per frame: whole periods, so
/// that any offset into the frame starts a run of at least 15 periods.
const VERIFY_RUN: usize = 16 * VERIFY_PERIOD;

/// Template bytes a stream in `format` needs, whatever the pattern: one line
/// of each colour plane for the image patterns (one of a packed format; a
/// luma and a CbCr line of NV12; a Y, a Cb and a Cr line of YUV420M), a run
/// of periods for the verification pattern.
pub(crate) fn template_len(format: &FrameFormat) -> usize {
    lines_len(format).max(VERIFY_RUN)
}

/// Bytes of the template lines of the image patterns: one line per colour
/// plane.
fn lines_len(format: &FrameFormat) -> usize {
    let (count, planes) = format.color_planes();
    planes
        .iter()
        .take(count)
        .map(|p| p.bytes_per_line as usize)
        .sum()
}

/// Bytes at the start of every frame that a DMA engine with a small buffer
/// of its own can write (the `device_stamp` knob: QEMU's `edu` copies them
/// through the IOMMU): one verification period.
pub(crate) const STAMP_LEN: usize = VERIFY_PERIOD;

/// What that DMA engine's buffer holds for a stream ([`stamp_source`]).
pub(crate) const STAMP_SOURCE_LEN: usize = 256 + STAMP_LEN;

/// Fills `source` with what a DMA engine needs in its buffer to write the
/// first [`STAMP_LEN`] bytes of every frame of `pattern` in `format`, each
/// frame from [`stamp_offset`] on, so that it is loaded once per stream.
/// The image patterns are the same in every frame; the first period of
/// verification frame `s`, `(i + 17 s) mod 256` for `i < 251`, is the run
/// of `j mod 256` from `17 s mod 256` on. `template` is the stream's (see
/// [`Renderer::new`]). Returns `false` if the format is empty.
pub(crate) fn stamp_source(
    format: FrameFormat,
    pattern: Pattern,
    template: &mut [u8],
    source: &mut [u8; STAMP_SOURCE_LEN],
) -> bool {
    if pattern == Pattern::Verification {
        for (j, b) in source.iter_mut().enumerate() {
            *b = j as u8;
        }
        return true;
    }
    let Some(renderer) = Renderer::new(format, pattern, 0, template) else {
        return false;
    };
    source.fill(0);
    let mut sink = SliceSink {
        bytes: &mut source[..STAMP_LEN],
        at: 0,
    };
    renderer.fill(0, &mut sink);
    true
}

/// Where in [`stamp_source`] the first bytes of frame `sequence` start.
pub(crate) fn stamp_offset(pattern: Pattern, sequence: u32) -> usize {
    if pattern == Pattern::Verification {
        usize::from(sequence.wrapping_mul(17) as u8)
    } else {
        0
    }
}

/// A byte slice as a [`FrameSink`].
struct SliceSink<'a> {
    bytes: &'a mut [u8],
    at: usize,
}

impl FrameSink for SliceSink<'_> {
    fn room(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn append(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.room());
        self.bytes[self.at..self.at + n].copy_from_slice(&bytes[..n]);
        self.at += n;
    }
}

/// Where [`Renderer::fill`] writes: a run of consecutive frame bytes, such as
/// one DMA segment of a buffer, which the engine writes as the device does.
pub(crate) trait FrameSink {
    /// How many more bytes it takes.
    fn room(&self) -> usize;
    /// Appends `bytes`; never more than [`FrameSink::room`].
    fn append(&mut self, bytes: &[u8]);
}

/// 75% bars, in RGB.
const BARS: [[u8; 3]; 8] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
    [0, 0, 0],
];

/// BT.601 limited-range Y'CbCr of an RGB colour.
fn rgb_to_ycbcr([r, g, b]: [u8; 3]) -> (u8, u8, u8) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    let cb = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let cr = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (y as u8, cb as u8, cr as u8)
}

/// Full-range luma of an RGB colour, for greyscale.
fn rgb_to_grey([r, g, b]: [u8; 3]) -> u8 {
    ((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b)) >> 8) as u8
}

/// Where one colour plane lies in the frame and in the template.
#[derive(Clone, Copy)]
struct PlaneRun {
    /// Frame offset of its first byte.
    start: usize,
    /// Frame offset just past its last byte.
    end: usize,
    /// Template offset of its line.
    line: usize,
    /// Bytes per line, never zero (divisions by it cannot fail).
    bytes_per_line: NonZeroUsize,
}

/// Renders one frame: fixed format, pattern and sequence number.
pub(crate) struct Renderer<'a> {
    /// Bytes of the whole frame (all memory planes).
    size: usize,
    pattern: Pattern,
    /// The colour planes, in frame order; `planes[..count]` are used.
    planes: [PlaneRun; MAX_PLANES],
    count: usize,
    /// Template lines, or the verification run (see [`template_len`]).
    template: &'a [u8],
}

impl<'a> Renderer<'a> {
    /// Prepares rendering frame `sequence` of `pattern` in `format`, using
    /// `template` (at least [`template_len`] bytes, allocated by the caller
    /// once per stream) for the bytes every part of the frame copies from.
    /// Returns `None` if `template` is too short or the format empty or
    /// inconsistent (colour planes that do not add up to its size).
    pub(crate) fn new(
        format: FrameFormat,
        pattern: Pattern,
        sequence: u32,
        template: &'a mut [u8],
    ) -> Option<Self> {
        let width = NonZeroU32::new(format.width)?;
        let (count, color) = format.color_planes();
        let mut planes = [PlaneRun {
            start: 0,
            end: 0,
            line: 0,
            bytes_per_line: NonZeroUsize::MIN,
        }; MAX_PLANES];
        let (mut at, mut line) = (0, 0);
        for (run, plane) in planes.iter_mut().zip(color.iter().take(count)) {
            let bytes_per_line = NonZeroUsize::new(plane.bytes_per_line as usize)?;
            let end = at + plane.size() as usize;
            *run = PlaneRun {
                start: at,
                end,
                line,
                bytes_per_line,
            };
            at = end;
            line += bytes_per_line.get();
        }
        if at != format.size_image as usize {
            return None;
        }
        let len = template_len(&format);
        let template = template.get_mut(..len)?;
        if pattern == Pattern::Verification {
            let add = sequence.wrapping_mul(17) as u8;
            for (i, b) in template.iter_mut().take(VERIFY_RUN).enumerate() {
                *b = ((i % VERIFY_PERIOD) as u8).wrapping_add(add);
            }
        } else {
            for (run, plane) in planes.iter().zip(color.iter()).take(count) {
                let out = template.get_mut(run.line..run.line + run.bytes_per_line.get())?;
                render_line(format.format.layout, plane, width, pattern, out);
            }
        }
        Some(Self {
            size: at,
            pattern,
            planes,
            count,
            template,
        })
    }

    /// Appends the frame's bytes from frame offset `offset` (counted over
    /// all memory planes) on to `sink`, as many as it takes, up to the
    /// frame's end. Returns how many.
    pub(crate) fn fill(&self, offset: usize, sink: &mut impl FrameSink) -> usize {
        let n = sink.room().min(self.size.saturating_sub(offset));
        let mut done = 0;
        while done < n {
            let run = self.run_at(offset + done);
            if run.is_empty() {
                // Cannot happen: every frame offset has a run.
                break;
            }
            let take = run.len().min(n - done);
            sink.append(&run[..take]);
            done += take;
        }
        done
    }

    /// The template bytes that frame byte `pos` and those after it equal
    /// (empty past the frame's end).
    fn run_at(&self, pos: usize) -> &[u8] {
        if self.pattern == Pattern::Verification {
            return self
                .template
                .get(pos % VERIFY_PERIOD..VERIFY_RUN)
                .unwrap_or(&[]);
        }
        // The colour plane `pos` lies in, then its template line.
        let Some(plane) = self.planes.iter().take(self.count).find(|p| pos < p.end) else {
            return &[];
        };
        let in_line = pos.saturating_sub(plane.start) % plane.bytes_per_line;
        self.template
            .get(plane.line + in_line..plane.line + plane.bytes_per_line.get())
            .unwrap_or(&[])
    }
}

/// The colour of pixel column `x` (`x < width`) of a `width`-wide frame.
fn pattern_rgb(pattern: Pattern, x: u32, width: NonZeroU32) -> [u8; 3] {
    match pattern {
        Pattern::Ramp => {
            let last = NonZeroU32::new(width.get() - 1).unwrap_or(NonZeroU32::MIN);
            let v = (x.min(last.get()) * 255 / last) as u8;
            [v, v, v]
        }
        _ => BARS[((x * 8 / width) as usize).min(BARS.len() - 1)],
    }
}

/// Renders one line of colour plane `plane` of `pattern` in a format of
/// `layout` into `out` (that plane's bytes per line).
fn render_line(
    layout: Layout,
    plane: &ColorPlane,
    width: NonZeroU32,
    pattern: Pattern,
    out: &mut [u8],
) {
    let ycbcr = |x: u32| rgb_to_ycbcr(pattern_rgb(pattern, x, width));
    // The chroma of a sample is that of its first pixel, as for YUYV.
    let h_sub = plane.h_sub;
    match plane.samples {
        Samples::Pixels => {
            if let Layout::Packed { bytes_per_pixel } = layout {
                render_packed(bytes_per_pixel, width, pattern, out);
            }
        }
        Samples::Luma => {
            for (x, px) in out.iter_mut().enumerate() {
                *px = ycbcr(x as u32).0;
            }
        }
        Samples::CbCr => {
            for (j, px) in out.chunks_exact_mut(2).enumerate() {
                let (_, cb, cr) = ycbcr(j as u32 * h_sub);
                px.copy_from_slice(&[cb, cr]);
            }
        }
        Samples::Cb => {
            for (j, px) in out.iter_mut().enumerate() {
                *px = ycbcr(j as u32 * h_sub).1;
            }
        }
        Samples::Cr => {
            for (j, px) in out.iter_mut().enumerate() {
                *px = ycbcr(j as u32 * h_sub).2;
            }
        }
    }
}

/// Renders one line of a packed format of `bytes_per_pixel`.
fn render_packed(bytes_per_pixel: u32, width: NonZeroU32, pattern: Pattern, out: &mut [u8]) {
    match bytes_per_pixel {
        2 => {
            // YUYV: Y0 Cb Y1 Cr per pixel pair, chroma of the first pixel.
            for (pair, px) in out.chunks_exact_mut(4).enumerate() {
                let x = 2 * pair as u32;
                let (y0, cb, cr) = rgb_to_ycbcr(pattern_rgb(pattern, x, width));
                let (y1, _, _) = rgb_to_ycbcr(pattern_rgb(pattern, x + 1, width));
                px.copy_from_slice(&[y0, cb, y1, cr]);
            }
        }
        3 => {
            for (x, px) in out.chunks_exact_mut(3).enumerate() {
                px.copy_from_slice(&pattern_rgb(pattern, x as u32, width));
            }
        }
        _ => {
            // GREY, the only one-byte format.
            for (x, px) in out.iter_mut().enumerate() {
                *px = rgb_to_grey(pattern_rgb(pattern, x as u32, width));
            }
        }
    }
}
