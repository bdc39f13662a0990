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
