# SPDX-License-Identifier: GPL-2.0
# What the guest plans share; scripts/vm-run.sh puts it next to the plan
# as /plan-lib.sh, and each plan sources it.

# rmmod rvcap, retried for up to 5 s: each fence rvcap published holds
# the module until an RCU grace period after its last user let go of it.
unload_rvcap() {
	for _ in $(seq 50); do
		rmmod rvcap 2>/dev/null && return 0
		sleep 0.1
	done
	rmmod rvcap
}
