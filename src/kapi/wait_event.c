// SPDX-License-Identifier: GPL-2.0
/* Waiting on a wait queue (src/kapi/poll.rs). */

#include <linux/wait.h>

#include "rvcap_helpers.h"

/*
 * wait_event_interruptible_timeout() on *@wq until @cond(@data). In C: the
 * wait is a macro that re-evaluates its condition, here a Rust callback.
 */
long rvcap_wait_event_interruptible_timeout(struct wait_queue_head *wq,
					    bool (*cond)(void *data),
					    void *data, long timeout)
{
	return wait_event_interruptible_timeout(*wq, cond(data), timeout);
}
