package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/rootless"
)

// Slirp is the network of a rootless nb's containers unless --network says otherwise, as
// podman's rootless default is: slirp4netns (Debian package slirp4netns) gives the container's
// namespace a tap device whose traffic it carries out through sockets of the user's own, and
// publishes ports by listening on the host for them. A bridge needs root. slirp4netns rather
// than pasta: Debian bookworm's passt is an early snapshot (2023-03), where slirp4netns 1.2 is
// what podman ran rootless on for years.
var Slirp = Network{Name: "slirp4netns", ID: "slirp4netns", Driver: "slirp4netns", Subnet: "10.0.2.0/24", Gateway: "10.0.2.2"}

// slirpIP is the address slirp4netns --configure gives the container.
const slirpIP = "10.0.2.100"

// slirpWait bounds slirp4netns' start and each call to its API socket.
const slirpWait = 10 * time.Second

// slirpExit is the write end of each slirp4netns' --exit-fd this process started, by container:
// slirp4netns exits once it is closed, so it ends with the nb (run, or monitor) that attached
// the container, however that one ends. Kept reachable: a collected *os.File would close it.
// detachSlirp closes it, so a monitor restarting a container keeps one per container.
var (
	slirpExitMu sync.Mutex
	slirpExit   = map[string]*os.File{}
)

// setSlirpExit keeps (or with nil, closes and forgets) container id's --exit-fd write end.
func setSlirpExit(id string, f *os.File) {
	slirpExitMu.Lock()
	defer slirpExitMu.Unlock()
	if old := slirpExit[id]; old != nil {
		old.Close()
	}
	delete(slirpExit, id)
	if f != nil {
		slirpExit[id] = f
	}
}

// slirpDir holds each slirp4netns' pid file, API socket and log: under a rootless user's runtime
// directory, which goes with a reboot as they do (a pid file in the store would outlive its
// process and name another's).
func (ns *Networks) slirpDir() string {
	if rootless.Is() {
		if d, err := rootless.RuntimeDir(); err == nil {
			return filepath.Join(d, "slirp")
		}
	}
	return filepath.Join(ns.dir, "slirp")
}

// attachSlirp starts slirp4netns for container id's namespace netns and publishes ports on the
// host's loopback (or the address -p names) through its API.
func (ns *Networks) attachSlirp(id, netns string, ports []PortMapping) (_ *Attachment, retErr error) {
	path, err := exec.LookPath("slirp4netns")
	if err != nil {
		return nil, fmt.Errorf("network %s: needs slirp4netns (Debian package slirp4netns): %w", Slirp.Name, err)
	}
	if err := unix.Access("/dev/net/tun", unix.R_OK|unix.W_OK); err != nil {
		return nil, fmt.Errorf("network %s: slirp4netns makes the container's tap device through /dev/net/tun, which this user cannot open (%v): it must be mode 0666, as udev makes it", Slirp.Name, err)
	}
	dir := ns.slirpDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(dir, id+".sock"))
	logf, err := os.OpenFile(filepath.Join(dir, id+".log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return nil, err
	}
	// The socket's path is relative to its directory (cmd.Dir): an absolute one under a home
	// directory may pass sockaddr_un's 108 bytes.
	// Sandboxed (its own mount namespace, pivoted to an empty root) and with a seccomp
	// filter, as podman runs it: it parses the container's traffic.
	cmd := exec.Command(path, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
		"--ready-fd=3", "--exit-fd=4", "--api-socket", id+".sock", "--netns-type=path", netns, "tap0")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	err = cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		exitW.Close()
		return nil, fmt.Errorf("network %s: start slirp4netns: %w", Slirp.Name, err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() // reaped here, whoever ends it
	defer func() {
		if retErr != nil {
			exitW.Close()
			unix.Kill(pid, unix.SIGKILL)
			ns.detachSlirp(id)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, id+".pid"), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return nil, err
	}
	readyR.SetReadDeadline(time.Now().Add(slirpWait))
	b := make([]byte, 1)
	if n, err := readyR.Read(b); n != 1 || b[0] != '1' {
		out, _ := os.ReadFile(logf.Name())
		return nil, fmt.Errorf("network %s: slirp4netns did not get ready (%v): %s", Slirp.Name, err, bytes.TrimSpace(out))
	}
	for _, p := range ports {
		if err := ns.slirpForward(id, p); err != nil {
			return nil, err
		}
	}
	setSlirpExit(id, exitW)
	return &Attachment{IP: slirpIP, Gateway: Slirp.Gateway}, nil
}

// slirpForward publishes p through slirp4netns' API (its add_hostfwd): on 127.0.0.1 unless -p
// names an address, as a user's container is not for the network to reach by default.
func (ns *Networks) slirpForward(id string, p PortMapping) error {
	host := p.HostIP
	if host == "" {
		host = "127.0.0.1"
	}
	req, _ := json.Marshal(map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": p.Protocol, "host_addr": host, "host_port": p.HostPort, "guest_port": p.ContainerPort,
	}})
	dirf, err := os.Open(ns.slirpDir())
	if err != nil {
		return err
	}
	defer dirf.Close()
	conn, err := net.DialTimeout("unix", fmt.Sprintf("/proc/self/fd/%d/%s.sock", dirf.Fd(), id), slirpWait)
	if err != nil {
		return fmt.Errorf("-p %s: slirp4netns' API socket: %w", p, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(slirpWait))
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("-p %s: slirp4netns' API: %w", p, err)
	}
	conn.(*net.UnixConn).CloseWrite()
	var resp struct {
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return fmt.Errorf("-p %s: slirp4netns' API: %w", p, err)
	}
	if resp.Error != nil {
		// slirp4netns says only "bad request: add_hostfwd: slirp_add_hostfwd failed" when the
		// port is taken.
		return fmt.Errorf("-p %s: slirp4netns could not publish it (port %d/%s already in use on %s?): %s", p, p.HostPort, p.Protocol, host, resp.Error.Desc)
	}
	return nil
}

// detachSlirp ends container id's slirp4netns (its pid file's, if that is still slirp4netns)
// and removes its files. Nothing there is no error.
func (ns *Networks) detachSlirp(id string) error {
	setSlirpExit(id, nil)
	dir := ns.slirpDir()
	pidFile := filepath.Join(dir, id+".pid")
	if data, err := os.ReadFile(pidFile); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		// A stale file's pid may be another user's slirp4netns by now: not this one's to kill.
		var st unix.Stat_t
		own := unix.Stat(fmt.Sprintf("/proc/%d", pid), &st) == nil && int(st.Uid) == os.Geteuid()
		if pid > 0 && own && strings.TrimSpace(string(comm)) == "slirp4netns" {
			if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("stop slirp4netns (pid %d) of %s: %w", pid, id, err)
			}
		}
	}
	for _, f := range []string{pidFile, filepath.Join(dir, id+".sock"), filepath.Join(dir, id+".log")} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
