/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Counting the kernel memory allocations made on behalf of chosen tasks
 * (the test itself and a driver's kernel thread) with trace events: every
 * slab, page, vmalloc and per-CPU allocation event whose task is one of them.
 * Used to show that requeueing a buffer (QBUF/DQBUF) allocates nothing.
 */
#ifndef RVCAP_TRACE_H
#define RVCAP_TRACE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <unistd.h>

#define RVCAP_TRACEFS "/sys/kernel/tracing"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Every allocator entry point with a trace event in 6.12. */
static const char *const rvcap_alloc_events[] = {
	"kmem:kmalloc",
	"kmem:kmem_cache_alloc",
	"kmem:mm_page_alloc",
	"vmalloc:alloc_vmap_area",
	"percpu:percpu_alloc_percpu",
};

/* Mounts tracefs at RVCAP_TRACEFS unless it is there; 0 or -errno. */
static inline int rvcap_trace_mount(void)
{
	if (access(RVCAP_TRACEFS "/trace", F_OK) &&
	    mount("nodev", RVCAP_TRACEFS, "tracefs", 0, NULL) && errno != EBUSY)
		return -errno;
	return 0;
}

/* Writes @text to tracefs file @name (truncating it); 0 or -errno. */
static inline int rvcap_trace_write(const char *name, const char *text)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), RVCAP_TRACEFS "/%s", name);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	return 0;
}

/*
 * The pid of the task named @comm (a kernel thread, say), or -1. Names are
 * compared as the kernel keeps them: cut to 15 characters.
 */
static inline pid_t rvcap_find_task(const char *comm)
{
	DIR *proc = opendir("/proc");
	struct dirent *d;
	pid_t found = -1;

	if (!proc)
		return -1;
	while (found < 0 && (d = readdir(proc))) {
		char path[300], name[64] = "";
		FILE *f;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f)) {
			name[strcspn(name, "\n")] = '\0';
			if (!strncmp(name, comm, 15))
				found = atoi(d->d_name);
		}
		fclose(f);
	}
	closedir(proc);
	return found;
}

/*
 * tracing_on, held open while recording: opening a file allocates (a
 * struct file, the path name), which would count as the task's own.
 */
static int rvcap_tracing_on_fd = -1;

/* Whether tracefs file @name reads "1". */
static inline bool rvcap_trace_is_on(const char *name)
{
	char path[256], c = 0;
	int fd;

	snprintf(path, sizeof(path), RVCAP_TRACEFS "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == '1';
}

/*
 * Starts recording the allocation events of tasks @pids[0..@npids) into an
 * empty trace buffer. 0, or -errno (no tracefs, an event missing).
 *
 * Enabling an event, and the first pid filter, patch kernel text; under
 * QEMU's TCG a vCPU has been seen to run a stale int3 of such a patch
 * (an "Oops: int3" in __schedule). So that happens once per boot: events
 * stay enabled and pids are added to the filter, never removed (stale pids
 * of exited tasks match nothing).
 */
static inline int rvcap_alloc_trace_start(const pid_t *pids, int npids)
{
	char list[256] = "";
	size_t i;
	int fd, ret;

	ret = rvcap_trace_mount();
	if (ret)
		return ret;
	for (i = 0; i < (size_t)npids; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%d ", pids[i]);
	ret = rvcap_trace_write("tracing_on", "0");
	if (ret)
		return ret;
	fd = open(RVCAP_TRACEFS "/set_event_pid", O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = write(fd, list, strlen(list)) < 0 ? -errno : 0;
	close(fd);
	for (i = 0; !ret && i < ARRAY_SIZE(rvcap_alloc_events); i++) {
		char path[128];
		const char *ev = rvcap_alloc_events[i];

		/* events/<system>/<event>/enable: fails if the event is missing. */
		snprintf(path, sizeof(path), "events/%.*s/%s/enable",
			 (int)(strchr(ev, ':') - ev), ev, strchr(ev, ':') + 1);
		if (!rvcap_trace_is_on(path))
			ret = rvcap_trace_write(path, "1");
	}
	if (!ret)
		ret = rvcap_trace_write("trace", "");
	if (ret)
		return ret;
	rvcap_tracing_on_fd = open(RVCAP_TRACEFS "/tracing_on", O_WRONLY | O_CLOEXEC);
	if (rvcap_tracing_on_fd < 0 || write(rvcap_tracing_on_fd, "1", 1) != 1)
		return -errno;
	return 0;
}

/*
 * Stops recording and returns how many allocation events were recorded
 * (those still in the buffer plus any it overwrote), or -errno.
 */
static inline long rvcap_alloc_trace_stop(void)
{
	char line[128];
	long total = 0, n;
	int cpu, ret;

	if (rvcap_tracing_on_fd < 0)
		return -EBADF;
	ret = write(rvcap_tracing_on_fd, "0", 1) == 1 ? 0 : -errno;
	close(rvcap_tracing_on_fd);
	rvcap_tracing_on_fd = -1;
	if (ret)
		return ret;
	for (cpu = 0;; cpu++) {
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), RVCAP_TRACEFS "/per_cpu/cpu%d/stats", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "entries: %ld", &n) == 1 ||
			    sscanf(line, "overrun: %ld", &n) == 1)
				total += n;
		fclose(f);
	}
	if (cpu == 0)
		return -ENOENT;
	return total;
}

/* Copies the first @max events of the trace buffer to @out. */
static inline void rvcap_alloc_trace_dump(FILE *out, int max)
{
	char line[512];
	FILE *f = fopen(RVCAP_TRACEFS "/trace", "r");

	if (!f)
		return;
	while (max > 0 && fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		fputs(line, out);
		max--;
	}
	fclose(f);
}

#endif /* RVCAP_TRACE_H */
