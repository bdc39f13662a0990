// SPDX-License-Identifier: GPL-2.0

//! `poll()` (the kernel crate's `sync::poll`): [`PollCondVar`], a
//! condition variable that `poll()` callers sleep on too, the kernel
//! crate's own on 7.3 and the same shape here on 6.12, whose crate has
//! none; and rvcap's [`PollTable`], which registers with a `PollCondVar` or
//! with a raw wait queue (the V4L2 core's `v4l2_fh.wait`, which the kernel
//! crate's `PollTable` cannot) and says which events the caller asked
//! about.

use crate::kapi::bindings;

/// `EPOLLIN | EPOLLRDNORM`: a buffer can be dequeued.
pub(crate) const READABLE: u32 = bindings::RVCAP_CONST_EPOLLIN | bindings::RVCAP_CONST_EPOLLRDNORM;
/// `EPOLLERR`.
pub(crate) const ERROR: u32 = bindings::RVCAP_CONST_EPOLLERR;
/// `EPOLLPRI`: a V4L2 event is pending.
pub(crate) const PRIORITY: u32 = bindings::RVCAP_CONST_EPOLLPRI;

#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::{new_poll_condvar, sync::poll::PollCondVar};

#[cfg(not(rvcap_linux_7_3))]
pub(crate) use v6_12::{new_poll_condvar, PollCondVar};

/// 6.12's `PollCondVar`, in 7.3's shape.
#[cfg(not(rvcap_linux_7_3))]
mod v6_12 {
    use crate::kapi::bindings;
    use kernel::prelude::*;
    use kernel::str::CStr;
    use kernel::sync::lock::{Backend, Guard};
    use kernel::sync::{CondVar, LockClassKey};
    use kernel::types::Opaque;

    /// A [`PollCondVar`] initialiser with the given name and a new lock
    /// class, as 7.3's `kernel::new_poll_condvar!`.
    macro_rules! new_poll_condvar {
        ($($name:literal)?) => {
            $crate::kapi::sync::poll::PollCondVar::new(
                ::kernel::optional_name!($($name)?),
                ::kernel::static_lock_class!(),
            )
        };
    }
    pub(crate) use new_poll_condvar;

    /// A [`CondVar`] that `poll()` callers sleep on too, as 7.3's
    /// `kernel::sync::poll::PollCondVar`, with the part of its (`Deref`ed
    /// `CondVar`'s) methods rvcap uses: [`PollCondVar::wait_interruptible`]
    /// and [`PollCondVar::notify_all`], which wakes its waiters and the
    /// `poll()` callers. 6.12's `CondVar` keeps its wait queue to itself,
    /// so `poll()` sleeps on a second one here; that is why there is no
    /// `Deref` to the `CondVar`: its `notify_one` would miss `poll()`
    /// callers here and not on 7.3.
    ///
    /// Dropping it detaches every epoll waiter first (`wake_up_pollfree`)
    /// and waits an RCU grace period, as mainline's, so epoll sets that
    /// still hold a file polled with it are safe. A `select()`/`poll()`
    /// call's own entries live only for that call; as with mainline's, it
    /// must not be dropped during one, which holds when it lives as long
    /// as the file's device (rvcap's is in the device data, which outlives
    /// every open file).
    ///
    /// # Invariants
    ///
    /// `poll_wait` is initialised (`init_waitqueue_head`) and pinned.
    #[pin_data(PinnedDrop)]
    pub(crate) struct PollCondVar {
        #[pin]
        inner: CondVar,
        #[pin]
        poll_wait: Opaque<bindings::wait_queue_head>,
    }

    impl PollCondVar {
        /// A condition variable no one waits on yet.
        pub(crate) fn new(name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
            // INVARIANT: `ffi_init` initialises the wait queue in place,
            // pinned.
            pin_init!(Self {
                inner <- CondVar::new(name, key),
                // SAFETY: `init_waitqueue_head` initialises the memory it is
                // given, which is pinned from here on.
                poll_wait <- Opaque::ffi_init(|wq| unsafe {
                    bindings::rvcap_init_waitqueue_head(wq)
                }),
            })
        }

        /// Releases the lock `guard` holds and sleeps (interruptibly) until
        /// notified, then takes the lock again; `true` if a signal is
        /// pending. As `CondVar::wait_interruptible`: it may also wake
        /// spuriously.
        #[must_use = "wait_interruptible returns if a signal is pending, so the caller must check the return value"]
        pub(crate) fn wait_interruptible<T: ?Sized, B: Backend>(
            &self,
            guard: &mut Guard<'_, T, B>,
        ) -> bool {
            self.inner.wait_interruptible(guard)
        }

        /// Wakes every waiter and every `poll()` caller sleeping on it.
        pub(crate) fn notify_all(&self) {
            self.inner.notify_all();
            // SAFETY: initialised and pinned (type invariant).
            unsafe { bindings::rvcap_wake_up_interruptible(self.poll_wait.get()) };
        }

        /// The wait queue `poll()` callers sleep on.
        pub(super) fn poll_wait(&self) -> *mut bindings::wait_queue_head {
            self.poll_wait.get()
        }
    }

    // SAFETY: as mainline's `CondVar`: wait queues are locked internally;
    // waking and registering may happen on any thread.
    unsafe impl Send for PollCondVar {}
    // SAFETY: as for `Send`; `&PollCondVar` only waits, notifies or
    // registers.
    unsafe impl Sync for PollCondVar {}

    #[pinned_drop]
    impl PinnedDrop for PollCondVar {
        fn drop(self: Pin<&mut Self>) {
            // SAFETY: initialised and pinned (type invariant). This removes
            // every entry `PollTable::register` added.
            unsafe { bindings::rvcap_wake_up_pollfree(self.poll_wait.get()) };
            // SAFETY: plain call; waits until epoll no longer looks at
            // entries removed above (they are freed under RCU).
            unsafe { bindings::synchronize_rcu() };
        }
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

    /// Sleeps on `cv` until it is notified, if the caller waits.
    pub(crate) fn register(&self, cv: &PollCondVar) {
        #[cfg(rvcap_linux_7_3)]
        {
            // SAFETY: `pt` is null or this call's poll table, valid for `'a`
            // (type invariant).
            let table = unsafe { kernel::sync::poll::PollTable::from_raw(self.pt.cast()) };
            // SAFETY: `file` is the open file being polled, so valid with a
            // positive count during the call (type invariant). `File`'s
            // other condition (every active `fdget_pos` took `f_pos_lock`)
            // need not hold for a character device, whose `read()` on
            // another thread never takes it; what it protects is the file
            // position, and this reference stays inside this call, where
            // `register_wait` only takes its pointer (`as_ptr`) for
            // `poll_wait`. The kernel crate's own file callbacks
            // (`miscdevice`) make the same use of it.
            let file = unsafe { kernel::fs::File::from_raw_file(self.file.cast_const().cast()) };
            table.register_wait(file, cv);
        }
        #[cfg(not(rvcap_linux_7_3))]
        {
            // SAFETY: `file` and `pt` are valid for the call (type
            // invariant); the queue is initialised and pinned, and `cv`'s
            // drop removes what this adds before the memory goes.
            unsafe { bindings::rvcap_poll_wait(self.file, cv.poll_wait(), self.pt) };
        }
    }

    /// Sleeps on the raw wait queue `wq` until woken, if the caller waits.
    ///
    /// # Safety
    ///
    /// `wq` must be an initialised wait queue that lives as long as the file.
    pub(crate) unsafe fn register_raw(&self, wq: *mut bindings::wait_queue_head) {
        // SAFETY: `file` and `pt` are valid for the call (type invariant);
        // the caller's guarantee for `wq`.
        unsafe { bindings::rvcap_poll_wait(self.file, wq, self.pt) };
    }
}
