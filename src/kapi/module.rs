// SPDX-License-Identifier: GPL-2.0

//! This module's `struct module`, which `module!` provides: as the static
//! `THIS_MODULE` in the crate root on 6.12, as `ModuleMetadata::THIS_MODULE`
//! of the module's type on 7.3.

use super::bindings;
#[cfg(rvcap_linux_7_3)]
use super::str::CStr;

/// KBUILD_MODNAME, which 7.3's driver registrations take.
#[cfg(rvcap_linux_7_3)]
pub(crate) const NAME: &CStr = <crate::LocalModule as kernel::ModuleMetadata>::NAME;

/// `THIS_MODULE`: what file operations' `owner` and module references name.
pub(crate) const fn this_module() -> *mut bindings::module {
    #[cfg(rvcap_linux_7_3)]
    let module = &<crate::LocalModule as kernel::ModuleMetadata>::THIS_MODULE;
    #[cfg(not(rvcap_linux_7_3))]
    let module = &crate::THIS_MODULE;
    module.as_ptr().cast()
}
