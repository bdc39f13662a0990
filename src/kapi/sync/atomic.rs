// SPDX-License-Identifier: GPL-2.0

//! Atomics of the Linux kernel memory model (LKMM), which the kernel crate
//! asks Rust code in the kernel to use instead of `core`'s: 7.3's
//! `kernel::sync::atomic` (`Atomic<T>` with the orderings `Relaxed`,
//! `Acquire`, `Release`; `Full` rvcap does not use), and on 6.12, whose
//! crate has none, the same shape for what rvcap uses of it. rvcap's
//! atomics are counters, flags and pointers that only its Rust reads and
//! writes, so 6.12's shape maps each onto `core`'s atomic of the same size
//! and ordering.

#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::sync::atomic::{Acquire, Atomic, Relaxed, Release};

#[cfg(not(rvcap_linux_7_3))]
pub(crate) use v6_12::{Acquire, Atomic, Relaxed, Release};

#[cfg(not(rvcap_linux_7_3))]
mod v6_12 {
    use core::cell::UnsafeCell;
    use core::sync::atomic::{self as core_atomic, Ordering as CoreOrdering};

    /// No ordering beyond the access's own atomicity.
    #[derive(Clone, Copy)]
    pub(crate) struct Relaxed;
    /// Later accesses stay after this read.
    #[derive(Clone, Copy)]
    pub(crate) struct Acquire;
    /// Earlier accesses stay before this write.
    #[derive(Clone, Copy)]
    pub(crate) struct Release;

    /// Keeps the ordering traits to the four orderings, as 7.3's sealed
    /// traits do (another would make `core` panic at run time).
    mod private {
        pub(crate) trait Sealed {}
        impl Sealed for super::Relaxed {}
        impl Sealed for super::Acquire {}
        impl Sealed for super::Release {}
    }

    /// An ordering of a read-modify-write: `core`'s for its success and for
    /// the read of a failed compare-and-exchange, which is relaxed unless
    /// the ordering is, as 7.3's documents its failed `cmpxchg`.
    pub(crate) trait Ordering: private::Sealed + Copy {
        const SUCCESS: CoreOrdering;
        const FAILURE: CoreOrdering;
    }

    impl Ordering for Relaxed {
        const SUCCESS: CoreOrdering = CoreOrdering::Relaxed;
        const FAILURE: CoreOrdering = CoreOrdering::Relaxed;
    }
    impl Ordering for Acquire {
        const SUCCESS: CoreOrdering = CoreOrdering::Acquire;
        const FAILURE: CoreOrdering = CoreOrdering::Relaxed;
    }
    impl Ordering for Release {
        const SUCCESS: CoreOrdering = CoreOrdering::Release;
        const FAILURE: CoreOrdering = CoreOrdering::Relaxed;
    }

    /// The orderings a read may have.
    pub(crate) trait AcquireOrRelaxed: Ordering {}
    impl AcquireOrRelaxed for Relaxed {}
    impl AcquireOrRelaxed for Acquire {}

    /// The orderings a write may have.
    pub(crate) trait ReleaseOrRelaxed: Ordering {}
    impl ReleaseOrRelaxed for Relaxed {}
    impl ReleaseOrRelaxed for Release {}

    /// A type an [`Atomic`] may hold, with `core`'s atomic that holds it.
    ///
    /// # Safety
    ///
    /// `Core` has the size, alignment and bit validity of `Self`, so that
    /// `Self`'s memory may be used as a `Core` (`core`'s `from_ptr`); and,
    /// as 7.3's `AtomicType` requires, a `Self` may be moved to and shared
    /// with another thread (a raw pointer too: only its value is, not what
    /// it points at), which `Atomic`'s `Send` and `Sync` rely on.
    pub(crate) unsafe trait AtomicType: Copy {
        /// `core`'s atomic of this type.
        type Core;

        /// The atomic over `*ptr`.
        ///
        /// # Safety
        ///
        /// As `core`'s `from_ptr`: `ptr` is valid and aligned for `'a`, and
        /// during `'a` nothing reaches it but atomic operations.
        unsafe fn from_ptr<'a>(ptr: *mut Self) -> &'a Self::Core;

        fn load(a: &Self::Core, o: CoreOrdering) -> Self;
        fn store(a: &Self::Core, v: Self, o: CoreOrdering);
        fn xchg(a: &Self::Core, v: Self, o: CoreOrdering) -> Self;
        fn cmpxchg(
            a: &Self::Core,
            old: Self,
            new: Self,
            success: CoreOrdering,
            failure: CoreOrdering,
        ) -> Result<Self, Self>;
    }

    /// An [`AtomicType`] that can be added to and subtracted from
    /// (wrapping, as the LKMM's).
    pub(crate) trait AtomicAdd: AtomicType {
        fn fetch_add(a: &Self::Core, v: Self, o: CoreOrdering) -> Self;
        fn fetch_sub(a: &Self::Core, v: Self, o: CoreOrdering) -> Self;
    }

    macro_rules! atomic_type {
        ($t:ty, $core:ty) => {
            // `from_ptr` needs the atomic's alignment; `core` gives its
            // atomics the size and bit validity of their integer.
            const _: () = assert!(
                core::mem::align_of::<$t>() == core::mem::align_of::<$core>()
                    && core::mem::size_of::<$t>() == core::mem::size_of::<$core>()
            );
            atomic_type!(@impl [] $t, $core);
        };
        // Without the assertion, which the caller makes (a generic type
        // cannot be asserted on).
        (@impl [$($g:ident)?] $t:ty, $core:ty) => {
            // SAFETY: `core`'s atomics are documented to have the size and
            // bit validity of what they hold; the alignment is asserted
            // beside each use of this macro.
            unsafe impl<$($g)?> AtomicType for $t {
                type Core = $core;
                unsafe fn from_ptr<'a>(ptr: *mut Self) -> &'a Self::Core {
                    // SAFETY: the caller's guarantee, which is `from_ptr`'s.
                    unsafe { <$core>::from_ptr(ptr) }
                }
                fn load(a: &Self::Core, o: CoreOrdering) -> Self {
                    a.load(o)
                }
                fn store(a: &Self::Core, v: Self, o: CoreOrdering) {
                    a.store(v, o)
                }
                fn xchg(a: &Self::Core, v: Self, o: CoreOrdering) -> Self {
                    a.swap(v, o)
                }
                fn cmpxchg(
                    a: &Self::Core,
                    old: Self,
                    new: Self,
                    success: CoreOrdering,
                    failure: CoreOrdering,
                ) -> Result<Self, Self> {
                    a.compare_exchange(old, new, success, failure)
                }
            }
        };
    }

    macro_rules! atomic_add {
        ($t:ty) => {
            impl AtomicAdd for $t {
                fn fetch_add(a: &Self::Core, v: Self, o: CoreOrdering) -> Self {
                    a.fetch_add(v, o)
                }
                fn fetch_sub(a: &Self::Core, v: Self, o: CoreOrdering) -> Self {
                    a.fetch_sub(v, o)
                }
            }
        };
    }

    atomic_type!(bool, core_atomic::AtomicBool);
    atomic_type!(u32, core_atomic::AtomicU32);
    atomic_type!(u64, core_atomic::AtomicU64);
    atomic_type!(usize, core_atomic::AtomicUsize);
    atomic_add!(u32);
    atomic_add!(u64);
    atomic_add!(usize);

    const _: () = assert!(
        core::mem::align_of::<*mut u8>() == core::mem::align_of::<core_atomic::AtomicPtr<u8>>()
    );

    atomic_type!(@impl [T] *mut T, core_atomic::AtomicPtr<T>);

    /// A memory location several threads may read and modify (7.3's
    /// `kernel::sync::atomic::Atomic`).
    ///
    /// # Invariants
    ///
    /// While the cell is shared, its value is reached only through the
    /// `core` atomic over it ([`Atomic::core`]).
    #[repr(transparent)]
    pub(crate) struct Atomic<T: AtomicType>(UnsafeCell<T>);

    // SAFETY: as mainline's: every access to the value through a shared
    // reference is atomic (type invariant), and `T` is plain data.
    unsafe impl<T: AtomicType> Send for Atomic<T> {}
    // SAFETY: as for `Send`.
    unsafe impl<T: AtomicType> Sync for Atomic<T> {}

    impl<T: AtomicType> Atomic<T> {
        /// An atomic holding `v`.
        pub(crate) const fn new(v: T) -> Self {
            Self(UnsafeCell::new(v))
        }

        /// `core`'s atomic over the value.
        fn core(&self) -> &T::Core {
            // SAFETY: the cell's memory is valid and aligned for `T` while
            // `self` is borrowed, which `from_ptr` needs of it as a
            // `T::Core` (`AtomicType`'s contract); while it is shared,
            // nothing else reaches it (type invariant).
            unsafe { T::from_ptr(self.0.get()) }
        }

        /// The value, through exclusive access.
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut()
        }

        /// Reads the value.
        pub(crate) fn load<O: AcquireOrRelaxed>(&self, _: O) -> T {
            T::load(self.core(), O::SUCCESS)
        }

        /// Writes `v`.
        pub(crate) fn store<O: ReleaseOrRelaxed>(&self, v: T, _: O) {
            T::store(self.core(), v, O::SUCCESS)
        }

        /// Writes `v`; returns the value it replaced.
        pub(crate) fn xchg<O: Ordering>(&self, v: T, _: O) -> T {
            T::xchg(self.core(), v, O::SUCCESS)
        }

        /// Writes `new` if the value is `old`: `Ok(old)` if it did,
        /// `Err(value)` with the value found if not.
        pub(crate) fn cmpxchg<O: Ordering>(&self, old: T, new: T, _: O) -> Result<T, T> {
            T::cmpxchg(self.core(), old, new, O::SUCCESS, O::FAILURE)
        }
    }

    impl<T: AtomicAdd> Atomic<T> {
        /// Adds `v` (wrapping); returns the value before.
        pub(crate) fn fetch_add<O: Ordering>(&self, v: T, _: O) -> T {
            T::fetch_add(self.core(), v, O::SUCCESS)
        }

        /// Subtracts `v` (wrapping); returns the value before.
        pub(crate) fn fetch_sub<O: Ordering>(&self, v: T, _: O) -> T {
            T::fetch_sub(self.core(), v, O::SUCCESS)
        }
    }
}
