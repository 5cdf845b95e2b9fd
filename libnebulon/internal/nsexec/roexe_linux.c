/*
 * The read-only binary helper of a rootless runtime (parent's rootlessReadonlyExe): nebulon,
 * exec'd by an unprivileged runtime into a user and mount namespace of its own, makes there the
 * detached read-only bind mount of its binary that the host's root makes directly
 * (CVE-2019-5736), sends its fd over the socket ENV_EXE_SOCK names and exits, before the Go
 * runtime starts. open_tree needs CAP_SYS_ADMIN over the caller's mount namespace, which the
 * caller has in one its own user namespace owns. The mount outlives the namespace: an fd holds it.
 * On failure the exit status is the errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"
#include "syncmsg.h"

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

static void fail(void)
{
	_exit(errno > 0 && errno < 256 ? errno : 1);
}

void nb_readonly_exe_helper(int argc, char **argv)
{
	const char *sock_env = getenv(ENV_EXE_SOCK);
	if (!sock_env)
		return;
	/* Only as rootlessReadonlyExe execs it: a nebulon that finds the variable otherwise fails
	 * rather than quietly being the helper and exiting 0. */
	if (argc < 1 || strcmp(argv[0], "nebulon:[exe-helper]") != 0) {
		errno = EINVAL;
		fail();
	}
	int sock = atoi(sock_env);
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, "/proc/self/exe", NB_OPEN_TREE_CLONE | O_CLOEXEC);
	if (tree < 0)
		fail();
	struct nb_mount_attr attr = {.attr_set = NB_MOUNT_ATTR_RDONLY | NB_MOUNT_ATTR_NOSUID | NB_MOUNT_ATTR_NODEV};
	if (syscall(SYS_mount_setattr, tree, "", NB_AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		fail();
	char data = 0;
	if (nb_send_fd(sock, tree, &data, 1, 0) < 0)
		fail();
	_exit(0);
}
