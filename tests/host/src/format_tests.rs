// SPDX-License-Identifier: GPL-2.0

//! Frame geometry: what TRY_FMT answers for any request.

use crate::format::*;

#[test]
fn fourcc_matches_the_c_macro() {
    // v4l2_fourcc('Y', 'U', 'Y', 'V') from videodev2.h
    assert_eq!(fourcc(b"YUYV"), 0x5659_5559);
    assert_eq!(FORMATS[0].fourcc, 0x5659_5559);
}

#[test]
fn default_is_yuyv_vga() {
    let f = FrameFormat::default_format();
    assert_eq!(f.format.fourcc, fourcc(b"YUYV"));
    assert_eq!((f.width, f.height), (640, 480));
    assert_eq!(f.bytes_per_line, 1280);
    assert_eq!(f.size_image, 1280 * 480);
}

#[test]
fn sizes_per_format() {
    let cases = [
        (b"YUYV", 640, 480, 1280, 614_400),
        (b"NV12", 640, 480, 640, 460_800),
        (b"RGB3", 640, 480, 1920, 921_600),
        (b"GREY", 640, 480, 640, 307_200),
        (b"YUYV", 1920, 1080, 3840, 4_147_200),
        (b"NV12", 1920, 1080, 1920, 3_110_400),
    ];
    for (code, w, h, bpl, size) in cases {
        let f = FrameFormat::negotiate(fourcc(code), w, h);
        assert_eq!((f.width, f.height), (w, h), "{code:?}");
        assert_eq!(f.bytes_per_line, bpl, "{code:?}");
        assert_eq!(f.size_image, size, "{code:?}");
    }
}

#[test]
fn unknown_fourcc_falls_back_to_default_format() {
    let f = FrameFormat::negotiate(fourcc(b"MJPG"), 320, 240);
    assert_eq!(f.format, &FORMATS[0]);
    assert_eq!((f.width, f.height), (320, 240));
}

#[test]
fn out_of_range_sizes_are_clamped() {
    let f = FrameFormat::negotiate(fourcc(b"GREY"), 0, u32::MAX);
    assert_eq!((f.width, f.height), (MIN_WIDTH, MAX_HEIGHT));
    let f = FrameFormat::negotiate(fourcc(b"GREY"), 100_000, 1);
    assert_eq!((f.width, f.height), (MAX_WIDTH, MIN_HEIGHT));
}

#[test]
fn odd_sizes_are_aligned_down_where_the_format_needs_it() {
    let f = FrameFormat::negotiate(fourcc(b"YUYV"), 641, 479);
    assert_eq!((f.width, f.height), (640, 479));
    let f = FrameFormat::negotiate(fourcc(b"NV12"), 641, 479);
    assert_eq!((f.width, f.height), (640, 478));
    let f = FrameFormat::negotiate(fourcc(b"RGB3"), 641, 479);
    assert_eq!((f.width, f.height), (641, 479));
}

#[test]
fn negotiation_is_idempotent_and_always_valid() {
    // TRY_FMT of TRY_FMT's answer must give the same answer (v4l2-compliance
    // checks this), for every format over a sweep of awkward sizes.
    for fmt in FORMATS {
        for w in (0..2100).step_by(37) {
            for h in (0..1200).step_by(41) {
                let f = FrameFormat::negotiate(fmt.fourcc, w, h);
                assert_eq!(FrameFormat::negotiate(fmt.fourcc, f.width, f.height), f);
                assert!((MIN_WIDTH..=MAX_WIDTH).contains(&f.width));
                assert!((MIN_HEIGHT..=MAX_HEIGHT).contains(&f.height));
                assert_eq!(f.width % fmt.width_align, 0);
                assert_eq!(f.height % fmt.height_align, 0);
                assert!(f.size_image >= f.bytes_per_line * f.height);
            }
        }
    }
}

#[test]
fn size_limits_are_multiples_of_every_alignment() {
    for fmt in FORMATS {
        for v in [MIN_WIDTH, MAX_WIDTH, SIZE_STEP] {
            assert_eq!(v % fmt.width_align, 0);
        }
        for v in [MIN_HEIGHT, MAX_HEIGHT, SIZE_STEP] {
            assert_eq!(v % fmt.height_align, 0);
        }
    }
}
