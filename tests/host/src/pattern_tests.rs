// SPDX-License-Identifier: GPL-2.0

//! The test-pattern generator: chunked rendering equals whole-frame
//! rendering, the verification pattern is what the docs say, and the image
//! patterns put the right colours in the right places.

use crate::format::{formats, fourcc, FrameFormat};
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
    let fmt = FrameFormat::negotiate(fourcc(b"YUYV"), 64, 16, false);
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
    let fmt = FrameFormat::negotiate(fourcc(b"NV12"), 32, 32, false);
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
    for fmt in formats(true) {
        let f = FrameFormat::negotiate(fmt.fourcc, 98, 34, true);
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
    let f = FrameFormat::negotiate(fourcc(b"GREY"), 16, 16, false);
    let mut template = vec![0u8; template_len(&f)];
    let r = Renderer::new(f, Pattern::ColorBars, 0, &mut template).unwrap();
    let mut big = vec![0xaau8; 300];
    assert_eq!(fill(&r, 200, &mut big), 56);
    assert!(big[56..].iter().all(|&b| b == 0xaa), "wrote past the frame");
    assert_eq!(fill(&r, 256, &mut big), 0);
}

#[test]
fn short_template_is_refused() {
    let f = FrameFormat::negotiate(fourcc(b"NV12"), 64, 64, false);
    let mut template = vec![0u8; template_len(&f) - 1];
    assert!(Renderer::new(f, Pattern::ColorBars, 0, &mut template).is_none());
}

#[test]
fn color_bars_in_rgb24_are_75_percent_bars() {
    let f = FrameFormat::negotiate(fourcc(b"RGB3"), 80, 2, false);
    let frame = render_whole(f, Pattern::ColorBars, 0);
    let px = |x: usize, y: usize| &frame[y * 240 + 3 * x..y * 240 + 3 * x + 3];
    for (i, bar) in REF_BARS.iter().enumerate() {
        for x in i * 10..i * 10 + 10 {
            assert_eq!(px(x, 0), bar, "x {x}");
            assert_eq!(px(x, 1), bar, "x {x}, second line");
        }
    }
}

#[test]
fn color_bars_in_yuyv_use_bt601_limited_range() {
    let f = FrameFormat::negotiate(fourcc(b"YUYV"), 16, 1, false);
    let frame = render_whole(f, Pattern::ColorBars, 0);
    // 75% white: Y 180, Cb = Cr = 128. Black (last bar): Y 16.
    assert_eq!(&frame[0..4], &[180, 128, 180, 128]);
    assert_eq!(&frame[28..32], &[16, 128, 16, 128]);
    // 75% red (sixth bar, pixels 10-11): Y 65, Cb 100, Cr 212.
    assert_eq!(&frame[20..24], &[65, 100, 65, 212]);
}

#[test]
fn nv12_has_a_luma_plane_then_half_height_chroma() {
    let f = FrameFormat::negotiate(fourcc(b"NV12"), 16, 16, false);
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
    let f = FrameFormat::negotiate(fourcc(b"GREY"), 256, 16, false);
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
    for f in formats(true) {
        let fmt = FrameFormat::negotiate(f.fourcc, 64, 16, true);
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

// ---- multi-planar formats

/// 75% bars, in RGB, written out again (not taken from the generator).
const REF_BARS: [[u8; 3]; 8] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
    [0, 0, 0],
];

/// The colour of pixel column `x` of a `width`-wide frame of `pattern`.
fn ref_rgb(pattern: Pattern, x: u32, width: u32) -> [u8; 3] {
    match pattern {
        Pattern::Ramp => {
            let v = (x * 255 / (width - 1)) as u8;
            [v, v, v]
        }
        _ => REF_BARS[(x * 8 / width) as usize],
    }
}

/// BT.601 limited range, the integer approximation of ITU-R BT.601 that
/// the generator documents (checked against known values below).
fn ref_ycbcr(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(i32::from);
    [
        (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8,
        (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8,
        (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8,
    ]
}

#[test]
fn the_reference_colours_are_bt601() {
    // 75% white, black, red and blue in limited range.
    assert_eq!(ref_ycbcr([191, 191, 191]), [180, 128, 128]);
    assert_eq!(ref_ycbcr([0, 0, 0]), [16, 128, 128]);
    assert_eq!(ref_ycbcr([191, 0, 0]), [65, 100, 212]);
    // Blue's exact Cr is 114.3; the integer approximation gives 115.
    assert_eq!(ref_ycbcr([0, 0, 191]), [35, 212, 115]);
}

/// The memory planes of a frame of `pattern` in `code` (`NM12`, `NM16` or
/// `YM12`, or `NV12` as one plane), computed from the pixel colours
/// independently of the generator: luma of every pixel; chroma of every
/// second pixel (the first of each pair), on every line (4:2:2) or every
/// second (4:2:0), as CbCr pairs or as a Cb then a Cr plane.
fn reference_planes(code: &[u8; 4], pattern: Pattern, w: u32, h: u32) -> Vec<Vec<u8>> {
    let ycbcr = |x: u32| ref_ycbcr(ref_rgb(pattern, x, w));
    let mut luma = Vec::new();
    for _ in 0..h {
        luma.extend((0..w).map(|x| ycbcr(x)[0]));
    }
    // One line of interleaved CbCr, and of Cb and Cr alone.
    let cbcr: Vec<u8> = (0..w)
        .map(|c| ycbcr(c / 2 * 2)[1 + (c % 2) as usize])
        .collect();
    let cb: Vec<u8> = (0..w / 2).map(|j| ycbcr(2 * j)[1]).collect();
    let cr: Vec<u8> = (0..w / 2).map(|j| ycbcr(2 * j)[2]).collect();
    let lines = |line: &[u8], n: u32| line.repeat(n as usize);
    match code {
        b"NM12" => vec![luma, lines(&cbcr, h / 2)],
        b"NM16" => vec![luma, lines(&cbcr, h)],
        b"YM12" => vec![luma, lines(&cb, h / 2), lines(&cr, h / 2)],
        b"NV12" => vec![[luma, lines(&cbcr, h / 2)].concat()],
        _ => unreachable!(),
    }
}

/// Renders memory plane `p` as the engine does: from its frame offset,
/// into a sink exactly its size, here in chunks of odd sizes, the first
/// of which starts at an odd offset into the plane.
fn render_plane(r: &Renderer<'_>, f: &FrameFormat, p: usize, chunk: usize) -> Vec<u8> {
    let start = f.plane_offset(p);
    let len = f.mem_planes()[p].size_image as usize;
    let mut out = vec![0x5au8; len];
    // A first chunk of 3 bytes, so later ones start at odd offsets.
    let mut off = 0;
    for size in core::iter::once(3).chain(core::iter::repeat(chunk)) {
        if off == len {
            break;
        }
        let end = (off + size).min(len);
        assert_eq!(fill(r, start + off, &mut out[off..end]), end - off);
        off = end;
    }
    // A sink the size of the plane takes the plane and no more, even if
    // the frame goes on.
    let mut whole = vec![0u8; len];
    assert_eq!(fill(r, start, &mut whole), len);
    assert_eq!(whole, out, "plane {p}: chunked and whole differ");
    out
}

/// Every byte of every memory plane of the new formats, for both image
/// patterns and several sizes, equals the independent reference.
#[test]
fn multi_planar_image_patterns_match_the_reference() {
    for code in [b"NM12", b"NM16", b"YM12", b"NV12"] {
        for (w, h) in [(16, 16), (98, 34), (640, 48), (1918, 18)] {
            let f = FrameFormat::negotiate(fourcc(code), w, h, true);
            assert_eq!((f.width, f.height), (w, h));
            for pattern in [Pattern::ColorBars, Pattern::Ramp] {
                let want = reference_planes(code, pattern, w, h);
                assert_eq!(f.num_planes, want.len());
                let mut template = vec![0u8; template_len(&f)];
                let r = Renderer::new(f, pattern, 3, &mut template).unwrap();
                for chunk in [1usize, 7, 251, 1001] {
                    for (p, want) in want.iter().enumerate() {
                        let got = render_plane(&r, &f, p, chunk);
                        let name =
                            std::format!("{code:?} {w}x{h} {pattern:?} plane {p} chunk {chunk}");
                        assert_eq!(got.len(), want.len(), "{name}");
                        if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                            panic!("{name}: byte {i} is {}, not {}", got[i], want[i]);
                        }
                    }
                }
                // And the whole frame in one go is the planes end to end.
                assert_eq!(render_whole(f, pattern, 3), want.concat());
            }
        }
    }
}

/// Spot checks of where the colours go, in numbers a reader can verify:
/// white then red bars of a 16-wide frame (the red bar is pixels 10-11).
#[test]
fn yuv420m_and_nv16m_put_chroma_where_the_docs_say() {
    let f = FrameFormat::negotiate(fourcc(b"YM12"), 16, 16, true);
    let frame = render_whole(f, Pattern::ColorBars, 0);
    let (cb, cr) = (f.plane_offset(1), f.plane_offset(2));
    assert_eq!((cb, cr, frame.len()), (256, 256 + 64, 256 + 128));
    for line in 0..8 {
        // Cb and Cr planes: 8 bytes per line, one per pixel pair.
        assert_eq!(frame[cb + line * 8], 128, "white Cb, line {line}");
        assert_eq!(frame[cr + line * 8], 128, "white Cr, line {line}");
        assert_eq!(frame[cb + line * 8 + 5], 100, "red Cb, line {line}");
        assert_eq!(frame[cr + line * 8 + 5], 212, "red Cr, line {line}");
    }
    let f = FrameFormat::negotiate(fourcc(b"NM16"), 16, 16, true);
    let frame = render_whole(f, Pattern::ColorBars, 0);
    assert_eq!(f.plane_offset(1), 256);
    assert_eq!(frame.len(), 512, "a CbCr line per luma line");
    for line in 0..16 {
        let at = 256 + line * 16;
        assert_eq!(&frame[at..at + 2], &[128, 128], "white, line {line}");
        assert_eq!(&frame[at + 10..at + 12], &[100, 212], "red, line {line}");
    }
}

/// The verification pattern counts over the concatenated planes: byte `i`
/// of memory plane `p` is frame byte `plane_offset(p) + i`, for every byte
/// of every plane of every format of a multi-planar device.
#[test]
fn verification_bytes_of_every_plane_follow_the_formula() {
    for fmt in formats(true) {
        let f = FrameFormat::negotiate(fmt.fourcc, 98, 34, true);
        for seq in [0u32, 5, 255, u32::MAX] {
            let mut template = vec![0u8; template_len(&f)];
            let r = Renderer::new(f, Pattern::Verification, seq, &mut template).unwrap();
            for p in 0..f.num_planes {
                let plane = render_plane(&r, &f, p, 97);
                let start = f.plane_offset(p);
                for (i, &b) in plane.iter().enumerate() {
                    assert_eq!(
                        b,
                        verification_byte(start + i, seq),
                        "{} plane {p} byte {i} frame {seq}",
                        fmt.description
                    );
                }
            }
        }
    }
}

/// NV12M carries exactly NV12's bytes: a client checking either checks the
/// same thing, for every pattern.
#[test]
fn nv12m_frames_equal_nv12_frames() {
    for (w, h) in [(16, 16), (98, 34), (1920, 1080)] {
        let nv12 = FrameFormat::negotiate(fourcc(b"NV12"), w, h, false);
        let nv12m = FrameFormat::negotiate(fourcc(b"NM12"), w, h, true);
        assert_eq!(nv12m.num_planes, 2);
        for pattern in [Pattern::ColorBars, Pattern::Ramp, Pattern::Verification] {
            for seq in [0u32, 1, 300] {
                assert_eq!(
                    render_whole(nv12, pattern, seq),
                    render_whole(nv12m, pattern, seq),
                    "{w}x{h} {pattern:?} frame {seq}"
                );
            }
        }
    }
}

/// The template holds one line per colour plane, or the verification run
/// if that is longer: for the planar formats, whose lines add up to twice
/// the width (at most 3840 bytes), it always is.
#[test]
fn template_len_covers_every_colour_plane_line() {
    let len = |code, w| template_len(&FrameFormat::negotiate(fourcc(code), w, 16, true));
    let run = 16 * 251;
    // Y + CbCr lines: 2w; Y + Cb + Cr lines: 2w too; RGB24: 3w.
    assert_eq!(len(b"NM12", 1920), run.max(2 * 1920));
    assert_eq!(len(b"NM16", 1920), run.max(2 * 1920));
    assert_eq!(len(b"YM12", 1920), run.max(1920 + 960 + 960));
    assert_eq!(len(b"RGB3", 1920), 3 * 1920);
    assert_eq!(len(b"YM12", 16), run);
}
