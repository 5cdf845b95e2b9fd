package main

import "testing"

func TestParseRestart(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want restartPolicy
		err  string
	}{
		{in: "no", want: restartPolicy{name: "no"}},
		{in: "always", want: restartPolicy{name: "always"}},
		{in: "unless-stopped", want: restartPolicy{name: "unless-stopped"}},
		{in: "on-failure", want: restartPolicy{name: "on-failure"}},
		{in: "on-failure:2", want: restartPolicy{name: "on-failure", max: 2}},
		{in: "on-failure:-1", err: `--restart "on-failure:-1": the count must be a whole number`},
		{in: "always:1", err: `--restart "always:1": only on-failure takes a count`},
		{in: "", err: `--restart "": want no, on-failure[:N], always or unless-stopped`},
	} {
		got, err := parseRestart(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseRestart(%q) = %v; want error %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseRestart(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestRestartPolicyRestarts(t *testing.T) {
	onFailure2 := restartPolicy{name: "on-failure", max: 2}
	for _, tc := range []struct {
		p           restartPolicy
		code, count int
		want        bool
	}{
		{restartPolicy{name: "no"}, 1, 0, false},
		{onFailure2, 0, 0, false},
		{onFailure2, 3, 0, true},
		{onFailure2, 3, 1, true},
		{onFailure2, 3, 2, false},
		{restartPolicy{name: "on-failure"}, 1, 100, true},
		{restartPolicy{name: "always"}, 0, 100, true},
		{restartPolicy{name: "unless-stopped"}, 0, 5, true},
	} {
		if got := tc.p.restarts(tc.code, tc.count); got != tc.want {
			t.Errorf("%+v.restarts(%d, %d) = %v", tc.p, tc.code, tc.count, got)
		}
	}
}
