#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest plan: run every kselftest under /tests, each framed by marker lines
# that scripts/check.sh uses to count its TAP results per suite.
status=0
for t in /tests/*_test; do
	[ -x "$t" ] || { echo "no test binaries in /tests"; exit 1; }
	name=${t##*/}
	echo "rvcap-suite-begin: $name"
	"$t"
	rc=$?
	echo "rvcap-suite-end: $name exit $rc"
	[ "$rc" -eq 0 ] || status=1
done
exit "$status"
