// SPDX-License-Identifier: GPL-2.0
/*
 * rvcap's C forwarders: callable functions for static inline functions and
 * macros that bindgen cannot turn into Rust ones, declared in
 * include/rvcap_helpers.h. As mainline's rust/helpers/, one file per C
 * subsystem, each body only calling the inline or macro with the same
 * arguments or reading a field (rvcap_inode_private(), rvcap_vma_flags()),
 * all built as this one object; rvcap_nth_page() alone also falls back to
 * pointer arithmetic where the kernel has no nth_page(). C with logic of
 * its own lives beside the Rust it serves (src/kapi/<what it does>.c).
 *
 * Sorted alphabetically.
 */

#include "rvcap_helpers.h"

#include "barrier.c"
#include "completion.c"
#include "debugfs.c"
#include "device.c"
#include "dma.c"
#include "dma_buf.c"
#include "dma_fence.c"
#include "dma_resv.c"
#include "fs.c"
#include "io.c"
#include "iosys_map.c"
#include "mm.c"
#include "page.c"
#include "pci.c"
#include "poll.c"
#include "rcu.c"
#include "scatterlist.c"
#include "spinlock.c"
#include "time.c"
#include "v4l2.c"
#include "vmalloc.c"
#include "wait.c"
