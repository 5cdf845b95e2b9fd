package devicefilter

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The probe helper is this test binary run again with probeEnv=1, inside the cgroup under test.
// It asks the kernel one device access per line and answers one line per probe:
//
//	parent -> helper (stdin)            helper -> parent (stdout)
//	open <path> <r|w|rw>                allow | deny | error <text>
//	mknod <path> <b|c> <major> <minor>  allow | deny | error <text>
//
// "allow" means the device check passed: the call succeeded, or failed with ENXIO or ENODEV
// because no driver has that number. "deny" means EPERM. Anything else is an error of the test
// (say, EACCES because the temp dir is on a nodev mount).
const probeEnv = "NEBULON_DEVICEFILTER_PROBE"

func TestMain(m *testing.M) {
	if os.Getenv(probeEnv) == "1" {
		os.Exit(probeMain(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

func probeMain(in io.Reader, out io.Writer) int {
	sc := bufio.NewScanner(in)
	w := bufio.NewWriter(out)
	defer w.Flush()
	for sc.Scan() {
		err := probeOne(strings.Fields(sc.Text()))
		switch {
		case errors.Is(err, unix.EPERM):
			fmt.Fprintln(w, "deny")
		case err == nil, errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
			fmt.Fprintln(w, "allow")
		default:
			fmt.Fprintln(w, "error", err)
		}
	}
	return 0
}

func probeOne(f []string) error {
	switch {
	case len(f) == 3 && f[0] == "open":
		flags := map[string]int{"r": unix.O_RDONLY, "w": unix.O_WRONLY, "rw": unix.O_RDWR}[f[2]]
		fd, err := unix.Open(f[1], flags|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case len(f) == 5 && f[0] == "mknod":
		mode := uint32(unix.S_IFCHR)
		if f[2] == "b" {
			mode = unix.S_IFBLK
		}
		major, _ := strconv.ParseUint(f[3], 10, 32)
		minor, _ := strconv.ParseUint(f[4], 10, 32)
		err := unix.Mknod(f[1], mode|0o600, int(unix.Mkdev(uint32(major), uint32(minor))))
		if err == nil {
			os.Remove(f[1])
		}
		return err
	}
	return fmt.Errorf("bad probe %q", f)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes cgroups and attaches BPF programs")
	}
}

// cgroup2Root is where cgroup2 is mounted: /sys/fs/cgroup/unified on a hybrid host like this
// one, /sys/fs/cgroup on a v2-only host.
func cgroup2Root(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return dir
		}
	}
	t.Fatal("no cgroup2 mount at /sys/fs/cgroup/unified or /sys/fs/cgroup")
	return ""
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newCgroup makes a child cgroup of root and opens it; both go away when the test ends.
func newCgroup(t *testing.T, root string) (string, *os.File) {
	t.Helper()
	path := filepath.Join(root, randomName("nebulon-devtest-"))
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	dir, err := os.OpenFile(path, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	return path, dir
}

func mustApply(t *testing.T, dir *os.File, rules []specs.LinuxDeviceCgroup) {
	t.Helper()
	if err := Apply(dir, rules); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// shell runs script with /bin/sh in the cgroup open at dir.
func shell(dir *os.File, script string) (string, error) {
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func wantAllowed(t *testing.T, dir *os.File, script string) {
	t.Helper()
	if out, err := shell(dir, script); err != nil {
		t.Errorf("%s: %v, want it allowed; output: %s", script, err, out)
	}
}

func wantDenied(t *testing.T, dir *os.File, script string) {
	t.Helper()
	out, err := shell(dir, script)
	if err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("%s: err %v, output %q; want Operation not permitted", script, err, out)
	}
}

type attachedProgram struct {
	id   ebpf.ProgramID
	name string
}

func attachedPrograms(t *testing.T, dir *os.File) []attachedProgram {
	t.Helper()
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(dir.Fd()), Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		t.Fatal(err)
	}
	var progs []attachedProgram
	for _, a := range res.Programs {
		p, err := ebpf.NewProgramFromID(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		progs = append(progs, attachedProgram{a.ID, info.Name})
	}
	return progs
}

func TestApplyConfinesProcessesInTheCgroup(t *testing.T) {
	requireRoot(t)
	_, dir := newCgroup(t, cgroup2Root(t))
	tmp := t.TempDir()
	mustApply(t, dir, []specs.LinuxDeviceCgroup{
		denyAll,
		allow("c", -1, -1, "m"),
		allow("c", 1, 3, "rwm"), // null
		allow("c", 1, 5, "r"),   // zero
	})
	wantAllowed(t, dir, "head -c1 /dev/zero >/dev/null")
	wantAllowed(t, dir, "echo x > /dev/null")
	wantAllowed(t, dir, "mknod "+tmp+"/full c 1 7")
	wantDenied(t, dir, "echo x > /dev/zero")
	wantDenied(t, dir, "head -c1 /dev/full")
	wantDenied(t, dir, "mknod "+tmp+"/loop b 7 0")
}

func TestApplyReplacesItsOwnProgramOnly(t *testing.T) {
	requireRoot(t)
	_, dir := newCgroup(t, cgroup2Root(t))
	tmp := t.TempDir()

	// Somebody else's program (allowing everything) must survive both Applys.
	foreign, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "foreign_devices",
		Type:         ebpf.CGroupDevice,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: int(dir.Fd()), Program: foreign, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	})
	foreign.Close()
	if err != nil {
		t.Fatal(err)
	}

	mustApply(t, dir, []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "rwm"), allow("c", 1, 5, "r")})
	first := ownAttached(t, dir)
	wantAllowed(t, dir, "head -c1 /dev/zero >/dev/null")
	wantDenied(t, dir, "head -c1 /dev/full")

	mustApply(t, dir, []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "w"), allow("c", 1, 7, "rw"), allow("b", -1, -1, "m")})
	second := ownAttached(t, dir)
	if second == first {
		t.Errorf("program %d still attached after the second Apply", first)
	}
	wantAllowed(t, dir, "echo x > /dev/null")
	wantAllowed(t, dir, "head -c1 /dev/full >/dev/null")
	wantAllowed(t, dir, "mknod "+tmp+"/loop b 7 0")
	wantDenied(t, dir, "head -c1 /dev/zero")
	wantDenied(t, dir, "head -c1 /dev/null")
	wantDenied(t, dir, "mknod "+tmp+"/full c 1 7")
}

// ownAttached returns the ID of the one program of this package attached to dir, and checks
// that the foreign one is still there beside it.
func ownAttached(t *testing.T, dir *os.File) ebpf.ProgramID {
	t.Helper()
	progs := attachedPrograms(t, dir)
	var own []ebpf.ProgramID
	foreign := 0
	for _, p := range progs {
		switch p.name {
		case progName:
			own = append(own, p.id)
		case "foreign_devices":
			foreign++
		}
	}
	if len(own) != 1 || foreign != 1 || len(progs) != 2 {
		t.Fatalf("attached device programs = %v, want one %s and one foreign_devices", progs, progName)
	}
	return own[0]
}

func TestApplyRejectsInvalidRulesAndAttachesNothing(t *testing.T) {
	requireRoot(t)
	_, dir := newCgroup(t, cgroup2Root(t))
	err := Apply(dir, []specs.LinuxDeviceCgroup{denyAll, {Type: "c", Access: "rwx"}})
	if err == nil || err.Error() != `devices[1]: access "rwx" has letters other than r, w and m` {
		t.Errorf("Apply error = %v", err)
	}
	if progs := attachedPrograms(t, dir); len(progs) != 0 {
		t.Errorf("attached device programs = %v, want none", progs)
	}
}

// prober asks the kernel, from a process in a given cgroup, about requests on device nodes it
// made in a temp dir.
type prober struct {
	t     *testing.T
	nodes string
	made  map[[3]uint32]string
}

func newProber(t *testing.T) *prober {
	return &prober{t: t, nodes: t.TempDir(), made: map[[3]uint32]string{}}
}

// node returns the path of a node for rq's device, made on first use.
func (p *prober) node(rq request) string {
	key := [3]uint32{rq.typ, rq.major, rq.minor}
	if path, ok := p.made[key]; ok {
		return path
	}
	mode := uint32(unix.S_IFCHR)
	if rq.typ == typeBlock {
		mode = unix.S_IFBLK
	}
	path := filepath.Join(p.nodes, fmt.Sprintf("%c-%d-%d", typeLetter(rq.typ), rq.major, rq.minor))
	if err := unix.Mknod(path, mode|0o600, int(unix.Mkdev(rq.major, rq.minor))); err != nil {
		p.t.Fatalf("make node for %v: %v", rq, err)
	}
	p.made[key] = path
	return path
}

func (p *prober) line(i int, rq request) string {
	if rq.access == accMknod {
		return fmt.Sprintf("mknod %s %c %d %d", filepath.Join(p.nodes, fmt.Sprintf("new-%d", i)), typeLetter(rq.typ), rq.major, rq.minor)
	}
	open := map[uint32]string{accRead: "r", accWrite: "w", accRead | accWrite: "rw"}[rq.access]
	if open == "" {
		p.t.Fatalf("cannot probe %v: ask m alone, or r and w", rq)
	}
	return fmt.Sprintf("open %s %s", p.node(rq), open)
}

// ask runs the helper in the v2 cgroup open at cg, or, with cg nil, moves it into the v1
// cgroup v1Dir before it probes, and returns whether each request was allowed.
func (p *prober) ask(cg *os.File, v1Dir string, reqs []request) []bool {
	p.t.Helper()
	var script strings.Builder
	for i, rq := range reqs {
		fmt.Fprintln(&script, p.line(i, rq))
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), probeEnv+"=1")
	if cg != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	// The helper blocks on stdin until then, so it probes only from inside the v1 cgroup.
	if v1Dir != "" {
		if err := os.WriteFile(filepath.Join(v1Dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			p.t.Fatalf("move probe helper into %s: %v", v1Dir, err)
		}
	}
	io.WriteString(stdin, script.String())
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		p.t.Fatalf("probe helper: %v; output: %s", err, out.String())
	}
	answers := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(answers) != len(reqs) {
		p.t.Fatalf("probe helper answered %d lines for %d probes: %s", len(answers), len(reqs), out.String())
	}
	allowed := make([]bool, len(reqs))
	for i, a := range answers {
		switch a {
		case "allow":
			allowed[i] = true
		case "deny":
		default:
			p.t.Fatalf("probe %s: %s", p.line(i, reqs[i]), a)
		}
	}
	return allowed
}

// TestKernelDecidesAsThePolicy attaches each case's program and asks the kernel the case's
// requests: BPF_PROG_TEST_RUN does not run cgroup device programs, so the program is only seen
// deciding from a process in the cgroup.
func TestKernelDecidesAsThePolicy(t *testing.T) {
	requireRoot(t)
	_, dir := newCgroup(t, cgroup2Root(t))
	probes := newProber(t)
	for _, tc := range decisionCases {
		var reqs []request
		var want []bool
		for _, s := range tc.allow {
			if rq := req(s); kernelCanAsk(rq) {
				reqs, want = append(reqs, rq), append(want, true)
			}
		}
		for _, s := range tc.deny {
			if rq := req(s); kernelCanAsk(rq) {
				reqs, want = append(reqs, rq), append(want, false)
			}
		}
		mustApply(t, dir, tc.rules)
		got := probes.ask(dir, "", reqs)
		for i := range reqs {
			if got[i] != want[i] {
				t.Errorf("%s: %v: kernel allowed = %v, want %v", tc.name, reqs[i], got[i], want[i])
			}
		}
	}
}
