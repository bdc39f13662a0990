// SPDX-License-Identifier: GPL-2.0

//! Revocable data, as 7.3's `kernel::revocable` (6.12's kernel crate has
//! none; built for 6.12 only, as what [`super::devres::Devres`] keeps): a
//! value that readers reach under RCU's read lock and that can be revoked,
//! dropped once no reader holds it any more.

use super::bindings;
use super::sync::atomic::{Atomic, Relaxed};
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;

/// RCU's read-side lock, held while this lives (7.3's
/// `kernel::sync::rcu::Guard`). Not `Send`: the lock is the thread's.
///
/// # Invariants
///
/// The RCU read-side lock is held on this thread while the guard lives,
/// taken by [`RcuReadGuard::new`] and released by `drop`, once.
struct RcuReadGuard(PhantomData<*mut ()>);

impl RcuReadGuard {
    fn new() -> Self {
        // SAFETY: takes the read-side lock, which may nest; the guard
        // releases it on this thread (it is not `Send`).
        unsafe { bindings::rvcap_rcu_read_lock() };
        // INVARIANT: taken above.
        Self(PhantomData)
    }
}

impl Drop for RcuReadGuard {
    fn drop(&mut self) {
        // SAFETY: held by this guard on this thread (type invariant).
        unsafe { bindings::rvcap_rcu_read_unlock() };
    }
}

/// A value that [`Revocable::revoke`] takes away from its readers and
/// drops. Readers ([`Revocable::try_access`]) hold RCU's read lock, so they
/// must not sleep until they let go of it.
///
/// # Invariants
///
/// While `is_available` is true, `data` holds a valid `T`. Whoever changes
/// `is_available` from true to false (one caller, by an atomic swap) drops
/// the `T`, after a grace period if readers may hold it; if nobody does,
/// `drop` does.
pub(crate) struct Revocable<T> {
    is_available: Atomic<bool>,
    data: UnsafeCell<ManuallyDrop<T>>,
}

// SAFETY: readers on any thread get `&T` (hence `T: Sync`), and whichever
// thread revokes it drops the `T` (hence `T: Send`); `is_available` is
// atomic and `data` is only written by that drop, once no reader holds it
// (type invariant).
unsafe impl<T: Send + Sync> Sync for Revocable<T> {}

impl<T> Revocable<T> {
    /// `data`, available until revoked.
    pub(crate) fn new(data: T) -> Self {
        // INVARIANT: available, and `data` is valid.
        Self {
            is_available: Atomic::new(true),
            data: UnsafeCell::new(ManuallyDrop::new(data)),
        }
    }

    /// The value, unless it has been revoked. The guard holds RCU's read
    /// lock: no sleeping until it is dropped (a revocation waits for it).
    pub(crate) fn try_access(&self) -> Option<RevocableGuard<'_, T>> {
        let rcu = RcuReadGuard::new();
        if !self.is_available.load(Relaxed) {
            return None;
        }
        // INVARIANT: seen available under the read lock, so it is valid
        // and stays so while the lock is held: a revocation waits for a
        // grace period before it drops the value, and one that does not
        // wait (`revoke_nosync`) has no reader by its contract.
        Some(RevocableGuard {
            data: self.data.get().cast_const().cast::<T>(),
            _rcu: rcu,
            _borrow: PhantomData,
        })
    }

    /// Takes the value from its readers, waiting for those that hold it
    /// (an RCU grace period), and drops it. Whether this call revoked it
    /// (false: it was revoked before).
    pub(crate) fn revoke(&self) -> bool {
        // SAFETY: waits for the readers.
        unsafe { self.revoke_internal::<true>() }
    }

    /// As [`Revocable::revoke`], without waiting for readers.
    ///
    /// # Safety
    ///
    /// No reader holds the value (no [`RevocableGuard`] of it is alive).
    pub(crate) unsafe fn revoke_nosync(&self) -> bool {
        // SAFETY: no reader, by the caller's contract.
        unsafe { self.revoke_internal::<false>() }
    }

    /// # Safety
    ///
    /// If `SYNC` is false, no reader holds the value.
    unsafe fn revoke_internal<const SYNC: bool>(&self) -> bool {
        // Readers that saw it available hold the read lock, which
        // `synchronize_rcu` waits for; later ones see it revoked.
        let revoke = self.is_available.xchg(false, Relaxed);
        if revoke {
            if SYNC {
                // SAFETY: process context (it may sleep), like every
                // caller: a driver's unbind or a value's owner dropping it.
                unsafe { bindings::synchronize_rcu() };
            }
            // SAFETY: this call changed `is_available` to false, so nothing
            // else touches the value any more: no reader holds it (the grace
            // period above, or the caller's contract), none can reach it
            // again, and only the winner of the swap gets here.
            let data = unsafe { &mut *self.data.get() };
            // SAFETY: the value is valid (it was available) and this is its
            // one drop (the swap above is won once; type invariant).
            unsafe { ManuallyDrop::drop(data) };
        }
        revoke
    }
}

impl<T> Drop for Revocable<T> {
    fn drop(&mut self) {
        if *self.is_available.get_mut() {
            // SAFETY: still available, so valid, and nobody revoked (and
            // dropped) it; `&mut self` leaves no reader and no revoker.
            unsafe { ManuallyDrop::drop(self.data.get_mut()) };
        }
    }
}

/// Access to a [`Revocable`]'s value, which stays valid while this lives:
/// RCU's read lock is held, so the holder must not sleep.
///
/// # Invariants
///
/// `data` points to the valid value of a `Revocable` that outlives `'a`,
/// seen available while `_rcu` was already held, which it still is.
pub(crate) struct RevocableGuard<'a, T> {
    // A pointer, not `&'a T`: a reference passed to a function must stay
    // valid for the whole call, and the guard may be dropped during it.
    data: *const T,
    _rcu: RcuReadGuard,
    _borrow: PhantomData<&'a T>,
}

impl<T> Deref for RevocableGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: valid while the read lock is held (type invariant), as
        // long as the guard, which bounds the reference.
        unsafe { &*self.data }
    }
}
