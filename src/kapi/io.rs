// SPDX-License-Identifier: GPL-2.0

//! Register access, as 7.3's `kernel::io`, which is what `kapi::io` is on
//! 7.3 (see `kapi/mod.rs`); 6.12's kernel crate has none, so this file,
//! built for 6.12 only, gives the same shape to the accessors rvcap uses.

use kernel::prelude::*;

/// Register accessors of an I/O region, for a cheap handle to it (a
/// reference): 7.3's `kernel::io::Io`, reduced to its fallible 64-bit
/// accessors. Each fails with `EINVAL` unless the register lies inside the
/// region and is aligned.
pub(crate) trait Io<'a>: Copy {
    /// Reads the 64-bit register at `offset`.
    fn try_read64(self, offset: usize) -> Result<u64>;

    /// Writes `value` to the 64-bit register at `offset`.
    fn try_write64(self, value: u64, offset: usize) -> Result;
}
