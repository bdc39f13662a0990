// SPDX-License-Identifier: GPL-2.0

//! The videobuf2-style buffer queue: slots, states, ownership, the map-once
//! policy and where the cache syncs go.
//!
//! Pure Rust over `core` only, with no `unsafe` and no kernel or FFI types:
//! the DMA side is the [`Dma`] trait, implemented by the kernel shell (dma-buf
//! and DMA API wrappers) and by a model of a non-coherent device in the host
//! tests (`tests/host`), which compile this same file.
//!
//! # Ownership
//!
//! A buffer is owned by the CPU (userspace may touch it) only in
//! [`State::Dequeued`]. Every other state is device-owned, and a buffer only
//! becomes device-owned through a [`Dma::sync_for_device`] of
//! [`FRAME_DIRECTION`] (PREPARE_BUF or QBUF). It only goes back to the CPU
//! through [`Dma::sync_for_cpu`] (DQBUF, over the bytes the frame occupies;
//! STREAMOFF, over all the device may have written). After STREAMOFF every
//! buffer is the CPU's, including those the device held. The device is
//! given at most `length` bytes: the rest of a dma-buf is always the CPU's.
//!
//! # Nothing lost after DQBUF
//!
//! Once DQBUF (or STREAMOFF) hands a buffer to userspace its contents are
//! userspace's: nothing the queue does later (unmap at STREAMOFF, a slot
//! given another dma-buf, release at REQBUFS(0) or close) may change them.
//! But exporters sync for the CPU when they please: at unmap (dma-heaps),
//! at detach (videobuf2-vmalloc and -dma-sg keep their mapping until then),
//! or never (udmabuf, DRM prime). Such a sync copies the device's view over
//! the CPU's (under swiotlb: the bounce slot, still holding the device's
//! last frame) or invalidates the CPU's caches (non-coherent hardware). So
//! whatever the queue drops of an import, its mapping or its attachment,
//! goes through one function, [`Slot::drop_mapping`], which first hands
//! the CPU's bytes to the device side: a sync for the device of
//! [`HAND_OVER_DIRECTION`] over the whole buffer if the CPU owns it, else
//! over what lies past `length`, through a live mapping. A CPU-owned
//! import whose mapping already went (STREAMOFF) is handed over through a
//! mapping made for that alone ([`Slot::release_memory`]) before its
//! detach. The exporter's own CPU sync, at unmap or at detach, then copies
//! back the CPU's own bytes. When the device needs no syncs at all
//! ([`Dma::needs_sync`]) neither does this. (A write made while the buffer
//! is being released, by another thread or device, can still be undone by
//! that sync: between the hand-over and the exporter's sync the bounce
//! slot or the memory holds the CPU's bytes of the moment before.)
//!
//! # Imported buffers (DMABUF)
//!
//! A slot keeps its attachment and mapping across QBUF/DQBUF: QBUF of the
//! dma-buf the slot already holds reuses both ("map once"); QBUF of a
//! dma-buf another CPU-owned slot holds moves both to this slot; QBUF of
//! another dma-buf attaches and maps it, then releases the old one. A
//! refused QBUF changes nothing. STREAMOFF drops every mapping but keeps
//! attachments; REQBUFS(0) and close of the owning handle drop everything.
//!
//! # Comparison policies
//!
//! [`Policy`] switches two of those rules for benchmarks: map-per-QBUF (as
//! videobuf2 did before Linux 5.1: map at QBUF, unmap at DQBUF; the syncs
//! stay, so frames stay correct with any exporter) and full-buffer syncs for
//! the CPU at DQBUF. Either may change at any time without breaking the
//! ownership rules; the shell changes them only at STREAMON.
//!
//! # Locking
//!
//! None here: the shell serialises every call with one mutex. The engine
//! holds a clone of a buffer's [`Dma::Mapping`] while it fills it, outside
//! that mutex; the shell stops the engine before any call that could drop a
//! mapping of a device-owned buffer (STREAMOFF, REQBUFS, close).

mod fifo;

use core::ops::Range;
use fifo::IndexFifo;

/// Most buffers a queue holds (`VIDEO_MAX_FRAME`).
pub(crate) const MAX_BUFFERS: usize = 32;

/// The largest buffer `struct v4l2_buffer` can describe (`length` is a
/// `__u32`).
pub(crate) const MAX_LENGTH: usize = u32::MAX as usize;

/// The errno a queue operation fails with, by name. The numbers differ
/// between architectures (`ENOBUFS` is 105 on x86 but not on alpha, mips,
/// parisc or sparc), so the core never holds one: the shell maps these to
/// the kernel's constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Errno {
    /// I/O error.
    Io,
    /// Try again (a non-blocking DQBUF with nothing done).
    Again,
    /// Out of memory.
    NoMem,
    /// Busy: another file handle owns the queue, or it is streaming.
    Busy,
    /// Invalid argument.
    Inval,
    /// No buffer space: the queue already holds [`MAX_BUFFERS`].
    NoBufs,
    /// An error the DMA side (an exporter, the DMA API) returned, passed on
    /// as the DMA side gave it: opaque to the core.
    Dma(i32),
}

impl Errno {
    /// `EIO`.
    pub(crate) const EIO: Errno = Errno::Io;
    /// `EAGAIN`.
    pub(crate) const EAGAIN: Errno = Errno::Again;
    /// `ENOMEM`.
    pub(crate) const ENOMEM: Errno = Errno::NoMem;
    /// `EBUSY`.
    pub(crate) const EBUSY: Errno = Errno::Busy;
    /// `EINVAL`.
    pub(crate) const EINVAL: Errno = Errno::Inval;
    /// `ENOBUFS`.
    pub(crate) const ENOBUFS: Errno = Errno::NoBufs;
}

/// Why a queue operation failed: the errno for userspace and a reason for
/// the kernel log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Error {
    /// What the ioctl returns.
    pub(crate) errno: Errno,
    /// Why, in words, for a rate-limited debug message.
    pub(crate) why: &'static str,
}

impl Error {
    /// An error with `errno` and reason `why`.
    pub(crate) const fn new(errno: Errno, why: &'static str) -> Self {
        Self { errno, why }
    }

    const fn inval(why: &'static str) -> Self {
        Self::new(Errno::EINVAL, why)
    }

    /// QBUF of a dma-buf smaller than the buffers of the format.
    pub(crate) const DMABUF_TOO_SMALL: Error =
        Error::inval("dma-buf is smaller than the format needs");
}

/// Result of a queue operation.
pub(crate) type QResult<T = ()> = core::result::Result<T, Error>;

/// How buffer memory is provided (`V4L2_MEMORY_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Memory {
    /// Allocated by the driver, mapped into userspace with mmap().
    Mmap,
    /// Imported dma-bufs, passed by file descriptor at QBUF.
    DmaBuf,
}

/// Which way bytes travel in a mapping or a sync (`enum
/// dma_data_direction`): what dma-direct, swiotlb, iommu-dma and the
/// architectures' cache maintenance act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From memory to the device (`DMA_TO_DEVICE`): for the device, the
    /// CPU's bytes reach it (swiotlb copies them into the bounce slot,
    /// non-coherent hardware cleans the CPU's caches); for the CPU, nothing.
    ToDevice,
    /// From the device to memory (`DMA_FROM_DEVICE`): for the device, no
    /// dirty CPU line may later land over what it writes (caches cleaned or
    /// invalidated, swiotlb copies nothing); for the CPU, the device's bytes
    /// reach it (swiotlb copies them out, caches are invalidated).
    FromDevice,
    /// Both (`DMA_BIDIRECTIONAL`).
    Bidirectional,
}

/// How every buffer is mapped: the device writes frames, and userspace may
/// write a buffer it owns, which the DMA API allows only in a bidirectional
/// mapping ("If the driver needs to write to it at any point, it should be
/// DMA_BIDIRECTIONAL", `dma-api.rst`).
pub(crate) const MAP_DIRECTION: Direction = Direction::Bidirectional;

/// QBUF's sync for the device and DQBUF's sync for the CPU: frames travel
/// from the device to memory. At QBUF the application gives the whole
/// buffer to the device; V4L2 leaves it no claim on what it wrote before,
/// so its bytes need not reach the device: what matters is that no dirty
/// line is written back over the frame later, which this direction
/// guarantees on every architecture, and under swiotlb it copies nothing.
pub(crate) const FRAME_DIRECTION: Direction = Direction::FromDevice;

/// The sync before a CPU-owned import's mapping or attachment goes: the
/// CPU's bytes travel to where the exporter's sync for the CPU copies from.
pub(crate) const HAND_OVER_DIRECTION: Direction = Direction::ToDevice;

/// Identifies a file handle, for queue ownership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OwnerId(pub(crate) usize);

/// The DMA side of the queue. Dropping a value releases what it holds:
/// a [`Dma::DmaBuf`] puts its dma-buf reference, an [`Dma::Attachment`]
/// detaches (and puts; the exporter may sync for the CPU then), the last
/// clone of a [`Dma::Mapping`] unmaps (which may sync for the CPU: the
/// exporter decides) and, for MMAP memory, frees (without a CPU sync).
/// Byte ranges are offsets into the mapping.
pub(crate) trait Dma {
    /// A reference to an imported dma-buf, not yet attached.
    type DmaBuf;
    /// A dma-buf attached to the capture device.
    type Attachment;
    /// Memory the device can write: an MMAP buffer (allocated and mapped
    /// together) or a mapped attachment. Cloning shares it.
    type Mapping: Clone;

    /// Allocates `size` bytes of MMAP memory and maps it for the device.
    fn alloc_mapped(&mut self, size: usize, direction: Direction) -> QResult<Self::Mapping>;
    /// Takes a reference to the dma-buf behind `fd`.
    fn get_dmabuf(&mut self, fd: i32) -> QResult<Self::DmaBuf>;
    /// Size of a dma-buf in bytes.
    fn dmabuf_size(&self, buf: &Self::DmaBuf) -> usize;
    /// Whether `buf` is the dma-buf `attachment` is attached to.
    fn is_attached(&self, buf: &Self::DmaBuf, attachment: &Self::Attachment) -> bool;
    /// Attaches `buf` to the device, keeping its reference.
    fn attach(&mut self, buf: Self::DmaBuf) -> QResult<Self::Attachment>;
    /// Maps an attachment for the device. Every map of one attachment uses
    /// the same direction: videobuf2's exporters unmap (with a CPU sync) and
    /// map again for another one, and the dma-buf core refuses another one
    /// for a mapping it caches.
    fn map(
        &mut self,
        attachment: &Self::Attachment,
        direction: Direction,
    ) -> QResult<Self::Mapping>;
    /// Maps `attachment` only to sync all of it for the device in
    /// `direction`, then unmaps it: the hand-over of a CPU-owned import
    /// whose mapping STREAMOFF dropped, before its detach. It cannot fail
    /// the release it is part of: a failure is the implementation's to
    /// report (the exporter's CPU sync at detach, if it has one, may then
    /// change the buffer).
    fn sync_attachment_for_device(&mut self, attachment: &Self::Attachment, direction: Direction);
    /// Hands `bytes` of the mapping to the device.
    fn sync_for_device(
        &mut self,
        mapping: &Self::Mapping,
        bytes: Range<usize>,
        direction: Direction,
    );
    /// Hands `bytes` of the mapping back to the CPU.
    fn sync_for_cpu(&mut self, mapping: &Self::Mapping, bytes: Range<usize>, direction: Direction);
    /// Whether a sync for this device can change memory at all: `false` for
    /// a coherent device whose DMA nothing bounces (`dma_dev_need_sync`).
    fn needs_sync(&self) -> bool;
    /// Size of a mapping in bytes.
    fn mapping_size(&self, mapping: &Self::Mapping) -> usize;
    /// Whether userspace has the (MMAP) memory mapped.
    fn is_mapped_to_user(&self, mapping: &Self::Mapping) -> bool;
}

/// How imports are mapped and how much DQBUF syncs. The default is the
/// design: map once, sync the bytes the frame occupies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Map an imported dma-buf at every QBUF and unmap it at DQBUF.
    pub(crate) map_per_qbuf: bool,
    /// DQBUF syncs the whole buffer for the CPU, not just the frame.
    pub(crate) full_sync: bool,
}

/// Where a buffer is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Owned by the CPU: after allocation, DQBUF or STREAMOFF.
    Dequeued,
    /// Synced for the device by PREPARE_BUF, not queued yet.
    Prepared,
    /// Waiting for the engine.
    Queued,
    /// Being filled by the engine.
    Active,
    /// Filled, waiting for DQBUF.
    Done,
}

impl State {
    /// Whether the CPU owns a buffer in this state (else the device does).
    pub(crate) fn is_cpu_owned(self) -> bool {
        self == State::Dequeued
    }
}

/// A QBUF or PREPARE_BUF request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueRequest {
    /// Buffer index.
    pub(crate) index: usize,
    /// Memory type the application says the queue has.
    pub(crate) memory: Memory,
    /// DMABUF: the dma-buf's file descriptor.
    pub(crate) fd: i32,
    /// DMABUF: bytes of the dma-buf to use; 0 means all of it.
    pub(crate) length: usize,
}

/// What the engine reports for a finished frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameDone {
    /// Bytes written from the start of the buffer.
    pub(crate) bytesused: usize,
    /// The frame's sequence number.
    pub(crate) sequence: u32,
    /// Monotonic time the frame ended, in nanoseconds.
    pub(crate) timestamp_ns: u64,
    /// Whether the frame is corrupt (`V4L2_BUF_FLAG_ERROR`).
    pub(crate) error: bool,
}

/// What QUERYBUF, QBUF and DQBUF report about a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BufferInfo {
    /// Buffer index.
    pub(crate) index: usize,
    /// Memory type.
    pub(crate) memory: Memory,
    /// Life-cycle state.
    pub(crate) state: State,
    /// Buffer length in bytes.
    pub(crate) length: usize,
    /// Bytes of frame data.
    pub(crate) bytesused: usize,
    /// Whether the frame is marked corrupt.
    pub(crate) error: bool,
    /// Sequence number of the frame it holds.
    pub(crate) sequence: u32,
    /// Monotonic timestamp of the frame it holds, in nanoseconds.
    pub(crate) timestamp_ns: u64,
    /// DMABUF: the file descriptor of the last QBUF/PREPARE_BUF.
    pub(crate) fd: i32,
    /// MMAP: whether userspace has it mapped.
    pub(crate) mapped_to_user: bool,
    /// DMABUF: whether a dma-buf is attached.
    pub(crate) attached: bool,
    /// DMABUF: size of the attached dma-buf (0 if none).
    pub(crate) dmabuf_size: usize,
    /// Whether it is mapped for the device.
    pub(crate) mapped_for_device: bool,
    /// How many times it was queued.
    pub(crate) times_queued: u64,
}

struct Slot<D: Dma> {
    state: State,
    // Field order is drop order: a mapping goes before its attachment.
    mapping: Option<D::Mapping>,
    attachment: Option<D::Attachment>,
    dmabuf_size: usize,
    /// Bytes the buffer must hold at least (the format's size at allocation).
    min_length: usize,
    length: usize,
    fd: i32,
    bytesused: usize,
    error: bool,
    sequence: u32,
    timestamp_ns: u64,
    times_queued: u64,
}

impl<D: Dma> Slot<D> {
    fn new(min_length: usize) -> Self {
        Self {
            state: State::Dequeued,
            mapping: None,
            attachment: None,
            dmabuf_size: 0,
            min_length,
            length: min_length,
            fd: -1,
            bytesused: 0,
            error: false,
            sequence: 0,
            timestamp_ns: 0,
            times_queued: 0,
        }
    }

    /// The bytes of an import the CPU may have written and the device has
    /// not been given: all of it when the CPU owns the buffer, else what
    /// lies past `length` (the application's, never the device's: the rest
    /// of a dma-buf may hold other data).
    fn cpu_bytes(&self, size: usize) -> Range<usize> {
        if self.state.is_cpu_owned() {
            0..size
        } else {
            self.length.min(size)..size
        }
    }

    /// Drops the slot's mapping, if any. The one place a mapping goes: an
    /// import's bytes that are the CPU's ([`Slot::cpu_bytes`]) are handed
    /// to the device side first, so that whatever the exporter syncs for
    /// the CPU, now or at detach, copies back the CPU's own bytes. (MMAP
    /// memory is ours and unmapped without a CPU sync.)
    fn drop_mapping(&mut self, dma: &mut D) {
        if let Some(mapping) = self.mapping.take() {
            if self.attachment.is_some() {
                let bytes = self.cpu_bytes(dma.mapping_size(&mapping));
                if !bytes.is_empty() {
                    dma.sync_for_device(&mapping, bytes, HAND_OVER_DIRECTION);
                }
            }
        }
    }

    /// Drops the mapping, then the attachment (and its dma-buf reference):
    /// the slot holds no memory afterwards. A CPU-owned import whose
    /// mapping already went (STREAMOFF) is handed over through a mapping
    /// made only for that ([`Dma::sync_attachment_for_device`]): an
    /// exporter that keeps its mapping until detach syncs for the CPU there
    /// (videobuf2-vmalloc), over whatever the CPU wrote since the unmap.
    fn release_memory(&mut self, dma: &mut D) {
        if self.state.is_cpu_owned() && self.mapping.is_none() && dma.needs_sync() {
            if let Some(attachment) = &self.attachment {
                dma.sync_attachment_for_device(attachment, HAND_OVER_DIRECTION);
            }
        }
        self.drop_mapping(dma);
        self.attachment = None;
        self.dmabuf_size = 0;
    }
}

/// The buffer queue of one capture device.
pub(crate) struct Queue<D: Dma> {
    slots: [Option<Slot<D>>; MAX_BUFFERS],
    count: usize,
    memory: Option<Memory>,
    owner: Option<OwnerId>,
    streaming: bool,
    queued: IndexFifo,
    done: IndexFifo,
    policy: Policy,
}

impl<D: Dma> Default for Queue<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Dma> Queue<D> {
    /// An empty queue: no buffers, no owner, not streaming.
    pub(crate) fn new() -> Self {
        Self {
            slots: core::array::from_fn(|_| None),
            count: 0,
            memory: None,
            owner: None,
            streaming: false,
            queued: IndexFifo::new(),
            done: IndexFifo::new(),
            policy: Policy::default(),
        }
    }

    /// Sets the mapping and sync policy for the QBUFs and DQBUFs to come.
    pub(crate) fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Number of buffers.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Memory type of the buffers, if any were requested.
    pub(crate) fn memory(&self) -> Option<Memory> {
        self.memory
    }

    /// Whether STREAMON is in effect.
    pub(crate) fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Whether buffers exist, so that the format cannot change (S_FMT: EBUSY).
    pub(crate) fn is_busy(&self) -> bool {
        self.count > 0
    }

    /// The file handle that owns the queue, if any.
    pub(crate) fn owner(&self) -> Option<OwnerId> {
        self.owner
    }

    /// Whether a DQBUF would find a buffer (for poll).
    pub(crate) fn has_done(&self) -> bool {
        !self.done.is_empty()
    }

    /// Number of buffers waiting for the engine.
    pub(crate) fn queued_count(&self) -> usize {
        self.queued.len()
    }

    fn check_owner(&self, who: OwnerId) -> QResult {
        match self.owner {
            Some(owner) if owner != who => Err(Error::new(
                Errno::EBUSY,
                "the queue belongs to another file handle",
            )),
            _ => Ok(()),
        }
    }

    fn check_memory(&self, memory: Memory) -> QResult {
        if self.memory == Some(memory) {
            Ok(())
        } else {
            Err(Error::inval(
                "memory type differs from the allocated buffers",
            ))
        }
    }

    fn slot(&self, index: usize) -> QResult<&Slot<D>> {
        self.slots[..self.count]
            .get(index)
            .and_then(Option::as_ref)
            .ok_or(Error::inval("buffer index out of range"))
    }

    fn slot_mut(&mut self, index: usize) -> QResult<&mut Slot<D>> {
        self.slots[..self.count]
            .get_mut(index)
            .and_then(Option::as_mut)
            .ok_or(Error::inval("buffer index out of range"))
    }

    /// VIDIOC_REQBUFS: frees every buffer, then allocates up to `count`
    /// (at most [`MAX_BUFFERS`]) of at least `size` bytes. Returns how many
    /// buffers there are. `count == 0` gives up ownership.
    pub(crate) fn reqbufs(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        memory: Memory,
        count: usize,
        size: usize,
    ) -> QResult<usize> {
        self.check_owner(who)?;
        if self.streaming {
            return Err(Error::new(Errno::EBUSY, "REQBUFS while streaming"));
        }
        self.free_all(dma);
        if count == 0 {
            return Ok(0);
        }
        self.memory = Some(memory);
        let added = self.add_slots(dma, count, size)?;
        self.owner = Some(who);
        Ok(added)
    }

    /// VIDIOC_CREATE_BUFS: adds up to `count` buffers of at least `size`
    /// bytes. Returns the index of the first new buffer and how many were
    /// added. `count == 0` only reports where new buffers would start.
    pub(crate) fn create_bufs(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        memory: Memory,
        count: usize,
        size: usize,
    ) -> QResult<(usize, usize)> {
        self.check_owner(who)?;
        let first = self.count;
        if count == 0 {
            return Ok((first, 0));
        }
        if self.count > 0 {
            self.check_memory(memory)?;
        }
        if self.count == MAX_BUFFERS {
            return Err(Error::new(
                Errno::ENOBUFS,
                "the queue has the most buffers it can hold",
            ));
        }
        self.memory = Some(memory);
        let added = self.add_slots(dma, count, size)?;
        self.owner = Some(who);
        Ok((first, added))
    }

    /// Appends up to `count` slots; MMAP ones get memory. Returns how many
    /// were added: fewer than asked if MMAP memory ran out after the first.
    fn add_slots(&mut self, dma: &mut D, count: usize, size: usize) -> QResult<usize> {
        let first = self.count;
        let want = count.min(MAX_BUFFERS - first);
        let mut added = 0;
        while added < want {
            let mut slot = Slot::new(size);
            if self.memory == Some(Memory::Mmap) {
                match dma.alloc_mapped(size, MAP_DIRECTION) {
                    Ok(mapping) => slot.mapping = Some(mapping),
                    Err(e) if added == 0 => {
                        if first == 0 {
                            self.memory = None;
                        }
                        return Err(e);
                    }
                    Err(_) => break,
                }
            }
            self.slots[first + added] = Some(slot);
            added += 1;
        }
        self.count = first + added;
        Ok(added)
    }

    /// VIDIOC_QUERYBUF.
    pub(crate) fn query(&self, dma: &D, index: usize) -> QResult<BufferInfo> {
        let slot = self.slot(index)?;
        Ok(BufferInfo {
            index,
            memory: self.memory.unwrap_or(Memory::Mmap),
            state: slot.state,
            length: slot.length,
            bytesused: slot.bytesused,
            error: slot.error,
            sequence: slot.sequence,
            timestamp_ns: slot.timestamp_ns,
            fd: slot.fd,
            mapped_to_user: slot
                .mapping
                .as_ref()
                .is_some_and(|m| dma.is_mapped_to_user(m)),
            attached: slot.attachment.is_some(),
            dmabuf_size: if slot.attachment.is_some() {
                slot.dmabuf_size
            } else {
                0
            },
            mapped_for_device: slot.mapping.is_some(),
            times_queued: slot.times_queued,
        })
    }

    /// VIDIOC_PREPARE_BUF: imports and maps (DMABUF) and syncs for the
    /// device, without queueing.
    pub(crate) fn prepare(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        req: &QueueRequest,
    ) -> QResult<BufferInfo> {
        self.check_owner(who)?;
        self.check_memory(req.memory)?;
        if !self.slot(req.index)?.state.is_cpu_owned() {
            return Err(Error::inval("buffer already prepared or queued"));
        }
        self.prepare_slot(dma, req)?;
        self.slot_mut(req.index)?.state = State::Prepared;
        self.query(dma, req.index)
    }

    /// VIDIOC_QBUF: as PREPARE_BUF unless already prepared, then hands the
    /// buffer to the engine.
    pub(crate) fn qbuf(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        req: &QueueRequest,
    ) -> QResult<BufferInfo> {
        self.check_owner(who)?;
        self.check_memory(req.memory)?;
        match self.slot(req.index)?.state {
            State::Dequeued => self.prepare_slot(dma, req)?,
            State::Prepared => {}
            _ => return Err(Error::inval("buffer already queued")),
        }
        let slot = self.slot_mut(req.index)?;
        slot.state = State::Queued;
        slot.times_queued += 1;
        // Cannot fail: a slot is in the FIFO at most once and it holds them all.
        self.queued.push(req.index);
        self.query(dma, req.index)
    }

    /// Makes a CPU-owned slot ready for the device: for DMABUF, attach the
    /// requested dma-buf (reusing the slot's attachment if it is the same)
    /// and map it if unmapped; then sync the whole mapping for the device.
    /// A refusal changes nothing: every check and every step that can fail
    /// comes before the slot (or another slot) is touched.
    fn prepare_slot(&mut self, dma: &mut D, req: &QueueRequest) -> QResult {
        self.slot(req.index)?;
        if self.memory == Some(Memory::DmaBuf) {
            self.import(dma, req)?;
        }
        let slot = self.slot_mut(req.index)?;
        let Some(mapping) = &slot.mapping else {
            return Err(Error::new(Errno::EIO, "buffer has no memory"));
        };
        // The device writes at most `length` bytes; the rest of a dma-buf
        // stays the CPU's.
        let bytes = 0..slot.length.min(dma.mapping_size(mapping));
        dma.sync_for_device(mapping, bytes, FRAME_DIRECTION);
        slot.bytesused = 0;
        slot.error = false;
        Ok(())
    }

    /// The DMABUF half of [`Queue::prepare_slot`]: slot `req.index` ends up
    /// attached to and mapped for the dma-buf behind `req.fd`.
    fn import(&mut self, dma: &mut D, req: &QueueRequest) -> QResult {
        let buf = dma
            .get_dmabuf(req.fd)
            .map_err(|_| Error::inval("fd is not a dma-buf"))?;
        let size = dma.dmabuf_size(&buf);
        // V4L2's `length` is 32 bits: of a larger dma-buf the buffer is the
        // first 4 GiB - 1 bytes, and says so, rather than a truncated size.
        let length = if req.length == 0 {
            size.min(MAX_LENGTH)
        } else {
            req.length
        };
        if length > size {
            return Err(Error::inval("length is larger than the dma-buf"));
        }
        if length < self.slot(req.index)?.min_length {
            return Err(Error::DMABUF_TOO_SMALL);
        }
        // One dma-buf, one slot: two mappings of the same memory for the
        // device would overlap. A queued one keeps it; a CPU-owned one gives
        // its attachment and mapping to this slot (nothing is unmapped).
        let mut holder = None;
        for (index, other) in self.slots[..self.count].iter().enumerate() {
            let Some(other) = other.as_ref() else {
                continue;
            };
            if other
                .attachment
                .as_ref()
                .is_some_and(|attachment| dma.is_attached(&buf, attachment))
            {
                if index != req.index && !other.state.is_cpu_owned() {
                    return Err(Error::inval("dma-buf is queued in another buffer"));
                }
                holder = Some(index);
            }
        }
        let (attachment, mapping) = match holder {
            Some(index) => {
                // Map once: the extra reference goes, the attachment stays.
                drop(buf);
                let holder = self.slot_mut(index)?;
                let mapping = match (holder.mapping.take(), &holder.attachment) {
                    (Some(mapping), _) => mapping,
                    (None, Some(attachment)) => dma.map(attachment, MAP_DIRECTION)?,
                    (None, None) => return Err(Error::new(Errno::EIO, "attachment lost")),
                };
                // It moves: no unmap, no detach.
                let attachment = holder.attachment.take();
                holder.dmabuf_size = 0;
                (attachment, mapping)
            }
            None => {
                let attachment = dma.attach(buf)?;
                // On failure, dropping `attachment` detaches again.
                let mapping = dma.map(&attachment, MAP_DIRECTION)?;
                (Some(attachment), mapping)
            }
        };
        let slot = self.slot_mut(req.index)?;
        if holder != Some(req.index) {
            // Another dma-buf: the old one is released (its CPU-written
            // bytes kept).
            slot.release_memory(dma);
        }
        slot.mapping = Some(mapping);
        slot.attachment = attachment;
        slot.dmabuf_size = size;
        slot.fd = req.fd;
        slot.length = length;
        Ok(())
    }

    /// VIDIOC_DQBUF without waiting: the oldest done buffer, synced for the
    /// CPU over the bytes the frame occupies (all of it with
    /// [`Policy::full_sync`]; then unmapped with [`Policy::map_per_qbuf`]).
    /// `EAGAIN` if none is done;
    /// `EINVAL` when not streaming (a blocked DQBUF stops waiting then).
    pub(crate) fn dqbuf(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        memory: Memory,
    ) -> QResult<BufferInfo> {
        self.check_owner(who)?;
        self.check_memory(memory)?;
        if !self.streaming {
            return Err(Error::inval("DQBUF while not streaming"));
        }
        let index = self
            .done
            .pop()
            .ok_or(Error::new(Errno::EAGAIN, "no buffer done yet"))?;
        let policy = self.policy;
        let dmabuf = self.memory == Some(Memory::DmaBuf);
        let slot = self.slot_mut(index)?;
        let bytes = if policy.full_sync {
            0..slot.length
        } else {
            0..slot.bytesused
        };
        if let Some(mapping) = &slot.mapping {
            dma.sync_for_cpu(mapping, bytes, FRAME_DIRECTION);
        }
        if dmabuf && policy.map_per_qbuf {
            // Unmapped now, mapped again by the next QBUF. Still device-owned
            // here: the CPU has written nothing the unmap could undo.
            slot.drop_mapping(dma);
        }
        slot.state = State::Dequeued;
        self.query(dma, index)
    }

    /// VIDIOC_STREAMON. Idempotent.
    pub(crate) fn streamon(&mut self, who: OwnerId) -> QResult {
        self.check_owner(who)?;
        if self.count == 0 {
            return Err(Error::inval("STREAMON without buffers"));
        }
        self.streaming = true;
        Ok(())
    }

    /// VIDIOC_STREAMOFF: every buffer goes back to the CPU, queued and done
    /// ones without being reported; DMABUF mappings are all dropped (their
    /// attachments stay). The shell must have stopped the engine. Idempotent.
    pub(crate) fn streamoff(&mut self, dma: &mut D, who: OwnerId) -> QResult {
        self.check_owner(who)?;
        self.cancel(dma);
        Ok(())
    }

    fn cancel(&mut self, dma: &mut D) {
        self.streaming = false;
        self.queued.clear();
        self.done.clear();
        let dmabuf = self.memory == Some(Memory::DmaBuf);
        for slot in self.slots[..self.count].iter_mut().flatten() {
            // A buffer the device held comes back through a sync for the
            // CPU of all the device may have written: not every exporter's
            // unmap syncs, and none of videobuf2's does.
            if !slot.state.is_cpu_owned() {
                if let Some(mapping) = &slot.mapping {
                    let bytes = 0..slot.length.min(dma.mapping_size(mapping));
                    dma.sync_for_cpu(mapping, bytes, FRAME_DIRECTION);
                }
            }
            slot.state = State::Dequeued;
            if dmabuf {
                // The application's now: handed over, then unmapped.
                slot.drop_mapping(dma);
            }
        }
    }

    /// Stops streaming and drops every buffer (and so every mapping,
    /// attachment and dma-buf reference); nobody owns the queue afterwards.
    fn free_all(&mut self, dma: &mut D) {
        self.cancel(dma);
        for slot in self.slots.iter_mut() {
            // Every buffer is CPU-owned now (`cancel`).
            if let Some(mut slot) = slot.take() {
                slot.release_memory(dma);
            }
        }
        self.count = 0;
        self.memory = None;
        self.owner = None;
    }

    /// Close of file handle `who`: if it owns the queue, as REQBUFS(0).
    /// The shell must have stopped the engine.
    pub(crate) fn release(&mut self, dma: &mut D, who: OwnerId) {
        if self.owner == Some(who) {
            self.free_all(dma);
        }
    }

    /// Engine: takes the oldest queued buffer for filling, if streaming.
    /// Returns its index and a clone of its mapping, which the engine may
    /// use without the queue's lock until [`Queue::finish_frame`].
    pub(crate) fn start_frame(&mut self) -> Option<(usize, D::Mapping)> {
        if !self.streaming {
            return None;
        }
        let index = self.queued.peek()?;
        let slot = self.slots.get_mut(index)?.as_mut()?;
        // Checked before anything changes; a queued buffer always has a
        // mapping (`prepare_slot`), so this only guards the invariant.
        let mapping = slot.mapping.clone()?;
        slot.state = State::Active;
        self.queued.pop();
        Some((index, mapping))
    }

    /// Engine: the buffer taken by [`Queue::start_frame`] is filled. Returns
    /// `false` if it was no longer active (the stream was cancelled).
    pub(crate) fn finish_frame(&mut self, index: usize, frame: FrameDone) -> bool {
        let Some(Some(slot)) = self.slots[..self.count].get_mut(index) else {
            return false;
        };
        if slot.state != State::Active {
            return false;
        }
        slot.bytesused = frame.bytesused.min(slot.length);
        slot.sequence = frame.sequence;
        slot.timestamp_ns = frame.timestamp_ns;
        slot.error = frame.error;
        slot.state = State::Done;
        self.done.push(index);
        true
    }

    /// The mapping of buffer `index`, if it has one.
    pub(crate) fn mapping(&self, index: usize) -> Option<&D::Mapping> {
        self.slot(index).ok()?.mapping.as_ref()
    }

    /// The mapping of MMAP buffer `index`, for mmap() of its memory.
    pub(crate) fn mmap_buffer(&self, index: usize) -> QResult<&D::Mapping> {
        if self.memory != Some(Memory::Mmap) {
            return Err(Error::inval("mmap of a queue without MMAP buffers"));
        }
        self.slot(index)?
            .mapping
            .as_ref()
            .ok_or(Error::inval("buffer has no memory"))
    }
}

#[cfg(test)]
mod tests;
