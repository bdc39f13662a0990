// SPDX-License-Identifier: GPL-2.0

#include <linux/spinlock.h>

void rvcap_spin_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}
