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

/// The largest number of template bytes any format needs: one line of the
/// widest packed format, or one luma plus one chroma line of NV12.
pub(crate) const fn template_len(format: &FrameFormat) -> usize {
    match format.format.layout {
        Layout::Packed { .. } => format.bytes_per_line as usize,
        Layout::SemiPlanar420 => 2 * format.bytes_per_line as usize,
    }
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

/// Renders the frames of one stream: fixed format and pattern.
pub(crate) struct Renderer<'a> {
    format: FrameFormat,
    /// Bytes per line, never zero (divisions by it cannot fail).
    bytes_per_line: NonZeroUsize,
    pattern: Pattern,
    /// Template lines (see [`template_len`]); unused for verification.
    template: &'a [u8],
}

impl<'a> Renderer<'a> {
    /// Prepares rendering `pattern` in `format`, using `template` (at least
    /// [`template_len`] bytes, allocated by the caller once per stream) for
    /// the template lines. Returns `None` if `template` is too short or the
    /// format empty.
    pub(crate) fn new(
        format: FrameFormat,
        pattern: Pattern,
        template: &'a mut [u8],
    ) -> Option<Self> {
        let bytes_per_line = NonZeroUsize::new(format.bytes_per_line as usize)?;
        let width = NonZeroU32::new(format.width)?;
        let len = template_len(&format);
        let template = template.get_mut(..len)?;
        if pattern != Pattern::Verification {
            render_template(&format, width, pattern, template);
        }
        Some(Self {
            format,
            bytes_per_line,
            pattern,
            template,
        })
    }

    /// Writes the bytes of frame `sequence` that start at frame offset
    /// `offset` into `dst` (as many as `dst` holds, up to the frame's end).
    /// Returns how many bytes were written.
    pub(crate) fn fill(&self, sequence: u32, offset: usize, dst: &mut [u8]) -> usize {
        let size = self.format.size_image as usize;
        if offset >= size {
            return 0;
        }
        let n = dst.len().min(size - offset);
        let dst = &mut dst[..n];
        match self.pattern {
            Pattern::Verification => {
                let add = sequence.wrapping_mul(17) as u8;
                let mut m = (offset % 251) as u8;
                for b in dst.iter_mut() {
                    *b = m.wrapping_add(add);
                    m = if m == 250 { 0 } else { m + 1 };
                }
            }
            Pattern::ColorBars | Pattern::Ramp => self.copy_lines(offset, dst),
        }
        n
    }

    /// Copies template lines to cover frame bytes `offset..offset + dst.len()`.
    fn copy_lines(&self, offset: usize, dst: &mut [u8]) {
        let bpl = self.bytes_per_line.get();
        let luma_size = bpl * self.format.height as usize;
        let mut done = 0;
        while done < dst.len() {
            let pos = offset + done;
            // NV12: the luma template for the first plane, then the chroma one.
            let line = if pos < luma_size {
                &self.template[..bpl]
            } else {
                &self.template[bpl..2 * bpl]
            };
            let start = (pos - if pos < luma_size { 0 } else { luma_size }) % self.bytes_per_line;
            let take = (bpl - start).min(dst.len() - done);
            dst[done..done + take].copy_from_slice(&line[start..start + take]);
            done += take;
        }
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
