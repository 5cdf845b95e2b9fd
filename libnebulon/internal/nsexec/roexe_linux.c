/*
 * The read-only binary of a rootless runtime (parent's rootlessReadonlyExe): the detached
 * read-only bind mount of the runtime's binary that the host's root makes directly
 * (CVE-2019-5736), made by a child cloned into a user and mount namespace of its own, where it
 * holds CAP_SYS_ADMIN over its mount namespace, which open_tree needs. The child shares the
 * runtime's memory and fd table (CLONE_VM | CLONE_FILES): no fork of the address space, no
 * exec, and the mount's fd lands in the runtime's table. The runtime's thread waits for it
 * through a pidfd, within a bound (open_tree may hang on a hung filesystem), not with
 * CLONE_VFORK, which would wait for ever. The mount outlives the namespaces: the fd holds it.
 * The child runs this C code alone, on a stack of its own, with every signal blocked: it must
 * never enter the Go runtime.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#define NB_OPEN_TREE_CLONE 1
#define NB_AT_EMPTY_PATH 0x1000
#define NB_MOUNT_ATTR_RDONLY 0x00000001
#define NB_MOUNT_ATTR_NOSUID 0x00000002
#define NB_MOUNT_ATTR_NODEV 0x00000004

/* How long the child may take: open_tree and mount_setattr on a sane filesystem take microseconds. */
#define ROEXE_WAIT_MS 10000

struct nb_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

struct roexe {
	const char *path;
	const char *step; /* the syscall that failed */
	int fd, err;
};

/* The kernel's struct sigaction, for rt_sigaction(2) without libc. */
struct nb_kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

/* roexe_child runs in the clone: it answers through r, in the memory it shares. */
static int roexe_child(void *arg)
{
	struct roexe *r = arg;
	/*
	 * Without CLONE_SIGHAND the child has its own copy of the handlers: the Go runtime's. A
	 * fault here must kill the child, not run Go's handler on the parent thread's alternate
	 * signal stack, which the child inherited and shares (CLONE_VM). The kernel already
	 * resets a blocked fault signal to the default when it forces one; this does not depend
	 * on it.
	 */
	static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
	struct nb_kernel_sigaction dfl = {.handler = SIG_DFL};
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		syscall(SYS_rt_sigaction, faults[i], &dfl, NULL, sizeof(dfl.mask));
	stack_t none = {.ss_flags = SS_DISABLE};
	sigaltstack(&none, NULL);

	/* By path: the runtime's /proc/self/exe leads to its mount in the host's mount namespace,
	 * which open_tree refuses to clone from another (EINVAL). */
	r->step = "open_tree";
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, r->path, NB_OPEN_TREE_CLONE | O_CLOEXEC);
	if (tree < 0) {
		r->err = errno;
		return 1;
	}
	r->step = "mount_setattr";
	struct nb_mount_attr attr = {.attr_set = NB_MOUNT_ATTR_RDONLY | NB_MOUNT_ATTR_NOSUID | NB_MOUNT_ATTR_NODEV};
	if (syscall(SYS_mount_setattr, tree, "", NB_AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
		r->err = errno;
		close(tree);
		return 1;
	}
	r->fd = tree;
	return 0;
}

#define ROEXE_STACK (64 * 1024)

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_exit waits up to ms for the process of pidfd to exit; 0 once it has, -1 on timeout or error. */
static int wait_exit(int pidfd, int ms)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		int64_t left = end - now_ms();
		int n = poll(&p, 1, left > 0 ? (int)left : 0);
		if (n > 0)
			return 0;
		if (n == 0 || errno != EINTR)
			return -1;
	}
}

/*
 * nb_readonly_exe returns an fd of a detached read-only bind mount of the file at path, or -1
 * with *err set to the errno and *step naming what failed; *sig is the signal that killed the
 * child, if one did (then *err is 0).
 */
int nb_readonly_exe(const char *path, int *err, const char **step, int *sig)
{
	struct roexe r = {.path = path, .fd = -1, .step = "the child's start"};
	*sig = 0;
	char *stack = mmap(NULL, ROEXE_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		*err = errno, *step = "mmap";
		return -1;
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* No exit signal: the Go runtime's SIGCHLD handling never sees it; __WALL reaps it. */
	int pidfd = -1;
	pid_t pid = clone(roexe_child, stack + ROEXE_STACK,
			  CLONE_VM | CLONE_FILES | CLONE_PIDFD | CLONE_NEWUSER | CLONE_NEWNS, &r, &pidfd);
	int cerr = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		munmap(stack, ROEXE_STACK);
		*err = cerr, *step = "clone";
		return -1;
	}
	int timedout = wait_exit(pidfd, ROEXE_WAIT_MS) < 0;
	if (timedout) {
		/* Killed, it runs no more of its code; reaped, it no longer uses the stack. */
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		if (wait_exit(pidfd, 1000) < 0) {
			/* Stuck in the kernel: its stack is left mapped, the child unreaped. */
			close(pidfd);
			*err = ETIMEDOUT, *step = r.step;
			return -1;
		}
	}
	close(pidfd);
	int status = 0;
	while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
		;
	munmap(stack, ROEXE_STACK);
	if (timedout) {
		if (r.fd >= 0)
			close(r.fd);
		*err = ETIMEDOUT, *step = r.step;
		return -1;
	}
	if (WIFSIGNALED(status)) {
		if (r.fd >= 0)
			close(r.fd);
		*err = 0, *sig = WTERMSIG(status), *step = r.step;
		return -1;
	}
	if (r.fd < 0) {
		*err = r.err, *step = r.step;
		return -1;
	}
	return r.fd;
}
