// Package proc reads and writes /proc for the runtime: a process's stat (its state, parent and
// start time, which tells it from a later process that reused its pid), pidfds checked against
// that start time, and writes through verified procfs handles (CVE-2025-52881). The init uses
// the writes too.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"

	"golang.org/x/sys/unix"
)

// Stat is what the runtime reads of /proc/<pid>/stat: the state letter and the start time,
// which tells a process from a later one that reused its pid.
type Stat struct {
	Comm      string // the command name, field 2, without its parentheses
	State     byte
	PPid      int
	StartTime uint64
	// ExitCode is the wait status the process exits with (field 52), set as it starts to
	// exit, before it closes its files; 0 while it runs.
	ExitCode int
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) {
	data, err := ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	return parseStat(data)
}

// parseStat parses proc_pid_stat(5). The command name may hold spaces and parentheses, so the
// fields are counted from its last ')'.
func parseStat(data []byte) (Stat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return Stat{}, errors.New("malformed /proc/<pid>/stat")
	}
	fields := bytes.Fields(data[i+2:])
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return Stat{}, errors.New("short /proc/<pid>/stat")
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("parse start time in /proc/<pid>/stat: %w", err)
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return Stat{}, fmt.Errorf("parse ppid in /proc/<pid>/stat: %w", err)
	}
	st := Stat{State: fields[0][0], PPid: ppid, StartTime: start}
	if j := bytes.IndexByte(data, '('); j >= 0 && j < i {
		st.Comm = string(data[j+1 : i])
	}
	if len(fields) >= 50 { // Linux 3.5 on
		st.ExitCode, _ = strconv.Atoi(string(fields[49]))
	}
	return st, nil
}

// Alive reports whether pid is still the process that started at startTime and has not exited.
func Alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := ReadStat(pid)
	if err != nil {
		return false
	}
	return st.StartTime == startTime && st.State != 'Z' && st.State != 'X'
}

// PidfdFor opens a pidfd on pid and checks it is still the process that started at startTime;
// signals sent through it cannot reach a process that reused the pid.
func PidfdFor(pid int, startTime uint64) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, os.NewSyscallError("pidfd_open", err)
	}
	if !Alive(pid, startTime) {
		unix.Close(fd)
		return -1, unix.ESRCH
	}
	return fd, nil
}

// WaitExit waits until the process behind pidfd has exited.
func WaitExit(pidfd int) error {
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

// Write writes value to a procfs file h opened through a verified procfs handle (pathrs-lite's
// procfs): it is reopened for writing through h, never by a path the container's /proc could
// redirect (CVE-2025-52881).
func Write(h *os.File, value string) error {
	f, err := pathrs.Reopen(h, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(value)
	return err
}

// ReadFile is os.ReadFile for the small files the runtime reads many of (state files, /proc and
// cgroup files), in three syscalls: os.Open of a file on Linux also tries to put it in the Go
// runtime's poller and sets it non-blocking and back, four syscalls more per file, which `list`
// with a thousand containers pays three thousand times. Errors are os.ReadFile's.
func ReadFile(path string) ([]byte, error) {
	fd, err := openRead(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

func openRead(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
