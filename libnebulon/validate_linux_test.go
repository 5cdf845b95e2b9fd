package libnebulon

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/specconv"
)

func TestDefaultSpecIsValid(t *testing.T) {
	s := specconv.Example()
	if err := Validate(s); err != nil {
		t.Fatalf("the spec `nebulon spec` writes does not validate: %v", err)
	}
}

func TestValidateNamesTheFieldAndValue(t *testing.T) {
	neg := -5
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
		field  string
		value  string
	}{
		{"no version", func(s *specs.Spec) { s.Version = "" }, "ociVersion", ""},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path", ""},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args", ""},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "process.cwd", `"tmp"`},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
		}, "linux.namespaces[6].type", `"foo"`},
		{"namespace twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		}, "linux.namespaces[6].type", `"pid"`},
		{"relative namespace path", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "proc/1/ns/pid" }, "linux.namespaces[0].path", `"proc/1/ns/pid"`},
		{"unknown rlimit", func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FOO"}} }, "process.rlimits[0].type", `"RLIMIT_FOO"`},
		{"soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}}
		}, "process.rlimits[0]", "10"},
		{"oom score out of range", func(s *specs.Spec) { v := 1001; s.Process.OOMScoreAdj = &v }, "process.oomScoreAdj", "1001"},
		{"mount without destination", func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Type: "tmpfs"}) }, "mounts[7].destination", ""},
		{"mount without type", func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x"}) }, "mounts[7].type", "/x"},
		{"relative hook path", func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "hook"}}} }, "hooks.poststop[0].path", `"hook"`},
		{"non-positive hook timeout", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/h", Timeout: &neg}}}
		}, "hooks.poststart[0].timeout", "-5"},
		{"mappings without user namespace", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, "linux.uidMappings", ""},
		{"new user namespace without mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		}, "linux.uidMappings", ""},
		{"time offsets without time namespace", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1}}
		}, "linux.timeOffsets", ""},
		{"hostname without uts namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:3] // pid, network, ipc
		}, "hostname", ""},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} }, "linux.sysctl.vm.swappiness", ""},
		{"net sysctl without net namespace", func(s *specs.Spec) {
			s.Hostname = ""
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}}
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "linux.sysctl.net.ipv4.ip_forward", "network"},
		{"bad propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, "linux.rootfsPropagation", `"sideways"`},
		{"bad device type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}}
		}, "linux.devices[0].type", `"z"`},
		{"relative masked path", func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"proc/kcore"} }, "linux.maskedPaths[0]", `"proc/kcore"`},
		{"unknown scheduler policy", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FOO"} }, "process.scheduler.policy", `"SCHED_FOO"`},
		{"unknown io priority class", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_X"}
		}, "process.ioPriority.class", `"IOPRIO_CLASS_X"`},
		{"bad exec cpu list", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "1-a"} }, "process.execCPUAffinity.final", `"1-a"`},
		{"unknown personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX64"} }, "linux.personality.domain", `"LINUX64"`},
		{"unknown memory policy mode", func(s *specs.Spec) {
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: "MPOL_X"}
		}, "linux.memoryPolicy.mode", `"MPOL_X"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := specconv.Example()
			tc.mutate(s)
			err := Validate(s)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (error: %v)", fe.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.value) {
				t.Errorf("error %q does not name the value %s", err, tc.value)
			}
		})
	}
}

func TestValidateAcceptsNamespacedSysctls(t *testing.T) {
	s := specconv.Example()
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.queues_max": "1"}
	if err := Validate(s); err != nil {
		t.Fatal(err)
	}
}

func TestUserSysctlsNeedAUserNamespace(t *testing.T) {
	s := specconv.Example()
	s.Linux.Sysctl = map[string]string{"user.max_user_namespaces": "5"}
	var fe *FieldError
	if err := Validate(s); !errors.As(err, &fe) || fe.Field != "linux.sysctl.user.max_user_namespaces" {
		t.Fatalf("Validate without a user namespace = %v, want an error naming the sysctl", err)
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
	if err := Validate(s); err != nil {
		t.Fatalf("Validate with a user namespace: %v", err)
	}
}

func TestValidateAcceptsUnknownCapabilities(t *testing.T) {
	s := specconv.Example()
	s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FOO")
	if err := Validate(s); err != nil {
		t.Fatalf("an unknown capability is warned about by the init, not refused: %v", err)
	}
}

func TestValidateAcceptsProcessKernelFields(t *testing.T) {
	s := specconv.Example()
	s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedRR, Priority: 10}
	s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE}
	s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0", Final: "0-1"}
	s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0"}
	if err := Validate(s); err != nil {
		t.Fatal(err)
	}
	if err := checkApplicable(s); err != nil {
		t.Fatal(err)
	}
}

func TestCheckApplicableRefusesWhatIsNotApplied(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*specs.Spec)
		field  string
	}{
		{func(s *specs.Spec) { s.Process.ApparmorProfile = "p" }, "process.apparmorProfile"},
	} {
		s := specconv.Example()
		tc.mutate(s)
		var fe *FieldError
		if err := checkApplicable(s); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("checkApplicable = %v, want an error for %s", err, tc.field)
		}
	}
	s := specconv.Example()
	limit := int64(10)
	s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	s.Linux.Resources.Memory = &specs.LinuxMemory{}
	s.Linux.Resources.CPU = &specs.LinuxCPU{}
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	if err := checkApplicable(s); err != nil {
		t.Errorf("resources (the cgroup managers check them against the host) and seccomp (warned) must pass: %v", err)
	}
}
