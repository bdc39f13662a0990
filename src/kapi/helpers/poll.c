// SPDX-License-Identifier: GPL-2.0

#include <linux/poll.h>

void rvcap_poll_wait(struct file *file, struct wait_queue_head *wq,
		     struct poll_table_struct *pt)
{
	poll_wait(file, wq, pt);
}

__poll_t rvcap_poll_requested_events(const struct poll_table_struct *pt)
{
	return poll_requested_events(pt);
}
