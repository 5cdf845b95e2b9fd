package cgroups

import (
	"errors"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// None is the manager of a rootless container that has no cgroup: nebulon runs as an
// unprivileged user, the config names no cgroupsPath, and the user may not make cgroups (cgroup v1,
// or v2 with nothing delegated). This is runc's rootless cgroup manager (--rootless auto, the
// default for a non-root caller) when its Apply fails for permission: the container runs in the
// caller's cgroups. A limit set then cannot be applied and is an error naming its field, as in
// runc ("cannot set memory limit: container could not join or create cgroup"); device rules are
// skipped, as runc skips them: a user namespace cannot make device nodes, and the caller opens
// host devices with its own rights only.
func None() Manager { return noneManager{} }

// IsPermission reports whether err is the refusal a user without cgroups delegated gets when it
// makes a cgroup: runc's isIgnorableError (EPERM, EACCES, or a read-only cgroupfs).
func IsPermission(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM) ||
		errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS)
}

type noneManager struct{}

var errNoCgroup = errors.New("the container has no cgroup")

func (noneManager) Create() ([]string, error) { return nil, nil }
func (noneManager) EnterV2(int) error         { return nil }
func (noneManager) Entry() (*Entry, error)    { return &Entry{}, nil }

func (noneManager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	write := v1Writes
	if DetectMode() == Unified {
		write = v2Writes
	}
	ws, err := write(r)
	if err != nil {
		return err
	}
	if len(ws) > 0 {
		return resErr(ws[0].field, "cannot be applied: nebulon runs rootless and could not create the container's cgroup (this user may not make cgroups: none is delegated to it); remove the limit, or run where a cgroup v2 subtree is delegated to the user")
	}
	return nil
}

func (noneManager) Update(*specs.LinuxResources) error { return errNoCgroup }
func (noneManager) Freeze(bool) error                  { return errNoCgroup }
func (noneManager) Frozen() (bool, error)              { return false, nil }
func (noneManager) Stats() (*Stats, error)             { return nil, errNoCgroup }
func (noneManager) NotifyOOM() (<-chan struct{}, func(), error) {
	return nil, nil, errNoCgroup
}
func (noneManager) Pids() ([]int, error)     { return nil, errNoCgroup }
func (noneManager) Destroy([]string) error   { return nil }
func (noneManager) Paths() map[string]string { return map[string]string{} }
