// SPDX-License-Identifier: GPL-2.0

//! The device's own view of a [`DeviceMemory`]: rvcap's virtual DMA
//! master writes a frame as a device does, through the buffer's DMA
//! addresses ([`DeviceMemory::write_as_device`], a [`DeviceWindow`] at a
//! time), and for a non-coherent device around the CPU's caches, through
//! an [`UncachedAlias`] of the pages behind those addresses.

use super::memory::DeviceMemory;
use crate::kapi::bindings;
use crate::pattern::FrameSink;
use core::ops::Range;
use core::ptr::NonNull;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

impl DeviceMemory {
    /// For a non-coherent device, maps the uncached alias the engine writes
    /// through: once per mapping, since `vmap` allocates and a frame must
    /// not. Found as the device finds memory, through the DMA addresses
    /// (with swiotlb, the bounce slots; behind an IOMMU, its translation),
    /// which stay what they are while the buffer is mapped.
    pub(super) fn with_uncached_alias(mut self) -> Result<Self> {
        if self.coherent {
            return Ok(self);
        }
        let mut count = 0;
        self.for_each_segment(|seg| {
            count += seg.pages();
            true
        });
        if count == 0 {
            return Ok(self);
        }
        // KVVec: a 1080p buffer's array alone is 8 KiB.
        let mut pages = KVVec::from_elem(NonNull::dangling(), count, GFP_KERNEL)?;
        let mut slots = pages.iter_mut();
        let mut reached = true;
        self.for_each_segment(|seg| {
            let first = seg.addr & !(PAGE_SIZE as u64 - 1);
            let end = seg.addr + seg.len as u64;
            for n in 0..seg.pages() {
                let page = first + (n * PAGE_SIZE) as u64;
                let bytes = seg.addr.max(page)..end.min(page + PAGE_SIZE as u64);
                match (self.page_behind(bytes), slots.next()) {
                    (Some(page), Some(slot)) => *slot = page,
                    _ => {
                        reached = false;
                        return false;
                    }
                }
            }
            true
        });
        if reached {
            // SAFETY: each entry is the page of the kernel's linear map that
            // holds the bytes of one page of the buffer's DMA addresses, at
            // the same offsets (`page_behind`); it stays allocated while the
            // buffer is mapped, and the alias is dropped before the backing
            // unmaps (field order). Mapping may sleep, as here.
            // INVARIANT: the alias of the pages behind the DMA addresses.
            self.uncached = Some(unsafe { UncachedAlias::new(&pages)? });
        }
        Ok(self)
    }

    /// The page of the kernel's linear map holding the bytes the device
    /// reaches at the DMA addresses `bytes` (within one page of its address
    /// space), each at the offset in that page its address has; `None` if
    /// any of them is unreachable or lies elsewhere (behind an IOMMU whose
    /// pages are smaller than the CPU's, one CPU page of IOVAs may map to
    /// several pages of memory).
    fn page_behind(&self, bytes: Range<u64>) -> Option<NonNull<bindings::page>> {
        let mut base: Option<*mut u8> = None;
        let mut addr = bytes.start;
        while addr < bytes.end {
            let mut len = (bytes.end - addr) as usize;
            // SAFETY: `dev` is live. The helper returns the kernel virtual
            // address of the first `len` bytes (cutting `len` to what is
            // contiguous) the device reaches at `addr`, only if they are in
            // the linear map (with swiotlb, the bounce slot; behind an IOMMU,
            // its translation), and null otherwise.
            let vaddr = unsafe {
                bindings::rvcap_dma_addr_to_virt(self.dev.as_raw(), self.iommu_page, addr, &mut len)
            }
            .cast::<u8>();
            let offset = addr as usize % PAGE_SIZE;
            if vaddr.is_null() || len == 0 || vaddr as usize % PAGE_SIZE != offset {
                return None;
            }
            let page_start = vaddr.wrapping_sub(offset);
            if base.is_some_and(|b| b != page_start) {
                return None;
            }
            base = Some(page_start);
            addr += len as u64;
        }
        // SAFETY: the start of a page of the linear map, where the helper
        // found the bytes.
        NonNull::new(unsafe { bindings::rvcap_virt_to_page(base?.cast()) })
    }

    /// Writes as the device does: through the DMA addresses of each segment
    /// (translated by the IOMMU, if the device is behind one), never through
    /// the CPU's view of the pages; and for a non-coherent device around the
    /// CPU's caches, through the uncached alias made when the buffer was
    /// mapped, as its writes reach memory (written into the cacheable
    /// linear map, a frame would sit in lines that the DQBUF sync
    /// invalidates). `fill(offset, window)` writes the frame bytes from
    /// `offset` on into `window`, a run of bytes contiguous for the device
    /// and in the kernel's address space (the linear map; for a
    /// non-coherent device, the alias, where a whole segment is one run),
    /// and returns `false` when the frame is complete. Returns `false` if
    /// an address could not be reached (no translation, or memory outside
    /// the kernel's linear map): the device would fault. For a non-coherent
    /// device that is known when the buffer is mapped, and then no byte of
    /// it is written.
    ///
    /// This is memory-safe whoever owns the buffer: the bytes are written
    /// only through raw pointers into mapped kernel memory that stays mapped
    /// for the device while `self` lives, and no Rust reference to a
    /// buffer's contents exists anywhere (userspace and other devices may
    /// touch them at any time, as they may with real DMA). Writing while the
    /// CPU owns the buffer would break the DMA API's rules and lose data,
    /// not memory safety; the queue only hands the engine buffers in its
    /// `Active` state, synced for the device.
    pub(crate) fn write_as_device(
        &self,
        mut fill: impl FnMut(usize, &mut DeviceWindow<'_>) -> bool,
    ) -> bool {
        if !self.coherent && self.uncached.is_none() {
            // Memory the CPU cannot map uncached: the device would fault.
            return false;
        }
        let mut offset = 0;
        let mut alias_page = 0;
        let mut reached = true;
        self.for_each_segment(|seg| {
            let mut done = 0;
            while done < seg.len {
                let mut len = seg.len - done;
                let start = if let Some(alias) = &self.uncached {
                    // A non-coherent device writes memory, not the CPU's
                    // caches: through the uncached alias, where a segment is
                    // contiguous, so that the DQBUF sync's invalidate cannot
                    // discard the frame.
                    let at = alias_page * PAGE_SIZE + seg.addr as usize % PAGE_SIZE + done;
                    NonNull::new(alias.start.as_ptr().wrapping_add(at))
                } else {
                    // SAFETY: `dev` is live. The helper returns the kernel
                    // virtual address of the first `len` bytes (cutting `len`
                    // to what is contiguous) the device reaches at this
                    // address, only if they are in the linear map (with
                    // swiotlb, the bounce slot; behind an IOMMU, its
                    // translation), and null otherwise.
                    let vaddr = unsafe {
                        bindings::rvcap_dma_addr_to_virt(
                            self.dev.as_raw(),
                            self.iommu_page,
                            seg.addr + done as u64,
                            &mut len,
                        )
                    };
                    NonNull::new(vaddr.cast::<u8>())
                };
                let Some(start) = start else {
                    reached = false;
                    return false;
                };
                // INVARIANT: the `len` bytes at `start` are mapped kernel
                // memory while `self` lives: the linear map's view of bytes
                // mapped for the device, or their part of the uncached
                // alias (the rest of this segment, within the segment's
                // pages of the alias).
                let mut window = DeviceWindow {
                    start,
                    len,
                    written: 0,
                    _memory: core::marker::PhantomData,
                };
                let more = fill(offset, &mut window);
                offset += len;
                done += len;
                if !more {
                    return false;
                }
            }
            alias_page += seg.pages();
            true
        });
        if !self.coherent {
            // The device's writes are complete before it reports the frame.
            // SAFETY: a barrier, no preconditions.
            unsafe { bindings::rvcap_wmb() };
        }
        reached
    }
}

/// A run of a buffer's bytes, contiguous for the device and in the kernel's
/// address space, as [`DeviceMemory::write_as_device`] hands it out: bytes
/// the device may write, written in order.
///
/// # Invariants
///
/// `start..start + len` is kernel memory (the linear map's view of bytes of
/// a buffer mapped for the device, or an uncached alias of them) that stays
/// mapped while the window exists; `written <= len`.
pub(crate) struct DeviceWindow<'a> {
    start: NonNull<u8>,
    len: usize,
    written: usize,
    _memory: core::marker::PhantomData<&'a DeviceMemory>,
}

impl DeviceWindow<'_> {
    /// Writes no more than `len` bytes from here on (the device stops early).
    pub(crate) fn limit(&mut self, len: usize) {
        // INVARIANT: only ever shrinks, and not below what was written.
        self.len = self.len.min(self.written + len);
    }

    /// Leaves the next `len` bytes (at most the room left) as they are:
    /// another part of the device writes them. Returns how many it skipped.
    pub(crate) fn skip(&mut self, len: usize) -> usize {
        let n = len.min(self.room());
        // INVARIANT: `n <= room()`, so `written` stays within `len`.
        self.written += n;
        n
    }
}

impl FrameSink for DeviceWindow<'_> {
    fn room(&self) -> usize {
        self.len - self.written
    }

    fn append(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.room());
        // SAFETY: by the type invariant `written <= len`: the offset is
        // within the mapped segment (or one past its end).
        let at = unsafe { self.start.as_ptr().add(self.written) };
        // SAFETY: by the type invariant `written + n <= len` bytes of the
        // mapped segment are in bounds; `bytes` is kernel memory of our own,
        // so the two cannot overlap. Written through a raw pointer: userspace
        // may be reading or writing the same memory.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), at, n) };
        // INVARIANT: `n <= room()`, so `written` stays within `len`.
        self.written += n;
    }
}

/// An uncached (write-combining) mapping of the pages behind a buffer's DMA
/// addresses, as a non-coherent DMA master reaches memory: writes through
/// it reach memory, not the CPU's caches. Dropping unmaps it.
///
/// # Invariants
///
/// `start` is a `vmap` of pages that stay allocated while it exists, made by
/// `rvcap_vmap_uncached` and undone once, in `drop`.
pub(super) struct UncachedAlias {
    start: NonNull<u8>,
}

impl UncachedAlias {
    /// Maps `pages`, in order.
    ///
    /// # Safety
    ///
    /// Each of `pages` is a page of the kernel's linear map that stays
    /// allocated while the alias exists, and the caller may sleep.
    unsafe fn new(pages: &[NonNull<bindings::page>]) -> Result<Self> {
        let count = u32::try_from(pages.len()).map_err(|_| ENOMEM)?;
        // SAFETY: `pages` holds `count` page pointers (`NonNull<page>` has
        // the layout of `*mut page`), which `vmap` reads and does not keep;
        // by the caller's contract the pages exist and `vmap` may sleep.
        let start =
            unsafe { bindings::rvcap_vmap_uncached(pages.as_ptr().cast_mut().cast(), count) };
        // INVARIANT: a vmap of the caller's pages, or nothing.
        Ok(Self {
            start: NonNull::new(start.cast::<u8>()).ok_or(ENOMEM)?,
        })
    }
}

impl Drop for UncachedAlias {
    fn drop(&mut self) {
        // SAFETY: made by `rvcap_vmap_uncached`, undone once (type invariant).
        unsafe { bindings::rvcap_vunmap_uncached(self.start.as_ptr().cast()) };
    }
}
