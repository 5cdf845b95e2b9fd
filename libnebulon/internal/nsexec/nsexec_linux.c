/*
 * nsexec: the stage of `nebulon init` that runs before the Go runtime.
 *
 * Why C: joining a mount or user namespace with setns(2) fails with EINVAL
 * in a multi-threaded process (see setns(2), "CLONE_NEWNS" and
 * "CLONE_NEWUSER"), and the Go runtime starts threads before main. The
 * offsets of a new time namespace must be written before any process lives
 * in it (time_namespaces(7)). So this constructor runs in the freshly
 * exec'd, still single-threaded init, joins and creates the namespaces,
 * then forks: the child (pid 1 of a new pid namespace) returns into the Go
 * runtime and does the rest in Go; this process reports the child's pid and
 * exits.
 *
 * An exec'd process (_NEBULON_EXEC) never reaches the Go runtime: the child sets it up from the
 * runtime's exec plan and execs it (execproc_linux.c), which spares every exec a Go runtime start.
 * A container's init (_NEBULON_CINIT) stays C too: it forks a helper that returns into the Go
 * runtime to make the root, then sets up the process the same way and waits for start, so that a
 * created container holds no Go runtime.
 *
 * Protocol on the socket in _NEBULON_INITPIPE: libnebulon/internal/syncmsg, whose table says
 * what each message means. This stage takes part in steps 1 to 5 (bootstrap, usermap,
 * usermap-done, pid, pid-ack) and may send error. The numbers are in syncmsg.h, generated from
 * the Go definitions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#include <sys/stat.h>
#include <sys/vfs.h>

#include "bootstrap.h"
#include "records.h"
#include "stage.h"
#include "syncmsg.h"

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

#define BUF_SIZE 65536

int nb_sync_fd = -1;
int nb_sync_write;
int nb_proc_fd = -1;
int nb_helper_fd = -1;

const char *nb_errstr(int err)
{
	static char unknown[32];
	if (err > 0 && (size_t)err < sizeof(go_errno_words) / sizeof(go_errno_words[0]) && go_errno_words[err])
		return go_errno_words[err];
	snprintf(unknown, sizeof(unknown), "errno %d", err);
	return unknown;
}

void nb_send(uint32_t type, const void *data, size_t len)
{
	char buf[4096];
	if (len > sizeof(buf) - 4)
		len = sizeof(buf) - 4;
	memcpy(buf, &type, 4);
	if (len)
		memcpy(buf + 4, data, len);
	ssize_t n;
	if (nb_sync_write)
		n = write(nb_sync_fd, buf, len + 4);
	else
		n = send(nb_sync_fd, buf, len + 4, MSG_NOSIGNAL);
	if (n < 0)
		_exit(1);
}

ssize_t nb_send_fd(int sock, int fd, const void *data, size_t len, int flags)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, flags);
}

void nb_bail(const char *fmt, ...)
{
	char msg[4000];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (saved && n > 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", nb_errstr(saved));
	if (nb_start_fifo >= 0)
		nb_start_failure(msg);
	nb_send(MSG_ERROR, msg, strlen(msg));
	_exit(1);
}

void nb_expect(uint32_t want)
{
	uint32_t got;
	/* After a filter, read(2) as nb_send writes: a profile may deny recvfrom, hardly read. */
	ssize_t n = nb_sync_write ? read(nb_sync_fd, &got, sizeof(got)) : recv(nb_sync_fd, &got, sizeof(got), 0);
	if (n != sizeof(got) || got != want) {
		errno = 0;
		nb_bail("nsexec: expected message %u from the runtime", want);
	}
}

/*
 * open_proc opens the runtime's /proc, before any namespace is joined, for an exec'd process
 * that sets its LSM labels (bootstrap's open-proc): after joining, /proc is the container's,
 * whose files it may fake.
 */
void nb_open_proc(void)
{
	struct statfs st;
	nb_proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (nb_proc_fd < 0)
		nb_bail("open /proc");
	if (fstatfs(nb_proc_fd, &st) < 0)
		nb_bail("statfs /proc");
	if (st.f_type != PROC_SUPER_MAGIC) {
		errno = 0;
		nb_bail("/proc is not a procfs (type 0x%lx)", (unsigned long)st.f_type);
	}
}

static const char *ns_name(uint32_t flag)
{
	switch (flag) {
	case CLONE_NEWUSER: return "user";
	case CLONE_NEWNS: return "mount";
	case CLONE_NEWPID: return "pid";
	case CLONE_NEWNET: return "network";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWCGROUP: return "cgroup";
	case CLONE_NEWTIME: return "time";
	}
	return "unknown";
}

static void join_namespaces(struct join *joins, int n)
{
	/* Open every path first: after joining a mount namespace the host paths are gone. */
	for (int i = 0; i < n; i++) {
		joins[i].fd = open(joins[i].path, O_RDONLY | O_CLOEXEC);
		if (joins[i].fd < 0)
			nb_bail("open %s namespace %s", ns_name(joins[i].flag), joins[i].path);
	}
	/* The user namespace first: it grants the capabilities the other joins need. */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			if ((pass == 0) != (joins[i].flag == CLONE_NEWUSER))
				continue;
			if (setns(joins[i].fd, joins[i].flag) < 0)
				nb_bail("join %s namespace %s", ns_name(joins[i].flag), joins[i].path);
			close(joins[i].fd);
		}
	}
}

/*
 * join_pidfd joins the namespaces of the process pidfd refers to (setns(2) with a pidfd, Linux
 * 5.8): a process that has exited is ESRCH, never a later one with its pid. Those owned by a
 * user namespace other than the process's own (a network namespace an engine made, owned by
 * the host's) are joined first, while this process still has the host's privileges over them;
 * then the user namespace with those it owns.
 */
static void join_pidfd(int pidfd, uint32_t first, uint32_t then)
{
	if (first && setns(pidfd, (int)first) < 0)
		nb_bail("join namespaces 0x%x of the container's init (pidfd)", first);
	if (then && setns(pidfd, (int)then) < 0)
		nb_bail("join namespaces 0x%x of the container's init (pidfd)", then);
	close(pidfd);
}

/* joined_user says whether the bootstrap joins a user namespace, by path or by pidfd. */
static int joined_user(const struct bootstrap *b)
{
	for (int i = 0; i < b->njoin; i++)
		if (b->joins[i].flag == CLONE_NEWUSER)
			return 1;
	return b->has_pidfd && ((b->pidfd_first | b->pidfd_then) & CLONE_NEWUSER);
}

static void write_time_offsets(const char *offsets)
{
	int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		nb_bail("open /proc/self/timens_offsets");
	size_t len = strlen(offsets);
	ssize_t n = write(fd, offsets, len);
	if (n != (ssize_t)len) {
		if (n >= 0)
			errno = EIO;
		nb_bail("write time offsets %s", offsets);
	}
	close(fd);
}

int parse_bootstrap(const char *buf, size_t len, struct bootstrap *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	struct record r;
	size_t off = 0;
	for (int more; (more = next_record(buf, len, &off, &r));) {
		if (more < 0) {
			snprintf(err, errlen, "malformed bootstrap record %u at %zu", r.type, r.off);
			return -1;
		}
		uint16_t rtype = r.type;
		uint32_t rlen = r.len;
		const char *data = r.data;
		if (((rtype == REC_CLONE_FLAGS || rtype == REC_NS_PATH) && rlen < 5) ||
		    (rtype == REC_NS_PIDFD && rlen < 13)) {
			snprintf(err, errlen, "bootstrap record %u of %u bytes is too short", rtype, rlen);
			return -1;
		}
		switch (rtype) {
		case REC_CLONE_FLAGS:
			memcpy(&b->clone_flags, data, 4);
			break;
		case REC_NS_PATH:
			if (b->njoin == MAX_JOIN) {
				snprintf(err, errlen, "too many namespaces to join (at most %d)", MAX_JOIN);
				return -1;
			}
			memcpy(&b->joins[b->njoin].flag, data, 4);
			b->joins[b->njoin].path = data + 4;
			b->njoin++;
			break;
		case REC_TIME_OFFSETS:
			b->time_offsets = data;
			break;
		case REC_OPEN_PROC:
			b->open_proc = 1;
			break;
		case REC_NS_PIDFD:
			b->has_pidfd = 1;
			memcpy(&b->pidfd, data, 4);
			memcpy(&b->pidfd_first, data + 4, 4);
			memcpy(&b->pidfd_then, data + 8, 4);
			if (b->pidfd < 0) {
				snprintf(err, errlen, "bootstrap pidfd %d is not an fd", b->pidfd);
				return -1;
			}
			break;
		}
	}
	return 0;
}

/* rename overwrites argv[0] in place, so that ps shows the process's role. */
static void rename_process(int argc, char **argv, const char *name)
{
	if (argc < 1 || !argv[0])
		return;
	size_t room = strlen(argv[0]);
	strncpy(argv[0], name, room);
	prctl(PR_SET_NAME, "nebulon-init", 0, 0, 0);
}

void nsexec(int argc, char **argv)
{
	const char *pipe_env = getenv(ENV_INITPIPE);
	if (!pipe_env)
		return;
	/*
	 * Not ptraceable from here until exec (CVE-2016-9962): joining a container's namespaces
	 * puts this process within reach of the container's processes (a pid namespace shared with
	 * the host, CAP_SYS_PTRACE in the container's user namespace) while it holds the host's
	 * cgroup fds and the sync socket. The flag is inherited by the init.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		nb_bail("prctl(PR_SET_DUMPABLE)");
	nb_sync_fd = atoi(pipe_env);

	static char buf[BUF_SIZE];
	ssize_t len = recv(nb_sync_fd, buf, sizeof(buf), MSG_TRUNC);
	if (len > (ssize_t)sizeof(buf)) {
		errno = 0;
		nb_bail("nsexec: bootstrap message of %zd bytes is over %zu", len, sizeof(buf));
	}
	uint32_t type;
	if (len < 4 || (memcpy(&type, buf, 4), type != MSG_BOOTSTRAP)) {
		errno = 0;
		nb_bail("nsexec: no bootstrap message from the runtime");
	}

	struct bootstrap b;
	char err[256];
	if (parse_bootstrap(buf + 4, len - 4, &b, err, sizeof(err)) < 0) {
		errno = 0;
		nb_bail("nsexec: %s", err);
	}

	if (b.open_proc)
		nb_open_proc();
	join_namespaces(b.joins, b.njoin);
	if (b.has_pidfd)
		join_pidfd(b.pidfd, b.pidfd_first, b.pidfd_then);
	if (joined_user(&b)) {
		/*
		 * setns(2) into a user namespace grants its capabilities but keeps the ids, the host's
		 * root, which the namespace does not map: files made now (mount points in the
		 * container's /dev, as a pod's user namespace that containerd made and pinned is
		 * joined) would fail with EOVERFLOW. Become its root, as in a new one.
		 */
		if (setresgid(0, 0, 0) < 0)
			nb_bail("setresgid(0) in the joined user namespace (is gid 0 mapped?)");
		if (setresuid(0, 0, 0) < 0)
			nb_bail("setresuid(0) in the joined user namespace (is uid 0 mapped?)");
	}

	if (b.clone_flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			nb_bail("unshare user namespace");
		/*
		 * A non-dumpable process's /proc files belong to the host's root: a runtime run by
		 * another user could not write this process's uid_map and gid_map, nor could it write
		 * its own timens_offsets from the new user namespace. Dumpable for those only, in a
		 * user namespace just made, where no other process is yet.
		 */
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
			nb_bail("prctl(PR_SET_DUMPABLE)");
		/* The parent writes uid_map and gid_map: it holds the privileges in the parent namespace. */
		nb_send(MSG_USERMAP, NULL, 0);
		nb_expect(MSG_USERMAP_DONE);
		if (setresgid(0, 0, 0) < 0)
			nb_bail("setresgid(0) in the new user namespace (is gid 0 mapped?)");
		if (setresuid(0, 0, 0) < 0)
			nb_bail("setresuid(0) in the new user namespace (is uid 0 mapped?)");
	}

	uint32_t rest = b.clone_flags & ~(uint32_t)CLONE_NEWUSER;
	if (rest && unshare(rest) < 0)
		nb_bail("unshare namespaces 0x%x", rest);
	if (b.time_offsets && (b.clone_flags & CLONE_NEWTIME))
		write_time_offsets(b.time_offsets);

	/* Non-dumpable again, if the new user namespace needed it dumpable. */
	if ((b.clone_flags & CLONE_NEWUSER) && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		nb_bail("prctl(PR_SET_DUMPABLE)");

	/*
	 * The init and this process share the sync socket, and this process still reads PidAck from
	 * it: the init must not read until this process is gone. It waits for EOF on a pipe whose
	 * write end only this process holds.
	 */
	int barrier[2];
	if (pipe2(barrier, O_CLOEXEC) < 0)
		nb_bail("pipe");
	pid_t child = fork();
	if (child < 0)
		nb_bail("fork init");
	if (child == 0) {
		char c;
		close(barrier[1]);
		while (read(barrier[0], &c, 1) < 0 && errno == EINTR)
			;
		close(barrier[0]);
		/*
		 * The init: new pid and time namespaces apply from here on. A session of its own
		 * leaves the caller's process group (kill(0, ...) inside must not reach the engine's
		 * shim) and its controlling terminal (no TIOCSTI into the caller's shell).
		 */
		if (setsid() < 0)
			nb_bail("setsid");
		rename_process(argc, argv, "nebulon:[1:INIT]");
		/* An exec'd process is set up and exec'd from here: no Go runtime starts. */
		if (getenv(ENV_EXEC))
			nb_exec_process();
		/* A container's init in C, which returns here in its Go helper only. */
		if (getenv(ENV_C_INIT))
			nb_init_process();
		return;
	}
	close(barrier[0]);
	uint32_t pid = (uint32_t)child;
	nb_send(MSG_PID, &pid, sizeof(pid));
	/* Alive until the parent has seen the init is our child: its pid cannot be reused meanwhile. */
	nb_expect(MSG_PID_ACK);
	_exit(0);
}
