package devicefilter

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Devices is the cgroup v1 devices hierarchy of a hybrid host such as this one.
const v1Devices = "/sys/fs/cgroup/devices"

// TestProgramDecidesAsTheV1Controller writes rule lists (those of the decision table, then random
// ones) to a real v1 devices cgroup and Applys them to a v2 cgroup, then asks the same requests
// in both: the attached program, the v1 controller and the model must agree on every one, and the
// model's exception list must be the one v1 shows in devices.list. The random lists draw from a
// small set (majors 42 and 43, minors 1 and 2, wildcards, every access subset, a few type-a
// resets) so that rules often share keys and wildcards, where the model's corner cases are.
func TestProgramDecidesAsTheV1Controller(t *testing.T) {
	requireRoot(t)
	var st unix.Statfs_t
	if err := unix.Statfs(v1Devices, &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		t.Skipf("no cgroup v1 devices hierarchy at %s to compare with", v1Devices)
	}
	if _, err := os.Stat(filepath.Join(v1Devices, "devices.allow")); err != nil {
		t.Skipf("no cgroup v1 devices hierarchy at %s to compare with: %v", v1Devices, err)
	}
	_, dir := newCgroup(t, cgroup2Root(t))
	probes := newProber(t)

	var grid []request
	for _, typ := range []uint32{typeBlock, typeChar} {
		for _, major := range []uint32{42, 43} {
			for _, minor := range []uint32{1, 2} {
				for _, acc := range []uint32{accRead, accWrite, accRead | accWrite, accMknod} {
					grid = append(grid, request{typ, major, minor, acc})
				}
			}
		}
	}

	type list struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		reqs  []request
	}
	var lists []list
	for _, tc := range decisionCases {
		reqs := grid
		for _, s := range append(tc.allow, tc.deny...) {
			if rq := req(s); kernelCanAsk(rq) {
				reqs = append(reqs, rq)
			}
		}
		lists = append(lists, list{tc.name, tc.rules, reqs})
	}
	const seed = 1
	rnd := rand.New(rand.NewPCG(seed, seed))
	for n := range 40 {
		lists = append(lists, list{fmt.Sprintf("random list %d (seed %d)", n, seed), randomRules(rnd), grid})
	}

	for _, l := range lists {
		p, err := newPolicy(l.rules)
		if err != nil {
			t.Fatal(err)
		}
		v1Dir, _ := newCgroup(t, v1Devices)
		for i, r := range l.rules {
			file := "devices.deny"
			if r.Allow {
				file = "devices.allow"
			}
			if err := os.WriteFile(filepath.Join(v1Dir, file), []byte(v1Line(r)), 0); err != nil {
				t.Fatalf("%s: write rule %d %q to %s: %v", l.name, i, v1Line(r), file, err)
			}
		}
		if !p.defaultAllow {
			listed, err := os.ReadFile(filepath.Join(v1Dir, "devices.list"))
			if err != nil {
				t.Fatal(err)
			}
			var model []string
			for _, e := range p.exceptions {
				model = append(model, e.String())
			}
			if got, want := strings.TrimSpace(string(listed)), strings.Join(model, "\n"); got != want {
				t.Errorf("%s %s:\nv1 devices.list:\n%s\nmodel:\n%s", l.name, describe(l.rules), got, want)
			}
		}
		mustApply(t, dir, l.rules)
		byV1 := probes.ask(nil, v1Dir, l.reqs)
		byProgram := probes.ask(dir, "", l.reqs)
		for i, rq := range l.reqs {
			if byModel := p.allows(rq); byV1[i] != byModel || byProgram[i] != byModel {
				t.Errorf("%s %s: %v: v1 allowed %v, program %v, model %v (%v)",
					l.name, describe(l.rules), rq, byV1[i], byProgram[i], byModel, p)
			}
		}
	}
}

func randomRules(rnd *rand.Rand) []specs.LinuxDeviceCgroup {
	pick := func(choices ...string) string { return choices[rnd.IntN(len(choices))] }
	number := func(n int64) *int64 {
		switch rnd.IntN(3) {
		case 0:
			return nil
		case 1:
			return ptr(-1)
		}
		return ptr(n + rnd.Int64N(2))
	}
	var rules []specs.LinuxDeviceCgroup
	if rnd.IntN(4) > 0 {
		rules = append(rules, denyAll)
	}
	for range 1 + rnd.IntN(7) {
		rules = append(rules, specs.LinuxDeviceCgroup{
			Allow:  rnd.IntN(2) == 0,
			Type:   pick("a", "b", "b", "b", "c", "c", "c", "c"),
			Major:  number(42),
			Minor:  number(1),
			Access: pick("", "r", "w", "m", "rw", "rm", "wm", "rwm", "mr"),
		})
	}
	return rules
}

// v1Line is the line for devices.allow or devices.deny. v1 reads only the "a" of a type-a rule
// and takes an empty access as none, where the spec means rwm.
func v1Line(r specs.LinuxDeviceCgroup) string {
	if r.Type == "" || r.Type == "a" {
		return "a"
	}
	num := func(n *int64) string {
		if n == nil || *n == -1 {
			return "*"
		}
		return fmt.Sprint(*n)
	}
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	return fmt.Sprintf("%s %s:%s %s", r.Type, num(r.Major), num(r.Minor), access)
}

func describe(rules []specs.LinuxDeviceCgroup) string {
	var s []string
	for _, r := range rules {
		verdict := "deny"
		if r.Allow {
			verdict = "allow"
		}
		s = append(s, verdict+" "+v1Line(r))
	}
	return "[" + strings.Join(s, ", ") + "]"
}
