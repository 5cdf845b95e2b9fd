package libnebulon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// procStat is what the runtime reads of /proc/<pid>/stat: the state letter and the start time,
// which tells a process from a later one that reused its pid.
type procStat struct {
	State     byte
	PPid      int
	StartTime uint64
}

func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(data)
}

// parseProcStat parses proc_pid_stat(5). The command name may hold spaces and parentheses, so the
// fields are counted from its last ')'.
func parseProcStat(data []byte) (procStat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return procStat{}, errors.New("malformed /proc/<pid>/stat")
	}
	fields := bytes.Fields(data[i+2:])
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return procStat{}, errors.New("short /proc/<pid>/stat")
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse start time in /proc/<pid>/stat: %w", err)
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return procStat{}, fmt.Errorf("parse ppid in /proc/<pid>/stat: %w", err)
	}
	return procStat{State: fields[0][0], PPid: ppid, StartTime: start}, nil
}

// alive reports whether pid is still the process that started at startTime and has not exited.
func alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readProcStat(pid)
	if err != nil {
		return false
	}
	return st.StartTime == startTime && st.State != 'Z' && st.State != 'X'
}

// pidfdFor opens a pidfd on pid and checks it is still the process that started at startTime;
// signals sent through it cannot reach a process that reused the pid.
func pidfdFor(pid int, startTime uint64) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, os.NewSyscallError("pidfd_open", err)
	}
	if !alive(pid, startTime) {
		unix.Close(fd)
		return -1, unix.ESRCH
	}
	return fd, nil
}

// waitExit waits until the process behind pidfd has exited.
func waitExit(pidfd int) error {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("poll pidfd", err)
		}
	}
}
