#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest plan for `make run`: load rvcap, show what it registered, unload.
set -e
echo "== modprobe rvcap"
modprobe rvcap
echo "== kernel log"
dmesg | grep rvcap
echo "== module"
grep rvcap /proc/modules
echo "== platform device the module does DMA for"
ls -l /sys/bus/platform/devices/ | grep rvcap
echo "== rmmod rvcap"
rmmod rvcap
[ ! -e /sys/module/rvcap ] && echo "unloaded cleanly"
