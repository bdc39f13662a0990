// SPDX-License-Identifier: GPL-2.0

//! The device's queue (`queue::device`): the order in which the device
//! takes the buffers handed to it when fences hold some off, what
//! STREAMOFF takes back, and the bookkeeping of finished frames.

use crate::queue::device::{DeviceQueue, DeviceWork, Entry, Next};
use crate::queue::{FrameDone, MAX_BUFFERS, MAX_PLANES};
use std::cell::Cell;
use std::rc::Rc;
use std::vec::Vec;

/// A table for a device's queue, as the kernel allocates it.
fn entries<W>() -> Vec<Entry<W>> {
    (0..MAX_BUFFERS).map(|_| Entry::default()).collect()
}

/// A buffer whose fences signal when the test says so.
struct Held {
    id: usize,
    signalled: Rc<Cell<bool>>,
}

impl DeviceWork for Held {
    fn is_ready(&mut self) -> bool {
        self.signalled.get()
    }
}

/// Hands buffers `0..n` in order, each with its own fence state; returns
/// the fence states.
fn hand(
    q: &mut DeviceQueue<Held, Vec<Entry<Held>>>,
    n: usize,
    signalled: bool,
) -> Vec<Rc<Cell<bool>>> {
    (0..n)
        .map(|id| {
            let fence = Rc::new(Cell::new(signalled));
            let held = Held {
                id,
                signalled: fence.clone(),
            };
            assert!(q.hand(id, held).is_ok());
            fence
        })
        .collect()
}

fn taken(next: Next<Held>) -> Option<usize> {
    match next {
        Next::Ready(index, work) => {
            assert_eq!(index, work.id);
            Some(index)
        }
        Next::Blocked | Next::Empty => None,
    }
}

fn frame(sequence: u32) -> FrameDone {
    FrameDone {
        bytesused: [1, 0, 0],
        sequence,
        timestamp_ns: u64::from(sequence),
        error: false,
        synced_for_cpu: [false; MAX_PLANES],
    }
}

#[test]
fn buffers_whose_fences_signalled_are_taken_in_the_order_they_were_handed() {
    let mut q = DeviceQueue::new(entries());
    hand(&mut q, 4, true);
    let order: Vec<_> = (0..4).map(|_| taken(q.take_ready()).unwrap()).collect();
    assert_eq!(order, [0, 1, 2, 3]);
    assert!(matches!(q.take_ready(), Next::Empty));
}

#[test]
fn a_buffer_held_off_keeps_its_place_while_younger_ones_are_taken() {
    let mut q = DeviceQueue::new(entries());
    let fences = hand(&mut q, 4, true);
    fences[0].set(false);
    fences[2].set(false);
    assert!(q.has_ready());
    assert_eq!(taken(q.take_ready()), Some(1));
    assert_eq!(taken(q.take_ready()), Some(3));
    // Only held-off buffers left: blocked, not empty.
    assert!(!q.has_ready());
    assert!(matches!(q.take_ready(), Next::Blocked));
    assert!(q.has_handed());
    // The younger one's fence signals first: it goes first.
    fences[2].set(true);
    assert_eq!(taken(q.take_ready()), Some(2));
    fences[0].set(true);
    assert_eq!(taken(q.take_ready()), Some(0));
    assert!(matches!(q.take_ready(), Next::Empty));
}

#[test]
fn a_buffer_handed_later_is_taken_after_the_older_ready_ones() {
    let mut q = DeviceQueue::new(entries());
    let fences = hand(&mut q, 3, true);
    fences[1].set(false);
    assert_eq!(taken(q.take_ready()), Some(0));
    // Buffer 0 comes back (requeued) behind 1 and 2.
    assert!(q
        .hand(
            0,
            Held {
                id: 0,
                signalled: Rc::new(Cell::new(true))
            }
        )
        .is_ok());
    assert_eq!(taken(q.take_ready()), Some(2));
    assert_eq!(taken(q.take_ready()), Some(0));
    fences[1].set(true);
    assert_eq!(taken(q.take_ready()), Some(1));
}

#[test]
fn streamoff_takes_back_every_buffer_still_held_off_in_order() {
    let mut q = DeviceQueue::new(entries());
    let fences = hand(&mut q, 5, false);
    fences[3].set(true);
    assert_eq!(taken(q.take_ready()), Some(3));
    let back: Vec<_> = core::iter::from_fn(|| q.take_handed().map(|(i, w)| (i, w.id))).collect();
    assert_eq!(back, [(0, 0), (1, 1), (2, 2), (4, 4)]);
    assert!(!q.has_handed());
    assert!(matches!(q.take_ready(), Next::Empty));
    // The indices are free to be handed again.
    hand(&mut q, 5, true);
}

#[test]
fn a_buffer_is_handed_at_most_once_and_only_within_the_queue() {
    let mut q = DeviceQueue::new(entries());
    hand(&mut q, 1, true);
    let again = Held {
        id: 0,
        signalled: Rc::new(Cell::new(true)),
    };
    assert!(q.hand(0, again).is_err());
    let outside = Held {
        id: MAX_BUFFERS,
        signalled: Rc::new(Cell::new(true)),
    };
    assert!(q.hand(MAX_BUFFERS, outside).is_err());
    assert_eq!(taken(q.take_ready()), Some(0));
    assert!(matches!(q.take_ready(), Next::Empty));
}

#[test]
fn finished_frames_come_back_in_the_order_the_device_finished_them() {
    let mut q: DeviceQueue<Held, Vec<Entry<Held>>> = DeviceQueue::new(entries());
    assert!(!q.has_finished());
    assert!(q.finish(2, frame(7)));
    assert!(q.finish(0, frame(8)));
    // Not twice, and not outside the queue.
    assert!(!q.finish(2, frame(9)));
    assert!(!q.finish(MAX_BUFFERS, frame(9)));
    assert!(q.has_finished());
    let back: Vec<_> =
        core::iter::from_fn(|| q.take_finished().map(|(i, f)| (i, f.sequence))).collect();
    assert_eq!(back, [(2, 7), (0, 8)]);
    assert!(!q.has_finished());
}

#[test]
fn every_index_can_be_handed_and_held_off_at_once() {
    let mut q = DeviceQueue::new(entries());
    let fences = hand(&mut q, MAX_BUFFERS, false);
    for (i, fence) in fences.iter().enumerate().rev() {
        fence.set(true);
        assert_eq!(taken(q.take_ready()), Some(i));
    }
    assert!(matches!(q.take_ready(), Next::Empty));
}
