package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The user-notification structs of include/uapi/linux/seccomp.h, which golang.org/x/sys/unix
// does not define (it has the ioctl numbers).
type (
	// seccompData is struct seccomp_data: what a filter sees of a syscall.
	seccompData struct {
		Nr                 int32
		Arch               uint32 // AUDIT_ARCH_*
		InstructionPointer uint64
		Args               [6]uint64
	}
	// seccompNotif is struct seccomp_notif, filled by SECCOMP_IOCTL_NOTIF_RECV.
	seccompNotif struct {
		ID    uint64
		Pid   uint32 // the calling thread, in the agent's pid namespace
		Flags uint32
		Data  seccompData
	}
	// seccompNotifResp is struct seccomp_notif_resp, read by SECCOMP_IOCTL_NOTIF_SEND.
	seccompNotifResp struct {
		ID    uint64
		Val   int64 // the syscall's return value when Error is 0
		Error int32 // a negated errno, or 0
		Flags uint32
	}
	// seccompNotifSizes is struct seccomp_notif_sizes, filled by SECCOMP_GET_NOTIF_SIZES.
	seccompNotifSizes struct {
		Notif     uint16
		NotifResp uint16
		Data      uint16
	}
)

// checkNotifSizes asks the kernel the sizes of its notification structs (seccomp(2),
// SECCOMP_GET_NOTIF_SIZES, Linux 5.0) and returns the buffer sizes to use: a later kernel may
// have grown them, and seccomp_unotify(2) says to allocate what it reports. A kernel's struct
// smaller than ours, or a seccomp_data of another size, is not one this agent can talk to.
func checkNotifSizes() (seccompNotifSizes, error) {
	var k seccompNotifSizes
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_NOTIF_SIZES, 0, uintptr(unsafe.Pointer(&k)))
	if errno != 0 {
		return k, fmt.Errorf("get seccomp notification sizes: %w", os.NewSyscallError("seccomp", errno))
	}
	ours := seccompNotifSizes{
		Notif:     uint16(unsafe.Sizeof(seccompNotif{})),
		NotifResp: uint16(unsafe.Sizeof(seccompNotifResp{})),
		Data:      uint16(unsafe.Sizeof(seccompData{})),
	}
	if k.Data != ours.Data || k.Notif < ours.Notif || k.NotifResp < ours.NotifResp {
		return k, fmt.Errorf("seccomp notification sizes: kernel %+v, agent %+v", k, ours)
	}
	return k, nil
}

// serve answers the notifications of one listener (step 5) until every task using its filter is
// gone or ctx ends, and closes it. Closing a listener makes its pending and later notified
// syscalls fail with ENOSYS.
func (a *agent) serve(ctx context.Context, listener *os.File) error {
	defer listener.Close()
	rc, err := listener.SyscallConn()
	if err != nil {
		return err
	}
	// Closing the file wakes the poller's wait below.
	defer closeWhenDone(ctx, listener)()
	// []uint64, for the structs' alignment.
	req := make([]uint64, (a.bufSizes.Notif+7)/8)
	resp := make([]uint64, (a.bufSizes.NotifResp+7)/8)
	for {
		var (
			revents int16
			pollErr error
		)
		// The poller calls this again each time the fd becomes ready, until it returns true.
		err := rc.Read(func(fd uintptr) bool {
			revents, pollErr = pollListener(int(fd))
			return pollErr != nil || revents != 0
		})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("wait for notifications: %w", err)
		case pollErr != nil:
			return pollErr
		case revents&unix.POLLIN != 0:
			if err := a.answerOne(rc, req, resp); err != nil {
				return err
			}
		case revents&unix.POLLHUP != 0:
			// No task uses the filter any more (kernel/seccomp.c, seccomp_notify_poll): no
			// notification can come.
			return nil
		default:
			return fmt.Errorf("poll listener: events %#x", revents)
		}
	}
}

// pollListener returns the listener's pending poll events without waiting.
func pollListener(fd int) (int16, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("poll", err)
		}
		return fds[0].Revents, nil
	}
}

// answerOne receives one notification, logs it and answers it. A notification whose task was
// killed, or whose syscall a signal interrupted, before the answer is no error: the kernel
// reports ENOENT and drops it (seccomp_unotify(2)).
//
// It decides from the syscall's number alone, which the kernel copied into the notification.
// seccomp_unotify(2) asks for a SECCOMP_IOCTL_NOTIF_ID_VALID check after reading the target's
// memory or opening anything by its pid, as the target may have died and its pid been reused
// meanwhile; this agent does neither, so it needs no check.
func (a *agent) answerOne(rc syscall.RawConn, reqBuf, respBuf []uint64) error {
	var (
		req seccompNotif
		err error
	)
	if cerr := rc.Control(func(fd uintptr) { req, err = recvNotif(int(fd), reqBuf) }); cerr != nil {
		return cerr
	}
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	name := syscallName(req.Data.Arch, req.Data.Nr)
	// Logged before the answer, so that the line is there once the syscall returns. A line that
	// could not be written does not keep the task waiting.
	if err := a.log.add(name, req.Pid); err != nil {
		a.warn(err)
	}
	r := a.opts.policy.answer(req.ID, name)
	if cerr := rc.Control(func(fd uintptr) { err = sendResp(int(fd), respBuf, r) }); cerr != nil {
		return cerr
	}
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// answer is the response to a notification of the syscall name.
//
// SECCOMP_USER_NOTIF_FLAG_CONTINUE (Linux 5.5) has the kernel run the syscall; it needs val and
// error 0. seccomp_unotify(2) warns that it is no security check, since the target may change
// what its arguments point to after the agent decided; here the decision is only what a test
// asked for, by name.
func (p policy) answer(id uint64, name string) seccompNotifResp {
	if errno, ok := p.errnos[name]; ok {
		return seccompNotifResp{ID: id, Error: -int32(errno)}
	}
	if p.allow[name] {
		return seccompNotifResp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	}
	return seccompNotifResp{ID: id}
}

// recvNotif is SECCOMP_IOCTL_NOTIF_RECV into buf, which is at least the kernel's size of the
// struct. The listener has a notification pending (POLLIN), so it does not wait for one.
func recvNotif(fd int, buf []uint64) (seccompNotif, error) {
	for {
		// The kernel refuses a buffer that is not zeroed (EINVAL), to keep the struct
		// extensible (kernel/seccomp.c, seccomp_notify_recv).
		clear(buf)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&buf[0])))
		switch errno {
		case 0:
			return *(*seccompNotif)(unsafe.Pointer(&buf[0])), nil
		case unix.EINTR:
			continue
		}
		return seccompNotif{}, os.NewSyscallError("ioctl SECCOMP_IOCTL_NOTIF_RECV", errno)
	}
}

// sendResp is SECCOMP_IOCTL_NOTIF_SEND of r, laid out in buf, which is at least the kernel's
// size of the struct, with zeros past r.
func sendResp(fd int, buf []uint64, r seccompNotifResp) error {
	clear(buf)
	*(*seccompNotifResp)(unsafe.Pointer(&buf[0])) = r
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&buf[0])))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return os.NewSyscallError("ioctl SECCOMP_IOCTL_NOTIF_SEND", errno)
	}
}
