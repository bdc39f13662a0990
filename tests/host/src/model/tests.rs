// SPDX-License-Identifier: GPL-2.0

//! The model itself: that it copies, cleans and invalidates as Linux does,
//! that its exporters sync when theirs do, and that it catches what it is
//! there to catch. The queue tests rely on all of it.

use super::dma_api::{CpuSync, DmaMapping, Platform};
use super::memory::{Region, LINE};
use super::{Buffer, Exporter, MappingInner, Model, World};
use crate::queue::{Direction, Dma};
use crate::rng::Rng;
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

const SIZE: usize = 256;

fn all(byte: u8) -> Vec<u8> {
    vec![byte; SIZE]
}

/// A world on `platform` with one CPU-written buffer of [`SIZE`] bytes of
/// `byte`, exported by `exporter` at fd 1.
fn world_with_buffer(platform: Platform, exporter: Exporter, byte: u8) -> (Rc<World>, Rc<Buffer>) {
    let world = World::new(platform, 1);
    let buffer = world.export(1, SIZE, exporter);
    buffer.cpu_write(0, &all(byte));
    (world, buffer)
}

/// Maps `buffer` as a DMA-API user would, outside any exporter.
fn dma_map(
    world: &Rc<World>,
    buffer: &Buffer,
    direction: Direction,
    cpu_sync: CpuSync,
) -> Rc<DmaMapping> {
    DmaMapping::map(world, &buffer.region, SIZE, direction, cpu_sync)
}

// ---- The CPU's cache

#[test]
fn a_cpu_write_reaches_ram_only_when_its_line_is_cleaned() {
    let region = Region::new(SIZE, 0, true);
    region.cpu_write(0, &all(0xaa));
    assert_eq!(region.device_read(0..SIZE), all(0));
    assert_eq!(region.cpu_peek(0..SIZE), all(0xaa));
    region.clean(0..1);
    assert_eq!(region.device_read(0..LINE), vec![0xaa; LINE]);
    assert_eq!(region.device_read(LINE..SIZE), vec![0; SIZE - LINE]);
}

#[test]
fn invalidate_discards_the_lines_it_covers_and_cleans_those_it_covers_in_part() {
    let region = Region::new(SIZE, 0, true);
    region.cpu_write(0, &all(0xaa));
    // Line 0 in part, line 1 whole, line 2 in part, line 3 not at all.
    region.invalidate(10..2 * LINE + 2);
    let mut want = all(0xaa);
    want[LINE..2 * LINE].fill(0);
    assert_eq!(region.cpu_peek(0..SIZE), want);
    assert_eq!(
        region.device_read(3 * LINE..SIZE),
        vec![0; LINE],
        "line 3 still dirty"
    );
}

#[test]
fn a_line_the_cpu_holds_hides_a_device_write_until_invalidated() {
    let region = Region::new(SIZE, 0, true);
    region.cpu_read(0..SIZE);
    region.device_write(0, &all(0x55));
    assert_eq!(region.cpu_read(0..SIZE), all(0));
    region.invalidate(0..SIZE);
    assert_eq!(region.cpu_read(0..SIZE), all(0x55));
}

#[test]
fn a_coherent_cpu_sees_ram() {
    let region = Region::new(SIZE, 0, false);
    region.cpu_write(0, &all(0xaa));
    assert_eq!(region.device_read(0..SIZE), all(0xaa));
    region.device_write(0, &all(0x55));
    assert_eq!(region.cpu_read(0..SIZE), all(0x55));
}

#[test]
fn the_caches_own_write_backs_and_loads_never_change_what_the_cpu_sees() {
    let region = Region::new(1000, 0, true);
    let mut want = vec![0; 1000];
    let mut rng = Rng::new(7);
    for step in 0..2000 {
        let start = rng.below(1000);
        let end = start + rng.below(1000 - start) + 1;
        let data = vec![step as u8; end - start];
        region.cpu_write(start, &data);
        want[start..end].copy_from_slice(&data);
        region.disturb(&mut rng);
        assert_eq!(region.cpu_peek(0..1000), want, "step {step}");
    }
}

// ---- swiotlb

#[test]
fn swiotlb_copies_memory_into_the_slot_at_every_map() {
    let (world, buffer) = world_with_buffer(Platform::Bounced, Exporter::SyncsAtUnmap, 0x11);
    let mapping = dma_map(&world, &buffer, Direction::FromDevice, CpuSync::Skip);
    assert_eq!(mapping.device_read(0..SIZE), all(0x11));
}

#[test]
fn swiotlb_syncs_copy_only_in_the_directions_that_move_bytes_that_way() {
    let (world, buffer) = world_with_buffer(Platform::Bounced, Exporter::SyncsAtUnmap, 0x11);
    let mapping = dma_map(&world, &buffer, Direction::Bidirectional, CpuSync::Sync);
    buffer.cpu_write(0, &all(0x22));
    mapping.sync_for_device(0..SIZE, Direction::FromDevice);
    assert_eq!(mapping.device_read(0..SIZE), all(0x11));
    mapping.sync_for_device(0..SIZE, Direction::ToDevice);
    assert_eq!(mapping.device_read(0..SIZE), all(0x22));
    mapping.device_write(0, &all(0x33));
    mapping.sync_for_cpu(0..SIZE, Direction::ToDevice);
    assert_eq!(buffer.cpu_read(0..SIZE), all(0x22));
    mapping.sync_for_cpu(0..10, Direction::FromDevice);
    let mut want = all(0x22);
    want[..10].fill(0x33);
    assert_eq!(buffer.cpu_read(0..SIZE), want);
}

#[test]
fn an_unmap_syncs_for_the_cpu_in_the_mappings_direction_unless_told_to_skip() {
    for (direction, cpu_sync, copied) in [
        (Direction::Bidirectional, CpuSync::Sync, true),
        (Direction::FromDevice, CpuSync::Sync, true),
        (Direction::ToDevice, CpuSync::Sync, false),
        (Direction::Bidirectional, CpuSync::Skip, false),
    ] {
        for platform in [Platform::Bounced, Platform::NonCoherentBounced] {
            let (world, buffer) = world_with_buffer(platform, Exporter::SyncsAtUnmap, 0x11);
            let mapping = dma_map(&world, &buffer, direction, CpuSync::Sync);
            if direction != Direction::ToDevice {
                mapping.device_write(0, &all(0x44));
            }
            mapping.unmap(cpu_sync);
            let want = all(if copied { 0x44 } else { 0x11 });
            assert_eq!(
                buffer.cpu_read(0..SIZE),
                want,
                "{platform:?} {direction:?} {cpu_sync:?}"
            );
        }
    }
}

// ---- A non-coherent device

#[test]
fn a_non_coherent_map_cleans_unless_told_to_skip_and_every_sync_for_the_device_cleans() {
    for cpu_sync in [CpuSync::Sync, CpuSync::Skip] {
        let (world, buffer) =
            world_with_buffer(Platform::NonCoherent, Exporter::SyncsAtUnmap, 0x11);
        let mapping = dma_map(&world, &buffer, Direction::FromDevice, cpu_sync);
        let want = all(if cpu_sync == CpuSync::Sync { 0x11 } else { 0 });
        assert_eq!(mapping.device_read(0..SIZE), want, "{cpu_sync:?}");
        mapping.sync_for_device(0..SIZE, Direction::FromDevice);
        assert_eq!(mapping.device_read(0..SIZE), all(0x11));
    }
}

#[test]
fn a_sync_for_the_cpu_invalidates_except_towards_the_device() {
    let (world, buffer) = world_with_buffer(Platform::NonCoherent, Exporter::SyncsAtUnmap, 0x11);
    let mapping = dma_map(&world, &buffer, Direction::Bidirectional, CpuSync::Sync);
    mapping.device_write(0, &all(0x44));
    mapping.sync_for_cpu(0..SIZE, Direction::ToDevice);
    assert_eq!(buffer.cpu_read(0..SIZE), all(0x11));
    mapping.sync_for_cpu(0..SIZE, Direction::FromDevice);
    assert_eq!(buffer.cpu_read(0..SIZE), all(0x44));
}

/// What a QBUF without its clean does on non-coherent hardware: the CPU's
/// dirty lines, written back whenever the cache pleases, land over the
/// frame the device wrote.
#[test]
fn without_a_clean_before_the_device_writes_a_dirty_line_written_back_later_corrupts_the_frame() {
    for clean_first in [true, false] {
        let (world, buffer) =
            world_with_buffer(Platform::NonCoherent, Exporter::SyncsAtUnmap, 0x11);
        let mapping = dma_map(&world, &buffer, Direction::FromDevice, CpuSync::Sync);
        mapping.sync_for_cpu(0..SIZE, Direction::FromDevice);
        buffer.cpu_write(0, &all(0x22));
        if clean_first {
            mapping.sync_for_device(0..SIZE, Direction::FromDevice);
        }
        mapping.device_write(0, &all(0x44));
        // The cache evicts the line after the device's write.
        buffer.region.clean(0..1);
        mapping.sync_for_cpu(0..SIZE, Direction::FromDevice);
        let frame_intact = buffer.cpu_read(0..SIZE) == all(0x44);
        assert_eq!(frame_intact, clean_first);
    }
}

// ---- DMA-API debugging

#[test]
#[should_panic(expected = "in direction ToDevice of a FromDevice mapping")]
fn a_sync_in_a_direction_the_mapping_does_not_allow_is_a_violation() {
    let (world, buffer) = world_with_buffer(Platform::Coherent, Exporter::SyncsAtUnmap, 0);
    let mapping = dma_map(&world, &buffer, Direction::FromDevice, CpuSync::Sync);
    mapping.sync_for_device(0..SIZE, Direction::ToDevice);
}

#[test]
fn a_bidirectional_mapping_takes_syncs_in_every_direction() {
    let (world, buffer) = world_with_buffer(Platform::Coherent, Exporter::SyncsAtUnmap, 0);
    let mapping = dma_map(&world, &buffer, Direction::Bidirectional, CpuSync::Sync);
    for direction in [
        Direction::ToDevice,
        Direction::FromDevice,
        Direction::Bidirectional,
    ] {
        mapping.sync_for_device(0..SIZE, direction);
        mapping.sync_for_cpu(0..SIZE, direction);
    }
}

#[test]
#[should_panic(expected = "outside the 256-byte mapping")]
fn a_sync_outside_the_mapping_is_a_violation() {
    let (world, buffer) = world_with_buffer(Platform::Coherent, Exporter::SyncsAtUnmap, 0);
    let mapping = dma_map(&world, &buffer, Direction::Bidirectional, CpuSync::Sync);
    mapping.sync_for_cpu(0..SIZE + 1, Direction::FromDevice);
}

#[test]
#[should_panic(expected = "device write through an unmapped DMA address")]
fn a_device_write_after_the_unmap_is_a_violation() {
    let (world, buffer) = world_with_buffer(Platform::Coherent, Exporter::SyncsAtUnmap, 0);
    let mapping = dma_map(&world, &buffer, Direction::Bidirectional, CpuSync::Sync);
    mapping.unmap(CpuSync::Sync);
    mapping.device_write(0, &[1]);
}

// ---- Ownership, as the importer's calls give it

fn mmap_buffer(world: &Rc<World>) -> Rc<MappingInner> {
    let mut dma = Model {
        world: world.clone(),
    };
    dma.alloc_mapped(SIZE, Direction::Bidirectional).unwrap()
}

#[test]
#[should_panic(expected = "which the CPU owns")]
fn the_device_writing_a_buffer_the_cpu_owns_is_a_violation() {
    let world = World::new(Platform::Coherent, 1);
    mmap_buffer(&world).device_write(0, &[1]);
}

#[test]
#[should_panic(expected = "the device owns")]
fn userspace_writing_a_buffer_the_device_owns_is_a_violation() {
    let world = World::new(Platform::Coherent, 1);
    let mapping = mmap_buffer(&world);
    let mut dma = Model { world };
    dma.sync_for_device(&mapping, 0..SIZE, Direction::FromDevice);
    mapping.buffer.cpu_write(0, &[1]);
}

#[test]
#[should_panic(expected = "mapped twice for the device")]
fn two_mappings_of_one_buffer_at_once_are_a_violation() {
    let (world, _) = world_with_buffer(Platform::Coherent, Exporter::SyncsAtUnmap, 0);
    let mut dma = Model { world };
    let dmabuf = dma.get_dmabuf(1).unwrap();
    let attachment = dma.attach(dmabuf).unwrap();
    let _first = dma.map(&attachment, Direction::Bidirectional).unwrap();
    let _second = dma.map(&attachment, Direction::Bidirectional).unwrap();
}

// ---- Exporters: when each syncs for the CPU

/// On `Platform::Bounced`: a dma-buf of `exporter` whose CPU bytes are
/// 0x11, attached; returns the model, the buffer and the attachment.
fn attached(exporter: Exporter) -> (Model, Rc<Buffer>, Rc<super::AttachmentInner>) {
    let (world, buffer) = world_with_buffer(Platform::Bounced, exporter, 0x11);
    let mut dma = Model { world };
    let dmabuf = dma.get_dmabuf(1).unwrap();
    let attachment = dma.attach(dmabuf).unwrap();
    (dma, buffer, attachment)
}

/// Maps, lets the device write 0x44, unmaps: whether the CPU sees the 0x44.
fn unmap_syncs_for_the_cpu(dma: &mut Model, attachment: &Rc<super::AttachmentInner>) -> bool {
    let mapping = dma.map(attachment, Direction::Bidirectional).unwrap();
    mapping.device_write(0, &all(0x44));
    let buffer = mapping.buffer.clone();
    drop(mapping);
    buffer.cpu_read(0..SIZE) == all(0x44)
}

#[test]
fn a_dma_heap_maps_afresh_and_syncs_for_the_cpu_at_every_unmap() {
    let (mut dma, buffer, attachment) = attached(Exporter::SyncsAtUnmap);
    assert!(unmap_syncs_for_the_cpu(&mut dma, &attachment));
    buffer.cpu_write(0, &all(0x11));
    assert!(unmap_syncs_for_the_cpu(&mut dma, &attachment));
    drop(attachment);
    let c = dma.world.counters();
    assert_eq!((c.dma_maps, c.dma_mappings()), (2, 0));
}

#[test]
fn a_caching_exporter_keeps_its_first_mapping_and_never_syncs_for_the_cpu() {
    let (mut dma, buffer, attachment) = attached(Exporter::NeverSyncs);
    assert!(!unmap_syncs_for_the_cpu(&mut dma, &attachment));
    // The same slot again, still holding the device's bytes.
    let mapping = dma.map(&attachment, Direction::FromDevice).unwrap();
    assert_eq!(mapping.dma.device_read(0..SIZE), all(0x44));
    drop(mapping);
    assert_eq!(
        dma.world.counters().dma_mappings(),
        1,
        "kept after the unmap"
    );
    drop(attachment);
    assert_eq!(
        buffer.cpu_read(0..SIZE),
        all(0x11),
        "the detach does not sync"
    );
    assert_eq!(dma.world.counters().dma_mappings(), 0);
}

#[test]
fn a_caching_exporter_refuses_another_direction_than_its_mapping_has() {
    let (mut dma, _, attachment) = attached(Exporter::NeverSyncs);
    drop(dma.map(&attachment, Direction::FromDevice).unwrap());
    let refused = dma.map(&attachment, Direction::ToDevice);
    assert!(refused.is_err());
}

#[test]
fn a_videobuf2_exporter_syncs_for_the_cpu_at_detach() {
    let (mut dma, buffer, attachment) = attached(Exporter::SyncsAtDetach);
    assert!(!unmap_syncs_for_the_cpu(&mut dma, &attachment));
    assert!(!unmap_syncs_for_the_cpu(&mut dma, &attachment));
    assert_eq!(dma.world.counters().dma_maps, 1, "one mapping, kept");
    drop(attachment);
    assert_eq!(buffer.cpu_read(0..SIZE), all(0x44));
    assert_eq!(dma.world.counters().dma_mappings(), 0);
}

#[test]
fn a_videobuf2_exporter_syncs_for_the_cpu_when_mapped_in_another_direction() {
    let (mut dma, buffer, attachment) = attached(Exporter::SyncsAtDetach);
    assert!(!unmap_syncs_for_the_cpu(&mut dma, &attachment));
    drop(dma.map(&attachment, Direction::FromDevice).unwrap());
    assert_eq!(buffer.cpu_read(0..SIZE), all(0x44));
    let c = dma.world.counters();
    assert_eq!((c.dma_maps, c.dma_mappings()), (2, 1));
}
