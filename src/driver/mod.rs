// SPDX-License-Identifier: GPL-2.0

//! The driver: rvcap's policy and semantics, on top of the pure core
//! ([`crate::queue`], [`crate::format`], [`crate::pattern`]) and the
//! abstraction layer ([`crate::kapi`]). No `unsafe` here.
//!
//! - [`capture`]: one capture device: locking, the engine's life, the
//!   queue's ioctls, debugfs files.
//! - [`v4l2`]: what each V4L2 ioctl answers (the [`crate::kapi::video::VideoOps`]
//!   of a capture device) and the UAPI conversions.
//! - [`engine`]: the frame-producing thread.
//! - [`shared`]: what the device and its engine share; [`device_work`]:
//!   what the device holds of each buffer handed to it, with its fences.
//! - [`device_dma`]: the queue's DMA side, with contiguous mode and error
//!   injection.
//! - [`inject`]: the error injection knobs.
//! - [`edu`]: QEMU's `edu` device's DMA engine, when it is the DMA master.

// Enforced by the compiler, too (and by `scripts/check-layers.py`).
#![deny(unsafe_code)]

pub(crate) mod capture;
pub(crate) mod device_dma;
pub(crate) mod device_work;
pub(crate) mod edu;
pub(crate) mod engine;
pub(crate) mod inject;
pub(crate) mod shared;
pub(crate) mod v4l2;
