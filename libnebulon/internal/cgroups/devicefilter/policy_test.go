package devicefilter

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf/asm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rule builds a spec rule; -1 stands for a wildcard major or minor.
func rule(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: &major, Minor: &minor, Access: access}
}

func allow(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return rule(true, typ, major, minor, access)
}

func deny(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return rule(false, typ, major, minor, access)
}

// denyAll is the rule a runtime starts every list with.
var denyAll = specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}

// req parses "c 1:3 rw" into a request.
func req(s string) request {
	var typ, access string
	var rq request
	if _, err := fmt.Sscanf(s, "%s %d:%d %s", &typ, &rq.major, &rq.minor, &access); err != nil {
		panic(fmt.Sprintf("request %q: %v", s, err))
	}
	rq.typ = typeChar
	if typ == "b" {
		rq.typ = typeBlock
	}
	acc, err := parseAccess(access)
	if err != nil {
		panic(err)
	}
	rq.access = acc
	return rq
}

// decisionCases is shared with the kernel test, which asks the attached program the same
// requests: they name only devices it can make nodes of and open without side effects (1:3
// null, 1:5 zero, 1:7 full; 42 and 43 have no driver: 42 is reserved for sample code).
var decisionCases = []struct {
	name  string
	rules []specs.LinuxDeviceCgroup
	allow []string
	deny  []string
}{
	{
		name:  "no rules leave everything allowed, as a new v1 cgroup under the root",
		rules: nil,
		allow: []string{"c 1:3 rw", "c 42:1 m", "b 42:1 rw"},
	},
	{
		name:  "deny-all alone denies everything",
		rules: []specs.LinuxDeviceCgroup{denyAll},
		deny:  []string{"c 1:3 r", "c 1:3 w", "c 42:1 m", "b 42:1 r"},
	},
	{
		name:  "a later deny of part of an exact allow takes those bits away",
		rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", -1, -1, "m"), allow("c", 1, 3, "rwm"), deny("c", 1, 3, "w")},
		allow: []string{"c 1:3 r", "c 1:3 m", "c 1:5 m", "c 42:1 m"},
		deny:  []string{"c 1:3 w", "c 1:3 rw", "c 1:5 r", "b 42:1 m"},
	},
	{
		name:  "allows of one device add up",
		rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "r"), allow("c", 1, 3, "w")},
		allow: []string{"c 1:3 r", "c 1:3 w", "c 1:3 rw"},
		deny:  []string{"c 1:3 m", "c 1:5 r"},
	},
	{
		name:  "one exception must hold all the access asked for",
		rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, -1, "r"), allow("c", 1, 3, "w")},
		allow: []string{"c 1:3 r", "c 1:3 w", "c 1:5 r"},
		deny:  []string{"c 1:3 rw", "c 1:5 w", "c 1:5 rw"},
	},
	{
		name:  "a deny does not punch a hole into a wildcard allow, as in v1",
		rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, -1, "rwm"), deny("c", 1, 3, "w")},
		allow: []string{"c 1:3 w", "c 1:3 rw", "c 1:5 rw"},
		deny:  []string{"c 42:1 r"},
	},
	{
		name:  "a deny with the wildcard allow's own key takes bits from it",
		rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 42, -1, "rwm"), deny("c", 42, -1, "w")},
		allow: []string{"c 42:1 r", "c 42:2 m"},
		deny:  []string{"c 42:1 w", "c 42:1 rw", "c 43:1 r"},
	},
	{
		name:  "the type must match",
		rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", -1, -1, "rwm")},
		allow: []string{"c 42:1 r", "c 1:3 rw"},
		deny:  []string{"b 42:1 r", "b 42:1 m"},
	},
	{
		name:  "an allow of type a allows everything whatever its numbers and access, as in v1",
		rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "r"), allow("a", 42, 1, "r")},
		allow: []string{"c 1:3 w", "b 43:1 rw", "c 43:2 m"},
	},
	{
		name:  "a deny of type a denies everything and drops earlier allows",
		rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "rwm"), deny("a", 42, 1, "m")},
		deny:  []string{"c 1:3 r", "c 1:3 m", "b 42:1 r"},
	},
	{
		name: "empty type means a and empty access rwm",
		rules: []specs.LinuxDeviceCgroup{
			{Allow: false},
			{Allow: true, Type: "c", Major: ptr(1), Minor: ptr(3)},
			{Allow: true, Type: "b", Access: "m"},
		},
		allow: []string{"c 1:3 rw", "c 1:3 m", "b 42:1 m"},
		deny:  []string{"c 1:5 r", "b 42:1 r"},
	},
	{
		name:  "nil major and minor are wildcards",
		rules: []specs.LinuxDeviceCgroup{denyAll, {Allow: true, Type: "c", Minor: ptr(1), Access: "r"}},
		allow: []string{"c 42:1 r", "c 43:1 r"},
		deny:  []string{"c 42:2 r", "c 42:1 w"},
	},
	{
		name:  "under allow-all a deny matches any shared access bit",
		rules: []specs.LinuxDeviceCgroup{allow("a", -1, -1, "rwm"), deny("c", 1, 3, "w"), deny("b", -1, -1, "m")},
		allow: []string{"c 1:3 r", "c 1:5 w", "b 42:1 rw", "c 42:1 m"},
		deny:  []string{"c 1:3 w", "c 1:3 rw", "b 42:1 m"},
	},
	{
		name:  "under allow-all an allow does not punch a hole into a wildcard deny, as in v1",
		rules: []specs.LinuxDeviceCgroup{allow("a", -1, -1, "rwm"), deny("c", 42, -1, "w"), allow("c", 42, 1, "w")},
		allow: []string{"c 42:1 r", "c 43:1 w"},
		deny:  []string{"c 42:1 w", "c 42:2 rw"},
	},
	{
		name:  "under allow-all an allow takes bits from the exact deny",
		rules: []specs.LinuxDeviceCgroup{allow("a", -1, -1, "rwm"), deny("c", 42, 1, "rw"), allow("c", 42, 1, "r")},
		allow: []string{"c 42:1 r", "c 42:1 m"},
		deny:  []string{"c 42:1 w", "c 42:1 rw"},
	},
	{
		name:  "majors above MaxInt32 match only themselves",
		rules: []specs.LinuxDeviceCgroup{denyAll, allow("c", 3000000000, -1, "rwm"), allow("c", 42, 3000000000, "rwm"), allow("c", 42, 1, "r")},
		allow: []string{"c 42:1 r", "c 3000000000:7 rw", "c 42:3000000000 m"},
		deny:  []string{"c 42:1 w", "c 42:2 r", "c 43:1 r"},
	},
	{
		name: "a runtime's default list",
		rules: []specs.LinuxDeviceCgroup{
			denyAll,
			allow("c", -1, -1, "m"), allow("b", -1, -1, "m"),
			allow("c", 1, 3, "rwm"), allow("c", 1, 5, "rwm"), allow("c", 1, 7, "rwm"),
			allow("c", 1, 8, "rwm"), allow("c", 1, 9, "rwm"), allow("c", 5, 0, "rwm"),
			allow("c", 5, 1, "rwm"), allow("c", 5, 2, "rwm"), allow("c", 136, -1, "rwm"),
			allow("c", 10, 200, "rwm"),
		},
		allow: []string{"c 1:3 rw", "c 1:5 r", "c 1:7 w", "c 42:1 m", "b 42:1 m"},
		deny:  []string{"c 42:1 r", "b 42:1 r", "b 42:1 w"},
	},
}

func ptr(n int64) *int64 { return &n }

// kernelCanAsk reports whether rq names a device number that fits a dev_t, so that the kernel
// test can make a node of it.
func kernelCanAsk(rq request) bool { return rq.major < 1<<12 && rq.minor < 1<<20 }

func TestPolicyDecidesAsCgroupV1(t *testing.T) {
	for _, tc := range decisionCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newPolicy(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []struct {
				reqs  []string
				allow bool
			}{{tc.allow, true}, {tc.deny, false}} {
				for _, s := range want.reqs {
					if got := p.allows(req(s)); got != want.allow {
						t.Errorf("%s: allowed = %v, want %v (policy: %v)", s, got, want.allow, p)
					}
				}
			}
		})
	}
}

func TestPolicyKeepsV1ExceptionList(t *testing.T) {
	p, err := newPolicy([]specs.LinuxDeviceCgroup{
		denyAll,
		allow("c", 1, 3, "r"), allow("c", 1, -1, "m"), allow("c", 1, 3, "w"),
		deny("c", 1, -1, "m"), deny("c", 1, 3, "r"), allow("b", 8, 0, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "deny all, except allow [c 1:3 w] [b 8:0 rwm]"; got != want {
		t.Errorf("policy = %s, want %s", got, want)
	}
}

func TestInvalidRulesAreErrorsNamingTheRule(t *testing.T) {
	for _, tc := range []struct {
		rule specs.LinuxDeviceCgroup
		want string
	}{
		{specs.LinuxDeviceCgroup{Type: "x", Access: "r"}, `devices[1]: type "x" is not a, b or c`},
		{specs.LinuxDeviceCgroup{Type: "C"}, `devices[1]: type "C" is not a, b or c`},
		{specs.LinuxDeviceCgroup{Type: "c", Access: "rwx"}, `devices[1]: access "rwx" has letters other than r, w and m`},
		{specs.LinuxDeviceCgroup{Type: "a", Access: "R"}, `devices[1]: access "R" has letters other than r, w and m`},
		{specs.LinuxDeviceCgroup{Type: "c", Major: ptr(-2)}, `devices[1]: major -2 is not -1 (any) or a number from 0 to 4294967295`},
		{specs.LinuxDeviceCgroup{Type: "b", Minor: ptr(1 << 32)}, `devices[1]: minor 4294967296 is not -1 (any) or a number from 0 to 4294967295`},
	} {
		_, err := program([]specs.LinuxDeviceCgroup{denyAll, tc.rule})
		if err == nil || err.Error() != tc.want {
			t.Errorf("program(%+v) error = %v, want %s", tc.rule, err, tc.want)
		}
	}
}

func TestProgramWithoutExceptionsReturnsTheDefault(t *testing.T) {
	for _, tc := range []struct {
		rules []specs.LinuxDeviceCgroup
		want  int64
	}{
		{[]specs.LinuxDeviceCgroup{denyAll}, 0},
		{nil, 1},
		{[]specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "r"), deny("c", 1, 3, "r")}, 0},
	} {
		insns, err := program(tc.rules)
		if err != nil {
			t.Fatal(err)
		}
		// Six loads from the ctx, then the verdict: nothing else, not even an unreachable
		// return, which the verifier would refuse.
		decoded := decode(t, insns)
		if len(decoded) != 8 {
			t.Fatalf("program(%v) has %d instructions, want 8:\n%v", tc.rules, len(decoded), decoded)
		}
		if mov := decoded[6]; mov.OpCode.ALUOp() != asm.Mov || mov.Dst != asm.R0 || mov.Constant != tc.want {
			t.Errorf("program(%v)[6] = %v, want r0 = %d", tc.rules, mov, tc.want)
		}
	}
}
