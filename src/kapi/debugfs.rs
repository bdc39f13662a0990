// SPDX-License-Identifier: GPL-2.0

//! debugfs: a [`Root`] directory for the module, and per-object [`Dir`]s
//! holding read-only "show" files and writable `u32`/`bool` knobs over the
//! data they were made for. Removing a directory (on drop) waits until no
//! one reads or writes its files, and the data lives until then.
//! Failures of debugfs only lose the files, as everywhere in the kernel.

use super::bindings;
use super::str::CStr;
use core::fmt::{self, Write};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicU32};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::Arc;

// debugfs reads and writes knobs as plain `u32` and `bool`.
kernel::static_assert!(core::mem::size_of::<AtomicU32>() == core::mem::size_of::<u32>());
kernel::static_assert!(core::mem::size_of::<AtomicBool>() == core::mem::size_of::<bool>());

/// A dentry that `debugfs_remove` removes when the last reference goes.
///
/// # Invariants
///
/// `dentry` came from `debugfs_create_dir` (or is an error pointer or null,
/// which debugfs accepts everywhere) and is removed once, on drop.
struct DirEntry {
    dentry: *mut bindings::dentry,
    // Removed after this directory: children keep their parent.
    _parent: Option<Arc<DirEntry>>,
}

// SAFETY: debugfs locks its own state; removing may happen on any thread.
unsafe impl Send for DirEntry {}
// SAFETY: `&DirEntry` is only used to create children, which debugfs locks.
unsafe impl Sync for DirEntry {}

impl DirEntry {
    fn create(name: &CStr, parent: Option<Arc<DirEntry>>) -> Result<Arc<Self>> {
        let parent_dentry = parent.as_ref().map_or(core::ptr::null_mut(), |p| p.dentry);
        // SAFETY: `name` is NUL-terminated; the parent is a live directory
        // (we hold it) or null (the debugfs root).
        let dentry =
            unsafe { bindings::rvcap_debugfs_create_dir(name.as_char_ptr(), parent_dentry) };
        // INVARIANT: created above; removed once, in `drop`.
        let entry = Self {
            dentry,
            _parent: parent,
        };
        // On failure, dropping `entry` removes the directory again.
        Ok(Arc::new(entry, GFP_KERNEL)?)
    }
}

impl Drop for DirEntry {
    fn drop(&mut self) {
        // SAFETY: removed once (type invariant); recursive, and waits for
        // every open file's callbacks to finish.
        unsafe { bindings::rvcap_debugfs_remove(self.dentry) };
    }
}

/// The module's own directory in debugfs.
pub(crate) struct Root(Arc<DirEntry>);

impl Root {
    /// Creates `/sys/kernel/debug/<name>`.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        Ok(Self(DirEntry::create(name, None)?))
    }
}

/// What a read-only file of a [`Dir`] shows.
pub(crate) trait Show<T> {
    /// Writes the file's contents.
    fn show(data: &T, w: &mut SeqWriter<'_>) -> fmt::Result;
}

/// A directory of files over `data`, removed on drop.
///
/// # Invariants
///
/// Every file in `entry` was created with a pointer into `data` (or into
/// memory `data` keeps alive), which lives at least until `entry` is
/// removed: fields drop in order.
pub(crate) struct Dir<T: Send + Sync + 'static> {
    entry: Arc<DirEntry>,
    data: Arc<T>,
}

impl<T: Send + Sync + 'static> Dir<T> {
    /// Creates directory `name` under `root` for `data`.
    pub(crate) fn new(root: &Root, name: &CStr, data: Arc<T>) -> Result<Self> {
        // INVARIANT: no files yet.
        Ok(Self {
            entry: DirEntry::create(name, Some(root.0.clone()))?,
            data,
        })
    }

    /// Adds a read-only file `name` whose contents `S` writes.
    pub(crate) fn show_file<S: Show<T>>(&self, name: &CStr) {
        let data: *const T = &*self.data;
        // SAFETY: `name` is NUL-terminated; the directory is live; `data` lives
        // until the directory is removed (type invariant), which waits for
        // readers; `ShowFops::<T, S>::FOPS` is a static table.
        unsafe {
            bindings::rvcap_debugfs_create_file(
                name.as_char_ptr(),
                0o444,
                self.entry.dentry,
                data.cast_mut().cast(),
                &ShowFops::<T, S>::FOPS,
            )
        };
    }

    /// Adds a `u32` file `name` (mode 0600) over the counter `field` picks.
    pub(crate) fn u32_file(&self, name: &CStr, field: impl FnOnce(&T) -> &AtomicU32) {
        let value = field(&self.data).as_ptr();
        // SAFETY: as in `show_file`; `value` is a `u32` inside (or kept alive
        // by) `data`. debugfs reads and writes it with plain 32-bit accesses,
        // as C does for any `debugfs_create_u32`; an `AtomicU32` has the
        // layout of `u32` and its users only ever load and store it.
        unsafe {
            bindings::rvcap_debugfs_create_u32(name.as_char_ptr(), 0o600, self.entry.dentry, value)
        };
    }

    /// Adds a `bool` file `name` (mode 0600) over the flag `field` picks.
    pub(crate) fn bool_file(&self, name: &CStr, field: impl FnOnce(&T) -> &AtomicBool) {
        let value = field(&self.data).as_ptr();
        // SAFETY: as in `u32_file`, for `AtomicBool` and `bool`; debugfs only
        // ever stores `true` or `false` into it.
        unsafe {
            bindings::rvcap_debugfs_create_bool(name.as_char_ptr(), 0o600, self.entry.dentry, value)
        };
    }
}

/// Formats text into a seq_file, without allocating.
///
/// # Invariants
///
/// `m` is the seq_file of a running show callback, for the lifetime `'a`.
pub(crate) struct SeqWriter<'a> {
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

/// The file operations of a show file of `T` written by `S`.
struct ShowFops<T, S>(PhantomData<(T, S)>);

impl<T: Send + Sync + 'static, S: Show<T>> ShowFops<T, S> {
    const FOPS: bindings::file_operations = bindings::file_operations {
        // Open files pin the module: debugfs calls `release` even after the
        // file was removed.
        owner: super::module::this_module(),
        open: Some(Self::open),
        read: Some(bindings::seq_read),
        llseek: Some(bindings::seq_lseek),
        release: Some(bindings::single_release),
        // SAFETY: all-zero is a valid `file_operations` (no callbacks).
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    /// # Safety
    ///
    /// Called by the VFS for a file made by [`Dir::show_file`].
    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `inode` is the file's inode, live while it is opened.
        let data = unsafe { bindings::rvcap_inode_private(inode) };
        // SAFETY: `data`, the inode's private data, is the `T` the file was
        // made with. `show` has the signature `single_open` wants.
        unsafe { bindings::single_open(file, Some(Self::show), data) }
    }

    /// # Safety
    ///
    /// Called by seq_file for a file opened by [`Self::open`].
    unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
        // SAFETY: `m` is the live seq_file of this callback.
        let data = unsafe { (*m).private }.cast::<T>();
        // SAFETY: `single_open` stored the `T` of `Dir::show_file` as the
        // seq_file's private data; it lives until the directory is removed,
        // which waits for this callback (`Dir`'s invariant).
        let data = unsafe { &*data };
        // INVARIANT: `m` is live during this callback.
        let mut w = SeqWriter {
            m,
            _call: PhantomData,
        };
        // An overflow is retried by seq_file with a larger buffer.
        let _ = S::show(data, &mut w);
        0
    }
}
