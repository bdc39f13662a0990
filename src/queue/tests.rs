// SPDX-License-Identifier: GPL-2.0

//! Unit tests of states the queue's API cannot reach, built only for the
//! host tests (`tests/host`); everything reachable is tested there, against
//! the model of a non-coherent device.

use super::*;

/// A DMA side that has nothing and does nothing; its dma-bufs are
/// `DMABUF_SIZE` bytes.
struct NoDma;

/// Larger than V4L2's 32-bit `length` can say (where `usize` can hold it).
const DMABUF_SIZE: usize = if usize::BITS > 32 {
    (MAX_LENGTH + 1) * 5 / 4
} else {
    MAX_LENGTH
};

impl Dma for NoDma {
    type Table<T> = std::vec::Vec<T>;
    type DmaBuf = ();
    type Attachment = ();
    type Mapping = ();
    type Pages = ();

    fn new_table<T>(&mut self, len: usize, make: impl FnMut() -> T) -> QResult<Self::Table<T>> {
        Ok(core::iter::repeat_with(make).take(len).collect())
    }
    fn alloc_mapped(&mut self, _size: usize, _direction: Direction) -> QResult<()> {
        Ok(())
    }
    fn get_dmabuf(&mut self, _fd: i32) -> QResult<()> {
        Ok(())
    }
    fn dmabuf_size(&self, _buf: &()) -> usize {
        DMABUF_SIZE
    }
    fn same_dmabuf(&self, _a: &(), _b: &()) -> bool {
        false
    }
    fn is_attached(&self, _buf: &(), _attachment: &()) -> bool {
        false
    }
    fn attach(&mut self, _buf: ()) -> QResult<()> {
        Ok(())
    }
    fn map(&mut self, _attachment: &(), _direction: Direction) -> QResult<()> {
        Ok(())
    }
    fn sync_for_device(&mut self, _mapping: &(), _bytes: Range<usize>, _direction: Direction) {}
    fn sync_for_cpu(&mut self, _mapping: &(), _bytes: Range<usize>, _direction: Direction) {}
    fn sync_attachment_for_device(&mut self, _attachment: &(), _direction: Direction) {}
    fn needs_sync(&self) -> bool {
        true
    }
    fn mapping_size(&self, _mapping: &()) -> usize {
        0
    }
    fn is_mapped_to_user(&self, _mapping: &()) -> bool {
        false
    }
    fn hold_pages(&self, _mapping: &()) -> Option<()> {
        Some(())
    }
}

#[test]
fn start_frame_changes_nothing_for_a_queued_buffer_without_a_mapping() {
    let mut q = Queue::<NoDma>::new();
    let who = OwnerId(1);
    let request = BufferRequest::single(Memory::DmaBuf, 1, 16);
    assert_eq!(q.reqbufs(&mut NoDma, who, &request).map(|a| a.count), Ok(1));
    q.slot_mut(0).expect("buffer 0").state = State::Queued;
    q.streaming = true;
    assert!(q.queued.push(0));
    assert!(q.hand_to_device().is_none());
    assert_eq!(q.slot(0).map(|s| s.state), Ok(State::Queued));
    assert_eq!(q.queued_count(), 1);
}

#[test]
fn a_dmabuf_over_4_gib_is_used_for_the_32_bits_length_can_say() {
    let mut q = Queue::<NoDma>::new();
    let who = OwnerId(1);
    let req = QueueRequest::single(0, Memory::DmaBuf, 3, 0);
    let request = BufferRequest::single(Memory::DmaBuf, 1, 4096);
    assert_eq!(q.reqbufs(&mut NoDma, who, &request).map(|a| a.count), Ok(1));
    let info = q
        .qbuf(&mut NoDma, who, &req)
        .expect("QBUF of a large dma-buf");
    assert_eq!(info.planes[0].length, MAX_LENGTH);
    assert_eq!(info.planes[0].dmabuf_size, DMABUF_SIZE);
    assert!(u32::try_from(info.planes[0].length).is_ok());
}
