/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C API rvcap uses beyond what 6.12's `kernel` crate wraps. bindgen reads
 * this header at build time (see Kbuild) with the kernel's own flags; the
 * output, src/bindings_generated.rs, is not committed.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/dma-mapping.h>
#include <linux/eventpoll.h>
#include <linux/kstrtox.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/platform_device.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/timekeeping.h>
#include <media/v4l2-ctrls.h>
#include <media/v4l2-dev.h>
#include <media/v4l2-device.h>
#include <media/v4l2-event.h>
#include <media/v4l2-fh.h>
#include <media/v4l2-ioctl.h>

#include "rvcap_helpers.h"
#include "rvcap_dma_master.h"

/*
 * Constants whose definitions bindgen cannot evaluate (casts), given a value
 * it can, as the kernel's own rust/bindings/bindings_helper.h does.
 */
const gfp_t RVCAP_CONST_GFP_KERNEL = GFP_KERNEL;
const gfp_t RVCAP_CONST_GFP_ZERO = __GFP_ZERO;
const __poll_t RVCAP_CONST_EPOLLIN = EPOLLIN;
const __poll_t RVCAP_CONST_EPOLLRDNORM = EPOLLRDNORM;
const __poll_t RVCAP_CONST_EPOLLPRI = EPOLLPRI;
const __poll_t RVCAP_CONST_EPOLLERR = EPOLLERR;
const vm_flags_t RVCAP_CONST_VM_SHARED = VM_SHARED;
const u32 RVCAP_CONST_DL_FLAG_AUTOREMOVE_CONSUMER = DL_FLAG_AUTOREMOVE_CONSUMER;
const vm_flags_t RVCAP_CONST_VM_READ = VM_READ;
const vm_flags_t RVCAP_CONST_VM_DONTEXPAND = VM_DONTEXPAND;
const vm_flags_t RVCAP_CONST_VM_DONTDUMP = VM_DONTDUMP;
const unsigned long RVCAP_CONST_DMA_ATTR_SKIP_CPU_SYNC = DMA_ATTR_SKIP_CPU_SYNC;
const u32 RVCAP_CONST_V4L2_CID_TEST_PATTERN = V4L2_CID_TEST_PATTERN;
const u32 RVCAP_CONST_VIDEO_MAX_PLANES = VIDEO_MAX_PLANES;
const long RVCAP_CONST_MAX_SCHEDULE_TIMEOUT = MAX_SCHEDULE_TIMEOUT;
