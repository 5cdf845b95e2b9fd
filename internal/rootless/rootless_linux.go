// Package rootless lets nb run for an unprivileged user, as podman runs rootless: a small
// long-lived pause process holds a user namespace (uid 0 the user, 1 and up the ids /etc/subuid
// and /etc/subgid give it, written by newuidmap and newgidmap) and a mount namespace; each nb
// joins both before its Go runtime starts (join_linux.go's constructor) and is uid 0 there. So
// the files of the images it unpacks get the mapped ids, its overlay mounts outlive the nb that
// made them, and the runtime it runs there is rootless for cgroups only (a uid 0 in a user
// namespace, as runc has it), never asked for a user namespace in the container's config.
package rootless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/subid"
)

const (
	// envFds names the fds of the pause process' user and mount namespaces that Enter opened
	// and the constructor joins (join_linux.go): "USERFD,MOUNTFD".
	envFds = "_NB_USERNS_FDS"
	// envUID marks an nb inside the namespaces, and gives the user's uid there (its own is 0).
	// Only an nb in a user namespace trusts it: the host's root may have a user's environment.
	envUID = "_NB_ROOTLESS_UID"
	// PauseCommand is the pause process' argument: nb runs only Pause then.
	PauseCommand = "__nb_pause"
	// envRepause asks the nb that joined a monitor's namespaces to start a pause process there.
	envRepause = "_NB_REPAUSE"
)

// Is reports whether nb runs for an unprivileged user: outside nb's user namespace (about to
// enter it) or inside it.
func Is() bool { return os.Geteuid() != 0 || inside() }

// inside says whether this nb runs in nb's user namespace, uid 0 there.
func inside() bool {
	return os.Geteuid() == 0 && os.Getenv(envUID) != "" && userns.RunningInUserNS()
}

// UID is the user's uid on the host, inside nb's user namespace too.
func UID() int {
	if uid, err := strconv.Atoi(os.Getenv(envUID)); err == nil && inside() {
		return uid
	}
	return os.Geteuid()
}

// DataHome is where a rootless nb keeps its store: $XDG_DATA_HOME/nebulon, or
// $HOME/.local/share/nebulon (the XDG base directory spec's default), as podman keeps its
// storage under $XDG_DATA_HOME/containers.
func DataHome() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "nebulon"), nil
	}
	if h := os.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "nebulon"), nil
	}
	return "", fmt.Errorf("nb runs rootless (uid %d) and keeps its store in $XDG_DATA_HOME/nebulon or $HOME/.local/share/nebulon: neither XDG_DATA_HOME nor HOME is set (or give --root)", UID())
}

// RuntimeDir is where a rootless nb keeps what goes with a reboot (the runtime's state, the
// pause process' pid, slirp4netns' sockets): $XDG_RUNTIME_DIR/nb, or without XDG_RUNTIME_DIR
// /run/user/UID/nb when the user owns /run/user/UID, as podman falls back. nb makes it 0700
// with the sticky bit (the XDG base directory spec lets the system prune files there that lack
// it), and refuses one that is a symlink, someone else's, or open to others: what another user
// put there (a pid file, a socket) would steer this user's nb.
func RuntimeDir() (string, error) {
	d := os.Getenv("XDG_RUNTIME_DIR")
	if d == "" {
		run := fmt.Sprintf("/run/user/%d", UID())
		if ownDir(run) != nil {
			return "", fmt.Errorf("nb runs rootless (uid %d) and keeps its runtime state in $XDG_RUNTIME_DIR/nb: XDG_RUNTIME_DIR is not set, and %s is not a directory of this user's (a login session makes it, and sets XDG_RUNTIME_DIR)", UID(), run)
		}
		d = run
	}
	dir := filepath.Join(d, "nb")
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("nb's runtime state %s (from $XDG_RUNTIME_DIR): %w; XDG_RUNTIME_DIR must name a directory this user (uid %d) can write", dir, err, UID())
	}
	if err := ownDir(dir); err != nil {
		return "", fmt.Errorf("nb's runtime state %s (from $XDG_RUNTIME_DIR): %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700|os.ModeSticky); err != nil {
		return "", fmt.Errorf("nb's runtime state %s (from $XDG_RUNTIME_DIR): %w", dir, err)
	}
	return dir, nil
}

// ownDir says why dir is not a directory of this user's closed to others, if it is not.
func ownDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return errors.New("not a directory (a symlink is refused too)")
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("owned by uid %d, not by this user (uid %d)", st.Uid, UID())
	case st.Mode&0o077 != 0:
		return fmt.Errorf("mode %04o: others may write or read it, where it must be 0700", st.Mode&0o7777)
	}
	return nil
}

// PidFile is the pause process' pid file under RuntimeDir.
func PidFile(runDir string) string { return filepath.Join(runDir, "pause.pid") }

// Enter re-executes nb in nb's user and mount namespaces, starting the pause process that holds
// them if it is not there. It returns only for the host's root or an nb already inside (nil),
// or with what stopped it; nothing it made is left then.
func Enter() error {
	if os.Geteuid() == 0 {
		if !inside() {
			// The host's root: a user's marker, kept by su or sudo -E, is not for the
			// monitor and runtime this nb starts either.
			os.Unsetenv(envUID)
			os.Unsetenv(envRepause)
			return nil
		}
		if os.Getenv(envRepause) == "" {
			return nil
		}
		os.Unsetenv(envRepause)
		return repause()
	}
	runDir, err := RuntimeDir()
	if err != nil {
		return err
	}
	_, statErr := os.Stat(PidFile(runDir))
	pid, rejoin, err := ensurePause(runDir)
	if err != nil {
		if errors.Is(statErr, os.ErrNotExist) {
			// No pause process was there, and none is: a first nb that failed (no
			// subordinate ids) leaves nothing, its lock and runtime directory neither, unless
			// something else is in it.
			os.Remove(filepath.Join(runDir, pauseLock))
			os.Remove(runDir)
		}
		return err
	}
	// The constructor joins the namespaces by fds opened here, after the pause process was
	// found: a pid could name another process by the time it looked.
	ufd, mfd, err := openNamespaces(pid)
	if err != nil {
		return err
	}
	env := []string{fmt.Sprintf("%s=%d,%d", envFds, ufd, mfd), envUID + "=" + strconv.Itoa(os.Geteuid())}
	if rejoin {
		env = append(env, envRepause+"=1")
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envFds+"=") && !strings.HasPrefix(kv, envUID+"=") && !strings.HasPrefix(kv, envRepause+"=") {
			env = append(env, kv)
		}
	}
	if err := syscall.Exec("/proc/self/exe", os.Args, env); err != nil {
		return fmt.Errorf("re-execute nb in its user namespace: %w", err)
	}
	return nil
}

// openNamespaces opens the pause process' user and mount namespaces, fds the exec keeps.
func openNamespaces(pid int) (ufd, mfd int, err error) {
	ufd, err = unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("nb's pause process %d: its user namespace: %w", pid, err)
	}
	mfd, err = unix.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid), unix.O_RDONLY, 0)
	if err != nil {
		unix.Close(ufd)
		return 0, 0, fmt.Errorf("nb's pause process %d: its mount namespace: %w", pid, err)
	}
	return ufd, mfd, nil
}

// pauseLock is the lock nbs starting the pause process take, in RuntimeDir.
const pauseLock = "pause.lock"

// lockWait bounds the wait for another nb starting the pause process.
const lockWait = 30 * time.Second

// ensurePause returns the pid of the pause process, starting one when the pid file names
// none (none yet, or a stale file after it was killed or the host rebooted).
func ensurePause(runDir string) (pid int, rejoin bool, err error) {
	lock, err := lockPause(runDir)
	if err != nil {
		return 0, false, err
	}
	defer lock.Close()
	pidFile := PidFile(runDir)
	if pid, ok := RunningPause(pidFile); ok {
		return pid, false, nil
	}
	// The pause process was killed while containers run: their monitors are still in its
	// namespaces, where their overlays and network namespaces are mounted. A new pause process
	// would have new ones, and nb would act blind on them; so nb joins a monitor's, as podman
	// rejoins from a live conmon, and starts the new pause process there (repause).
	if pid := liveMonitor(); pid > 0 {
		return pid, true, nil
	}
	pid, err = startPause(pidFile, true)
	return pid, false, err
}

// lockPause takes the lock of nbs starting the pause process.
func lockPause(runDir string) (*os.File, error) {
	lock, err := os.OpenFile(filepath.Join(runDir, pauseLock), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("nb's pause lock: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			lock.Close()
			return nil, fmt.Errorf("nb's pause lock %s: still held after %v by another nb starting the pause process", lock.Name(), lockWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return lock, nil
}

// repause starts a pause process in the namespaces this nb joined from a monitor's (ensurePause).
func repause() error {
	runDir, err := RuntimeDir()
	if err != nil {
		return err
	}
	lock, err := lockPause(runDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	if _, ok := RunningPause(PidFile(runDir)); ok {
		return nil
	}
	_, err = startPause(PidFile(runDir), false)
	return err
}

// liveMonitor is the pid of a container monitor of this user's (nb --root ROOT __monitor ID,
// started in nb's namespaces), 0 if none runs.
func liveMonitor() int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name(), &st) != nil || int(st.Uid) != os.Geteuid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
		if len(args) == 5 && string(args[3]) == monitorCommand {
			return pid
		}
	}
	return 0
}

// monitorCommand is cmd/nb's hidden command that keeps a detached container.
const monitorCommand = "__monitor"

// RunningPause reads the pid file and says whether it names a pause process of this user's
// that still runs: a stale file's pid may be anyone's by now.
func RunningPause(pidFile string) (int, bool) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	var st unix.Stat_t
	// The user's own uid: on the host, or 0 in nb's user namespace (repause).
	if unix.Stat(fmt.Sprintf("/proc/%d", pid), &st) != nil || int(st.Uid) != os.Geteuid() {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, false
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	return pid, len(args) == 2 && string(args[1]) == PauseCommand
}

// startPause starts the pause process in a new user and mount namespace, maps its ids and
// writes its pid file. The pause process waits for "mapped" on a pipe (Pause): an nb killed
// before it wrote the pid file closes the pipe, and the pause process, which nothing would
// find, exits.
func startPause(pidFile string, fresh bool) (int, error) {
	var uidMap, gidMap []string
	var err error
	if fresh {
		if uidMap, gidMap, err = idMaps(); err != nil {
			return 0, err
		}
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer w.Close()
	cmd := exec.Command("/proc/self/exe", PauseCommand)
	cmd.Args[0] = "nb" // ps shows nb __nb_pause
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Dir = null, null, null, "/"
	cmd.ExtraFiles = []*os.File{r}
	// Its own session: a terminal's hangup or ^C is not for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if fresh {
		cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS
	}
	err = cmd.Start()
	r.Close()
	if err != nil {
		return 0, fmt.Errorf("start nb's pause process in a new user namespace: %w", err)
	}
	pid := cmd.Process.Pid
	if fresh {
		err = errors.Join(runIDMapper("newuidmap", "/etc/subuid", pid, uidMap), runIDMapper("newgidmap", "/etc/subgid", pid, gidMap))
	}
	if err == nil {
		if err = os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
			err = fmt.Errorf("nb's pause pid file: %w", err)
		}
	}
	if err == nil {
		_, err = w.Write([]byte(pauseMapped))
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		os.Remove(pidFile)
		return 0, err
	}
	cmd.Process.Release()
	return pid, nil
}

// pauseMapped is what startPause tells the pause process once its maps and pid file are written.
const pauseMapped = "mapped"

// idMaps are the user namespace's maps, newuidmap's and newgidmap's arguments: 0 is the user,
// 1 and up its subordinate ids, as podman maps them.
func idMaps() (uidMap, gidMap []string, err error) {
	name := ""
	if u, err := user.LookupId(strconv.Itoa(os.Geteuid())); err == nil {
		name = u.Username
	}
	uidMap, err = idMap("/etc/subuid", name, os.Geteuid())
	if err != nil {
		return nil, nil, err
	}
	gidMap, err = idMap("/etc/subgid", name, os.Getegid())
	return uidMap, gidMap, err
}

func idMap(file, name string, own int) ([]string, error) {
	all, _, err := subid.Read(file, name, os.Geteuid())
	if err != nil {
		return nil, fmt.Errorf("nb runs rootless: %w", err)
	}
	var ranges []subid.Range
	for _, r := range all {
		if r.Count > 0 {
			ranges = append(ranges, r)
		}
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("nb runs rootless as user %s (uid %d): %s gives it no subordinate ids (a line %s:START:COUNT, as usermod --add-subuids and --add-subgids make), which nb maps to the images' users", name, os.Geteuid(), file, name)
	}
	m := []string{"0", strconv.Itoa(own), "1"}
	next := uint64(1)
	for _, r := range ranges {
		m = append(m, strconv.FormatUint(next, 10), strconv.FormatUint(r.Start, 10), strconv.FormatUint(r.Count, 10))
		next += r.Count
	}
	return m, nil
}

// idMapperWait bounds newuidmap and newgidmap, which read a few files and write one.
const idMapperWait = 10 * time.Second

// runIDMapper runs newuidmap or newgidmap (tool), setuid root, which check the map against the
// ranges file gives the user before they write it.
func runIDMapper(tool, file string, pid int, m []string) error {
	path, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("nb runs rootless and maps the ids %s gives it with %s (Debian package uidmap): %w", file, tool, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), idMapperWait)
	defer cancel()
	args := append([]string{strconv.Itoa(pid)}, m...)
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("%s did not finish in %v", tool, idMapperWait)
	}
	if err != nil {
		return fmt.Errorf("map nb's user namespace: %s %s: %w: %s", tool, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Pause is the pause process: it holds the namespaces, and does nothing else until it is killed.
// Started by startPause (nb __nb_pause, no more arguments), it first waits for startPause's
// word on fd 3, and exits without it.
func Pause() {
	if len(os.Args) == 2 {
		sync := os.NewFile(3, "sync")
		word, _ := io.ReadAll(io.LimitReader(sync, 64))
		sync.Close()
		if string(word) != pauseMapped {
			os.Exit(1)
		}
	}
	for {
		unix.Pause()
	}
}

// MappedGIDs is how many gids this process' user namespace maps (those of gid_map's lines), 0
// to MappedGIDs-1 in nb's.
func MappedGIDs() uint64 {
	data, err := os.ReadFile("/proc/self/gid_map")
	if err != nil {
		return 1
	}
	var n uint64
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			c, _ := strconv.ParseUint(f[2], 10, 64)
			n += c
		}
	}
	return max(n, 1)
}
