// SPDX-License-Identifier: GPL-2.0

//! The module's pure-Rust sources, compiled for the host so that `cargo test`
//! exercises exactly the code the kernel runs.

#![no_std]
// Items the module uses but no host test does yet.
#![cfg_attr(not(test), allow(dead_code))]

#[cfg(test)]
extern crate std;

#[path = "../../../src/format.rs"]
pub mod format;
#[path = "../../../src/pattern.rs"]
pub mod pattern;
#[path = "../../../src/queue/mod.rs"]
pub mod queue;
// The log rate limit: pure logic, though it lives with the log in src/kapi.
#[path = "../../../src/kapi/ratelimit.rs"]
#[allow(unused_macros, unused_imports)]
pub mod ratelimit;
// Its atomics: on the host, as for Linux 6.12, the kernel crate's shape
// over `core`'s atomics (`ratelimit` names them `super::sync::atomic`).
#[path = "../../../src/kapi/sync/atomic.rs"]
#[allow(dead_code, unexpected_cfgs, unused_imports)]
mod lkmm_atomic;
mod sync {
    pub(crate) use super::lkmm_atomic as atomic;
}

#[cfg(test)]
mod device_queue_tests;
#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod model;
#[cfg(test)]
mod pattern_tests;
#[cfg(test)]
mod planes_tests;
#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod ratelimit_tests;
#[cfg(test)]
mod rng;
#[cfg(test)]
mod setup;
#[cfg(test)]
mod userspace;
