// SPDX-License-Identifier: GPL-2.0

//! Device-bound resources, as 7.3's `kernel::devres::Devres`, which is
//! what `kapi::devres` is on 7.3 (see `kapi/mod.rs`); 6.12's kernel crate
//! has none, so this file, built for 6.12 only, makes the same shape from
//! a device-managed action (`driver_core.c`) and a [`Revocable`], with
//! 7.3's logic.
//!
//! A [`Devres`] holds a resource that must not outlive its device's
//! binding (a BAR's mapping, say): the driver core revokes it when the
//! device unbinds, dropping it even if the driver still holds the
//! `Devres`; from then on [`Devres::try_access`] returns `None`. Whichever
//! comes first, the unbind or the `Devres`'s drop, drops the resource; the
//! other waits until that is done, so the resource is gone both when the
//! unbind finishes and when the `Devres`'s drop returns.

use super::bindings;
use super::device::{BoundDevice, DeviceRef};
use super::revocable::{Revocable, RevocableGuard};
use super::sync::aref::ARef;
use super::types::Opaque;
use kernel::error::to_result;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::sync::Arc;

/// A one-shot event that threads wait for, as 7.3's
/// `kernel::sync::Completion`.
///
/// # Invariants
///
/// `inner` is an initialised `struct completion` (made by
/// [`Completion::new`]) that is not moved (pinned).
#[pin_data]
struct Completion {
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: a `struct completion` is used by whichever threads complete it
// and wait for it, under its own lock; nothing ties it to one thread.
unsafe impl Send for Completion {}
// SAFETY: as for `Send`: completing and waiting through `&self` take the
// completion's own lock.
unsafe impl Sync for Completion {}

impl Completion {
    fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- Opaque::ffi_init(|slot: *mut bindings::completion| {
                // SAFETY: `slot` is where the pinned completion is made;
                // `init_completion` only writes it.
                unsafe { bindings::rvcap_init_completion(slot) };
            }),
        })
    }

    /// Marks it done for every waiter, current and later.
    fn complete_all(&self) {
        // SAFETY: an initialised, pinned completion (type invariant).
        unsafe { bindings::complete_all(self.inner.get()) };
    }

    /// Waits, uninterruptibly, until it is done.
    fn wait_for_completion(&self) {
        // SAFETY: as in `complete_all`.
        unsafe { bindings::wait_for_completion(self.inner.get()) };
    }
}

/// What the `Devres` and the device-managed action share.
#[pin_data]
struct Inner<T> {
    data: Revocable<T>,
    /// Done once the revocation that won (the unbind's or the drop's) has
    /// dropped the data.
    #[pin]
    revocation: Completion,
}

/// `T`, dropped when the device it was made for unbinds or when this is
/// dropped, whichever comes first; reached through [`Devres::try_access`]
/// until then.
///
/// # Invariants
///
/// A device-managed action of `dev` ([`Devres::release`] with the address
/// of `*inner`) holds a reference to `inner` (an `Arc::into_raw`) until it
/// runs, which takes the reference back, or `drop` removes it, which then
/// drops the reference itself.
pub(crate) struct Devres<T: Send + 'static> {
    dev: DeviceRef,
    inner: Arc<Inner<T>>,
}

impl<T: Send + 'static> Devres<T> {
    /// `data`, revoked (dropped) when `dev` unbinds at the latest. If this
    /// fails, `data` is dropped.
    pub(crate) fn new(dev: &BoundDevice, data: T) -> Result<Self> {
        let inner = Arc::pin_init(
            pin_init!(Inner {
                data: Revocable::new(data),
                revocation <- Completion::new(),
            }),
            GFP_KERNEL,
        )?;
        let node = Arc::into_raw(inner.clone()).cast_mut().cast::<c_void>();
        // SAFETY: `dev` is a live device bound to a driver (`BoundDevice`),
        // so the action runs when it unbinds at the latest (a failed probe
        // releases as an unbind does), or is removed before by `drop`;
        // `release::<T>` takes `node` back as the `Arc<Inner<T>>` it is.
        let added = to_result(unsafe {
            bindings::rvcap_devm_add_action(dev.as_raw(), Some(Self::release), node)
        });
        if let Err(e) = added {
            // SAFETY: not registered, so the reference made above is ours
            // again, taken back once.
            drop(unsafe { Arc::from_raw(node.cast_const().cast::<Inner<T>>()) });
            return Err(e);
        }
        // INVARIANT: the action registered above holds the reference.
        Ok(Self {
            dev: ARef::from(&**dev),
            inner,
        })
    }

    /// The data, unless the device has unbound. The guard holds RCU's read
    /// lock: no sleeping until it is dropped.
    pub(crate) fn try_access(&self) -> Option<RevocableGuard<'_, T>> {
        self.inner.data.try_access()
    }

    /// The action's data pointer: the address of `*inner`.
    fn node(&self) -> *mut c_void {
        core::ptr::from_ref::<Inner<T>>(&self.inner)
            .cast_mut()
            .cast()
    }

    /// The device-managed action: the device unbinds.
    ///
    /// # Safety
    ///
    /// Called by the driver core, once, with the `node` of a [`Devres`]
    /// made for `T` by [`Devres::new`], whose `drop` did not remove it.
    unsafe extern "C" fn release(node: *mut c_void) {
        // SAFETY: the action's reference (type invariant of `Devres`),
        // taken back once: the action runs once and is not removed after.
        let inner = unsafe { Arc::from_raw(node.cast_const().cast::<Inner<T>>()) };
        if inner.data.revoke() {
            inner.revocation.complete_all();
        } else {
            // The `Devres` is being dropped and revoked first: the unbind
            // finishes only once its drop of the data has.
            inner.revocation.wait_for_completion();
        }
    }
}

impl<T: Send + 'static> Drop for Devres<T> {
    fn drop(&mut self) {
        // SAFETY: no reader: guards borrow the `Devres` (`try_access`), and
        // `&mut self` says none is alive. (The unbind's action, if it runs
        // meanwhile, revokes without reading.)
        if unsafe { self.inner.data.revoke_nosync() } {
            self.inner.revocation.complete_all();
            // SAFETY: `dev` is live (we hold a reference); the action is
            // matched by function and data, and removed without running.
            let removed = unsafe {
                bindings::rvcap_devm_remove_action_nowarn(
                    self.dev.as_raw(),
                    Some(Self::release),
                    self.node(),
                )
            } == 0;
            if removed {
                // SAFETY: the action will not run, so its reference (type
                // invariant) is ours to drop, once.
                drop(unsafe { Arc::from_raw(self.node().cast_const().cast::<Inner<T>>()) });
            }
            // Else the unbind has taken the action to run it: it finds
            // the data revoked, and waits for the completion done above.
        } else {
            // The unbind is revoking it: its drop of the data must be done
            // before this returns.
            self.inner.revocation.wait_for_completion();
        }
    }
}
