// SPDX-License-Identifier: GPL-2.0

//! Menus of V4L2 controls, in the form the control framework takes them: a
//! `NULL`-terminated array of C strings that lives as long as the module.

use core::ffi::CStr;
use kernel::ffi::c_char;

/// The items of a menu control, `NULL`-terminated.
///
/// # Invariants
///
/// `items` point to `'static` NUL-terminated strings and `end` is null, laid
/// out right after them (`repr(C)`, same type, no padding).
#[repr(C)]
pub(crate) struct Menu<const N: usize> {
    items: [*const c_char; N],
    end: *const c_char,
}

// The terminator follows the items with nothing in between.
kernel::static_assert!(
    core::mem::size_of::<Menu<3>>() == 4 * core::mem::size_of::<*const c_char>()
);

// SAFETY: the pointers point to immutable 'static strings (type invariant).
unsafe impl<const N: usize> Sync for Menu<N> {}

impl<const N: usize> Menu<N> {
    /// A menu of `items`, in order (item `i` is menu index `i`).
    pub(crate) const fn new(items: [&'static CStr; N]) -> Self {
        // A menu has items (`control` names the last one).
        const { assert!(N > 0) };
        let mut ptrs = [core::ptr::null(); N];
        let mut i = 0;
        while i < N {
            ptrs[i] = super::str::as_char_ptr(items[i]);
            i += 1;
        }
        // INVARIANT: 'static strings, then the terminator.
        Self {
            items: ptrs,
            end: core::ptr::null(),
        }
    }

    /// The standard menu control `id` (a `V4L2_CID_*`) with these items.
    pub(crate) const fn control(&'static self, id: u32) -> MenuControl {
        MenuControl {
            id,
            items: self.items.as_ptr(),
            max: (N - 1) as u8,
        }
    }
}

/// A standard menu control with its items.
///
/// # Invariants
///
/// `items` is the array of a `'static` [`Menu`] of `max + 1` items.
pub(crate) struct MenuControl {
    pub(super) id: u32,
    pub(super) items: *const *const c_char,
    pub(super) max: u8,
}

// SAFETY: points to a 'static, immutable `Menu` (type invariant).
unsafe impl Sync for MenuControl {}
