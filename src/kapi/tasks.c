// SPDX-License-Identifier: GPL-2.0
/*
 * Tasks: the engine's kernel thread (src/kapi/kthread.rs).
 */

#include <linux/kthread.h>
#include <linux/sched.h>

#include "rvcap_helpers.h"

/*
 * Starts @fn(@data) as thread "rvcap<@instance>-engine". In C:
 * kthread_run() is a macro taking a format.
 */
struct task_struct *rvcap_kthread_run(int (*fn)(void *data), void *data,
				      unsigned int instance)
{
	return kthread_run(fn, data, "rvcap%u-engine", instance);
}

/*
 * A thread function that returned waits here for kthread_stop(), which
 * must find the thread alive (src/kapi/kthread.rs). In C: the task state
 * and its ordering against the stop flag are macros.
 */
void rvcap_kthread_wait_for_stop(void)
{
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop())
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
}
