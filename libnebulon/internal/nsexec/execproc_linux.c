/*
 * execproc: the whole setup of a process exec'd into a running container, in the C stage.
 *
 * Why here: an exec used to start a second Go runtime in the container (the init's), only to
 * make a few dozen syscalls and execve. On a machine where starting a process is expensive that
 * was a third of an exec's time and most of its CPU. The runtime resolves the process's config
 * to numbers (syncmsg's ExecPlan: capability masks, rlimit resources, the compiled seccomp
 * program), so what is left here is the syscalls, in the order the container's Go init makes
 * them (initproc's setupProcess), with the same words in every error.
 *
 * This runs in the child stage0 forked: in the container's namespaces, single-threaded, on the
 * sync socket. It never returns: it execs, or reports an error and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "execplan.h"
#include "records.h"
#include "stage.h"
#include "syncmsg.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef AT_EACCESS
#define AT_EACCESS 0x200
#endif
#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
/* The 32-bit id calls: the plain ones take 16-bit ids where both exist. */
#ifdef SYS_setresuid32
#define NB_SYS_setresuid SYS_setresuid32
#define NB_SYS_setresgid SYS_setresgid32
#define NB_SYS_setgroups SYS_setgroups32
#else
#define NB_SYS_setresuid SYS_setresuid
#define NB_SYS_setresgid SYS_setresgid
#define NB_SYS_setgroups SYS_setgroups
#endif

/* ---- the plan's parser ---- */

static int grow(void **arr, int n, size_t size)
{
	if (n & (n - 1)) /* room doubles at powers of two */
		return 0;
	void *p = realloc(*arr, (size_t)(n ? 2 * n : 4) * size);
	if (!p)
		return -1;
	*arr = p;
	return 0;
}

static uint32_t u32at(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t u64at(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

void free_exec_plan(struct exec_plan *p)
{
	free(p->argv);
	free(p->envp);
	free(p->groups);
	free(p->ambient);
	free(p->rlimits);
	memset(p, 0, sizeof(*p));
}

int parse_exec_plan(const char *buf, size_t len, struct exec_plan *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	int have_cwd = 0;
	struct record r;
	size_t off = 0;
	for (int more; (more = next_record(buf, len, &off, &r));) {
		if (more < 0) {
			snprintf(err, errlen, "malformed exec plan record %u at %zu", r.type, r.off);
			goto fail;
		}
		uint16_t rtype = r.type;
		uint32_t rlen = r.len;
		const char *data = r.data;
		size_t n = rlen - 1; /* the data, without the NUL that ends it */
		size_t need = 0;
		switch (rtype) {
		case PLAN_USER: need = 12; break;
		case PLAN_CAPS: need = 32; break;
		case PLAN_AMBIENT: case PLAN_IOPRIO: case PLAN_PERSONALITY: case PLAN_AFFINITY:
		case PLAN_SECCOMP: case PLAN_PRESERVE_FDS: need = 4; break;
		case PLAN_RLIMIT: need = 24; break;
		case PLAN_SCHED: need = 56; break;
		case PLAN_MEMPOLICY: case PLAN_TERMINAL: need = 8; break;
		}
		if (n < need) {
			snprintf(err, errlen, "exec plan record %u of %u bytes is too short", rtype, rlen);
			goto fail;
		}
		switch (rtype) {
		case PLAN_ARG:
			if (grow((void **)&p->argv, p->argc + 1, sizeof(char *)) < 0)
				goto nomem;
			p->argv[p->argc++] = (char *)data;
			break;
		case PLAN_ENV:
			if (grow((void **)&p->envp, p->envc + 1, sizeof(char *)) < 0)
				goto nomem;
			p->envp[p->envc++] = (char *)data;
			break;
		case PLAN_HOME_FROM_USER:
			p->home_from_user = 1;
			break;
		case PLAN_CWD:
			p->cwd = data;
			have_cwd = 1;
			break;
		case PLAN_USER:
			if ((n - 12) % 4) {
				snprintf(err, errlen, "exec plan: user record of %zu bytes", n);
				goto fail;
			}
			p->has_user = 1;
			p->uid = u32at(data);
			p->gid = u32at(data + 4);
			p->umask = u32at(data + 8);
			p->ngroups = (int)((n - 12) / 4);
			if (p->ngroups) {
				p->groups = malloc((size_t)p->ngroups * 4);
				if (!p->groups)
					goto nomem;
				memcpy(p->groups, data + 12, (size_t)p->ngroups * 4);
			}
			break;
		case PLAN_NO_NEW_PRIVS:
			p->no_new_privs = 1;
			break;
		case PLAN_CAPS:
			p->has_caps = 1;
			p->bounding = u64at(data);
			p->effective = u64at(data + 8);
			p->permitted = u64at(data + 16);
			p->inheritable = u64at(data + 24);
			break;
		case PLAN_AMBIENT:
			if (grow((void **)&p->ambient, p->nambient, sizeof(*p->ambient)) < 0)
				goto nomem;
			p->ambient[p->nambient++] = (struct plan_cap){u32at(data), data + 4};
			break;
		case PLAN_RLIMIT:
			if (grow((void **)&p->rlimits, p->nrlimits, sizeof(*p->rlimits)) < 0)
				goto nomem;
			p->rlimits[p->nrlimits++] = (struct plan_rlimit){u32at(data), u64at(data + 8), u64at(data + 16), data + 24};
			break;
		case PLAN_SCHED:
			p->has_sched = 1;
			memcpy(p->sched_attr, data, 56);
			p->sched_what = data + 56;
			break;
		case PLAN_IOPRIO:
			p->ioprio = (struct plan_value){1, u32at(data), data + 4};
			break;
		case PLAN_PERSONALITY:
			p->personality = (struct plan_value){1, u32at(data), data + 4};
			break;
		case PLAN_MEMPOLICY: {
			uint32_t masklen = u32at(data + 4);
			if (masklen > n - 8) {
				snprintf(err, errlen, "exec plan: memory policy mask of %u bytes in a record of %zu", masklen, n);
				goto fail;
			}
			p->has_mempolicy = 1;
			p->mempolicy_mode = u32at(data);
			p->mempolicy_len = masklen;
			p->mempolicy_nodes = masklen ? (const unsigned char *)data + 8 : NULL;
			p->mempolicy_what = data + 8 + masklen;
			break;
		}
		case PLAN_AFFINITY: {
			uint32_t masklen = u32at(data);
			if (masklen > n - 4) {
				snprintf(err, errlen, "exec plan: affinity mask of %u bytes in a record of %zu", masklen, n);
				goto fail;
			}
			p->has_affinity = 1;
			p->affinity_len = masklen;
			p->affinity = masklen ? (const unsigned char *)data + 4 : NULL;
			p->affinity_what = data + 4 + masklen;
			break;
		}
		case PLAN_TERMINAL:
			p->terminal = 1;
			p->has_size = u32at(data) != 0;
			memcpy(&p->rows, data + 4, 2);
			memcpy(&p->cols, data + 6, 2);
			break;
		case PLAN_APPARMOR:
			p->apparmor = data;
			break;
		case PLAN_SELINUX:
			p->selinux = data;
			break;
		case PLAN_SECCOMP:
			if ((n - 4) % 8 || n == 4) {
				snprintf(err, errlen, "exec plan: seccomp program of %zu bytes", n - 4);
				goto fail;
			}
			p->seccomp_flags = u32at(data);
			p->seccomp = (const unsigned char *)data + 4;
			p->seccomp_len = (uint32_t)((n - 4) / 8);
			break;
		case PLAN_PRESERVE_FDS:
			p->preserve_fds = u32at(data);
			break;
		case PLAN_CGROUP_MEMORY:
			p->cgroup_memory = 1;
			break;
		default:
			snprintf(err, errlen, "exec plan: unknown record %u", rtype);
			goto fail;
		}
	}
	if (p->argc == 0 || !have_cwd || !p->has_user || !p->has_caps) {
		snprintf(err, errlen, "exec plan without %s", p->argc == 0 ? "args" : !have_cwd ? "cwd" : !p->has_user ? "user" : "capabilities");
		goto fail;
	}
	/* NULL-terminate both lists, with a slot to spare in envp for HOME. */
	char **argv = realloc(p->argv, (size_t)(p->argc + 1) * sizeof(char *));
	char **envp = realloc(p->envp, (size_t)(p->envc + 2) * sizeof(char *));
	if (argv)
		p->argv = argv;
	if (envp)
		p->envp = envp;
	if (!argv || !envp)
		goto nomem;
	p->argv[p->argc] = NULL;
	p->envp[p->envc] = NULL;
	return 0;
nomem:
	snprintf(err, errlen, "exec plan: out of memory");
fail:
	free_exec_plan(p);
	return -1;
}

/* ---- reporting ---- */

static int debug;

/* json_text appends s to out as the inside of a JSON string. */
static size_t json_text(char *out, size_t room, const char *s)
{
	size_t n = 0;
	for (; *s && n + 7 < room; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, room - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

/* plan_log sends a line for the runtime's log (syncmsg.Log), at level "DEBUG" or "WARN". */
static void __attribute__((format(printf, 2, 3))) plan_log(const char *level, const char *fmt, ...)
{
	char msg[1024], text[2048], out[3072];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_text(text, sizeof(text), msg);
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(out, sizeof(out), "{\"level\":\"%s\",\"msg\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}",
			 level, text, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
	if (n > 0 && (size_t)n < sizeof(out))
		nb_send(MSG_LOG, out, (size_t)n);
}

/* go_quote writes s as Go's %q would for text (strconv.Quote): in quotes, with " and \ and
 * control bytes escaped. */
static const char *go_quote(const char *s, char *out, size_t room)
{
	size_t n = 0;
	out[n++] = '"';
	for (; *s && n + 6 < room; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': case '\\': out[n++] = '\\'; out[n++] = (char)c; break;
		case '\n': out[n++] = '\\'; out[n++] = 'n'; break;
		case '\t': out[n++] = '\\'; out[n++] = 't'; break;
		case '\r': out[n++] = '\\'; out[n++] = 'r'; break;
		default:
			if (c < 0x20 || c == 0x7f)
				n += (size_t)snprintf(out + n, room - n, "\\x%02x", c);
			else
				out[n++] = (char)c;
		}
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}

/* ---- the steps ---- */

static int env_fd(const char *name)
{
	const char *v = getenv(name);
	return v ? atoi(v) : -1;
}

static void enter_tasks(int fd, const char *what)
{
	if (write(fd, "0", 1) != 1)
		nb_bail("join cgroup (%s): write cgroup tasks", what);
}

/* join_cgroups moves this process into the container's v1 cgroups (but memory: join_memory),
 * through the tasks files the runtime opened, and returns the memory one, or -1. */
static int join_cgroups(const struct exec_plan *p, int first, int count)
{
	int memory = -1;
	int n = count;
	if (p->cgroup_memory && count >= 2) {
		memory = first + count - 2;
		close(first + count - 1); /* the runtime's own memory cgroup: for a cgroup namespace only */
		n = count - 2;
	}
	for (int i = 0; i < n; i++) {
		char what[64];
		snprintf(what, sizeof(what), "v1 hierarchy %d of %d", i + 1, n);
		enter_tasks(first + i, what);
		close(first + i);
	}
	return memory;
}

static void set_affinity(const struct exec_plan *p)
{
	if (!p->has_affinity)
		return;
	if (p->affinity) {
		if (sched_setaffinity(0, p->affinity_len, (const cpu_set_t *)p->affinity) < 0)
			nb_bail("%s: sched_setaffinity", p->affinity_what);
		return;
	}
	/* Every CPU; the kernel clamps the mask to those it has and the cgroup's cpuset. A failure
	 * leaves the inherited affinity, as a kernel without cpusets would. */
	unsigned char all[128];
	memset(all, 0xff, sizeof(all));
	sched_setaffinity(0, sizeof(all), (const cpu_set_t *)all);
}

/* take_terminal makes the pty's slave fds 0-2 and the controlling terminal, and closes it. */
static void take_terminal(int slave)
{
	for (int fd = 0; fd <= 2; fd++)
		if (dup3(slave, fd, 0) < 0)
			nb_bail("process.terminal: dup3");
	/* This process leads a session of its own (stage0's setsid): the pty becomes its terminal. */
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		nb_bail("process.terminal: ioctl(TIOCSCTTY)");
	close(slave);
}

/* setup_console gives the process a new pty of the container's devpts as its terminal and
 * fds 0-2, and sends the master to the console socket (initproc's setupConsole). */
static void setup_console(const struct exec_plan *p)
{
	int sock = env_fd(ENV_CONSOLE_FD);
	if (sock < 0) {
		errno = 0;
		nb_bail("process.terminal: no console socket");
	}
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		nb_bail("process.terminal: open /dev/ptmx");
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		nb_bail("process.terminal: unlock pty: ioctl(TIOCSPTLCK)");
	unsigned int ptn;
	if (ioctl(master, TIOCGPTN, &ptn) < 0)
		nb_bail("process.terminal: pty number: ioctl(TIOCGPTN)");
	int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		nb_bail("process.terminal: open pty slave: ioctl(TIOCGPTPEER)");
	if (p->has_size) {
		struct winsize ws = {.ws_row = p->rows, .ws_col = p->cols};
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			nb_bail("process.consoleSize: ioctl(TIOCSWINSZ)");
	}
	if (fchown(slave, p->uid, (gid_t)-1) < 0)
		nb_bail("process.terminal: chown /dev/pts/%u to uid %u", ptn, p->uid);
	char name[] = "/dev/ptmx";
	if (nb_send_fd(sock, master, name, sizeof(name) - 1, MSG_NOSIGNAL) < 0)
		nb_bail("send the terminal to the console socket: sendmsg");
	take_terminal(slave);
	close(sock);
	close(master);
}

/* kernel_attrs applies rlimits, the scheduler, the I/O priority, the personality and the memory
 * policy, while still root with every capability and before any filter (applyKernelAttrs). */
static void kernel_attrs(const struct exec_plan *p)
{
	for (int i = 0; i < p->nrlimits; i++) {
		const struct plan_rlimit *r = &p->rlimits[i];
		struct rlimit lim = {.rlim_cur = r->soft, .rlim_max = r->hard};
		if (prlimit(0, r->resource, &lim, NULL) < 0)
			nb_bail("%s: prlimit", r->what);
	}
	if (p->has_sched && syscall(SYS_sched_setattr, 0, p->sched_attr, 0) < 0) {
		uint32_t policy;
		memcpy(&policy, p->sched_attr + 4, 4);
		const char *hint = "";
		if (errno == EPERM && (policy == 1 || policy == 2))
			/* With RT group scheduling, a cgroup's real-time tasks share its
			 * cpu.rt_runtime_us, which is 0 unless set (sched-rt-group.rst). */
			hint = " (a real-time policy needs a real-time budget: linux.resources.cpu.realtimeRuntime)";
		nb_bail("%s%s: sched_setattr", p->sched_what, hint);
	}
	if (p->ioprio.set && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, p->ioprio.n) < 0)
		nb_bail("%s: ioprio_set", p->ioprio.what);
	if (p->personality.set && syscall(SYS_personality, (unsigned long)p->personality.n) < 0)
		nb_bail("%s: personality", p->personality.what);
	if (p->has_mempolicy) {
		unsigned long maxnode = p->mempolicy_len ? (unsigned long)p->mempolicy_len * 8 : 1024;
		while (syscall(SYS_set_mempolicy, p->mempolicy_mode, p->mempolicy_nodes, maxnode) < 0)
			if (errno != EINTR)
				nb_bail("%s: set_mempolicy", p->mempolicy_what);
	}
}

/* passwd_home is the home of uid in the container's /etc/passwd, or "/" (runc's rule, with
 * moby/sys/user's parsing: the first line whose third field is uid; a field that is not a
 * number reads as 0). */
static char *passwd_home(uint32_t uid)
{
	static char home[4096];
	FILE *f = fopen("/etc/passwd", "re");
	strcpy(home, "/");
	if (!f)
		return home;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *s = line, *e = line + strlen(line);
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
			*--e = '\0';
		if (!*s)
			continue;
		char *field[7] = {0};
		for (int i = 0; i < 7 && s; i++) {
			field[i] = s;
			s = strchr(s, ':');
			if (s)
				*s++ = '\0';
		}
		long id = 0;
		if (field[2] && *field[2]) {
			char *end;
			errno = 0;
			id = strtol(field[2], &end, 10);
			if (*end || errno)
				id = 0;
		}
		if (id != (long)uid)
			continue;
		if (field[5] && *field[5])
			snprintf(home, sizeof(home), "%s", field[5]);
		break;
	}
	free(line);
	fclose(f);
	return home;
}

static void set_home(struct exec_plan *p)
{
	if (!p->home_from_user)
		return;
	static char kv[4102];
	snprintf(kv, sizeof(kv), "HOME=%s", passwd_home(p->uid));
	for (int i = 0; i < p->envc; i++) {
		if (strncmp(p->envp[i], "HOME=", 5) == 0) {
			p->envp[i] = kv; /* an empty HOME, in its place */
			return;
		}
	}
	p->envp[p->envc++] = kv;
	p->envp[p->envc] = NULL;
}

/* check_cwd refuses a working directory outside the root, such as /proc/self/fd/N
 * (CVE-2024-21626): getcwd(2) then answers "(unreachable)...", or fails (checkCwd). */
static void check_cwd(const char *cwd)
{
	char buf[4096];
	long n = syscall(SYS_getcwd, buf, sizeof(buf));
	if (n >= 0 && buf[0] != '/')
		errno = ENOENT;
	if (n < 0 || buf[0] != '/')
		nb_bail("process.cwd %s: not a directory inside the container (CVE-2024-21626)", cwd);
}

/* open_attr opens attr (under /proc/thread-self) for writing, through the runtime's /proc. */
static int open_attr(const char *attr)
{
	char path[64];
	snprintf(path, sizeof(path), "thread-self/%s", attr);
	return openat(nb_proc_fd, path, O_WRONLY | O_CLOEXEC);
}

/* exec_labels sets what the kernel applies at execve: the AppArmor profile and the SELinux
 * process label (initproc's applyExecLabels). */
static void exec_labels(const struct exec_plan *p)
{
	char q[1024], value[4096];
	if ((p->apparmor || p->selinux) && nb_proc_fd < 0) {
		errno = EBADF;
		nb_bail("exec: LSM labels without the runtime's /proc");
	}
	if (p->apparmor) {
		go_quote(p->apparmor, q, sizeof(q));
		/* Kernels with LSM stacking have an attr directory per module; older ones attr/exec. */
		const char *attr = "attr/apparmor/exec";
		int fd = open_attr(attr);
		if (fd < 0 && errno == ENOENT)
			fd = open_attr(attr = "attr/exec");
		if (fd < 0)
			nb_bail("process.apparmorProfile %s: open /proc/thread-self/%s", q, attr);
		int n = snprintf(value, sizeof(value), "exec %s", p->apparmor);
		if (write(fd, value, (size_t)n) != n) {
			if (errno == ENOENT)
				nb_bail("process.apparmorProfile %s: no such profile loaded: write /proc/thread-self/%s", q, attr);
			nb_bail("process.apparmorProfile %s: write /proc/thread-self/%s", q, attr);
		}
		close(fd);
	}
	if (p->selinux) {
		go_quote(p->selinux, q, sizeof(q));
		int fd = open_attr("attr/exec");
		if (fd < 0)
			nb_bail("process.selinuxLabel %s: open /proc/thread-self/attr/exec", q);
		ssize_t len = (ssize_t)strlen(p->selinux);
		if (write(fd, p->selinux, (size_t)len) != len)
			nb_bail("process.selinuxLabel %s: write /proc/thread-self/attr/exec", q);
		close(fd);
	}
}

static const char *flag_name(unsigned long bit)
{
	switch (bit) {
	case 1: return "SECCOMP_FILTER_FLAG_TSYNC";
	case 2: return "SECCOMP_FILTER_FLAG_LOG";
	case 4: return "SECCOMP_FILTER_FLAG_SPEC_ALLOW";
	case 8: return "SECCOMP_FILTER_FLAG_NEW_LISTENER";
	case 32: return "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV";
	}
	return NULL;
}

/* load_seccomp loads the filter and hands its listener fd, if any, to the runtime by number
 * (syncmsg.SeccompFd), keeping it open until the runtime has copied it (initproc's loadSeccomp). */
static void load_seccomp(const struct exec_plan *p)
{
	if (!p->seccomp)
		return;
	struct sock_filter *insns = malloc((size_t)p->seccomp_len * sizeof(*insns));
	if (!insns)
		nb_bail("linux.seccomp: load seccomp filter");
	memcpy(insns, p->seccomp, (size_t)p->seccomp_len * sizeof(*insns));
	struct sock_fprog prog = {.len = (unsigned short)p->seccomp_len, .filter = insns};
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned long)p->seccomp_flags, &prog);
	if (fd < 0) {
		int saved = errno;
		char missing[512] = "";
		if (saved == EINVAL) {
			/* Most often a flag this kernel lacks: a known flag with a NULL filter is EFAULT. */
			for (unsigned long bit = 1; bit && bit <= p->seccomp_flags; bit <<= 1) {
				if (!(p->seccomp_flags & bit))
					continue;
				unsigned long probe = bit == 32 ? bit | SECCOMP_FILTER_FLAG_NEW_LISTENER : bit;
				if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, probe, NULL) == 0 || errno != EFAULT) {
					char name[48];
					const char *known = flag_name(bit);
					if (!known) {
						snprintf(name, sizeof(name), "seccomp filter flag %#lx", bit);
						known = name;
					}
					size_t used = strlen(missing);
					snprintf(missing + used, sizeof(missing) - used, "%s%s", used ? ", " : "", known);
				}
			}
		}
		errno = saved;
		if (missing[0])
			nb_bail("linux.seccomp: load seccomp filter: the kernel does not support %s: seccomp", missing);
		if (saved == EACCES)
			nb_bail("linux.seccomp: load seccomp filter: needs no_new_privs or CAP_SYS_ADMIN: seccomp");
		nb_bail("linux.seccomp: load seccomp filter: seccomp");
	}
	free(insns);
	/* From here every syscall is filtered: messages go by write(2), which is never notified. */
	nb_sync_write = 1;
	if (!(p->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER))
		return;
	uint32_t n = (uint32_t)fd;
	nb_send(MSG_SECCOMP_FD, &n, sizeof(n));
	nb_expect(MSG_SECCOMP_FD_DONE);
	close((int)fd);
}

/* set_user_and_caps switches to the process's user and leaves exactly its capability sets
 * (initproc's setUserAndCaps): the bounding set is dropped while still root, keep-caps carries
 * the permitted set across the uid change, and the final sets are applied after it. */

/*
 * A user namespace whose gid_map an unprivileged user wrote denies setgroups
 * (user_namespaces(7), /proc/pid/setgroups): with no additional gids the process keeps the
 * groups it has, as runc leaves them.
 */
static int setgroups_denied(void)
{
	char buf[8] = {0};
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n >= 4 && strncmp(buf, "deny", 4) == 0;
}

static void set_user_and_caps(const struct exec_plan *p)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		nb_bail("capabilities: capget");
	if (data[0].effective & (1U << CAP_SETPCAP)) {
		for (unsigned cap = 0; cap < 64; cap++) {
			if (p->bounding & (1ULL << cap))
				continue;
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
				if (errno == EINVAL)
					break; /* past the kernel's last capability */
				nb_bail("process.capabilities.bounding: prctl(PR_CAPBSET_DROP)");
			}
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		nb_bail("prctl(PR_SET_KEEPCAPS)");
	gid_t *groups = NULL;
	if (p->ngroups) {
		groups = malloc((size_t)p->ngroups * sizeof(gid_t));
		if (!groups)
			nb_bail("process.user.additionalGids");
		for (int i = 0; i < p->ngroups; i++)
			groups[i] = p->groups[i];
	}
	if (syscall(NB_SYS_setgroups, (size_t)p->ngroups, groups) < 0 && !(p->ngroups == 0 && setgroups_denied())) {
		char list[1024] = "[";
		for (int i = 0; i < p->ngroups; i++) {
			size_t used = strlen(list);
			snprintf(list + used, sizeof(list) - used, "%s%u", i ? " " : "", p->groups[i]);
		}
		size_t used = strlen(list);
		snprintf(list + used, sizeof(list) - used, "]");
		if (setgroups_denied()) {
			errno = 0;
			nb_bail("process.user.additionalGids %s: setgroups is denied in the container's user namespace: "
				"/proc/self/setgroups reads deny (user_namespaces(7)); to use additional gids, map subordinate "
				"gid ranges from /etc/subgid in linux.gidMappings (written through newgidmap), or remove them", list);
		}
		nb_bail("process.user.additionalGids %s: setgroups", list);
	}
	free(groups);
	if (syscall(NB_SYS_setresgid, p->gid, p->gid, p->gid) < 0)
		nb_bail("process.user.gid %u: setresgid", p->gid);
	if (syscall(NB_SYS_setresuid, p->uid, p->uid, p->uid) < 0)
		nb_bail("process.user.uid %u: setresuid", p->uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		nb_bail("prctl(PR_SET_KEEPCAPS)");
	data[0].effective = (uint32_t)p->effective;
	data[1].effective = (uint32_t)(p->effective >> 32);
	data[0].permitted = (uint32_t)p->permitted;
	data[1].permitted = (uint32_t)(p->permitted >> 32);
	data[0].inheritable = (uint32_t)p->inheritable;
	data[1].inheritable = (uint32_t)(p->inheritable >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		nb_bail("process.capabilities: capset");
	/* The ambient set is the process's alone: none of the runtime's, then those asked for. The
	 * kernel raises only those both permitted and inheritable; like runc, others are logged. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		nb_bail("process.capabilities.ambient: prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
	for (int i = 0; i < p->nambient; i++) {
		const struct plan_cap *c = &p->ambient[i];
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c->nr, 0, 0) == 0)
			continue;
		if (errno == EPERM || errno == EINVAL) {
			plan_log("WARN", "can't raise ambient capability %s: %s", c->name, nb_errstr(errno));
			continue;
		}
		nb_bail("process.capabilities.ambient %s: prctl(PR_CAP_AMBIENT_RAISE)", c->name);
	}
}

/* executable is os/exec's findExecutable: 0, or an errno (-1 for "stat" errors, in *statErr). */
static int executable(const char *file, int *statErr)
{
	struct stat st;
	if (stat(file, &st) < 0) {
		*statErr = errno;
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	if (syscall(SYS_faccessat2, AT_FDCWD, file, X_OK, AT_EACCESS) == 0)
		return 0;
	if (errno != ENOSYS && errno != EPERM)
		return errno;
	return st.st_mode & 0111 ? 0 : EACCES;
}

/* look_path is os/exec's LookPath, with its words, which are runc's and which engines match
 * to answer 127 or 126: `exec: "x": executable file not found in $PATH`. */
static const char *look_path(const struct exec_plan *p, char *out, size_t room)
{
	const char *file = p->argv[0];
	char q[1024];
	int statErr = 0;
	if (strchr(file, '/')) {
		int err = executable(file, &statErr);
		if (err == 0)
			return file;
		errno = err < 0 ? statErr : err;
		if (err < 0)
			nb_bail("exec: %s: stat %s", go_quote(file, q, sizeof(q)), file);
		nb_bail("exec: %s", go_quote(file, q, sizeof(q)));
	}
	const char *path = "";
	for (int i = 0; i < p->envc; i++)
		if (strncmp(p->envp[i], "PATH=", 5) == 0)
			path = p->envp[i] + 5;
	/* filepath.SplitList: no PATH is no directory; an empty element is ".". */
	for (const char *dir = path; *path;) {
		const char *end = strchr(dir, ':');
		size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
		/* filepath.Join's: "dir/file", without a doubled slash; "" is ".". */
		size_t trim = dlen;
		while (trim > 1 && dir[trim - 1] == '/')
			trim--;
		if (dlen == 0)
			snprintf(out, room, "%s", file);
		else if (trim == 1 && dir[0] == '/')
			snprintf(out, room, "/%s", file);
		else
			snprintf(out, room, "%.*s/%s", (int)trim, dir, file);
		if (executable(out, &statErr) == 0) {
			if (out[0] != '/') {
				errno = 0;
				nb_bail("exec: %s: cannot run executable found relative to current directory", go_quote(file, q, sizeof(q)));
			}
			return out;
		}
		if (!end)
			break;
		dir = end + 1;
	}
	errno = 0;
	nb_bail("exec: %s: executable file not found in $PATH", go_quote(file, q, sizeof(q)));
}

/* recv_plan receives the exec plan into a buffer of its size. */
static char *recv_plan(size_t *len)
{
	ssize_t size = recv(nb_sync_fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	if (size == 0)
		_exit(1); /* the runtime gave up on this process, and said why */
	if (size < 0)
		nb_bail("exec: receive the plan: recv");
	char *buf = malloc((size_t)size);
	if (!buf)
		nb_bail("exec: receive the plan of %zd bytes", size);
	if (recv(nb_sync_fd, buf, (size_t)size, 0) != size)
		nb_bail("exec: receive the plan: recv");
	uint32_t type;
	memcpy(&type, buf, 4);
	if (size < 4 || type != MSG_EXEC_PLAN) {
		errno = 0;
		nb_bail("exec: expected the exec plan from the runtime, got message %u", type);
	}
	*len = (size_t)size;
	return buf;
}

/* reset_signals gives the process no signal blocked and none ignored but SIGHUP and SIGINT, which
 * the Go runtime of the Go init (and runc's) keeps ignored (nohup), whatever the runtime's caller
 * had: both survive fork and execve, an ignored SIGTERM cannot even be trapped by a shell, and a
 * pid 1 that ignores or blocks it is only stopped by SIGKILL. (nb's monitor ignores SIGTERM;
 * runc 1.1.5 passes a blocked SIGUSR1 on.) */
static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sig == SIGHUP || sig == SIGINT || sigaction(sig, NULL, &sa) < 0 || sa.sa_handler != SIG_IGN)
			continue;
		sa.sa_handler = SIG_DFL;
		sigaction(sig, &sa, NULL);
	}
}

/* setup_process applies the plan, in initproc's setupProcess's order, and returns the path of the
 * program (in found). late_join asks the runtime to move this process into its cgroup v2 cgroup
 * before any filter is loaded (a container's init that joins late); memory is the v1 memory
 * hierarchy's tasks file, joined last, or -1. */
static const char *setup_process(struct exec_plan *p, int late_join, int memory, char *found, size_t room)
{
	kernel_attrs(p);
	set_home(p);
	/* Before the filter: close_range is newer than many profiles, which deny it. */
	if (syscall(SYS_close_range, 3 + p->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		nb_bail("mark fds from %u close-on-exec: close_range", 3 + p->preserve_fds);
	/* Change directory before dropping privileges, and again after if root could not see it.
	 * Checked at once, before a seccomp filter may deny getcwd. */
	int cwd_ok = chdir(p->cwd) == 0;
	if (cwd_ok)
		check_cwd(p->cwd);
	exec_labels(p);
	/* Before the filter, which may deny the messages the move takes. */
	if (late_join) {
		nb_send(MSG_JOIN_CGROUP, NULL, 0);
		nb_expect(MSG_CGROUP_MOVED);
	}
	if (!p->no_new_privs)
		load_seccomp(p);
	set_user_and_caps(p);
	if (!cwd_ok) {
		if (chdir(p->cwd) < 0)
			nb_bail("process.cwd %s: chdir %s", p->cwd, p->cwd);
		check_cwd(p->cwd);
	}
	umask(p->umask);
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		nb_bail("process.noNewPrivileges: prctl");
	const char *path = look_path(p, found, room);
	if (p->no_new_privs)
		load_seccomp(p);
	reset_signals();
	/* Last: from here the process's memory is charged to the container (cgroups.Entry). */
	if (memory >= 0)
		enter_tasks(memory, "memory hierarchy");
	if (debug)
		plan_log("DEBUG", "process set up: cgroups, ids, capabilities, seccomp");
	return path;
}

/* receive_plan parses the exec plan the runtime sends next into p. */
static void receive_plan(struct exec_plan *p)
{
	size_t len;
	char *buf = recv_plan(&len);
	char err[256];
	if (parse_exec_plan(buf + 4, len - 4, p, err, sizeof(err)) < 0) {
		errno = 0;
		nb_bail("exec: %s", err);
	}
}

void nb_exec_process(void)
{
	/* The runtime tells by this name whether the process died before it exec'd (parent's
	 * diedBeforeExec). */
	prctl(PR_SET_NAME, EXEC_COMM, 0, 0, 0);
	debug = getenv(ENV_DEBUG) != NULL;
	if (debug)
		plan_log("DEBUG", "exec stage up");
	/* Fds: the sync socket, the console socket (a terminal only), then the v1 cgroup tasks
	 * files (syncmsg's config.go). */
	int console = env_fd(ENV_CONSOLE_FD);
	int ncg = env_fd(ENV_CGROUP_FDS);
	int first_cg = (console >= 0 ? console : nb_sync_fd) + 1;
	if (getenv(ENV_JOIN_LATE)) {
		nb_send(MSG_JOIN_CGROUP, NULL, 0);
		nb_expect(MSG_CGROUP_MOVED);
	}
	struct exec_plan plan;
	receive_plan(&plan);
	struct exec_plan *p = &plan;
	/* The container's cgroup namespace was joined by stage0: nothing to unshare. */
	int memory = join_cgroups(p, first_cg, ncg > 0 ? ncg : 0);
	set_affinity(p);
	if (p->terminal)
		setup_console(p);
	char found[4096];
	const char *path = setup_process(p, 0, memory, found, sizeof(found));
	/* After the filter: a filter that kills write ends the process here, unreported. The sync
	 * socket is close-on-exec: its closing tells the runtime the process runs. */
	nb_send(MSG_EXECING, NULL, 0);
	while (execve(path, p->argv, p->envp) < 0 && errno == EINTR)
		;
	nb_bail("exec %s", path);
}

int nb_start_fifo = -1;

void nb_start_failure(const char *msg)
{
	/* syncmsg.StartFailure, under MaxStartFailure (4000) bytes: one write the fifo takes whole. */
	char text[3900], out[4000];
	json_text(text, sizeof(text), msg);
	int n = snprintf(out, sizeof(out), "{\"hook\":false,\"error\":\"%s\"}", text);
	if (n > 0 && (size_t)n < sizeof(out))
		(void)!write(nb_start_fifo, out, (size_t)n);
	_exit(1);
}

/* join_keyring gives the container a session keyring of its own (initproc's joinKeyring), under
 * its SELinux label when it has one. */
static void join_keyring(void)
{
	const char *name = getenv(ENV_KEYRING), *label = getenv(ENV_KEY_LABEL);
	if (!name)
		return;
	if (label) {
		int fd = open_attr("attr/keycreate");
		ssize_t len = (ssize_t)strlen(label);
		if (fd < 0 || write(fd, label, (size_t)len) != len)
			nb_bail("process.selinuxLabel %s: label the session keyring: write /proc/thread-self/attr/keycreate", label);
		close(fd);
	}
	if (syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name) < 0 && errno != ENOSYS)
		nb_bail("join session keyring: keyctl");
}

/* join_init_cgroups moves the init into the container's v1 cgroups through the tasks files the
 * runtime opened (initproc's joinCgroups), but the memory hierarchy, whose file it returns (or
 * -1) to be joined last. With a cgroup namespace it joins that one too before it unshares the
 * namespace, rooted there, then steps back into the runtime's memory cgroup. Without one, it
 * leaves the pids hierarchy (pids_last) for after the fork of its Go helper: *pids is its file,
 * or -1. */
static int join_init_cgroups(int first, int count, int memory_pair, int pids_last, int cgroup_ns, int *pids)
{
	int memory = -1, home = -1, n = count;
	*pids = -1;
	if (memory_pair && count >= 2) {
		memory = first + count - 2;
		home = first + count - 1;
		n = count - 2;
	}
	if (pids_last && !cgroup_ns && n >= 1)
		*pids = first + --n;
	int total = n + (cgroup_ns && memory >= 0);
	for (int i = 0; i < total; i++) {
		char what[64];
		snprintf(what, sizeof(what), "v1 hierarchy %d of %d", i + 1, total);
		enter_tasks(i < n ? first + i : memory, what);
		if (i < n)
			close(first + i);
	}
	if (cgroup_ns) {
		if (unshare(CLONE_NEWCGROUP) < 0)
			nb_bail("create cgroup namespace: unshare");
		if (home >= 0)
			enter_tasks(home, "the runtime's memory cgroup");
	}
	if (home >= 0)
		close(home);
	return memory;
}

/* recv_root receives what the Go helper made: the root, open, and the terminal's slave, if
 * any (initproc's handRoot). The helper closing its end without them failed, and reported why. */
static void recv_root(int sock, int *root, int *slave)
{
	char name[8];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name)};
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		_exit(1);
	*root = *slave = -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fds[2] = {-1, -1};
		memcpy(fds, CMSG_DATA(c), (nfd > 2 ? 2 : nfd) * sizeof(int));
		*root = fds[0];
		*slave = fds[1];
	}
	if (*root < 0) {
		errno = 0;
		nb_bail("init: no root from the Go helper");
	}
}

/* wait_start waits for start's byte on exec.fifo (syncmsg's start.go), reaping the Go helper as it
 * exits meanwhile: the created container shows no defunct process, and the container's process
 * gets no child it did not make. */
static void wait_start(int fifo, pid_t helper)
{
	int pidfd = (int)syscall(SYS_pidfd_open, helper, 0);
	for (;;) {
		struct pollfd fds[2] = {{.fd = fifo, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
		if (poll(fds, pidfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			nb_bail("wait for start: poll %s", "exec.fifo");
		}
		if (pidfd >= 0 && fds[1].revents) {
			while (waitpid(helper, NULL, 0) < 0 && errno == EINTR)
				;
			close(pidfd);
			pidfd = -1;
			helper = -1;
		}
		if (fds[0].revents)
			break;
	}
	char c;
	ssize_t n;
	while ((n = read(fifo, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1) {
		if (n == 0)
			errno = EIO;
		nb_bail("wait for start: read %s", "exec.fifo");
	}
	/* Without pidfds (Linux 5.3), or a start that came first: the helper has exited by now, or
	 * is about to. */
	while (helper > 0 && waitpid(helper, NULL, 0) < 0 && errno == EINTR)
		;
	if (pidfd >= 0)
		close(pidfd);
}

void nb_init_process(void)
{
	debug = getenv(ENV_DEBUG) != NULL;
	/* Fds: the sync socket, exec.fifo, the console socket (a terminal only, the helper's), then
	 * the v1 cgroup tasks files (syncmsg's config.go). */
	int fifo = env_fd(ENV_FIFO_FD);
	int console = env_fd(ENV_CONSOLE_FD);
	int ncg = env_fd(ENV_CGROUP_FDS);
	int first_cg = (console >= 0 ? console : fifo) + 1;
	/* For the LSM labels: after pivot_root /proc is the container's, which its config may fake. */
	nb_open_proc();
	/* Step 6-: the process's plan, which the runtime sends first (the Go helper reads the rest),
	 * once the init is where it belongs: the systemd driver's unit is made around it before,
	 * and a cgroup namespace must be rooted there. */
	struct exec_plan plan;
	receive_plan(&plan);
	struct exec_plan *p = &plan;
	join_keyring();
	int pids;
	int memory = join_init_cgroups(first_cg, ncg > 0 ? ncg : 0, getenv(ENV_CGROUP_MEMORY) != NULL,
				       getenv(ENV_CGROUP_PIDS) != NULL, getenv(ENV_CGROUP_NS) != NULL, &pids);
	/* The init's affinity is the cgroup's, not the runtime's (initproc's resetAffinity). */
	unsigned char all[128];
	memset(all, 0xff, sizeof(all));
	sched_setaffinity(0, sizeof(all), (const cpu_set_t *)all);

	/* The Go helper makes the root: mounts, devices, hooks, pivot_root, the terminal. It shares
	 * this process's namespaces, cgroups and keyring, and exits once it has handed the root
	 * over; the container's process is this one. */
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		nb_bail("init: socketpair");
	pid_t self = getpid();
	pid_t helper = fork();
	if (helper < 0)
		nb_bail("init: fork its Go helper");
	if (helper == 0) {
		close(sp[0]);
		if (memory >= 0)
			close(memory);
		if (pids >= 0)
			close(pids);
		close(nb_proc_fd);
		nb_proc_fd = -1;
		/* A helper must not outlive the init, as it does when the runtime kills the init
		 * without a pid namespace of its own. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != self)
			_exit(1);
		nb_helper_fd = sp[1];
		return; /* into the Go runtime: initproc */
	}
	close(sp[1]);
	int root, slave;
	recv_root(sp[0], &root, &slave);
	close(sp[0]);
	if (console >= 0)
		close(console); /* the helper sent the master: a receiver may wait for its end */
	if (pids >= 0) {
		enter_tasks(pids, "pids hierarchy");
		close(pids);
	}
	if (fchdir(root) < 0 || chroot(".") < 0)
		nb_bail("init: enter the container's root");
	close(root);
	if (slave >= 0)
		take_terminal(slave);
	if (debug)
		plan_log("DEBUG", "root made by the Go helper");
	char found[4096];
	const char *path = setup_process(p, getenv(ENV_JOIN_LATE) != NULL, memory, found, sizeof(found));
	if (memory >= 0)
		close(memory);
	close(nb_proc_fd);
	/* Step 9. From here on the runtime is gone: failures go to start, on exec.fifo. */
	nb_send(MSG_READY, NULL, 0);
	close(nb_sync_fd);
	nb_start_fifo = fifo;
	wait_start(fifo, helper);
	while (execve(path, p->argv, p->envp) < 0 && errno == EINTR)
		;
	nb_bail("exec %s", path);
}
