// SPDX-License-Identifier: GPL-2.0

//! Registering a V4L2 video device: a [`Registration`] owns a `v4l2_device`,
//! a `video_device` (`/dev/videoN`), its control handler and the driver's
//! data `T`, whose [`VideoOps`] methods serve the device's ioctls, file
//! operations and controls (through the adapter in [`super::ioctl`]).
//!
//! # Lifetime
//!
//! The registration is allocated by [`Registration::register`] and freed by
//! the `v4l2_device` release callback when the last reference to the
//! `v4l2_device` goes: the core keeps one for the registered video device,
//! dropping the [`Registration`] unregisters it and drops ours. Open files
//! pin the module (the file operations' owner), so the data outlives every
//! open file.

use super::bindings;
use super::ctrl::MenuControl;
use super::device::Device;
use super::ioctl::{Adapter, BufferArg, CreateFormat};
use super::mm::VmaNew;
use super::str::CStr;
use super::sync::poll::PollTable;
use super::types::{ForeignOwnable, Opaque};
use core::fmt::{self, Write};
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::ffi::{c_char, c_void};
use kernel::prelude::*;

/// An open file's V4L2 file handle, as an identity the driver can compare.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FileId(pub(crate) usize);

/// The operations of a video capture device, implemented by the driver's
/// data. Ioctls the driver does not implement are not offered (the V4L2
/// core answers `ENOTTY`); the structures are the kernel copies of the
/// ioctl arguments, with unions already resolved to the capture member.
#[vtable]
pub(crate) trait VideoOps: Send + Sync + Sized + 'static {
    /// VIDIOC_QUERYCAP (driver, card, bus_info).
    fn querycap(&self, _cap: &mut bindings::v4l2_capability) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_ENUM_FMT for capture.
    fn enum_fmt_vid_cap(&self, _f: &mut bindings::v4l2_fmtdesc) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_G_FMT for capture.
    fn g_fmt_vid_cap(&self, _pix: &mut bindings::v4l2_pix_format) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_S_FMT for capture.
    fn s_fmt_vid_cap(&self, _pix: &mut bindings::v4l2_pix_format) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_TRY_FMT for capture.
    fn try_fmt_vid_cap(&self, _pix: &mut bindings::v4l2_pix_format) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_G_FMT for multi-planar capture.
    fn g_fmt_vid_cap_mplane(&self, _pix: &mut bindings::v4l2_pix_format_mplane) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_S_FMT for multi-planar capture.
    fn s_fmt_vid_cap_mplane(&self, _pix: &mut bindings::v4l2_pix_format_mplane) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_TRY_FMT for multi-planar capture.
    fn try_fmt_vid_cap_mplane(&self, _pix: &mut bindings::v4l2_pix_format_mplane) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_ENUM_FRAMESIZES.
    fn enum_framesizes(&self, _s: &mut bindings::v4l2_frmsizeenum) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_ENUM_FRAMEINTERVALS.
    fn enum_frameintervals(&self, _i: &mut bindings::v4l2_frmivalenum) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_G_PARM for capture (`p` starts zeroed).
    fn g_parm(&self, _p: &mut bindings::v4l2_captureparm) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_S_PARM for capture (`p` holds the request, and the answer).
    fn s_parm(&self, _p: &mut bindings::v4l2_captureparm) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_ENUM_INPUT.
    fn enum_input(&self, _i: &mut bindings::v4l2_input) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_G_INPUT.
    fn g_input(&self) -> Result<u32> {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_S_INPUT.
    fn s_input(&self, _index: u32) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_REQBUFS.
    fn reqbufs(&self, _fh: FileId, _r: &mut bindings::v4l2_requestbuffers) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_CREATE_BUFS; `format` is the request's format (see
    /// [`CreateFormat`]).
    fn create_bufs(
        &self,
        _fh: FileId,
        _c: &mut bindings::v4l2_create_buffers,
        _format: CreateFormat,
    ) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_REMOVE_BUFS (offered with CREATE_BUFS only, as the core
    /// requires).
    fn remove_bufs(&self, _fh: FileId, _r: &mut bindings::v4l2_remove_buffers) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_EXPBUF: `e.fd` set to a new dma-buf of a plane's memory.
    fn expbuf(&self, _fh: FileId, _e: &mut bindings::v4l2_exportbuffer) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_QUERYBUF.
    fn querybuf(&self, _fh: FileId, _b: &mut BufferArg<'_>) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_PREPARE_BUF.
    fn prepare_buf(&self, _fh: FileId, _b: &mut BufferArg<'_>) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_QBUF.
    fn qbuf(&self, _fh: FileId, _b: &mut BufferArg<'_>) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_DQBUF; `nonblock`: the file was opened `O_NONBLOCK`.
    fn dqbuf(&self, _fh: FileId, _b: &mut BufferArg<'_>, _nonblock: bool) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_STREAMON of buffer type `buf_type`.
    fn streamon(&self, _fh: FileId, _buf_type: u32) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_STREAMOFF of buffer type `buf_type`.
    fn streamoff(&self, _fh: FileId, _buf_type: u32) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// VIDIOC_LOG_STATUS (the controls are logged after it).
    fn log_status(&self) {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
    /// The last reference to an open file went.
    fn release(&self, fh: FileId);
    /// `poll()`: the events ready among `table.requested_events()`,
    /// registering with the wait queues that will signal them. (The adapter
    /// adds `EPOLLPRI` for pending V4L2 events.)
    fn poll(&self, fh: FileId, table: &PollTable<'_>) -> u32;
    /// `mmap()` of a buffer.
    fn mmap(&self, vma: &VmaNew) -> Result;
    /// A control of a [`MenuControl`] was set.
    fn s_ctrl(&self, id: u32, value: i32) -> Result;
}

/// What [`Registration`] allocates.
///
/// # Invariants
///
/// Pinned. Once registered, the `v4l2_device`'s release callback frees it
/// (and the control handler); `vdev`, `ctrls` and `fops` are zeroed before
/// the core sees them.
#[pin_data]
pub(super) struct Inner<T: VideoOps> {
    #[pin]
    pub(super) v4l2_dev: Opaque<bindings::v4l2_device>,
    #[pin]
    pub(super) vdev: Opaque<bindings::video_device>,
    #[pin]
    pub(super) ctrls: Opaque<bindings::v4l2_ctrl_handler>,
    #[pin]
    pub(super) fops: Opaque<bindings::v4l2_file_operations>,
    #[pin]
    pub(super) data: T,
}

/// A registered video device and the driver data behind it.
///
/// # Invariants
///
/// `inner` points to an [`Inner`] allocated by [`Registration::register`]
/// whose `v4l2_device` is registered and holds the reference this value
/// drops (after unregistering) in `drop`; until then it is alive.
pub(crate) struct Registration<T: VideoOps> {
    inner: NonNull<Inner<T>>,
}

// SAFETY: the V4L2 core locks its own structures; `T` is `Send + Sync`, and
// dropping the registration may happen on any thread.
unsafe impl<T: VideoOps> Send for Registration<T> {}
// SAFETY: shared references only give `&T` (which is `Sync`) and names.
unsafe impl<T: VideoOps> Sync for Registration<T> {}

/// Formats into a fixed C string field, truncating, always NUL-terminated.
pub(crate) fn set_cstr(dst: &mut [c_char], args: fmt::Arguments<'_>) {
    struct Field<'a> {
        dst: &'a mut [c_char],
        len: usize,
    }
    impl Write for Field<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for &b in s.as_bytes() {
                if self.len + 1 >= self.dst.len() {
                    return Err(fmt::Error);
                }
                self.dst[self.len] = b as c_char;
                self.len += 1;
            }
            Ok(())
        }
    }
    dst.fill(0);
    // Truncation is fine: the field stays NUL-terminated.
    let _ = Field { dst, len: 0 }.write_fmt(args);
}

impl<T: VideoOps> Registration<T> {
    /// Allocates the driver data (`data`) and registers a video capture
    /// device named `name` for `dev`, with `device_caps` and the menu
    /// controls `menus`, as `/dev/videoN`.
    pub(crate) fn register(
        dev: &Device,
        name: fmt::Arguments<'_>,
        device_caps: u32,
        menus: &'static [MenuControl],
        data: impl PinInit<T, Error>,
    ) -> Result<Self> {
        let boxed = KBox::pin_init(
            try_pin_init!(Inner {
                v4l2_dev: Opaque::uninit(),
                vdev: Opaque::uninit(),
                ctrls: Opaque::uninit(),
                fops: Opaque::uninit(),
                data <- data,
            }? Error),
            GFP_KERNEL,
        )?;
        // SAFETY: the allocation is never moved: it is only used through this
        // pointer until the release callback turns it back into a box.
        let inner = unsafe { NonNull::from(KBox::leak(Pin::into_inner_unchecked(boxed))) };
        // SAFETY: `inner` is valid and pinned.
        let raw = unsafe { inner.as_ref() };
        let v4l2_dev = raw.v4l2_dev.get();
        // The structures are our own (uninitialised) memory, zeroed (as C
        // drivers' kzalloc would) and the `v4l2_device` filled in here,
        // before anything else uses them; the release callback and `drop`
        // accept the others zeroed.
        // SAFETY: the control handler is ours, valid for writes and not yet
        // used by anyone.
        unsafe { core::ptr::write_bytes(raw.ctrls.get(), 0, 1) };
        // SAFETY: the video device is ours, valid for writes and not yet
        // used by anyone.
        unsafe { core::ptr::write_bytes(raw.vdev.get(), 0, 1) };
        // SAFETY: the file operations are ours, valid for writes and not
        // yet used by anyone.
        unsafe { core::ptr::write_bytes(raw.fops.get(), 0, 1) };
        // SAFETY: the `v4l2_device` is ours, valid for writes and not yet
        // used by anyone.
        unsafe { core::ptr::write_bytes(v4l2_dev, 0, 1) };
        // SAFETY: the `v4l2_device` is zeroed above (a valid value), and
        // nothing else accesses it before it is registered below.
        set_cstr(unsafe { &mut (*v4l2_dev).name }, name);
        // SAFETY: as above; the release callback can only run after the
        // registration below (at the last put).
        unsafe { (*v4l2_dev).release = Some(Adapter::<T>::release_registration) };
        // SAFETY: `dev` is live; `v4l2_dev` is initialised above and pinned.
        if let Err(e) = to_result(unsafe { bindings::v4l2_device_register(dev.as_raw(), v4l2_dev) })
        {
            // SAFETY: registration failed, so the core holds no reference:
            // free the allocation ourselves.
            drop(unsafe { KBox::from_raw(inner.as_ptr()) });
            return Err(e);
        }
        // INVARIANT: the `v4l2_device` is registered; from here on its
        // release callback frees `inner`, and dropping `this` unregisters.
        let this = Self { inner };
        // On failure, dropping `this` undoes whatever `setup` did.
        this.setup(name, device_caps, menus)?;
        Ok(this)
    }

    /// Sets up the controls and the video device, and registers the latter.
    fn setup(
        &self,
        name: fmt::Arguments<'_>,
        device_caps: u32,
        menus: &'static [MenuControl],
    ) -> Result {
        // SAFETY: alive (type invariant).
        let inner = unsafe { self.inner.as_ref() };
        let (hdl, vdev, fops) = (inner.ctrls.get(), inner.vdev.get(), inner.fops.get());
        let data: *const T = &inner.data;
        // The structures are ours, pinned and zeroed (`register`). The
        // control handler, file operations and video device live as long as
        // the `v4l2_device` (the same allocation, freed by its release
        // callback, which frees the handler first); `drop` unregisters the
        // video device before dropping our reference.
        // SAFETY: the handler is ours, zeroed and not yet initialised.
        to_result(unsafe { bindings::rvcap_ctrl_handler_init(hdl, menus.len() as u32) })?;
        for menu in menus {
            // SAFETY: the handler is initialised above; the control ops are
            // static, and `menu.items` is a `'static` menu of `menu.max + 1`
            // items (`MenuControl`'s invariant).
            let ctrl = unsafe {
                bindings::v4l2_ctrl_new_std_menu_items(
                    hdl,
                    &Adapter::<T>::CTRL_OPS,
                    menu.id,
                    menu.max,
                    0,
                    0,
                    menu.items,
                )
            };
            // SAFETY: the handler is initialised above; the control
            // framework records a failure to add a control in `error`.
            to_result(unsafe { (*hdl).error })?;
            if ctrl.is_null() {
                return Err(ENOMEM);
            }
            // SAFETY: `ctrl` is a control just made in our handler, which
            // lives as long as `T` (the same allocation); `s_ctrl` reads
            // `priv_` as that `T`.
            unsafe { (*ctrl).priv_ = data.cast_mut().cast() };
        }
        // SAFETY: the file operations are ours and zeroed; nothing reads
        // them before the video device is registered below.
        unsafe { *fops = Adapter::<T>::file_operations(super::module::this_module()) };
        // SAFETY: the video device is ours, zeroed (a valid value) and not
        // registered: nothing else accesses it until the registration
        // below, after the last use of this reference.
        let video = unsafe { &mut *vdev };
        set_cstr(&mut video.name, name);
        video.fops = fops;
        video.ioctl_ops = &Adapter::<T>::IOCTL_OPS;
        video.release = Some(bindings::video_device_release_empty);
        video.v4l2_dev = inner.v4l2_dev.get();
        video.vfl_dir = bindings::vfl_devnode_direction_VFL_DIR_RX;
        video.device_caps = device_caps;
        video.ctrl_handler = hdl;
        // SAFETY: the video device is ours and not registered yet; its
        // driver data is `T`, which lives as long as it does.
        unsafe { bindings::rvcap_video_set_drvdata(vdev, data.cast_mut().cast()) };
        // SAFETY: the video device is filled in above, and its file
        // operations, control handler and `v4l2_device` live as long as it
        // does (see above).
        to_result(unsafe { bindings::rvcap_video_register_device(vdev) })
    }

    /// The device node's name, for example `video0`.
    pub(crate) fn node_name(&self) -> &CStr {
        // SAFETY: alive (type invariant); the video device is registered
        // (`register` returned), so its `struct device` is named, and the name
        // lives as long as the registration.
        let vdev = unsafe { self.inner.as_ref() }.vdev.get();
        // SAFETY: as above: the video device is alive and registered.
        let dev = unsafe { core::ptr::addr_of_mut!((*vdev).dev) };
        // SAFETY: as above: the registered device is named.
        let name = unsafe { bindings::rvcap_dev_name(dev) };
        // SAFETY: as above: the name is NUL-terminated and lives as long as
        // the registration, and so `&self`.
        unsafe { CStr::from_char_ptr(name) }
    }
}

impl<T: VideoOps> Registration<T> {
    fn into_raw(self) -> *mut Inner<T> {
        let this = core::mem::ManuallyDrop::new(self);
        this.inner.as_ptr()
    }

    /// # Safety
    ///
    /// `ptr` came from [`Self::into_raw`] and is taken back once.
    unsafe fn from_raw(ptr: *mut Inner<T>) -> Self {
        // INVARIANT: `ptr` came from `into_raw` of a registration and is
        // taken back once (the caller's guarantee), so the invariant holds.
        Self {
            // SAFETY: not null: it came from a `NonNull`.
            inner: unsafe { NonNull::new_unchecked(ptr) },
        }
    }

    /// # Safety
    ///
    /// `ptr` came from [`Self::into_raw`] and is not taken back during `'a`.
    unsafe fn borrow_raw<'a>(ptr: *const Inner<T>) -> &'a T {
        // SAFETY: the live `Inner<T>` of a registration (its invariant), by
        // the caller's contract.
        unsafe { &(*ptr).data }
    }
}

// The platform driver keeps the registration as its device's driver data
// (6.12's trait).
#[cfg(not(rvcap_linux_7_3))]
impl<T: VideoOps> ForeignOwnable for Registration<T> {
    type Borrowed<'a> = &'a T;

    fn into_foreign(self) -> *const c_void {
        self.into_raw().cast_const().cast()
    }

    unsafe fn borrow<'a>(ptr: *const c_void) -> &'a T {
        // SAFETY: `ptr` came from `into_foreign`, which is `into_raw`, and is
        // not taken back during `'a` (the caller's guarantee).
        unsafe { Self::borrow_raw(ptr.cast()) }
    }

    unsafe fn from_foreign(ptr: *const c_void) -> Self {
        // SAFETY: `ptr` came from `into_foreign`, which is `into_raw`, and is
        // taken back once (the caller's guarantee).
        unsafe { Self::from_raw(ptr.cast_mut().cast()) }
    }
}

// The platform driver keeps the registration as its device's driver data
// (7.3's trait).
// SAFETY: `into_foreign` returns the `Inner<T>` allocation's pointer: not
// null, and aligned as `Inner<T>`, which `FOREIGN_ALIGN` states.
#[cfg(rvcap_linux_7_3)]
unsafe impl<T: VideoOps> ForeignOwnable for Registration<T> {
    const FOREIGN_ALIGN: usize = core::mem::align_of::<Inner<T>>();
    type Borrowed<'a> = &'a T;
    type BorrowedMut<'a> = &'a T;

    fn into_foreign(self) -> *mut c_void {
        self.into_raw().cast()
    }

    unsafe fn from_foreign(ptr: *mut c_void) -> Self {
        // SAFETY: `ptr` came from `into_foreign`, which is `into_raw`, and is
        // taken back once (the caller's guarantee).
        unsafe { Self::from_raw(ptr.cast()) }
    }

    unsafe fn borrow<'a>(ptr: *mut c_void) -> &'a T {
        // SAFETY: `ptr` came from `into_foreign`, which is `into_raw`, and is
        // not taken back during `'a` (the caller's guarantee).
        unsafe { Self::borrow_raw(ptr.cast_const().cast()) }
    }

    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> &'a T {
        // SAFETY: as `borrow`; only shared access is handed out.
        unsafe { Self::borrow_raw(ptr.cast_const().cast()) }
    }
}

impl<T: VideoOps> core::ops::Deref for Registration<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: alive until `drop` (type invariant).
        unsafe { &self.inner.as_ref().data }
    }
}

impl<T: VideoOps> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: alive (type invariant). Each call accepts a structure that
        // was never registered (zeroed) and undoes what registration did
        // otherwise. Files still open keep the `v4l2_device` (and with it the
        // control handler and `T`) until they close; the last put frees
        // `inner` through the release callback, and nothing here uses it
        // afterwards.
        let inner = unsafe { self.inner.as_ref() };
        // SAFETY: as above: registered by `setup`, or zeroed (accepted).
        unsafe { bindings::video_unregister_device(inner.vdev.get()) };
        // SAFETY: as above: registered by `register`.
        unsafe { bindings::v4l2_device_unregister(inner.v4l2_dev.get()) };
        // SAFETY: as above: drops our reference, after which `inner` is not
        // used (the release callback may have freed it).
        unsafe { bindings::v4l2_device_put(inner.v4l2_dev.get()) };
    }
}
