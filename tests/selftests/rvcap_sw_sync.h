/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sw_sync (CONFIG_SW_SYNC): software fences from debugfs, for the fence
 * tests and the fuzzer. Its ioctls are in drivers/dma-buf/sw_sync.c, not
 * in the UAPI headers (as in tools/testing/selftests/sync).
 */
#ifndef RVCAP_SW_SYNC_H
#define RVCAP_SW_SYNC_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence;
};

#define SW_SYNC_IOC_MAGIC 'W'
#define SW_SYNC_IOC_CREATE_FENCE _IOWR(SW_SYNC_IOC_MAGIC, 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW(SW_SYNC_IOC_MAGIC, 1, __u32)
#define SW_SYNC_PATH "/sys/kernel/debug/sync/sw_sync"

#endif /* RVCAP_SW_SYNC_H */
