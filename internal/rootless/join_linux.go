package rootless

/*
#cgo CFLAGS: -Wall -O2
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

// nb_join joins the user and mount namespaces whose fds _NB_USERNS_FDS ("USERFD,MOUNTFD") names,
// before the Go runtime starts a thread: setns(2) into a user namespace refuses a multithreaded
// caller (EINVAL). Enter opened both fds (of the user's pause process) and re-executed nb with
// them. Without the variable it does nothing: every nb started inside the namespaces (the
// monitor, the runtime's init stages) inherits them.
//
// It acts only for the unprivileged user who ran nb: the variable may come from a user's
// environment kept by su, sudo -E or a root script, and a root (or setuid, setgid, file
// capability) nb that joined a user's namespaces would execute, with its host credentials, the
// binary the user's mount namespace puts at nb's path. And the namespaces must be the caller's:
// a user namespace it owns, and a mount namespace of that user namespace.
//
// It then executes nb again, by its path, in the joined mount namespace: /proc/self/exe still
// leads to the binary's mount in the host's, which open_tree (the runtime's read-only copy of
// its binary, CVE-2019-5736) refuses to clone from another mount namespace (EINVAL).
extern char **environ;
static void __attribute__((constructor)) nb_join(int argc, char **argv, char **envp) {
	const char *fds = getenv("_NB_USERNS_FDS");
	if (fds == NULL)
		return;
	if (getuid() == 0 || geteuid() != getuid() || getegid() != getgid() || getauxval(AT_SECURE)) {
		unsetenv("_NB_USERNS_FDS");
		return;
	}
	char cwd[PATH_MAX], exe[PATH_MAX], extra;
	const char *what;
	int ufd, mfd, ofd;
	uid_t owner;
	struct stat ust, ost;
	if (sscanf(fds, "%d,%d%c", &ufd, &mfd, &extra) != 2 || ufd < 0 || mfd < 0) {
		fprintf(stderr, "nb: _NB_USERNS_FDS=%s: not two namespace fds USERFD,MOUNTFD\n", fds);
		exit(1);
	}
	what = "the user namespace";
	if (ioctl(ufd, NS_GET_NSTYPE) != CLONE_NEWUSER)
		goto fail;
	what = "the mount namespace";
	if (ioctl(mfd, NS_GET_NSTYPE) != CLONE_NEWNS)
		goto fail;
	what = "the user namespace's owner";
	if (ioctl(ufd, NS_GET_OWNER_UID, &owner) < 0)
		goto fail;
	if (owner != getuid()) {
		fprintf(stderr, "nb: the user namespace in _NB_USERNS_FDS is uid %u's, not this user's (uid %u)\n", owner, getuid());
		exit(1);
	}
	what = "the mount namespace's user namespace";
	ofd = ioctl(mfd, NS_GET_USERNS);
	if (ofd < 0 || fstat(ofd, &ost) < 0 || fstat(ufd, &ust) < 0)
		goto fail;
	close(ofd);
	if (ost.st_dev != ust.st_dev || ost.st_ino != ust.st_ino) {
		fprintf(stderr, "nb: the mount namespace in _NB_USERNS_FDS is not of its user namespace\n");
		exit(1);
	}
	what = "readlink /proc/self/exe";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		goto fail;
	exe[n] = '\0';
	// Joining a mount namespace moves the caller to its root (setns(2)): nb's relative paths
	// (nb load -i image.tar) are the caller's, so it goes back to its directory.
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = '\0';
	what = "setns user";
	if (setns(ufd, CLONE_NEWUSER) < 0)
		goto fail;
	what = "setns mnt";
	if (setns(mfd, CLONE_NEWNS) < 0)
		goto fail;
	close(ufd);
	close(mfd);
	if (cwd[0] != '\0' && chdir(cwd) < 0) {
		fprintf(stderr, "nb: in nb's user namespace, the working directory %s is out of reach: %s\n", cwd, strerror(errno));
		exit(1);
	}
	unsetenv("_NB_USERNS_FDS");
	execve(exe, argv, environ);
	fprintf(stderr, "nb: execute %s again in nb's mount namespace: %s\n", exe, strerror(errno));
	exit(1);
fail:
	fprintf(stderr, "nb: join the user and mount namespaces of nb's pause process (_NB_USERNS_FDS=%s): %s: %s\n", fds, what, strerror(errno));
	exit(1);
}
*/
import "C"
