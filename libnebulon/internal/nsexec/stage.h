/* What the C stage's files share: the sync socket and how to report on it. */
#ifndef NEBULON_STAGE_H
#define NEBULON_STAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The sync socket (syncmsg). */
extern int nb_sync_fd;
/* Send with write(2), not send(2): set once a seccomp filter is on, which may notify send but
 * never write (syncmsg.SeccompFd). */
extern int nb_sync_write;
/* The runtime's /proc (bootstrap's open-proc), or -1. */
extern int nb_proc_fd;

void nb_send(uint32_t type, const void *data, size_t len);
/* nb_send_fd sends fd over sock (SCM_RIGHTS) with data, at least a byte, as the message; it
 * returns sendmsg's result, errno set on failure. */
ssize_t nb_send_fd(int sock, int fd, const void *data, size_t len, int flags);
void nb_expect(uint32_t want);
/* nb_bail reports an error to the runtime and exits; with errno set, Go's words for it end the
 * message (": no such file or directory"). */
void __attribute__((noreturn, format(printf, 1, 2))) nb_bail(const char *fmt, ...);
const char *nb_errstr(int err);

/* nb_exec_process sets up and execs the process of an exec (execproc_linux.c). */
void __attribute__((noreturn)) nb_exec_process(void);
/* nb_init_process is a container's init that stays C (syncmsg.EnvCInit): it forks the Go helper
 * that makes the root, returns in that helper only, and goes on to set up the container's
 * process, wait for start and exec it (execproc_linux.c). */
void nb_init_process(void);
/* The helper's socket to the init (nsexec.HelperFd), or -1. */
extern int nb_helper_fd;
/* open_proc of the bootstrap: the runtime's /proc, into nb_proc_fd. */
void nb_open_proc(void);
/* exec.fifo once a container's init reported Ready, or -1: nb_bail then reports to start there,
 * with nb_start_failure. */
extern int nb_start_fifo;
void __attribute__((noreturn)) nb_start_failure(const char *msg);

#endif
