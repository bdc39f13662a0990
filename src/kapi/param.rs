// SPDX-License-Identifier: GPL-2.0

//! The module parameters, declared in `params.c` (6.12's `module!` cannot
//! declare them). All are read-only (0444): they shape the devices at load
//! time. Test and benchmark knobs that change the data path are per-device
//! debugfs files instead (`crate::driver::knobs`).

use super::bindings;

/// `num_devices`: how many capture devices to create (1 to 8).
pub(crate) fn num_devices() -> u32 {
    // SAFETY: reads a module parameter; no preconditions.
    unsafe { bindings::rvcap_param_num_devices() }
}

/// `contig`: every buffer must be one contiguous DMA range.
pub(crate) fn contig() -> bool {
    // SAFETY: reads a module parameter; no preconditions.
    unsafe { bindings::rvcap_param_contig() }
}

/// `multiplanar`: the value given for device `index`, as vivid's (1
/// single-planar, 2 multi-planar); 0 if none was.
pub(crate) fn multiplanar(index: u32) -> u32 {
    // SAFETY: reads a module parameter; no preconditions.
    unsafe { bindings::rvcap_param_multiplanar(index) }
}
