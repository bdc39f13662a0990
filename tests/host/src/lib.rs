// SPDX-License-Identifier: GPL-2.0

//! The module's pure-Rust sources, compiled for the host so that `cargo test`
//! exercises exactly the code the kernel runs.

#![no_std]
// Items the module uses but no host test does yet.
#![cfg_attr(not(test), allow(dead_code))]

#[path = "../../../src/format.rs"]
pub mod format;

#[cfg(test)]
mod format_tests;
