package linuxspec

import "testing"

func TestVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"1.0.2", false}, {"1.0.2-dev", false}, {"1.1.0", true}, {"1.3.0", true}, {"2.0.0", true},
		{"0.9", false}, {"", true}, {"x", true},
	} {
		if got := VersionAtLeast(tc.v, 1, 1); got != tc.want {
			t.Errorf("VersionAtLeast(%q, 1, 1) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
