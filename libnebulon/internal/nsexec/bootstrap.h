/*
 * The bootstrap message's parser, shared by the C stage (nsexec_linux.c) and the Go tests that
 * run it on what syncmsg encodes (parse_linux.go).
 */
#ifndef NEBULON_BOOTSTRAP_H
#define NEBULON_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#define MAX_JOIN 16

struct join {
	uint32_t flag;    /* the namespace's clone flag */
	const char *path; /* its nsfs file, NUL-terminated, inside the parsed buffer */
	int fd;
};

struct bootstrap {
	uint32_t clone_flags;     /* namespaces to create */
	const char *time_offsets; /* NULL, or text for /proc/self/timens_offsets */
	struct join joins[MAX_JOIN];
	int njoin;
	/* A process to join the namespaces of, by pidfd (has_pidfd): first those of pidfd_first,
	 * then those of pidfd_then (which holds the user namespace). */
	int has_pidfd;
	int32_t pidfd;
	uint32_t pidfd_first, pidfd_then;
	int open_proc; /* open the runtime's /proc before joining (nb_proc_fd) */
};

/*
 * parse_bootstrap reads the records of a bootstrap message (its payload, after the message type)
 * into b, whose strings then point into buf. It returns 0, or -1 with a message in err.
 */
int parse_bootstrap(const char *buf, size_t len, struct bootstrap *b, char *err, size_t errlen);

#endif
