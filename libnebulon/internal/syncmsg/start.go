package syncmsg

// Start and a created container's init hand over through two fifos in the container's state
// directory. The init holds both open read-write from create on, so no open of them blocks, and
// its fds are close-on-exec:
//
//	step  who    fifo         action
//	1     start  exec.status  open read-only, non-blocking: it must be open to keep what step 6 writes
//	2     start  exec.fifo    open write-only, non-blocking: ENXIO (no reader) means the init is gone
//	3     start  exec.fifo    write one byte
//	4     init   exec.fifo    its read returns: run startContainer hooks, execve
//	5     start  exec.fifo    poll reports POLLERR: no reader is left, the init exec'd or died
//	6     init   exec.status  only on failure, before exiting: a JSON StartFailure
//	7     start  exec.status  read: nothing means the container's process runs
//
// Start is libnebulon's Container.Start; the init's side is the end of initproc's Init.
const (
	ExecFifo   = "exec.fifo"   // start writes one byte: the init may exec
	ExecStatus = "exec.status" // the init writes why it could not exec, if it could not
)

// StartFailure is what the init writes to exec.status when it cannot exec after start.
type StartFailure struct {
	Hook  bool   `json:"hook"` // a startContainer hook failed
	Error string `json:"error"`
}
