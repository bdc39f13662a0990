// SPDX-License-Identifier: GPL-2.0

//! Test patterns: what the frame engine writes into each frame.
//!
//! Pure Rust over `core` only (host-tested in `tests/host`). The engine writes
//! a frame as a series of chunks, one per DMA segment, at arbitrary offsets,
//! so the generator answers "the bytes of the frame from offset `o` on". For
//! the image patterns, every line of a plane is the same, so one template
//! line per plane is rendered once per stream and copied.
//!
//! # The verification pattern
//!
//! Byte `i` (counted from the start of the frame, `0 <= i < sizeimage`) of the
//! frame with sequence number `s` is
//!
//! ```text
//!     (i mod 251 + 17 * s) mod 256
//! ```
//!
//! whatever the pixel format. Two frames whose sequence numbers differ by
//! less than 256 differ in every byte, so a stale frame, a stale part of a
//! frame or a frame of the wrong sequence cannot pass a byte-exact check.

use crate::format::{FrameFormat, Layout};
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
/// of a packed format or one luma plus one chroma line of NV12 for the image
/// patterns, a run of periods for the verification pattern.
pub(crate) const fn template_len(format: &FrameFormat) -> usize {
    let lines = lines_len(format);
    if lines > VERIFY_RUN {
        lines
    } else {
        VERIFY_RUN
    }
}

/// Bytes of the template lines of the image patterns.
const fn lines_len(format: &FrameFormat) -> usize {
    match format.format.layout {
        Layout::Packed { .. } => format.bytes_per_line as usize,
        Layout::SemiPlanar420 => 2 * format.bytes_per_line as usize,
    }
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

/// Renders one frame: fixed format, pattern and sequence number.
pub(crate) struct Renderer<'a> {
    format: FrameFormat,
    /// Bytes per line, never zero (divisions by it cannot fail).
    bytes_per_line: NonZeroUsize,
    pattern: Pattern,
    /// Template lines, or the verification run (see [`template_len`]).
    template: &'a [u8],
}

impl<'a> Renderer<'a> {
    /// Prepares rendering frame `sequence` of `pattern` in `format`, using
    /// `template` (at least [`template_len`] bytes, allocated by the caller
    /// once per stream) for the bytes every part of the frame copies from.
    /// Returns `None` if `template` is too short or the format empty.
    pub(crate) fn new(
        format: FrameFormat,
        pattern: Pattern,
        sequence: u32,
        template: &'a mut [u8],
    ) -> Option<Self> {
        let bytes_per_line = NonZeroUsize::new(format.bytes_per_line as usize)?;
        let width = NonZeroU32::new(format.width)?;
        let len = template_len(&format);
        let template = template.get_mut(..len)?;
        if pattern == Pattern::Verification {
            let add = sequence.wrapping_mul(17) as u8;
            for (i, b) in template[..VERIFY_RUN].iter_mut().enumerate() {
                *b = ((i % VERIFY_PERIOD) as u8).wrapping_add(add);
            }
        } else {
            render_template(&format, width, pattern, &mut template[..lines_len(&format)]);
        }
        Some(Self {
            format,
            bytes_per_line,
            pattern,
            template,
        })
    }

    /// Appends the frame's bytes from frame offset `offset` on to `sink`,
    /// as many as it takes, up to the frame's end. Returns how many.
    pub(crate) fn fill(&self, offset: usize, sink: &mut impl FrameSink) -> usize {
        let size = self.format.size_image as usize;
        let n = sink.room().min(size.saturating_sub(offset));
        let mut done = 0;
        while done < n {
            let run = self.run_at(offset + done);
            let take = run.len().min(n - done);
            sink.append(&run[..take]);
            done += take;
        }
        n
    }

    /// The template bytes that frame byte `pos` and those after it equal.
    fn run_at(&self, pos: usize) -> &[u8] {
        if self.pattern == Pattern::Verification {
            return &self.template[pos % VERIFY_PERIOD..VERIFY_RUN];
        }
        let bpl = self.bytes_per_line.get();
        let luma_size = bpl * self.format.height as usize;
        // NV12: the luma template for the first plane, then the chroma one.
        let (line, pos) = if pos < luma_size {
            (&self.template[..bpl], pos)
        } else {
            (&self.template[bpl..2 * bpl], pos - luma_size)
        };
        &line[pos % self.bytes_per_line..]
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

/// Renders one line (two for NV12: luma, then interleaved CbCr) of `pattern`.
fn render_template(format: &FrameFormat, width: NonZeroU32, pattern: Pattern, out: &mut [u8]) {
    match format.format.layout {
        Layout::Packed { bytes_per_pixel: 2 } => {
            // YUYV: Y0 Cb Y1 Cr per pixel pair, chroma of the first pixel.
            for (pair, px) in out.chunks_exact_mut(4).enumerate() {
                let x = 2 * pair as u32;
                let (y0, cb, cr) = rgb_to_ycbcr(pattern_rgb(pattern, x, width));
                let (y1, _, _) = rgb_to_ycbcr(pattern_rgb(pattern, x + 1, width));
                px.copy_from_slice(&[y0, cb, y1, cr]);
            }
        }
        Layout::Packed { bytes_per_pixel: 3 } => {
            for (x, px) in out.chunks_exact_mut(3).enumerate() {
                px.copy_from_slice(&pattern_rgb(pattern, x as u32, width));
            }
        }
        Layout::Packed { .. } => {
            // GREY, the only one-byte format.
            for (x, px) in out.iter_mut().enumerate() {
                *px = rgb_to_grey(pattern_rgb(pattern, x as u32, width));
            }
        }
        Layout::SemiPlanar420 => {
            let bpl = format.bytes_per_line as usize;
            let (luma, chroma) = out.split_at_mut(bpl);
            for (x, px) in luma.iter_mut().enumerate() {
                *px = rgb_to_ycbcr(pattern_rgb(pattern, x as u32, width)).0;
            }
            for (pair, px) in chroma[..bpl].chunks_exact_mut(2).enumerate() {
                let (_, cb, cr) = rgb_to_ycbcr(pattern_rgb(pattern, 2 * pair as u32, width));
                px.copy_from_slice(&[cb, cr]);
            }
        }
    }
}
