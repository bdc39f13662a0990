// SPDX-License-Identifier: GPL-2.0

//! Frame geometry: what TRY_FMT answers for any request.

use crate::format::*;

/// Every format of both kinds of device, with the kind (multi-planar).
fn every_format() -> impl Iterator<Item = (&'static PixelFormat, bool)> {
    let single = formats(false).iter().map(|f| (f, false));
    single.chain(formats(true).iter().map(|f| (f, true)))
}

/// What holds for the memory planes of any negotiated format: the totals
/// add up, plane 0 is what the single-planar fields report, unused entries
/// are zero, and the planes lie end to end.
fn check_planes(f: &FrameFormat) {
    let name = f.format.description;
    assert!((1..=MAX_PLANES).contains(&f.num_planes), "{name}");
    assert_eq!(f.num_planes, usize::from(f.format.mem_planes), "{name}");
    assert_eq!(f.mem_planes(), &f.planes[..f.num_planes], "{name}");
    let total: u32 = f.planes.iter().map(|p| p.size_image).sum();
    assert_eq!(total, f.size_image, "{name}");
    assert_eq!(f.bytes_per_line, f.planes[0].bytes_per_line, "{name}");
    for p in &f.planes[f.num_planes..] {
        assert_eq!(*p, PlaneFormat::default(), "{name}: an unused plane");
    }
    let mut at = 0;
    for (p, plane) in f.mem_planes().iter().enumerate() {
        assert_eq!(f.plane_offset(p), at, "{name} plane {p}");
        assert!(plane.bytes_per_line > 0 && plane.size_image > 0, "{name}");
        assert_eq!(plane.size_image % plane.bytes_per_line, 0, "{name}");
        at += plane.size_image as usize;
    }
    assert_eq!(f.plane_offset(f.num_planes), f.size_image as usize);
    assert_eq!(f.plane_offset(MAX_PLANES + 5), f.size_image as usize);
}

#[test]
fn fourcc_matches_the_c_macro() {
    // v4l2_fourcc('Y', 'U', 'Y', 'V') from videodev2.h
    assert_eq!(fourcc(b"YUYV"), 0x5659_5559);
    assert_eq!(formats(false)[0].fourcc, 0x5659_5559);
    // v4l2_fourcc('N', 'M', '1', '2'): V4L2_PIX_FMT_NV12M
    assert_eq!(fourcc(b"NM12"), 0x3231_4d4e);
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
        let f = FrameFormat::negotiate(fourcc(code), w, h, false);
        assert_eq!((f.width, f.height), (w, h), "{code:?}");
        assert_eq!(f.bytes_per_line, bpl, "{code:?}");
        assert_eq!(f.size_image, size, "{code:?}");
    }
}

#[test]
fn unknown_fourcc_falls_back_to_default_format() {
    for mp in [false, true] {
        let f = FrameFormat::negotiate(fourcc(b"MJPG"), 320, 240, mp);
        assert_eq!(f.format, &formats(mp)[0]);
        assert_eq!((f.width, f.height), (320, 240));
    }
}

#[test]
fn out_of_range_sizes_are_clamped() {
    for (code, mp) in [(b"GREY", false), (b"YM12", true)] {
        let f = FrameFormat::negotiate(fourcc(code), 0, u32::MAX, mp);
        assert_eq!((f.width, f.height), (MIN_WIDTH, MAX_HEIGHT));
        let f = FrameFormat::negotiate(fourcc(code), 100_000, 1, mp);
        assert_eq!((f.width, f.height), (MAX_WIDTH, MIN_HEIGHT));
    }
}

#[test]
fn odd_sizes_are_aligned_down_where_the_format_needs_it() {
    for fmt in formats(true) {
        let f = FrameFormat::negotiate(fmt.fourcc, 641, 479, true);
        assert_eq!((f.width, f.height), (640, 478), "{}", fmt.description);
    }
}

#[test]
fn negotiation_is_idempotent_and_always_valid() {
    // TRY_FMT of TRY_FMT's answer must give the same answer (v4l2-compliance
    // checks this), for every format over a sweep of awkward sizes.
    for (fmt, mp) in every_format() {
        for w in (0..2100).step_by(37) {
            for h in (0..1200).step_by(41) {
                let f = FrameFormat::negotiate(fmt.fourcc, w, h, mp);
                assert_eq!(FrameFormat::negotiate(fmt.fourcc, f.width, f.height, mp), f);
                assert!((MIN_WIDTH..=MAX_WIDTH).contains(&f.width));
                assert!((MIN_HEIGHT..=MAX_HEIGHT).contains(&f.height));
                assert_eq!(f.width % SIZE_STEP, 0);
                assert_eq!(f.height % SIZE_STEP, 0);
                assert!(f.size_image >= f.bytes_per_line * f.height);
                check_planes(&f);
            }
        }
    }
}

#[test]
fn size_limits_are_multiples_of_the_step() {
    for v in [MIN_WIDTH, MAX_WIDTH, MIN_HEIGHT, MAX_HEIGHT] {
        assert_eq!(v % SIZE_STEP, 0);
    }
    // The 4:2:0 and 4:2:2 formats need even sizes.
    assert_eq!(SIZE_STEP % 2, 0);
}

#[test]
fn max_size_image_covers_every_format_at_the_largest_size() {
    for (fmt, mp) in every_format() {
        let f = FrameFormat::negotiate(fmt.fourcc, u32::MAX, u32::MAX, mp);
        assert!(f.size_image <= MAX_SIZE_IMAGE, "{}", fmt.description);
    }
    assert_eq!(
        FrameFormat::negotiate(fourcc(b"RGB3"), 1920, 1080, false).size_image,
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
    for (fmt, mp) in every_format() {
        for (w, h) in [(16, 16), (640, 480), (1920, 1080), (18, 20), (1918, 1078)] {
            assert!(is_frame_size(w, h), "{w}x{h}");
            let f = FrameFormat::negotiate(fmt.fourcc, w, h, mp);
            assert_eq!((f.width, f.height), (w, h));
        }
        for (w, h) in [(15, 16), (641, 480), (640, 481), (1922, 1080), (0, 0)] {
            assert!(!is_frame_size(w, h), "{w}x{h}");
        }
    }
}

/// Existing single-planar clients see exactly the four formats they knew,
/// in the same order; none of them is an `M` format.
#[test]
fn the_single_planar_device_offers_exactly_the_first_four() {
    let codes: std::vec::Vec<u32> = formats(false).iter().map(|f| f.fourcc).collect();
    let want = [b"YUYV", b"NV12", b"RGB3", b"GREY"].map(fourcc);
    assert_eq!(codes, want);
    for f in formats(false) {
        assert_eq!(f.mem_planes, 1, "{}", f.description);
    }
    for m in [b"NM12", b"NM16", b"YM12"] {
        assert_eq!(find(fourcc(m), false), None);
        assert!(find(fourcc(m), true).is_some());
    }
}

#[test]
fn the_multi_planar_device_offers_the_four_then_the_m_formats() {
    let codes: std::vec::Vec<u32> = formats(true).iter().map(|f| f.fourcc).collect();
    let want = [
        b"YUYV", b"NV12", b"RGB3", b"GREY", b"NM12", b"NM16", b"YM12",
    ]
    .map(fourcc);
    assert_eq!(codes, want);
    assert_eq!(&formats(true)[..4], formats(false));
    let planes: std::vec::Vec<u8> = formats(true).iter().map(|f| f.mem_planes).collect();
    assert_eq!(planes, [1, 1, 1, 1, 2, 2, 3]);
    // The kernel's own names (v4l_fill_fmtdesc), which it reports.
    let names: std::vec::Vec<&str> = formats(true)[4..].iter().map(|f| f.description).collect();
    assert_eq!(
        names,
        [
            "Y/UV 4:2:0 (N-C)",
            "Y/UV 4:2:2 (N-C)",
            "Planar YUV 4:2:0 (N-C)"
        ]
    );
}

/// An `M` format asked of a single-planar device is as unknown as any
/// other fourcc: the default format, at the size asked for.
#[test]
fn m_formats_on_a_single_planar_device_fall_back_to_the_default() {
    for m in [b"NM12", b"NM16", b"YM12"] {
        let f = FrameFormat::negotiate(fourcc(m), 320, 240, false);
        assert_eq!(f, FrameFormat::negotiate(fourcc(b"YUYV"), 320, 240, false));
        assert_eq!((f.num_planes, f.size_image), (1, 320 * 2 * 240));
    }
}

/// Bytes per line and size of every memory plane, per format and device
/// kind, from the kernel's documentation (pixfmt-nv12m.rst,
/// pixfmt-yuv-planar.rst), with the totals.
#[test]
fn memory_planes_per_format_and_device() {
    type Planes = &'static [(u32, u32)];
    let cases: [(&[u8; 4], bool, u32, u32, Planes); 15] = [
        (b"YUYV", false, 640, 480, &[(1280, 614_400)]),
        (b"NV12", false, 640, 480, &[(640, 460_800)]),
        (b"RGB3", false, 640, 480, &[(1920, 921_600)]),
        (b"GREY", false, 640, 480, &[(640, 307_200)]),
        // The same four on a multi-planar device: one memory plane each,
        // NV12's luma and chroma contiguous in it.
        (b"YUYV", true, 640, 480, &[(1280, 614_400)]),
        (b"NV12", true, 640, 480, &[(640, 460_800)]),
        (b"RGB3", true, 640, 480, &[(1920, 921_600)]),
        (b"GREY", true, 640, 480, &[(640, 307_200)]),
        // Y, then CbCr: 4:2:0 half as many lines, 4:2:2 as many.
        (b"NM12", true, 640, 480, &[(640, 307_200), (640, 153_600)]),
        (b"NM16", true, 640, 480, &[(640, 307_200), (640, 307_200)]),
        // Y, Cb, Cr; chroma half wide and half high.
        (
            b"YM12",
            true,
            640,
            480,
            &[(640, 307_200), (320, 76_800), (320, 76_800)],
        ),
        (
            b"NM12",
            true,
            1920,
            1080,
            &[(1920, 2_073_600), (1920, 1_036_800)],
        ),
        (
            b"NM16",
            true,
            1920,
            1080,
            &[(1920, 2_073_600), (1920, 2_073_600)],
        ),
        (
            b"YM12",
            true,
            1920,
            1080,
            &[(1920, 2_073_600), (960, 518_400), (960, 518_400)],
        ),
        // Odd chroma widths are fine: bytes per line need not be even.
        (b"YM12", true, 98, 34, &[(98, 3332), (49, 833), (49, 833)]),
    ];
    for (code, mp, w, h, planes) in cases {
        let f = FrameFormat::negotiate(fourcc(code), w, h, mp);
        let name = std::format!("{} {w}x{h} mp {mp}", f.format.description);
        assert_eq!(f.format.fourcc, fourcc(code), "{name}");
        assert_eq!((f.width, f.height), (w, h), "{name}");
        let got: std::vec::Vec<(u32, u32)> = f
            .mem_planes()
            .iter()
            .map(|p| (p.bytes_per_line, p.size_image))
            .collect();
        assert_eq!(got, planes, "{name}");
        assert_eq!(
            f.size_image,
            planes.iter().map(|p| p.1).sum::<u32>(),
            "{name}"
        );
        assert_eq!(f.bytes_per_line, planes[0].0, "{name}");
        check_planes(&f);
    }
}

/// NV12M is NV12 cut in two: the same bytes, the same total.
#[test]
fn nv12m_is_nv12_in_two_memory_planes() {
    let a = FrameFormat::negotiate(fourcc(b"NV12"), 98, 34, true);
    let b = FrameFormat::negotiate(fourcc(b"NM12"), 98, 34, true);
    assert_eq!(a.size_image, b.size_image);
    assert_eq!(b.plane_offset(1), 98 * 34);
    assert_eq!(a.color_planes(), b.color_planes());
}

/// The colour planes the pattern generator renders: luma then chroma,
/// subsampled as each format says, adding up to the frame.
#[test]
fn color_planes_per_format() {
    let f = |code| FrameFormat::negotiate(fourcc(code), 64, 32, true).color_planes();
    let plane = |samples, h_sub, bytes_per_line, lines| ColorPlane {
        samples,
        h_sub,
        bytes_per_line,
        lines,
    };
    let zero = ColorPlane::default();
    let luma = plane(Samples::Luma, 1, 64, 32);
    assert_eq!(
        f(b"GREY"),
        (1, [plane(Samples::Pixels, 1, 64, 32), zero, zero])
    );
    assert_eq!(
        f(b"YUYV"),
        (1, [plane(Samples::Pixels, 1, 128, 32), zero, zero])
    );
    assert_eq!(
        f(b"NV12"),
        (2, [luma, plane(Samples::CbCr, 2, 64, 16), zero])
    );
    assert_eq!(
        f(b"NM12"),
        (2, [luma, plane(Samples::CbCr, 2, 64, 16), zero])
    );
    assert_eq!(
        f(b"NM16"),
        (2, [luma, plane(Samples::CbCr, 2, 64, 32), zero])
    );
    let cb = plane(Samples::Cb, 2, 32, 16);
    let cr = plane(Samples::Cr, 2, 32, 16);
    assert_eq!(f(b"YM12"), (3, [luma, cb, cr]));
    for (fmt, mp) in every_format() {
        let f = FrameFormat::negotiate(fmt.fourcc, 98, 34, mp);
        let (count, planes) = f.color_planes();
        let total: u32 = planes[..count].iter().map(|p| p.size()).sum();
        assert_eq!(total, f.size_image, "{}", fmt.description);
        // Memory planes are all colour planes together, or one each.
        assert!(f.num_planes == 1 || f.num_planes == count);
    }
}
