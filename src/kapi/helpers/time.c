// SPDX-License-Identifier: GPL-2.0

#include <linux/delay.h>

void rvcap_fsleep(unsigned long usecs)
{
	fsleep(usecs);
}
