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
    for fmt in FORMATS {
        let f = FrameFormat::negotiate(fmt.fourcc, 641, 479);
        assert_eq!((f.width, f.height), (640, 478), "{}", fmt.description);
    }
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
                assert_eq!(f.width % SIZE_STEP, 0);
                assert_eq!(f.height % SIZE_STEP, 0);
                assert!(f.size_image >= f.bytes_per_line * f.height);
            }
        }
    }
}

#[test]
fn size_limits_are_multiples_of_the_step() {
    for v in [MIN_WIDTH, MAX_WIDTH, MIN_HEIGHT, MAX_HEIGHT] {
        assert_eq!(v % SIZE_STEP, 0);
    }
    // NV12 and YUYV need even sizes.
    assert_eq!(SIZE_STEP % 2, 0);
}

#[test]
fn max_size_image_covers_every_format_at_the_largest_size() {
    for fmt in FORMATS {
        let f = FrameFormat::negotiate(fmt.fourcc, u32::MAX, u32::MAX);
        assert!(f.size_image <= MAX_SIZE_IMAGE, "{}", fmt.description);
    }
    assert_eq!(
        FrameFormat::negotiate(fourcc(b"RGB3"), 1920, 1080).size_image,
        MAX_SIZE_IMAGE
    );
}

#[test]
fn intervals_round_to_the_nearest_supported() {
    let at = |n, d| Interval::nearest(n, d);
    assert_eq!(at(1, 30), DEFAULT_INTERVAL);
    assert_eq!(at(1, 29), INTERVALS[1]);
    assert_eq!(at(1, 1000), INTERVALS[0], "faster than 60 fps: 60");
    assert_eq!(at(10, 1), INTERVALS[3], "slower than 5 fps: 5");
    assert_eq!(at(1, 12), INTERVALS[2]);
    assert_eq!(at(0, 30), DEFAULT_INTERVAL);
    assert_eq!(at(1, 0), DEFAULT_INTERVAL);
    assert_eq!(at(u32::MAX, 1), INTERVALS[3]);
    for i in INTERVALS {
        assert_eq!(at(i.numerator, i.denominator), i);
    }
}

#[test]
fn interval_nanoseconds() {
    assert_eq!(DEFAULT_INTERVAL.as_nanos(), 33_333_333);
    assert_eq!(INTERVALS[3].as_nanos(), 200_000_000);
}

#[test]
fn frame_sizes_agree_with_negotiation() {
    // Every size ENUM_FRAMESIZES describes is one TRY_FMT keeps as is.
    for fmt in FORMATS {
        for (w, h) in [(16, 16), (640, 480), (1920, 1080), (18, 20), (1918, 1078)] {
            assert!(is_frame_size(w, h), "{w}x{h}");
            let f = FrameFormat::negotiate(fmt.fourcc, w, h);
            assert_eq!((f.width, f.height), (w, h));
        }
        for (w, h) in [(15, 16), (641, 480), (640, 481), (1922, 1080), (0, 0)] {
            assert!(!is_frame_size(w, h), "{w}x{h}");
        }
    }
}
