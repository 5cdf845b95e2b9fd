package main

import (
	"slices"
	"strings"
	"testing"
)

func TestReorderArgs(t *testing.T) {
	app := newApp()
	for _, tc := range []struct{ in, want string }{
		{"nebulon update c1 --pids-limit 12345", "nebulon update --pids-limit 12345 c1"},
		{"nebulon update c1 --pids-limit=12345 --memory 1m", "nebulon update --pids-limit=12345 --memory 1m c1"},
		{"nebulon --root /r update c1 -r -", "nebulon --root /r update -r - c1"},
		{"nebulon --debug --root=/r kill c1 --all 9", "nebulon --debug --root=/r kill --all c1 9"},
		{"nebulon kill c1 KILL -a", "nebulon kill -a c1 KILL"},
		{"nebulon delete c1 --force", "nebulon delete --force c1"},
		{"nebulon run c1 -d -b /bundle --keep", "nebulon run -d -b /bundle --keep c1"},
		{"nebulon create c1 --bundle /b --pid-file /p", "nebulon create --bundle /b --pid-file /p c1"},
		{"nebulon list -q", "nebulon list -q"},
		{"nebulon events c1 --interval 1s --stats", "nebulon events --interval 1s --stats c1"},
		// An unknown flag moves too, so the flag parser names it.
		{"nebulon state c1 --bogus", "nebulon state --bogus c1"},
		// Nothing after "--" moves.
		{"nebulon update c1 -- --memory", "nebulon update c1 -- --memory"},
		{"nebulon update --memory 1m -- c1", "nebulon update --memory 1m -- c1"},
		// exec's command and ps's options belong to them (runc's SkipArgReorder).
		{"nebulon exec c1 ls -l --color", "nebulon exec c1 ls -l --color"},
		{"nebulon exec -t c1 sh -c 'x'", "nebulon exec -t c1 sh -c 'x'"},
		{"nebulon ps c1 -o pid,comm", "nebulon ps c1 -o pid,comm"},
		{"nebulon --root /r ps c1 -ef", "nebulon --root /r ps c1 -ef"},
		// No command, or an unknown one: left for the parser to report.
		{"nebulon --version", "nebulon --version"},
		{"nebulon bogus c1 --x", "nebulon bogus c1 --x"},
		{"nebulon", "nebulon"},
	} {
		got := reorderArgs(app, strings.Fields(tc.in))
		if want := strings.Fields(tc.want); !slices.Equal(got, want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tc.in, got, want)
		}
	}
}
