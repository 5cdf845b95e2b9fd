// Package scm reads the fds a unix socket message carries (SCM_RIGHTS), for the test tools that
// receive them from the runtime (tests/recvtty, tests/seccompagent).
package scm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// UnixRights returns every fd in the SCM_RIGHTS messages of oob; other control messages are
// ignored. On error the fds parsed so far are closed.
func UnixRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control data: %w", err)
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			CloseFds(fds)
			return nil, fmt.Errorf("parse SCM_RIGHTS: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// CloseFds closes every fd of fds.
func CloseFds(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
