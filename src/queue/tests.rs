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
    type DmaBuf = ();
    type Attachment = ();
    type Mapping = ();

    fn alloc_mapped(&mut self, _size: usize, _direction: Direction) -> QResult<()> {
        Ok(())
    }
    fn get_dmabuf(&mut self, _fd: i32) -> QResult<()> {
        Ok(())
    }
    fn dmabuf_size(&self, _buf: &()) -> usize {
        DMABUF_SIZE
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
}

#[test]
fn start_frame_changes_nothing_for_a_queued_buffer_without_a_mapping() {
    let mut q = Queue::<NoDma>::new();
    let mut slot = Slot::new(16);
    slot.state = State::Queued;
    q.slots[0] = Some(slot);
    q.count = 1;
    q.memory = Some(Memory::DmaBuf);
    q.streaming = true;
    assert!(q.queued.push(0));
    assert!(q.start_frame().is_none());
    assert_eq!(q.slots[0].as_ref().map(|s| s.state), Some(State::Queued));
    assert_eq!(q.queued_count(), 1);
}

#[test]
fn a_dmabuf_over_4_gib_is_used_for_the_32_bits_length_can_say() {
    let mut q = Queue::<NoDma>::new();
    let who = OwnerId(1);
    let req = QueueRequest {
        index: 0,
        memory: Memory::DmaBuf,
        fd: 3,
        length: 0,
    };
    assert_eq!(q.reqbufs(&mut NoDma, who, Memory::DmaBuf, 1, 4096), Ok(1));
    let info = q
        .qbuf(&mut NoDma, who, &req)
        .expect("QBUF of a large dma-buf");
    assert_eq!(info.length, MAX_LENGTH);
    assert_eq!(info.dmabuf_size, DMABUF_SIZE);
    assert!(u32::try_from(info.length).is_ok());
}
