// SPDX-License-Identifier: GPL-2.0

//! A wait queue that `poll()` registers with and that threads can wait on
//! for a condition, and the table `poll()` registers in (the `kernel` crate
//! gained `PollCondVar` for this after 6.12).

use super::bindings;
use core::ffi::c_void;
use kernel::ffi::c_long;
use kernel::prelude::*;
use kernel::types::Opaque;

/// `EPOLLIN | EPOLLRDNORM`: a buffer can be dequeued.
pub(crate) const READABLE: u32 = bindings::RVCAP_CONST_EPOLLIN | bindings::RVCAP_CONST_EPOLLRDNORM;
/// `EPOLLERR`.
pub(crate) const ERROR: u32 = bindings::RVCAP_CONST_EPOLLERR;
/// `EPOLLPRI`: a V4L2 event is pending.
pub(crate) const PRIORITY: u32 = bindings::RVCAP_CONST_EPOLLPRI;

/// A wait queue head that `poll()` callers sleep on. Dropping it detaches
/// every epoll waiter first (`wake_up_pollfree`), as the `kernel` crate's
/// later `PollCondVar` does, so epoll sets that still hold a file polled
/// with it are safe. A `select()`/`poll()` call's own entries live only for
/// that call; as with `PollCondVar`, the queue must not be dropped during
/// one, which holds when it lives as long as the file's device (rvcap's is
/// in the device data, which outlives every open file).
///
/// # Invariants
///
/// `wq` is initialised (`init_waitqueue_head`) and pinned.
#[pin_data(PinnedDrop)]
pub(crate) struct PollQueue {
    #[pin]
    wq: Opaque<bindings::wait_queue_head>,
}

impl PollQueue {
    /// An empty wait queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        // INVARIANT: `ffi_init` initialises the wait queue in place, pinned.
        pin_init!(Self {
            // SAFETY: `init_waitqueue_head` initialises the memory it is given,
            // which is pinned from here on.
            wq <- Opaque::ffi_init(|wq| unsafe { bindings::rvcap_init_waitqueue_head(wq) }),
        })
    }

    /// Sleeps (interruptibly) on this queue until `done` returns `true`, or
    /// for at most `timeout` jiffies; `ERESTARTSYS` if a signal comes
    /// first. As `wait_event_interruptible_timeout()`, `done` is checked
    /// with the task already queued, so a wake-up between a check and the
    /// sleep is not lost; it runs while the task is not running, so it may
    /// take a spinlock but must not sleep.
    pub(crate) fn wait_until<F: FnMut() -> bool>(
        &self,
        mut done: F,
        timeout: Option<u32>,
    ) -> Result {
        /// # Safety
        ///
        /// `data` must be a `&mut F`, live for the call.
        unsafe extern "C" fn check<F: FnMut() -> bool>(data: *mut c_void) -> bool {
            // SAFETY: the `&mut F` below, live for the whole wait.
            unsafe { (*data.cast::<F>())() }
        }
        let timeout = timeout.map_or(bindings::RVCAP_CONST_MAX_SCHEDULE_TIMEOUT, |jiffies| {
            c_long::try_from(jiffies).unwrap_or(bindings::RVCAP_CONST_MAX_SCHEDULE_TIMEOUT)
        });
        // SAFETY: the queue is initialised and pinned (type invariant);
        // `check::<F>` is called only during the wait, with `done`, which
        // outlives it.
        let ret = unsafe {
            bindings::rvcap_wait_event_interruptible_timeout(
                self.wq.get(),
                Some(check::<F>),
                (&raw mut done).cast(),
                timeout,
            )
        };
        if ret < 0 {
            return Err(Error::from_errno(ret as i32));
        }
        Ok(())
    }

    /// Wakes every `poll()` sleeping on this queue.
    pub(crate) fn wake_up(&self) {
        // SAFETY: initialised and pinned (type invariant).
        unsafe { bindings::rvcap_wake_up_interruptible(self.wq.get()) };
    }
}

// SAFETY: the kernel's wait queues are locked internally; waking and
// registering may happen on any thread.
unsafe impl Send for PollQueue {}
// SAFETY: as for `Send`; `&PollQueue` only wakes or registers.
unsafe impl Sync for PollQueue {}

#[pinned_drop]
impl PinnedDrop for PollQueue {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: initialised and pinned (type invariant). This removes
        // every entry `register` added.
        unsafe { bindings::rvcap_wake_up_pollfree(self.wq.get()) };
        // SAFETY: plain call; waits until epoll no longer looks at entries
        // removed above (they are freed under RCU).
        unsafe { bindings::synchronize_rcu() };
    }
}

/// The `poll_table` of one `poll()` call on a file.
///
/// # Invariants
///
/// `file` is the open file being polled and `pt` its poll table (or null),
/// both valid for the lifetime `'a` of the call.
pub(crate) struct PollTable<'a> {
    file: *mut bindings::file,
    pt: *mut bindings::poll_table_struct,
    _call: core::marker::PhantomData<&'a ()>,
}

impl PollTable<'_> {
    /// # Safety
    ///
    /// `file` must be an open file being polled with `pt` (or null), valid
    /// for as long as the returned value.
    pub(crate) unsafe fn from_raw(
        file: *mut bindings::file,
        pt: *mut bindings::poll_table_struct,
    ) -> Self {
        // INVARIANT: the caller's guarantee.
        Self {
            file,
            pt,
            _call: core::marker::PhantomData,
        }
    }

    /// The events the caller asked about.
    pub(crate) fn requested_events(&self) -> u32 {
        // SAFETY: `pt` is the call's table or null (type invariant); the
        // helper accepts both.
        unsafe { bindings::rvcap_poll_requested_events(self.pt) }
    }

    /// Sleeps on `queue` until woken, if the caller waits.
    pub(crate) fn register(&self, queue: &PollQueue) {
        // SAFETY: `file` and `pt` are valid for the call (type invariant);
        // the queue is initialised and pinned, and its drop removes what
        // this adds before the memory goes.
        unsafe { bindings::rvcap_poll_wait(self.file, queue.wq.get(), self.pt) };
    }

    /// Sleeps on the raw wait queue `wq` until woken, if the caller waits.
    ///
    /// # Safety
    ///
    /// `wq` must be an initialised wait queue that lives as long as the file.
    pub(crate) unsafe fn register_raw(&self, wq: *mut bindings::wait_queue_head) {
        // SAFETY: as in `register`, with the caller's guarantee for `wq`.
        unsafe { bindings::rvcap_poll_wait(self.file, wq, self.pt) };
    }
}
