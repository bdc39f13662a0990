// SPDX-License-Identifier: GPL-2.0

//! DMA fences (`struct dma_fence`) and reservation objects (`struct
//! dma_resv`): the write fences a device publishes in the reservation
//! objects of the buffers it will write, and the fences of others it must
//! wait for first (`Documentation/driver-api/dma-buf.rst`, "Reservation
//! Objects" and "DMA Fences"). 6.12's `kernel` crate has no abstraction
//! for either.
//!
//! - [`Fence`]: a counted reference to anyone's fence.
//! - [`FenceSource`]: where one device's write fences come from: a fence
//!   context per timeline (one per buffer slot, so that each context's
//!   fences signal in order even when the device fills buffers out of
//!   order), their sequence numbers, a pool of fences that are recycled
//!   after an RCU grace period, so that publishing allocates nothing once
//!   the pool is warm, and the counters.
//! - [`WriteFence`]: one of those fences until it signals; dropping it
//!   unsignalled signals it with `-ECANCELED`, so that no path leaves one
//!   pending.
//! - [`WaitList`]: the fences a buffer must wait for.
//! - [`publish_write`]: records what a reservation object holds and adds a
//!   write fence to it.
//! - [`SignallingSection`]: `dma_fence_begin_signalling()` and
//!   `dma_fence_end_signalling()`, for lockdep.

use super::bindings;
use super::sync::atomic::{Acquire, Atomic, Relaxed, Release};
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::ffi::c_char;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// A reference to a fence (anyone's).
///
/// # Invariants
///
/// `0` is a live `struct dma_fence` on which this value owns one
/// reference.
pub(crate) struct Fence(NonNull<bindings::dma_fence>);

// SAFETY: a fence is reference counted and locked by the dma-fence core; a
// reference may be used and put from any thread.
unsafe impl Send for Fence {}
// SAFETY: as for `Send`; shared references only test whether it signalled.
unsafe impl Sync for Fence {}

impl Fence {
    /// A new reference to `fence`.
    ///
    /// # Safety
    ///
    /// `fence` must be live for the duration of the call (the caller holds
    /// a reference, or the lock of a reservation object that does).
    unsafe fn get(fence: NonNull<bindings::dma_fence>) -> Self {
        // SAFETY: live (the caller's guarantee).
        unsafe { bindings::rvcap_dma_fence_get(fence.as_ptr()) };
        // INVARIANT: the reference just taken.
        Self(fence)
    }

    /// Asks the fence's driver to signal it when done
    /// (`dma_fence_enable_signaling`; `dma_fence_enable_sw_signaling` on 6.12), so
    /// that [`Fence::is_signaled`] sees it signal.
    fn enable_signaling(&self) {
        // SAFETY: live (type invariant).
        #[cfg(rvcap_linux_7_3)]
        unsafe {
            bindings::dma_fence_enable_signaling(self.0.as_ptr())
        };
        // SAFETY: live (type invariant).
        #[cfg(not(rvcap_linux_7_3))]
        unsafe {
            bindings::dma_fence_enable_sw_signaling(self.0.as_ptr())
        };
    }

    /// Whether the fence has signalled (with or without an error).
    pub(crate) fn is_signaled(&self) -> bool {
        // SAFETY: live (type invariant).
        unsafe { bindings::rvcap_dma_fence_is_signaled(self.0.as_ptr()) }
    }
}

impl Clone for Fence {
    fn clone(&self) -> Self {
        // SAFETY: live (type invariant).
        unsafe { Self::get(self.0) }
    }
}

impl Drop for Fence {
    fn drop(&mut self) {
        // SAFETY: the reference this value owns (type invariant).
        unsafe { bindings::rvcap_dma_fence_put(self.0.as_ptr()) };
    }
}

/// What a [`FenceSource`] counted.
pub(crate) struct FenceStats {
    /// Write fences published.
    pub(crate) published: Atomic<u64>,
    /// Write fences signalled (with or without an error).
    pub(crate) signalled: Atomic<u64>,
    /// Write fences signalled with an error.
    pub(crate) signalled_error: Atomic<u64>,
    /// Fences allocated because every pooled one was in use.
    pub(crate) pool_allocs: Atomic<u64>,
}

// By hand: the kernel crate's `Atomic` has no `Default`.
impl Default for FenceStats {
    fn default() -> Self {
        Self {
            published: Atomic::new(0),
            signalled: Atomic::new(0),
            signalled_error: Atomic::new(0),
            pool_allocs: Atomic::new(0),
        }
    }
}

/// One of a [`FenceSource`]'s fences, pooled or allocated.
///
/// # Invariants
///
/// While `in_use` (a pooled fence) or allocated (the others), from
/// [`FenceSource::write_fence`] until the RCU callback after its release,
/// `base` is an initialised fence with [`OPS`] whose lock is its source's,
/// and `source` holds a reference to that source (from `Arc::into_raw`)
/// and this module a reference to itself (`__module_get`).
#[repr(C)]
struct OwnFence {
    // First: the dma-fence core's pointer is a pointer to this.
    base: Opaque<bindings::dma_fence>,
    source: Atomic<*mut FenceSource>,
    pooled: bool,
    in_use: Atomic<bool>,
}

impl OwnFence {
    fn new(pooled: bool) -> Self {
        Self {
            base: Opaque::uninit(),
            source: Atomic::new(core::ptr::null_mut()),
            pooled,
            in_use: Atomic::new(!pooled),
        }
    }
}

/// A device's write fences: their contexts, sequence numbers and lock, a
/// pool of them, and counters.
///
/// # Invariants
///
/// `lock` is an initialised spinlock; `context` is the first of
/// `seqnos.len()` contexts from `dma_fence_context_alloc`; `name` is
/// NUL-terminated; `pool` is never resized, so its entries never move.
#[pin_data]
pub(crate) struct FenceSource {
    #[pin]
    lock: Opaque<bindings::spinlock_t>,
    context: u64,
    seqnos: KVec<Atomic<u64>>,
    pool: KVec<OwnFence>,
    next: Atomic<usize>,
    name: [u8; 16],
    /// What was published and signalled.
    pub(crate) stats: FenceStats,
}

// SAFETY: the spinlock and the fences are the dma-fence core's to lock;
// everything else is atomic or immutable after construction.
unsafe impl Send for FenceSource {}
// SAFETY: as for `Send`.
unsafe impl Sync for FenceSource {}

impl FenceSource {
    /// The fences of device `name` (at most 15 bytes are kept), with
    /// `timelines` fence contexts and a pool of `pooled` fences.
    pub(crate) fn new(name: &CStr, timelines: usize, pooled: usize) -> Result<Arc<Self>> {
        let mut seqnos = KVec::with_capacity(timelines, GFP_KERNEL)?;
        for _ in 0..timelines {
            seqnos.push(Atomic::new(0), GFP_KERNEL)?;
        }
        let mut pool = KVec::with_capacity(pooled, GFP_KERNEL)?;
        for _ in 0..pooled {
            pool.push(OwnFence::new(true), GFP_KERNEL)?;
        }
        let mut kept = [0u8; 16];
        let bytes = super::str::to_bytes(name);
        let len = bytes.len().min(kept.len() - 1);
        kept[..len].copy_from_slice(&bytes[..len]);
        let count = u32::try_from(timelines).map_err(|_| EINVAL)?;
        // SAFETY: plain call.
        let context = unsafe { bindings::dma_fence_context_alloc(count) };
        Arc::pin_init(
            // INVARIANT: the lock is initialised in place, pinned; the
            // contexts were just allocated; `kept` ends with a NUL.
            pin_init!(Self {
                // SAFETY: `spin_lock_init` initialises the memory it is
                // given, which is pinned from here on.
                lock <- Opaque::ffi_init(|lock| unsafe { bindings::rvcap_spin_lock_init(lock) }),
                context,
                seqnos,
                pool,
                next: Atomic::new(0),
                name: kept,
                stats: FenceStats::default(),
            }),
            GFP_KERNEL,
        )
    }

    /// A pooled fence not in use, marked in use; `None` if all are.
    fn take_pooled(&self) -> Option<NonNull<OwnFence>> {
        let len = self.pool.len();
        let start = self.next.fetch_add(1, Relaxed);
        (0..len).find_map(|i| {
            let fence = &self.pool[(start + i) % len];
            fence
                .in_use
                .cmpxchg(false, true, Acquire)
                .is_ok()
                .then(|| NonNull::from(fence))
        })
    }

    /// A new write fence on timeline `timeline`, unsignalled, with the next
    /// sequence number of that timeline. Allocates only when every pooled
    /// fence is in use (counted in `pool_allocs`).
    pub(crate) fn write_fence(self: &Arc<Self>, timeline: usize) -> Result<WriteFence> {
        let seqno = self.seqnos.get(timeline).ok_or(EINVAL)?;
        let fence = match self.take_pooled() {
            Some(fence) => fence,
            None => {
                let fence = KBox::new(OwnFence::new(false), GFP_KERNEL)?;
                self.stats.pool_allocs.fetch_add(1, Relaxed);
                // Taken back by `recycle`.
                NonNull::from(KBox::leak(fence))
            }
        };
        // SAFETY: in use now, so ours alone until its release (type
        // invariant of `OwnFence`).
        let own = unsafe { fence.as_ref() };
        own.source
            .store(Arc::into_raw(self.clone()).cast_mut(), Relaxed);
        // SAFETY: this module is live (it runs); the reference keeps it so
        // until `recycle`, after the fence's release.
        unsafe { bindings::__module_get(super::module::this_module()) };
        let seqno = seqno.fetch_add(1, Relaxed) + 1;
        // SAFETY: `base` is ours and not in use by the dma-fence core (not
        // initialised, or released and past an RCU grace period); `OPS`
        // and the lock live as long as the fence (the source is held).
        // INVARIANT: initialised with `OPS` and this source's lock, the
        // source and module held above.
        unsafe {
            dma_fence_init_64bit(
                own.base.get(),
                &OPS,
                self.lock.get(),
                self.context + timeline as u64,
                seqno,
            )
        };
        self.stats.published.fetch_add(1, Relaxed);
        // INVARIANT: `dma_fence_init`'s reference, now this value's; not
        // signalled.
        Ok(WriteFence {
            fence: Some(Fence(NonNull::from(&own.base).cast())),
        })
    }
}

/// A device's write fence that has not signalled yet. It signals when
/// [`WriteFence::signal`] is called or, with `-ECANCELED`, when dropped.
///
/// # Invariants
///
/// `fence` is `Some` until signalled, and is then one of a
/// [`FenceSource`]'s fences, unsignalled.
pub(crate) struct WriteFence {
    fence: Option<Fence>,
}

impl WriteFence {
    /// The fence, for adding to reservation objects; `None` once
    /// signalled.
    pub(crate) fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }

    /// Signals the fence: the device is done with the buffer, having
    /// written it (`error` `None`) or not all of it (`error`: why).
    pub(crate) fn signal(mut self, error: Option<Error>) {
        self.signal_with(error);
    }

    fn signal_with(&mut self, error: Option<Error>) {
        let Some(fence) = self.fence.take() else {
            return;
        };
        let raw = fence.0.as_ptr();
        // SAFETY: one of a source's fences (type invariant), so an
        // `OwnFence` (its first field).
        let source = unsafe { (*raw.cast::<OwnFence>()).source.load(Relaxed) };
        // SAFETY: as above: the `OwnFence` holds its source while it lives.
        let source = unsafe { &*source };
        if let Some(error) = error {
            // SAFETY: live, and not signalled (type invariant), which
            // `dma_fence_set_error` requires.
            unsafe { bindings::rvcap_dma_fence_set_error(raw, error.to_errno()) };
            source.stats.signalled_error.fetch_add(1, Relaxed);
        }
        // SAFETY: live; signalled once (the value is taken above). It
        // cannot fail: nobody else signals rvcap's fences.
        unsafe { bindings::dma_fence_signal(raw) };
        source.stats.signalled.fetch_add(1, Relaxed);
        // `fence` goes here: its reference put.
    }
}

impl Drop for WriteFence {
    fn drop(&mut self) {
        self.signal_with(Some(ecanceled()));
    }
}

/// `ECANCELED`: the work was cancelled (not in 6.12's `kernel` crate).
fn ecanceled() -> Error {
    Error::from_errno(-(bindings::ECANCELED as i32))
}

/// `get_driver_name`.
///
/// # Safety
///
/// Called by the dma-fence core with one of this module's live fences.
unsafe extern "C" fn driver_name(_fence: *mut bindings::dma_fence) -> *const c_char {
    super::str::as_char_ptr(c"rvcap")
}

/// `get_timeline_name`: the device's name.
///
/// # Safety
///
/// Called by the dma-fence core with one of this module's live fences.
unsafe extern "C" fn timeline_name(fence: *mut bindings::dma_fence) -> *const c_char {
    // SAFETY: a live fence of ours is an `OwnFence` (type invariant).
    let source = unsafe { (*fence.cast::<OwnFence>()).source.load(Relaxed) };
    // SAFETY: as above: the `OwnFence` holds its source, whose `name` is
    // NUL-terminated.
    unsafe { (*source).name.as_ptr().cast() }
}

/// `release`: the last reference went. RCU readers of reservation objects
/// may still look at the fence, so it goes back to the pool (or is freed)
/// only after a grace period, as `dma_fence_free` does.
///
/// # Safety
///
/// Called by the dma-fence core with one of this module's fences, once.
unsafe extern "C" fn release(fence: *mut bindings::dma_fence) {
    // SAFETY: the fence is no one's now; its `rcu` head is free for use
    // (`dma_fence_free` uses it the same way).
    unsafe { bindings::rvcap_dma_fence_call_rcu(fence, Some(recycle)) };
}

/// After [`release`] and a grace period: the fence back to its pool (or
/// freed), its source and this module let go.
///
/// # Safety
///
/// Called by RCU for a fence [`release`] queued.
unsafe extern "C" fn recycle(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu` head of one of our fences (see `release`).
    let own = unsafe { bindings::rvcap_dma_fence_of_rcu(head) }.cast::<OwnFence>();
    // SAFETY: ours, held until here (type invariant of `OwnFence`).
    let source = unsafe { (*own).source.xchg(core::ptr::null_mut(), Relaxed) };
    // SAFETY: as above.
    if unsafe { (*own).pooled } {
        // SAFETY: as above; the pool lives while `source` is held.
        unsafe { (*own).in_use.store(false, Release) };
    } else {
        // SAFETY: allocated and leaked by `write_fence`; taken back once.
        drop(unsafe { KBox::from_raw(own) });
    }
    // SAFETY: the reference `write_fence` took with `Arc::into_raw`.
    drop(unsafe { Arc::from_raw(source) });
    // SAFETY: the reference `write_fence` took. Module exit waits for this
    // callback to return (`wait_for_released_fences`).
    unsafe { bindings::module_put(super::module::this_module()) };
}

// rvcap's fences count 64-bit sequence numbers: 6.12 reads that from
// `OPS.use_64bit_seqno`, 7.3 from the fence's initialisation.
#[cfg(not(rvcap_linux_7_3))]
use bindings::dma_fence_init as dma_fence_init_64bit;
#[cfg(rvcap_linux_7_3)]
use bindings::dma_fence_init64 as dma_fence_init_64bit;

// SAFETY: all-zero `dma_fence_ops` is valid: optional callbacks and `false`.
const NO_DMA_FENCE_OPS: bindings::dma_fence_ops = unsafe { core::mem::zeroed() };

/// The operations of rvcap's fences: they signal only through
/// `dma_fence_signal`, so no `enable_signaling` or `signaled`.
static OPS: bindings::dma_fence_ops = bindings::dma_fence_ops {
    // 7.3 marks 64-bit sequence numbers at `dma_fence_init64`.
    #[cfg(not(rvcap_linux_7_3))]
    use_64bit_seqno: true,
    get_driver_name: Some(driver_name),
    get_timeline_name: Some(timeline_name),
    release: Some(release),
    ..NO_DMA_FENCE_OPS
};

/// Waits until every released fence of this module is back in its pool
/// and every RCU callback of ours has returned: for module exit.
pub(crate) fn wait_for_released_fences() {
    // SAFETY: plain call, in process context.
    unsafe { bindings::rcu_barrier() };
}

/// Fences a buffer must wait for: a few kept in place, more in a vector
/// (which allocates; only a buffer with more than [`WaitList::IN_PLACE`]
/// unsignalled fences in its reservation objects needs it).
pub(crate) struct WaitList {
    in_place: [Option<Fence>; WaitList::IN_PLACE],
    more: KVec<Option<Fence>>,
}

impl Default for WaitList {
    fn default() -> Self {
        Self {
            in_place: Default::default(),
            more: KVec::new(),
        }
    }
}

impl WaitList {
    /// Fences kept without allocating.
    pub(crate) const IN_PLACE: usize = 8;

    fn push(&mut self, fence: Fence) -> Result {
        match self.in_place.iter_mut().find(|f| f.is_none()) {
            Some(free) => *free = Some(fence),
            None => self.more.push(Some(fence), GFP_KERNEL)?,
        }
        Ok(())
    }

    /// How many fences are waited for.
    pub(crate) fn len(&self) -> usize {
        Iterator::chain(self.in_place.iter(), self.more.iter())
            .flatten()
            .count()
    }

    /// Whether every fence has signalled; forgets those that have.
    pub(crate) fn all_signalled(&mut self) -> bool {
        let mut all = true;
        for fence in Iterator::chain(self.in_place.iter_mut(), self.more.iter_mut()) {
            if fence.as_ref().is_some_and(Fence::is_signaled) {
                *fence = None;
            }
            all &= fence.is_none();
        }
        all
    }
}

/// The `DMA_RESV_USAGE_*` a writer waits for: every fence up to readers'.
const WAIT_AS_WRITER: bindings::dma_resv_usage = bindings::dma_resv_usage_DMA_RESV_USAGE_READ;

/// A locked reservation object.
///
/// # Invariants
///
/// `resv` is a live reservation object, locked by this value
/// (`dma_resv_lock`) until it is dropped, for at most `'a`.
struct ResvGuard<'a> {
    resv: NonNull<bindings::dma_resv>,
    _life: PhantomData<&'a ()>,
}

impl ResvGuard<'_> {
    /// Locks `resv`, sleeping until it is free.
    ///
    /// # Safety
    ///
    /// `resv` must be a live reservation object while the guard exists.
    unsafe fn lock(resv: *mut bindings::dma_resv) -> Result<Self> {
        let resv = NonNull::new(resv).ok_or(EINVAL)?;
        // SAFETY: live (the caller's guarantee); no acquire context, so it
        // sleeps until the lock is free and cannot fail with -EDEADLK.
        kernel::error::to_result(unsafe { bindings::rvcap_dma_resv_lock(resv.as_ptr()) })?;
        // INVARIANT: locked just now, unlocked by the drop.
        Ok(Self {
            resv,
            _life: PhantomData,
        })
    }

    /// Room for one more fence.
    fn reserve(&self) -> Result {
        // SAFETY: locked (type invariant), as `dma_resv_reserve_fences`
        // requires.
        kernel::error::to_result(unsafe {
            bindings::dma_resv_reserve_fences(self.resv.as_ptr(), 1)
        })
    }

    /// Adds `fence` as a write fence, in the room [`ResvGuard::reserve`]
    /// made.
    fn add_write(&self, fence: &Fence) {
        // SAFETY: locked, with room reserved by the caller; the fence is
        // live (`fence` holds it) and the reservation object takes its own
        // reference.
        unsafe {
            bindings::dma_resv_add_fence(
                self.resv.as_ptr(),
                fence.0.as_ptr(),
                bindings::dma_resv_usage_DMA_RESV_USAGE_WRITE,
            )
        };
    }
}

impl Drop for ResvGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked by this value (type invariant).
        unsafe { bindings::rvcap_dma_resv_unlock(self.resv.as_ptr()) };
    }
}

/// Publishes `fence` as a write fence (`DMA_RESV_USAGE_WRITE`) in `resv`,
/// after recording in `waits` a reference to every fence `resv` held that
/// a writer must wait for (readers and writers) and that has not signalled.
/// Fences added later are not waited for: a device that queued the same
/// buffer after this one waits for this one instead, never the other way
/// round. On failure (no memory for one more fence in `resv`, or for the
/// record) the fence is not in `resv`, and the buffer must not be written.
///
/// # Safety
///
/// `resv` must be a live reservation object for the duration of the call
/// (a dma-buf's, of which the caller holds a reference or keeps the
/// release from completing).
pub(crate) unsafe fn publish_write(
    resv: *mut bindings::dma_resv,
    fence: &WriteFence,
    waits: &mut WaitList,
) -> Result {
    let Some(fence) = fence.fence() else {
        return Ok(());
    };
    // SAFETY: the caller's guarantee.
    let locked = unsafe { ResvGuard::lock(resv)? };
    // Room first: after it, nothing but the record can fail.
    locked.reserve()?;
    let cursor = Opaque::<bindings::dma_resv_iter>::uninit();
    // SAFETY: `cursor` is ours; the reservation object is live and locked
    // by `locked`, which the locked iteration requires.
    unsafe {
        bindings::rvcap_dma_resv_iter_begin(cursor.get(), locked.resv.as_ptr(), WAIT_AS_WRITER)
    };
    // SAFETY: begun above, under the lock.
    let mut next = unsafe { bindings::dma_resv_iter_first(cursor.get()) };
    while let Some(other) = NonNull::new(next) {
        // SAFETY: a fence the locked reservation object holds a reference
        // to, so live while we look.
        let other = unsafe { Fence::get(other) };
        if !other.is_signaled() {
            // Without it, a fence whose driver signals only on request
            // (no `signaled` op) might never be seen to signal by polling.
            other.enable_signaling();
            waits.push(other)?;
        }
        // SAFETY: as for `dma_resv_iter_first`.
        next = unsafe { bindings::dma_resv_iter_next(cursor.get()) };
    }
    // The locked iterator takes no references, so `dma_resv_iter_end` has
    // nothing to put.
    locked.add_write(fence);
    Ok(())
}

/// Adds `fence` to `resv` as a write fence, waiting for nothing: for a
/// dma-buf made (EXPBUF) of a buffer the device holds, which gets the
/// fence the buffer's other dma-bufs got when it was handed over.
///
/// # Safety
///
/// As for [`publish_write`].
pub(crate) unsafe fn add_write(resv: *mut bindings::dma_resv, fence: &Fence) -> Result {
    // SAFETY: the caller's guarantee.
    let locked = unsafe { ResvGuard::lock(resv)? };
    locked.reserve()?;
    locked.add_write(fence);
    Ok(())
}

/// Waits (interruptibly) for the fences of `resv` a CPU access must wait
/// for: every fence for a writer (`writes`), the write fences for a
/// reader (`dma_resv_usage_rw`), as `dma_buf_begin_cpu_access` does.
///
/// # Safety
///
/// `resv` must be a live reservation object for the duration of the call.
pub(crate) unsafe fn wait_for_fences(resv: *mut bindings::dma_resv, writes: bool) -> Result {
    // SAFETY: live (the caller's guarantee); takes no lock of ours.
    let ret = unsafe { bindings::rvcap_dma_resv_wait(resv, writes) };
    if ret < 0 {
        return Err(Error::from_errno(ret as i32));
    }
    Ok(())
}

/// The path from a device taking a buffer to signalling its write fence,
/// as lockdep sees it (`dma_fence_begin_signalling()` to
/// `dma_fence_end_signalling()`): no lock taken inside may be held anywhere
/// around a memory allocation or a fence wait, which lockdep then reports.
///
/// # Invariants
///
/// `cookie` is what `dma_fence_begin_signalling()` returned for this
/// section, on this thread (the value is not `Send`); the drop ends it.
pub(crate) struct SignallingSection {
    cookie: bool,
    // Ends on the thread it began on.
    _not_send: PhantomData<*mut c_void>,
}

impl SignallingSection {
    /// Begins a section; it ends when the value is dropped.
    pub(crate) fn begin() -> Self {
        Self {
            // SAFETY: plain call; ended by `drop`.
            cookie: unsafe { bindings::rvcap_dma_fence_begin_signalling() },
            _not_send: PhantomData,
        }
    }
}

impl Drop for SignallingSection {
    fn drop(&mut self) {
        // SAFETY: the cookie of the matching begin.
        unsafe { bindings::rvcap_dma_fence_end_signalling(self.cookie) };
    }
}
