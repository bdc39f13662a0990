// SPDX-License-Identifier: GPL-2.0

#include <linux/wait.h>

void rvcap_init_waitqueue_head(struct wait_queue_head *wq)
{
	init_waitqueue_head(wq);
}

void rvcap_wake_up_interruptible(struct wait_queue_head *wq)
{
	wake_up_interruptible(wq);
}

void rvcap_wake_up_pollfree(struct wait_queue_head *wq)
{
	wake_up_pollfree(wq);
}
