/*
 * The read-only binary of a rootless runtime (parent's rootlessReadonlyExe): the detached
 * read-only bind mount of the runtime's binary that the host's root makes directly
 * (CVE-2019-5736), made by a child cloned into a user and mount namespace of its own, where it
 * holds CAP_SYS_ADMIN over its mount namespace, which open_tree needs. The child shares the
 * runtime's memory and fd table (CLONE_VM | CLONE_FILES) and the runtime's thread waits for it
 * (CLONE_VFORK): no fork of the address space, no exec, and the mount's fd lands in the runtime's
 * table. The mount outlives the namespaces: the fd holds it. The child runs this C code alone,
 * on a stack of its own, with every signal blocked: it must never enter the Go runtime.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#define NB_OPEN_TREE_CLONE 1
#define NB_AT_EMPTY_PATH 0x1000
#define NB_MOUNT_ATTR_RDONLY 0x00000001
#define NB_MOUNT_ATTR_NOSUID 0x00000002
#define NB_MOUNT_ATTR_NODEV 0x00000004

struct nb_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

struct roexe {
	const char *path;
	int fd, err;
};

/* roexe_child runs in the clone: it answers through r, in the memory it shares. */
static int roexe_child(void *arg)
{
	struct roexe *r = arg;
	/* By path: the runtime's /proc/self/exe leads to its mount in the host's mount namespace,
	 * which open_tree refuses to clone from another (EINVAL). */
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, r->path, NB_OPEN_TREE_CLONE | O_CLOEXEC);
	if (tree < 0) {
		r->err = errno;
		return 1;
	}
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

/*
 * nb_readonly_exe returns an fd of a detached read-only bind mount of the file at path, or -1
 * with *err set to the errno and *step naming what failed.
 */
int nb_readonly_exe(const char *path, int *err, const char **step)
{
	struct roexe r = {.path = path, .fd = -1};
	char *stack = mmap(NULL, ROEXE_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		*err = errno, *step = "mmap";
		return -1;
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* No exit signal: the Go runtime's SIGCHLD handling never sees it; __WALL reaps it. */
	pid_t pid = clone(roexe_child, stack + ROEXE_STACK,
			  CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_NEWUSER | CLONE_NEWNS, &r);
	int cerr = errno;
	if (pid > 0) {
		while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	munmap(stack, ROEXE_STACK);
	if (pid < 0) {
		*err = cerr, *step = "clone";
		return -1;
	}
	if (r.fd < 0) {
		*err = r.err, *step = "open_tree and mount_setattr";
		return -1;
	}
	return r.fd;
}
