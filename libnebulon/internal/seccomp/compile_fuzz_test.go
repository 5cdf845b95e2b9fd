//go:build cgo

package seccomp

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzCompile compiles linux.seccomp as config.json gives it (JSON of specs.LinuxSeccomp):
// Compile must never panic, and an error must be a *Error naming a field, the field first in
// its message, since what is wrong in a profile is the user's to fix. A filter it returns must
// have instructions. testdata/fuzz/FuzzCompile holds the seeds and every crasher found.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`{"defaultAction": "SCMP_ACT_ALLOW"}`,
		`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
		  "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}`,
		`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
		  "errnoRet": 38, "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NE"}, {"index": 0, "value": 0, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]}]}`,
		`{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock", "listenerMetadata": "x",
		  "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"], "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}`,
		`{"defaultAction": "SCMP_ACT_KILL_PROCESS", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}`,
		`{"defaultAction": "SCMP_ACT_TRACE", "syscalls": [{"names": ["no_such_call"], "action": "SCMP_ACT_LOG"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.LinuxSeccomp
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		filter, err := Compile(&s)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error names no field: %v (%T)", err, err)
			}
			if !strings.HasPrefix(err.Error(), fe.Field+": ") {
				t.Fatalf("error %q does not start with its field %q", err, fe.Field)
			}
			return
		}
		if filter != nil && len(filter.Program) == 0 {
			t.Fatalf("Compile(%s) returned a filter without instructions", data)
		}
	})
}
