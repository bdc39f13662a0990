// SPDX-License-Identifier: GPL-2.0

//! The `kernel` crate's `sync` items whose place differs between the
//! kernels: [`aref`] is `kernel::sync::aref` on 7.3 and part of
//! `kernel::types` on 6.12; [`poll`] is `kernel::sync::poll`'s
//! `PollCondVar` on 7.3 and the same shape on 6.12, with rvcap's
//! `PollTable`; [`atomic`] is `kernel::sync::atomic` on 7.3 and the same
//! shape on 6.12.

pub(crate) mod atomic;
pub(crate) mod poll;

/// Reference-counted C objects: [`ARef`](aref::ARef) and
/// [`AlwaysRefCounted`](aref::AlwaysRefCounted).
pub(crate) mod aref {
    #[cfg(rvcap_linux_7_3)]
    pub(crate) use kernel::sync::aref::{ARef, AlwaysRefCounted};
    #[cfg(not(rvcap_linux_7_3))]
    pub(crate) use kernel::types::{ARef, AlwaysRefCounted};
}
