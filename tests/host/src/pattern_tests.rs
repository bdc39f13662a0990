// SPDX-License-Identifier: GPL-2.0

//! The test-pattern generator: chunked rendering equals whole-frame
//! rendering, the verification pattern is what the docs say, and the image
//! patterns put the right colours in the right places.

use crate::format::{fourcc, FrameFormat, FORMATS};
use crate::pattern::*;

/// The documented formula, written independently of the generator.
pub fn verification_byte(offset: usize, sequence: u32) -> u8 {
    ((offset % 251) as u64 + 17 * u64::from(sequence)) as u8
}
use std::vec;
use std::vec::Vec;

/// A slice as a [`FrameSink`], as the engine's DMA segments are.
struct SliceSink<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl FrameSink for SliceSink<'_> {
    fn room(&self) -> usize {
        self.buf.len() - self.at
    }
    fn append(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= self.room(), "appended past the room it has");
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

/// Fills `dst` with the frame's bytes from `offset` on; returns how many.
fn fill(r: &Renderer<'_>, offset: usize, dst: &mut [u8]) -> usize {
    let mut sink = SliceSink { buf: dst, at: 0 };
    let n = r.fill(offset, &mut sink);
    assert_eq!(sink.at, n, "fill reported another count than it wrote");
    n
}

fn render_whole(fmt: FrameFormat, pattern: Pattern, seq: u32) -> Vec<u8> {
    let mut template = vec![0u8; template_len(&fmt)];
    let r = Renderer::new(fmt, pattern, seq, &mut template).unwrap();
    let mut frame = vec![0u8; fmt.size_image as usize];
    assert_eq!(fill(&r, 0, &mut frame), frame.len());
    frame
}

#[test]
fn verification_bytes_follow_the_documented_formula() {
    let fmt = FrameFormat::negotiate(fourcc(b"YUYV"), 64, 16);
    for seq in [0u32, 1, 2, 255, 256, 1000, u32::MAX] {
        let frame = render_whole(fmt, Pattern::Verification, seq);
        for (i, &b) in frame.iter().enumerate() {
            let want = ((i % 251) as u64 + 17 * seq as u64) % 256;
            assert_eq!(u64::from(b), want, "byte {i} of frame {seq}");
            assert_eq!(b, verification_byte(i, seq));
        }
    }
}

#[test]
fn consecutive_verification_frames_differ_in_every_byte() {
    let fmt = FrameFormat::negotiate(fourcc(b"NV12"), 32, 32);
    let a = render_whole(fmt, Pattern::Verification, 41);
    for later in 1..256 {
        let b = render_whole(fmt, Pattern::Verification, 41 + later);
        assert!(
            a.iter().zip(&b).all(|(x, y)| x != y),
            "41 vs {}",
            41 + later
        );
    }
}

#[test]
fn chunked_fill_equals_whole_fill_at_any_split() {
    // The engine writes one DMA segment at a time; segments start anywhere.
    for fmt in FORMATS {
        let f = FrameFormat::negotiate(fmt.fourcc, 98, 34);
        for pattern in [Pattern::ColorBars, Pattern::Ramp, Pattern::Verification] {
            let whole = render_whole(f, pattern, 7);
            let mut template = vec![0u8; template_len(&f)];
            let r = Renderer::new(f, pattern, 7, &mut template).unwrap();
            for chunk in [1usize, 3, 97, 196, 4096, 9000] {
                let mut out = vec![0u8; whole.len()];
                let mut off = 0;
                while off < out.len() {
                    let end = (off + chunk).min(out.len());
                    assert_eq!(fill(&r, off, &mut out[off..end]), end - off);
                    off = end;
                }
                assert_eq!(
                    out, whole,
                    "{:?} {pattern:?} chunk {chunk}",
                    fmt.description
                );
            }
        }
    }
}

#[test]
fn fill_stops_at_the_end_of_the_frame() {
    let f = FrameFormat::negotiate(fourcc(b"GREY"), 16, 16);
    let mut template = vec![0u8; template_len(&f)];
    let r = Renderer::new(f, Pattern::ColorBars, 0, &mut template).unwrap();
    let mut big = vec![0xaau8; 300];
    assert_eq!(fill(&r, 200, &mut big), 56);
    assert!(big[56..].iter().all(|&b| b == 0xaa), "wrote past the frame");
    assert_eq!(fill(&r, 256, &mut big), 0);
}

#[test]
fn short_template_is_refused() {
    let f = FrameFormat::negotiate(fourcc(b"NV12"), 64, 64);
    let mut template = vec![0u8; template_len(&f) - 1];
    assert!(Renderer::new(f, Pattern::ColorBars, 0, &mut template).is_none());
}

#[test]
fn color_bars_in_rgb24_are_75_percent_bars() {
    let f = FrameFormat::negotiate(fourcc(b"RGB3"), 80, 2);
    let frame = render_whole(f, Pattern::ColorBars, 0);
    let px = |x: usize, y: usize| &frame[y * 240 + 3 * x..y * 240 + 3 * x + 3];
    let bars: [[u8; 3]; 8] = [
        [191, 191, 191],
        [191, 191, 0],
        [0, 191, 191],
        [0, 191, 0],
        [191, 0, 191],
        [191, 0, 0],
        [0, 0, 191],
        [0, 0, 0],
    ];
    for (i, bar) in bars.iter().enumerate() {
        for x in i * 10..i * 10 + 10 {
            assert_eq!(px(x, 0), bar, "x {x}");
            assert_eq!(px(x, 1), bar, "x {x}, second line");
        }
    }
}

#[test]
fn color_bars_in_yuyv_use_bt601_limited_range() {
    let f = FrameFormat::negotiate(fourcc(b"YUYV"), 16, 1);
    let frame = render_whole(f, Pattern::ColorBars, 0);
    // 75% white: Y 180, Cb = Cr = 128. Black (last bar): Y 16.
    assert_eq!(&frame[0..4], &[180, 128, 180, 128]);
    assert_eq!(&frame[28..32], &[16, 128, 16, 128]);
    // 75% red (sixth bar, pixels 10-11): Y 65, Cb 100, Cr 212.
    assert_eq!(&frame[20..24], &[65, 100, 65, 212]);
}

#[test]
fn nv12_has_a_luma_plane_then_half_height_chroma() {
    let f = FrameFormat::negotiate(fourcc(b"NV12"), 16, 16);
    let frame = render_whole(f, Pattern::ColorBars, 0);
    assert_eq!(frame.len(), 16 * 16 + 16 * 8);
    for y in 0..16 {
        assert_eq!(&frame[y * 16..y * 16 + 2], &[180, 180], "luma line {y}");
    }
    for y in 0..8 {
        let line = &frame[256 + y * 16..256 + y * 16 + 16];
        assert_eq!(&line[0..2], &[128, 128], "chroma line {y}: white");
        assert_eq!(&line[10..12], &[100, 212], "chroma line {y}: red");
    }
}

#[test]
fn ramp_goes_from_black_to_white() {
    let f = FrameFormat::negotiate(fourcc(b"GREY"), 256, 16);
    let frame = render_whole(f, Pattern::Ramp, 0);
    for x in 0..256 {
        assert_eq!(frame[x], x as u8);
        assert_eq!(frame[15 * 256 + x], x as u8);
    }
}

#[test]
fn menu_indices_round_trip() {
    for (i, _) in PATTERN_MENU.iter().enumerate() {
        assert_eq!(Pattern::from_index(i as u32).unwrap() as usize, i);
    }
    assert_eq!(Pattern::from_index(PATTERN_MENU.len() as u32), None);
}

/// What a DMA engine copies from its buffer at the start of each frame
/// (`device_stamp`) is the frame's own first bytes, for every pattern,
/// format and sequence number, with the buffer loaded once per stream.
#[test]
fn the_stamp_source_holds_the_first_bytes_of_every_frame() {
    for f in FORMATS.iter() {
        let fmt = FrameFormat::negotiate(f.fourcc, 64, 16);
        for pattern in [Pattern::ColorBars, Pattern::Ramp, Pattern::Verification] {
            let mut template = vec![0u8; template_len(&fmt)];
            let mut source = [0u8; STAMP_SOURCE_LEN];
            assert!(stamp_source(fmt, pattern, &mut template, &mut source));
            for seq in [0u32, 1, 2, 15, 16, 255, 256, 1000, u32::MAX] {
                let frame = render_whole(fmt, pattern, seq);
                let at = stamp_offset(pattern, seq);
                assert!(at + STAMP_LEN <= STAMP_SOURCE_LEN);
                assert_eq!(
                    &source[at..at + STAMP_LEN],
                    &frame[..STAMP_LEN],
                    "{pattern:?} frame {seq}"
                );
            }
        }
    }
}

/// The stamp fits in QEMU's `edu` buffer (4096 bytes, of which a transfer
/// may use 4095) and covers a whole verification period.
#[test]
fn the_stamp_fits_the_dma_engines_buffer() {
    assert_eq!(STAMP_LEN, 251);
    assert!(STAMP_SOURCE_LEN <= 4095);
}
