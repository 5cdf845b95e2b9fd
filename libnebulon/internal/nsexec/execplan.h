/*
 * The exec plan (syncmsg's ExecPlan): an exec'd process's setup, which the runtime resolved to
 * the numbers the syscalls take. Parsed here, shared by the C stage (execproc_linux.c) and the
 * Go tests that run the parser on what syncmsg encodes (parse_linux.go).
 */
#ifndef NEBULON_EXECPLAN_H
#define NEBULON_EXECPLAN_H

#include <stddef.h>
#include <stdint.h>

struct plan_value {
	int set;
	uint32_t n;
	const char *what; /* the words of its error */
};

struct plan_rlimit {
	uint32_t resource;
	uint64_t soft, hard;
	const char *what;
};

struct plan_cap {
	uint32_t nr;
	const char *name;
};

struct exec_plan {
	char **argv; /* NULL-terminated; the strings point into the parsed buffer */
	int argc;
	char **envp; /* NULL-terminated, with a free slot for HOME */
	int envc;
	int home_from_user;
	const char *cwd;
	int has_user;
	uint32_t uid, gid, umask;
	uint32_t *groups;
	int ngroups;
	int no_new_privs;
	int has_caps;
	uint64_t bounding, effective, permitted, inheritable;
	struct plan_cap *ambient;
	int nambient;
	struct plan_rlimit *rlimits;
	int nrlimits;
	int has_sched;
	unsigned char sched_attr[56]; /* struct sched_attr */
	const char *sched_what;
	struct plan_value ioprio, personality;
	int has_mempolicy;
	uint32_t mempolicy_mode;
	const unsigned char *mempolicy_nodes; /* NULL: none */
	uint32_t mempolicy_len;
	const char *mempolicy_what;
	int has_affinity;
	const unsigned char *affinity; /* NULL: every CPU */
	uint32_t affinity_len;
	const char *affinity_what;
	int terminal, has_size;
	uint16_t rows, cols;
	const char *apparmor, *selinux;
	uint32_t seccomp_flags;
	const unsigned char *seccomp; /* 8-byte instructions */
	uint32_t seccomp_len;         /* instructions */
	uint32_t preserve_fds;
	int cgroup_memory;
};

/*
 * parse_exec_plan reads the records of an exec plan (its payload, after the message type) into
 * p, whose strings then point into buf. It returns 0, or -1 with a message in err. free_exec_plan
 * frees what it allocated.
 */
int parse_exec_plan(const char *buf, size_t len, struct exec_plan *p, char *err, size_t errlen);
void free_exec_plan(struct exec_plan *p);

#endif
