// SPDX-License-Identifier: GPL-2.0

//! A kernel thread running a Rust closure; dropping the [`Thread`] stops it
//! (`kthread_stop`) and waits until the closure has returned and been
//! dropped, so whatever the closure holds is released by then. The closure
//! must return soon once [`Current::should_stop`] is true (the sleeps that
//! take a [`Current`] end then); a closure that never looks would make the
//! drop wait forever.

use super::bindings;
use core::ptr::NonNull;
use kernel::error::from_err_ptr;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// What the thread's closure is given: the thread's own view of its stop
/// request, and the proof that code runs on the thread (which the engine's
/// sleep, `dma_master::sleep_until`, asks for).
///
/// # Invariants
///
/// Only exists on the thread started by [`Thread::spawn`], during its
/// closure (it is neither `Send` nor constructible elsewhere).
pub(crate) struct Current {
    _not_send: core::marker::PhantomData<*const ()>,
}

impl Current {
    /// Whether [`Thread`] was dropped: the closure must return.
    pub(crate) fn should_stop(&self) -> bool {
        // SAFETY: called on a kthread (type invariant).
        unsafe { bindings::kthread_should_stop() }
    }
}

/// A running kernel thread.
///
/// # Invariants
///
/// `task` is a kthread started by `kthread_run` that has not been stopped;
/// it runs `run_closure::<F>` on `closure`, a `KBox<F>` turned into a raw
/// pointer, which only that thread touches until `kthread_stop` returns.
/// `drop_closure` frees it as that `KBox<F>`.
pub(crate) struct Thread {
    task: NonNull<bindings::task_struct>,
    closure: *mut c_void,
    drop_closure: unsafe fn(*mut c_void),
}

// SAFETY: `kthread_stop` may be called from any thread, and the closure is
// `Send`.
unsafe impl Send for Thread {}
// SAFETY: `&Thread` offers nothing.
unsafe impl Sync for Thread {}

impl Thread {
    /// Starts thread `rvcap<instance>-engine` running `f`.
    pub(crate) fn spawn<F>(instance: u32, f: F) -> Result<Self>
    where
        F: FnOnce(&Current) + Send + 'static,
    {
        let closure = KBox::into_raw(KBox::new(Some(f), GFP_KERNEL)?).cast::<c_void>();
        // SAFETY: `run_closure::<F>` has the kthread signature and is given
        // the `KBox<Option<F>>` made above, which stays alive until `drop`
        // has stopped the thread.
        let task =
            unsafe { bindings::rvcap_kthread_run(Some(run_closure::<F>), closure, instance) };
        let task = match from_err_ptr(task).map(NonNull::new) {
            Ok(Some(task)) => task,
            failed => {
                // SAFETY: no thread was started; the box is still ours.
                drop(unsafe { KBox::from_raw(closure.cast::<Option<F>>()) });
                return Err(failed.err().unwrap_or(ENOMEM));
            }
        };
        // INVARIANT: started above with `run_closure::<F>` on `closure`.
        Ok(Self {
            task,
            closure,
            drop_closure: drop_closure::<F>,
        })
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        // SAFETY: the thread was started and not stopped (type invariant);
        // `run_closure` never returns before `kthread_should_stop()`, so the
        // task is alive. Returns once the thread function has returned (or,
        // if it never started, will not run).
        unsafe { bindings::kthread_stop(self.task.as_ptr()) };
        // SAFETY: the thread is gone, so the closure box is ours again; it
        // was made as a `KBox<Option<F>>` for this `drop_closure`.
        unsafe { (self.drop_closure)(self.closure) };
    }
}

/// # Safety
///
/// `closure` must come from `KBox::<Option<F>>::into_raw` and not be used
/// by anyone else.
unsafe fn drop_closure<F>(closure: *mut c_void) {
    // SAFETY: the function's contract.
    drop(unsafe { KBox::from_raw(closure.cast::<Option<F>>()) });
}

/// The thread function.
///
/// # Safety
///
/// `data` must be the closure box of a [`Thread`] whose drop stops this
/// thread before freeing it.
unsafe extern "C" fn run_closure<F>(data: *mut c_void) -> c_int
where
    F: FnOnce(&Current) + Send + 'static,
{
    // SAFETY: the function's contract: the box outlives the thread, and only
    // this thread touches it while it runs.
    let slot = unsafe { &mut *data.cast::<Option<F>>() };
    if let Some(f) = slot.take() {
        // INVARIANT: on the kthread, for the duration of the closure.
        f(&Current {
            _not_send: core::marker::PhantomData,
        });
    }
    // `kthread_stop` needs the task alive: wait for it.
    // SAFETY: called on a kthread.
    unsafe { bindings::rvcap_kthread_wait_for_stop() };
    0
}
