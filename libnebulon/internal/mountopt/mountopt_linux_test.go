package mountopt

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptionsSplitsFlagsPropagationAndData(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       []string
		flags      uintptr
		data       string
		bind, rec  bool
		propagates int
	}{
		{"tmpfs with size and mode", []string{"nosuid", "nodev", "mode=755", "size=64k"}, unix.MS_NOSUID | unix.MS_NODEV, "mode=755,size=64k", false, false, 0},
		{"read-only bind", []string{"bind", "ro"}, unix.MS_RDONLY, "", true, false, 0},
		{"rbind with propagation", []string{"rbind", "rprivate"}, 0, "", true, true, 1},
		{"later rw clears ro", []string{"ro", "rw"}, 0, "", false, false, 0},
		{"strictatime and noexec", []string{"strictatime", "noexec"}, unix.MS_STRICTATIME | unix.MS_NOEXEC, "", false, false, 0},
		{"relatime is a flag", []string{"relatime"}, unix.MS_RELATIME, "", false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if m.Flags != tc.flags || m.Data != tc.data || m.Bind != tc.bind || m.Recursive != tc.rec || len(m.Propagation) != tc.propagates {
				t.Errorf("Parse(%q) = %+v", tc.opts, m)
			}
		})
	}
}

func TestParseMountOptionsRejectsWhatItCannotHonour(t *testing.T) {
	for _, opts := range [][]string{{"idmap"}, {"rnoexec"}} {
		if _, err := Parse(opts); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", opts)
		}
	}
}

// podman's --read-only tmpfs options: tmpcopyup is ours to act on, never mount(2) data.
func TestParseMountOptionsTmpCopyUp(t *testing.T) {
	m, err := Parse([]string{"rw", "rprivate", "nosuid", "nodev", "tmpcopyup"})
	if err != nil || !m.TmpCopyUp || m.Data != "" || m.Flags != unix.MS_NOSUID|unix.MS_NODEV {
		t.Errorf("got %+v, %v; want TmpCopyUp, no data, nosuid|nodev", m, err)
	}
	if m, _ := Parse([]string{"tmpcopyup", "notmpcopyup"}); m.TmpCopyUp || m.Data != "" {
		t.Errorf("notmpcopyup after tmpcopyup: %+v", m)
	}
}
