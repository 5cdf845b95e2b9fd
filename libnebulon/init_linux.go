package libnebulon

import "github.com/nebulon-dev/nebulon/libnebulon/internal/initproc"

// IsInit reports whether this process was started by the runtime as an init (a container's, or
// an exec'd process's): then main must call Init and nothing else.
func IsInit() bool { return initproc.IsInit() }

// Init is the body of `nebulon init`, in the process stage0 forked inside the container's
// namespaces: it sets up the container or the exec'd process and execs the process. It returns
// only on failure; an error wrapping ErrReported already reached the runtime.
func Init() error { return initproc.Init() }

// ErrReported wraps an init error that already reached the runtime (over the sync socket, or
// exec.fifo for start): the caller need not print it again.
var ErrReported = initproc.ErrReported
