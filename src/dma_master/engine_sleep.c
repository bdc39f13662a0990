// SPDX-License-Identifier: GPL-2.0
/* The engine's sleep until its next frame is due (src/dma_master/sleep.rs). */

#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/sched.h>

#include "rvcap_dma_master.h"

/*
 * Sleeps until CLOCK_MONOTONIC reaches @deadline_ns, or kthread_stop() wakes
 * the engine thread early. In C: as rvcap_kthread_wait_for_stop()
 * (src/kapi/engine_thread.c), the task state and its ordering against the
 * stop flag are macros; the sleep takes an hrtimer's ktime_t.
 */
void rvcap_engine_sleep_until(u64 deadline_ns)
{
	ktime_t deadline = ns_to_ktime(deadline_ns);

	set_current_state(TASK_INTERRUPTIBLE);
	if (!kthread_should_stop())
		schedule_hrtimeout_range(&deadline, 50 * NSEC_PER_USEC,
					 HRTIMER_MODE_ABS);
	__set_current_state(TASK_RUNNING);
}
