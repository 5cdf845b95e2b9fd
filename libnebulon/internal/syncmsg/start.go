package syncmsg

// Start and a created container's init hand over through one fifo in the container's state
// directory, exec.fifo, which the init holds open read-write from create on (so no open of it
// blocks), close-on-exec. It is the only file of the state directory the init holds.
//
//	step  who    action on exec.fifo
//	1     start  open write-only, non-blocking: ENXIO (no reader) means the init is gone
//	2     start  write one byte
//	3     init   its read returns: run startContainer hooks, execve
//	4     init   only on failure, before exiting: write a JSON StartFailure (< PIPE_BUF, so
//	             one write that an empty pipe always takes whole)
//	5     start  poll reports POLLERR: no reader is left, the init exec'd or died
//	6     start  open read-only, non-blocking, and read: start's write end has kept the pipe,
//	             and what the init wrote, alive. Nothing means the container's process runs;
//	             start's own byte, unread, means the init died before it took it.
//
// Start is libnebulon's Container.Start; the init's side is the end of initproc's Init.
const ExecFifo = "exec.fifo"

// MaxStartFailure bounds a StartFailure's JSON: under PIPE_BUF, a write the fifo takes whole
// and at once.
const MaxStartFailure = 4000

// StartFailure is what the init writes to exec.fifo when it cannot exec after start.
type StartFailure struct {
	Hook  bool   `json:"hook"` // a startContainer hook failed
	Error string `json:"error"`
}
