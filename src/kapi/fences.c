// SPDX-License-Identifier: GPL-2.0
/*
 * Freeing fences, locking and waiting on reservation objects
 * (src/kapi/dma_fence.rs).
 */

#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>

#include "rvcap_helpers.h"

/*
 * Frees @fence with @func after an RCU grace period, through its own
 * rcu_head. In C: the field's address, for a fence Rust only points to.
 */
void rvcap_dma_fence_call_rcu(struct dma_fence *fence,
			      void (*func)(struct rcu_head *head))
{
	call_rcu(&fence->rcu, func);
}

/* The fence whose rcu_head @head is. In C: container_of(). */
struct dma_fence *rvcap_dma_fence_of_rcu(struct rcu_head *head)
{
	return container_of(head, struct dma_fence, rcu);
}

/*
 * Locks @obj outside any ww_acquire_ctx. In C: dma_resv_lock() is a static
 * inline.
 */
int rvcap_dma_resv_lock(struct dma_resv *obj)
{
	return dma_resv_lock(obj, NULL);
}

/* Undoes rvcap_dma_resv_lock(). */
void rvcap_dma_resv_unlock(struct dma_resv *obj)
{
	dma_resv_unlock(obj);
}

/*
 * Waits, interruptibly and without a time-out, for the fences of @obj a
 * reader (@write false) or a writer (@write true) must wait for. In C:
 * dma_resv_usage_rw() is a static inline.
 */
long rvcap_dma_resv_wait(struct dma_resv *obj, bool write)
{
	return dma_resv_wait_timeout(obj, dma_resv_usage_rw(write), true,
				     MAX_SCHEDULE_TIMEOUT);
}
