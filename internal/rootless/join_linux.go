package rootless

/*
#cgo CFLAGS: -Wall -O2
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// nb_join joins the user and mount namespaces of the pause process _NB_USERNS_PID names, before
// the Go runtime starts a thread: setns(2) into a user namespace refuses a multithreaded caller
// (EINVAL). Without the variable it does nothing: the host's root, and every nb started inside
// the namespaces (the monitor, the runtime's init stages), inherit them.
//
// It then executes nb again, by its path, in the joined mount namespace: /proc/self/exe still
// leads to the binary's mount in the host's, which open_tree (the runtime's read-only copy of
// its binary, CVE-2019-5736) refuses to clone from another mount namespace (EINVAL).
extern char **environ;
static void __attribute__((constructor)) nb_join(int argc, char **argv, char **envp) {
	const char *pid = getenv("_NB_USERNS_PID");
	if (pid == NULL || *pid == '\0')
		return;
	char path[64], cwd[PATH_MAX], exe[PATH_MAX];
	int ufd, mfd;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		fprintf(stderr, "nb: readlink /proc/self/exe: %s\n", strerror(errno));
		exit(1);
	}
	exe[n] = '\0';
	// Joining a mount namespace moves the caller to its root (setns(2)): nb's relative paths
	// (nb load -i image.tar) are the caller's, so it goes back to its directory.
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%s/ns/user", pid);
	ufd = open(path, O_RDONLY | O_CLOEXEC);
	if (ufd < 0)
		goto fail;
	snprintf(path, sizeof(path), "/proc/%s/ns/mnt", pid);
	mfd = open(path, O_RDONLY | O_CLOEXEC);
	if (mfd < 0)
		goto fail;
	snprintf(path, sizeof(path), "setns user");
	if (setns(ufd, CLONE_NEWUSER) < 0)
		goto fail;
	snprintf(path, sizeof(path), "setns mnt");
	if (setns(mfd, CLONE_NEWNS) < 0)
		goto fail;
	close(ufd);
	close(mfd);
	if (cwd[0] != '\0' && chdir(cwd) < 0) {
		fprintf(stderr, "nb: in nb's user namespace, the working directory %s is out of reach: %s\n", cwd, strerror(errno));
		exit(1);
	}
	unsetenv("_NB_USERNS_PID");
	execve(exe, argv, environ);
	fprintf(stderr, "nb: execute %s again in nb's mount namespace: %s\n", exe, strerror(errno));
	exit(1);
fail:
	fprintf(stderr, "nb: join the user and mount namespaces of nb's pause process %s: %s: %s\n", pid, path, strerror(errno));
	exit(1);
}
*/
import "C"
