package cgroups

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// OOM notification. The channel gets a value for each out-of-memory event of the cgroup and is
// closed when the cgroup goes away or stop is called.

// NotifyOOM on v1 registers an eventfd for memory.oom_control through cgroup.event_control
// (cgroup-v1/memory.rst, "OOM Control"). The kernel also signals the eventfd when the cgroup
// is removed, which closes the channel.
func (m *v1Manager) NotifyOOM() (<-chan struct{}, func(), error) {
	dir, err := m.dirOf("memory")
	if err != nil {
		return nil, nil, err
	}
	oc, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return nil, nil, err
	}
	defer oc.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, nil, os.NewSyscallError("eventfd", err)
	}
	ev := os.NewFile(uintptr(efd), "oom eventfd") // non-blocking: Close ends a pending Read
	reg := fmt.Sprintf("%d %d", efd, oc.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0); err != nil {
		ev.Close()
		return nil, nil, fmt.Errorf("register OOM eventfd: %w", err)
	}
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		buf := make([]byte, 8)
		for {
			if _, err := ev.Read(buf); err != nil {
				return
			}
			if _, err := os.Stat(filepath.Join(dir, "memory.oom_control")); err != nil {
				return // the cgroup was removed
			}
			for n := binary.NativeEndian.Uint64(buf); n > 0; n-- {
				ch <- struct{}{}
			}
		}
	}()
	return ch, func() { ev.Close() }, nil
}

// NotifyOOM on v2 watches memory.events with inotify (the kernel notifies a modification on
// every change of its counters) and reports each rise of oom_kill.
func (m *v2Manager) NotifyOOM() (<-chan struct{}, func(), error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, nil, os.NewSyscallError("inotify_init1", err)
	}
	in := os.NewFile(uintptr(fd), "inotify")
	path := filepath.Join(m.path, "memory.events")
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY|unix.IN_DELETE_SELF); err != nil {
		in.Close()
		return nil, nil, fmt.Errorf("watch %s: %w", path, os.NewSyscallError("inotify_add_watch", err))
	}
	last := readKV(m.path, "memory.events")["oom_kill"]
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		buf := make([]byte, 4096)
		for {
			if _, err := in.Read(buf); err != nil {
				return
			}
			kv := readKV(m.path, "memory.events")
			if kv == nil {
				return // the cgroup was removed
			}
			for ; last < kv["oom_kill"]; last++ {
				ch <- struct{}{}
			}
		}
	}()
	return ch, func() { in.Close() }, nil
}
