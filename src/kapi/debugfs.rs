// SPDX-License-Identifier: GPL-2.0

//! debugfs, in the shape of 7.3's `kernel::debugfs` (the part rvcap uses),
//! on both kernels: 6.12's kernel crate has none, and 7.3's file operations
//! have no `owner`, so an open file would not keep the module loaded and
//! its close after an `rmmod` would call through the unloaded module's
//! operations (debugfs' `full_proxy_release` reads `real_fops->release`).
//! A [`Dir`] is a directory; [`Dir::scope`]
//! makes a subdirectory for some data, a [`Scope`], which owns the data and
//! whose files, made by its `init` closure through a [`ScopedDir`], read
//! it: a [`ScopedDir::read_callback_file`] shows the text a callback
//! formats, a [`ScopedDir::read_write_callback_file`] also hands writes to
//! a second callback. The callbacks are function items or closures that
//! capture nothing. Dropping a `Scope` removes its directory, which waits
//! until no one is in a callback of its files, then drops the data.
//! Failures of debugfs only lose the directories and files.
//!
//! Two things differ from 7.3's: open files pin the module (`owner`), and
//! files without writes are 0444, as rvcap's always were (7.3 makes them
//! 0400).

use super::bindings;
use super::str::CStr;
use core::fmt::{self, Write};
use core::marker::{PhantomData, PhantomPinned};
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::ffi::{c_char, c_int, c_void};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::uaccess::{UserSlice, UserSliceReader};

/// A debugfs directory, removed on drop with everything in it.
///
/// # Invariants
///
/// `dentry` is null, an error pointer (debugfs takes both everywhere and
/// does nothing with them), or a directory made by `debugfs_create_dir`
/// that nothing but this entry removes. Its parent directory is removed
/// after it: `_parent` keeps it, or the parent is the debugfs root.
struct Entry {
    dentry: *mut bindings::dentry,
    // debugfs removes a directory's children with it.
    _parent: Option<Arc<Entry>>,
}

// SAFETY: debugfs locks its own state; a directory may be removed on any
// thread.
unsafe impl Send for Entry {}
// SAFETY: `&Entry` only gives the dentry to debugfs to make children in,
// which debugfs locks.
unsafe impl Sync for Entry {}

impl Entry {
    /// Makes directory `name` in `parent`, or at the debugfs root.
    fn dir(name: &CStr, parent: Option<Arc<Entry>>) -> Self {
        let parent_dentry = parent.as_ref().map_or(core::ptr::null_mut(), |p| p.dentry);
        // SAFETY: `name` is NUL-terminated; `parent_dentry` is null (the
        // root), an error pointer (returned again), or the directory of
        // `parent`, live while we hold it (its invariant).
        let dentry =
            unsafe { bindings::rvcap_debugfs_create_dir(name.as_char_ptr(), parent_dentry) };
        // INVARIANT: made above, in `parent`, which `_parent` keeps.
        Self {
            dentry,
            _parent: parent,
        }
    }

    /// No directory: nothing is made in it.
    fn none() -> Self {
        // INVARIANT: null.
        Self {
            dentry: core::ptr::null_mut(),
            _parent: None,
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        // SAFETY: `dentry` is null, an error pointer or a directory only
        // this entry removes, whose parent is still there (type invariant).
        // Removing is recursive and waits until no one is in a callback of
        // its files.
        unsafe { bindings::rvcap_debugfs_remove(self.dentry) };
    }
}

/// A debugfs directory (7.3's `kernel::debugfs::Dir`), removed once this
/// handle and every directory made in it are gone.
// `None`: the `Arc` could not be allocated; nothing is made in it.
pub(crate) struct Dir(Option<Arc<Entry>>);

impl Dir {
    /// Makes directory `name` at the debugfs root.
    pub(crate) fn new(name: &CStr) -> Self {
        // If the `Arc` cannot be allocated, dropping the entry removes the
        // directory again.
        Self(Arc::new(Entry::dir(name, None), GFP_KERNEL).ok())
    }

    /// A subdirectory `name` for the data `data` initialises: `init` makes
    /// the files in it, which read the data. The [`Scope`] owns the data;
    /// dropping it removes the directory, then drops the data. The data is
    /// `'static` (7.3's asks only `T: 'a`): a `Scope` may be leaked, which
    /// must not leave a file over a borrow that ends.
    pub(crate) fn scope<'a, T: 'static, E: 'a, F>(
        &'a self,
        data: impl PinInit<T, E> + 'a,
        name: &'a CStr,
        init: F,
    ) -> impl PinInit<Scope<T>, E> + 'a
    where
        F: for<'data, 'dir> FnOnce(&'data T, &'dir ScopedDir<'data, 'dir>) + 'a,
    {
        Scope::new(data, move |data| {
            let dir = ScopedDir {
                entry: match &self.0 {
                    Some(parent) => Entry::dir(name, Some(parent.clone())),
                    None => Entry::none(),
                },
                _phantom: PhantomData,
            };
            init(data, &dir);
            dir.entry
        })
    }
}

/// Data and the debugfs directory of files that read it (7.3's
/// `kernel::debugfs::Scope`): dropping it removes the directory, waiting
/// for the callbacks of its files, and then drops the data.
///
/// # Invariants
///
/// Every file in `entry` was made with a pointer to `data` or to what it
/// keeps alive: `data` is pinned and outlives `entry` (fields drop in
/// order).
#[pin_data]
pub(crate) struct Scope<T: 'static> {
    entry: Entry,
    #[pin]
    data: T,
    // Files point into `data` even if `T` is `Unpin`.
    #[pin]
    _pin: PhantomPinned,
}

impl<'b, T: 'static> Scope<T> {
    /// The data `data` initialises, then the directory `init` makes for
    /// it, once it has its address.
    fn new<E: 'b, F>(data: impl PinInit<T, E> + 'b, init: F) -> impl PinInit<Self, E> + 'b
    where
        F: for<'a> FnOnce(&'a T) -> Entry + 'b,
    {
        // INVARIANT: no files yet; then the files `init` makes, with
        // references to `data`, in place.
        try_pin_init!(Self {
            entry: Entry::none(),
            data <- data,
            _pin: PhantomPinned,
        }? E)
        .pin_chain(|scope| {
            // SAFETY: `entry` is not structurally pinned: replacing it moves
            // nothing of `data`, which stays pinned.
            let scope = unsafe { Pin::get_unchecked_mut(scope) };
            scope.entry = init(&scope.data);
            Ok(())
        })
    }
}

impl<T: 'static> Deref for Scope<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

/// The directory of a [`Scope`] while its `init` closure fills it, for
/// files that read data living for `'data` (7.3's
/// `kernel::debugfs::ScopedDir`; `'dir`, how long the handle lives, only
/// keeps 7.3's shape). The files go when the `Scope` does.
pub(crate) struct ScopedDir<'data, 'dir> {
    entry: Entry,
    _phantom: PhantomData<fn(&'data ()) -> &'dir ()>,
}

impl<'data> ScopedDir<'data, '_> {
    /// Makes file `name` (mode 0444): reading it shows what `_f` formats
    /// from `data`. `_f` must be a function item or a closure that
    /// captures nothing (checked when compiled).
    pub(crate) fn read_callback_file<T, F>(&self, name: &CStr, data: &'data T, _f: &'static F)
    where
        T: Send + Sync + 'static,
        F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync,
    {
        self.create_file::<T, ReadFile<T, F>>(name, data);
    }

    /// Makes file `name` (mode 0600): reading it shows what `_f` formats
    /// from `data`, writing it hands the bytes written to `_w` (which
    /// needs not read all of them: all count as written if it succeeds).
    /// Both must be function items or closures that capture nothing
    /// (checked when compiled).
    pub(crate) fn read_write_callback_file<T, F, W>(
        &self,
        name: &CStr,
        data: &'data T,
        _f: &'static F,
        _w: &'static W,
    ) where
        T: Send + Sync + 'static,
        F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync,
        W: Fn(&T, &mut UserSliceReader) -> Result + Send + Sync,
    {
        self.create_file::<T, ReadWriteFile<T, F, W>>(name, data);
    }

    /// Makes file `name` of kind `K` over `data`.
    fn create_file<T, K: FileKind<T>>(&self, name: &CStr, data: &'data T) {
        // A `Dir` without an entry has no directory to make it in (null
        // would make it at the debugfs root, where nothing removes it).
        if self.entry.dentry.is_null() {
            return;
        }
        let file_operations: &'static bindings::file_operations = &K::FILE_OPERATIONS;
        let data: *const T = data;
        // SAFETY: `name` is NUL-terminated; the directory is live (or an
        // error pointer, which debugfs returns again). `file_operations`
        // use `data` as a shared `&T` while the file is not removed
        // (`FileKind`), and `data` lives until the directory is removed:
        // `'data` is a borrow of the `Scope`'s data (`Dir::scope`'s `init`
        // cannot name another), which is `'static` and pinned, so it
        // outlives its directory (`Scope`'s invariant) or, if the `Scope`
        // is leaked, is never dropped.
        unsafe {
            bindings::rvcap_debugfs_create_file(
                name.as_char_ptr(),
                K::MODE,
                self.entry.dentry,
                data.cast_mut().cast(),
                file_operations,
            )
        };
        // The dentry goes with its directory.
    }
}

/// A kind of debugfs file over a `T`: its file operations and mode (7.3's
/// `FileOps<T>`).
///
/// # Safety
///
/// `FILE_OPERATIONS` use the private data of the file's inode only as a
/// shared `&T`, and only in callbacks that run while the file is not
/// removed (debugfs' removal waits for them); they pin the module while
/// the file is open.
unsafe trait FileKind<T> {
    const FILE_OPERATIONS: bindings::file_operations;
    const MODE: u16;
}

/// The value of a zero-sized callback type `F`: a function item or a
/// closure that captures nothing, as 7.3's callback files make theirs.
///
/// # Safety
///
/// A value of type `F` must exist (the caller's file was made with one).
unsafe fn zero_sized<'a, F>() -> &'a F {
    let () = ZeroSized::<F>::CHECK;
    // SAFETY: a dangling pointer is non-null, aligned and valid for reads
    // of zero bytes, all a reference to a zero-sized type needs; the caller
    // guarantees the type has a value.
    unsafe { NonNull::<F>::dangling().as_ref() }
}

/// Refuses to compile a callback that is not zero-sized.
struct ZeroSized<F>(PhantomData<F>);

impl<F> ZeroSized<F> {
    const CHECK: () = assert!(
        core::mem::size_of::<F>() == 0,
        "a debugfs callback must be a function item or a closure that captures nothing"
    );
}

/// File operations without callbacks, to fill in.
const NO_FILE_OPERATIONS: bindings::file_operations =
    // SAFETY: all-zero is a valid `file_operations`: null pointers and
    // `None`s.
    unsafe { core::mem::MaybeUninit::zeroed().assume_init() };

/// A file that shows the text `F` formats from its `T`: a seq_file of one
/// record.
struct ReadFile<T, F>(PhantomData<(T, F)>);

// SAFETY: `open` hands the inode's private data (a `T`) to `single_open`
// as the seq_file's, and `show` uses that as a shared `&T`; the seq_file
// functions do not touch it. debugfs calls `open`, `read` and `llseek`
// (both of which may call `show`) only while the file is not removed
// (`debugfs_file_get` around each in its proxy); `single_release` may run
// later and does not use it. `owner` pins the module.
unsafe impl<T: Sync, F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result> FileKind<T>
    for ReadFile<T, F>
{
    const FILE_OPERATIONS: bindings::file_operations = bindings::file_operations {
        // Open files pin the module: debugfs calls `release` even after the
        // file was removed.
        owner: super::module::this_module(),
        open: Some(Self::open),
        read: Some(bindings::seq_read),
        llseek: Some(bindings::seq_lseek),
        release: Some(bindings::single_release),
        ..NO_FILE_OPERATIONS
    };
    const MODE: u16 = 0o444;
}

impl<T: Sync, F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result> ReadFile<T, F> {
    /// # Safety
    ///
    /// Called by the VFS (through debugfs, while the file is not removed)
    /// to open `file`, of a file of this kind (or a [`ReadWriteFile`])
    /// made by [`ScopedDir::create_file`], whose `inode` is live.
    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `inode` is the file's inode, live while it is opened.
        let data = unsafe { bindings::rvcap_inode_private(inode) };
        // SAFETY: `file` is being opened; `data`, the inode's private
        // data, is the file's `T`, which `show` (with the signature
        // `single_open` wants) gets as the seq_file's private data.
        unsafe { bindings::single_open(file, Some(Self::show), data) }
    }

    /// # Safety
    ///
    /// Called by seq_file for a file opened by [`Self::open`], while the
    /// file is not removed (debugfs holds removal off during a call).
    unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
        // SAFETY: `m` is the live seq_file of this call.
        let data = unsafe { (*m).private }.cast::<T>();
        // SAFETY: `open` made the file's `T` the seq_file's private data;
        // it lives until the file is removed, which waits for this call
        // (`ScopedDir::create_file`), and is only ever shared.
        let data = unsafe { &*data };
        // SAFETY: the file was made by `ScopedDir::read_callback_file` or
        // `read_write_callback_file`, which were given an `F`.
        let format = unsafe { zero_sized::<F>() };
        // INVARIANT: `m` is live during this call.
        let mut out = SeqWriter {
            m,
            _call: PhantomData,
        };
        // An overflow is retried by seq_file with a larger buffer.
        let _ = write!(out, "{}", Formatted { data, format });
        0
    }
}

/// A [`ReadFile`] whose writes `W` parses into its `T`.
struct ReadWriteFile<T, F, W>(PhantomData<(T, F, W)>);

// SAFETY: `ReadFile`'s operations (see there), and `write`, which uses the
// seq_file's private data, the `T` `ReadFile::open` put there, as a shared
// `&T`; debugfs calls it only while the file is not removed.
unsafe impl<T, F, W> FileKind<T> for ReadWriteFile<T, F, W>
where
    T: Sync,
    F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
    W: Fn(&T, &mut UserSliceReader) -> Result,
{
    const FILE_OPERATIONS: bindings::file_operations = bindings::file_operations {
        write: Some(Self::write),
        ..<ReadFile<T, F> as FileKind<T>>::FILE_OPERATIONS
    };
    const MODE: u16 = 0o600;
}

impl<T, F, W> ReadWriteFile<T, F, W>
where
    T: Sync,
    F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
    W: Fn(&T, &mut UserSliceReader) -> Result,
{
    /// # Safety
    ///
    /// Called by the VFS (through debugfs, while the file is not removed)
    /// for a `write()` of `count` bytes from the user-space buffer `buf` to
    /// `file`, opened by [`ReadFile::open`] for a file of this kind.
    unsafe extern "C" fn write(
        file: *mut bindings::file,
        buf: *const c_char,
        count: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: `file` is live during the call.
        let m = unsafe { (*file).private_data }.cast::<bindings::seq_file>();
        // SAFETY: `single_open` (in `ReadFile::open`) made the file's
        // private data its seq_file, live until release.
        let data = unsafe { (*m).private }.cast::<T>();
        // SAFETY: as in `ReadFile::show`.
        let data = unsafe { &*data };
        // SAFETY: the file was made by
        // `ScopedDir::read_write_callback_file`, which was given a `W`.
        let parse = unsafe { zero_sized::<W>() };
        // (6.12's user pointers are addresses; 7.3's a `UserPtr`.)
        #[cfg(not(rvcap_linux_7_3))]
        let user = buf as usize;
        #[cfg(rvcap_linux_7_3)]
        let user = kernel::uaccess::UserPtr::from_ptr(buf.cast_mut().cast());
        let mut input = UserSlice::new(user, count).reader();
        match parse(data, &mut input) {
            // All of it, as 7.3's: the VFS caps `count` at MAX_RW_COUNT.
            Ok(()) => count as isize,
            Err(e) => e.to_errno() as isize,
        }
    }
}

/// The text `format` makes of `data`, for `core::fmt`.
struct Formatted<'a, T, F> {
    data: &'a T,
    format: &'a F,
}

impl<T, F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Formatted<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.format)(self.data, f)
    }
}

/// Formats text into a seq_file, without allocating.
///
/// # Invariants
///
/// `m` is the seq_file of a running show callback, for the lifetime `'a`.
struct SeqWriter<'a> {
    m: *mut bindings::seq_file,
    _call: PhantomData<&'a ()>,
}

impl Write for SeqWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `m` is live during the callback (type invariant);
        // `seq_write` copies `s.len()` bytes from `s`.
        let ret = unsafe { bindings::seq_write(self.m, s.as_ptr().cast(), s.len()) };
        if ret == 0 {
            Ok(())
        } else {
            // The buffer is full; seq_file retries with a larger one.
            Err(fmt::Error)
        }
    }
}
