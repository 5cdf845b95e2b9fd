package main

import (
	"slices"
	"strings"
	"testing"
)

func TestReorderArgs(t *testing.T) {
	app := newApp()
	for _, tc := range []struct{ in, want string }{
		// The seed's own example, and docker's habits.
		{"nb volume create myvolume --driver local", "nb volume create --driver local myvolume"},
		{"nb volume create cache -o purpose=cache --driver=local", "nb volume create -o purpose=cache --driver=local cache"},
		{"nb image rm myapp latest -f", "nb image rm -f myapp latest"},
		{"nb --root /s image ls --format json -q", "nb --root /s image ls --format json -q"},
		{"nb --root=/s rm web db -f", "nb --root=/s rm -f web db"},
		{"nb ps -aq", "nb ps -aq"},
		{"nb logs web -f", "nb logs -f web"},
		{"nb kill web --signal TERM", "nb kill --signal TERM web"},
		{"nb volume ls -q", "nb volume ls -q"},
		// A literal "--" ends flag parsing: nothing after it moves.
		{"nb volume rm -- -odd", "nb volume rm -- -odd"},
		{"nb image rm myapp -- -f", "nb image rm myapp -- -f"},
		// create's and exec's command lines are the container's, flags and all.
		{"nb create busybox ls -l --color", "nb create busybox ls -l --color"},
		{"nb create --rootfs /r sh -c x", "nb create --rootfs /r sh -c x"},
		{"nb exec web ps -ef", "nb exec web ps -ef"},
		// No command, a group without its subcommand, an unknown one: left for the parser.
		{"nb", "nb"},
		{"nb --version", "nb --version"},
		{"nb volume", "nb volume"},
		{"nb volume bogus x --y", "nb volume bogus x --y"},
		{"nb bogus x --y", "nb bogus x --y"},
	} {
		got := reorderArgs(app, strings.Fields(tc.in))
		if want := strings.Fields(tc.want); !slices.Equal(got, want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tc.in, got, want)
		}
	}
}
