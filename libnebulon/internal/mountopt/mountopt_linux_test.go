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

func TestParseMountOptionsRejectsUnknownBindOptions(t *testing.T) {
	for _, opts := range [][]string{{"bind", "noexce"}, {"rbind", "nosiud"}, {"ro", "bind", "private-ish"}} {
		if _, err := Parse(opts); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error naming the option", opts)
		}
	}
	// Filesystem data (key=value) on a bind mount is dropped: mount(2) ignores it for a bind.
	for _, opts := range [][]string{{"rbind", "size=64k"}, {"mode=755", "bind"}} {
		if m, err := Parse(opts); err != nil || m.Data != "" {
			t.Errorf("Parse(%q) = %+v, %v; want no error and no data", opts, m, err)
		}
	}
	// For other mounts an unknown option is filesystem data, as in runc.
	if m, err := Parse([]string{"newinstance", "ptmxmode=0666"}); err != nil || m.Data != "newinstance,ptmxmode=0666" {
		t.Errorf("devpts data: %+v, %v", m, err)
	}
}

func TestParseMountOptionsRecursiveAttributes(t *testing.T) {
	for _, tc := range []struct {
		opts     []string
		set, clr uint64
	}{
		{[]string{"rro"}, unix.MOUNT_ATTR_RDONLY, 0},
		{[]string{"rro", "rrw"}, 0, unix.MOUNT_ATTR_RDONLY},
		{[]string{"rnosuid", "rnodev", "rnoexec"}, unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC, 0},
		{[]string{"rsuid", "rdev", "rexec"}, 0, unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC},
		{[]string{"rnodiratime"}, unix.MOUNT_ATTR_NODIRATIME, 0},
		{[]string{"rdiratime"}, 0, unix.MOUNT_ATTR_NODIRATIME},
		{[]string{"rnosymfollow"}, unix.MOUNT_ATTR_NOSYMFOLLOW, 0},
		{[]string{"rsymfollow"}, 0, unix.MOUNT_ATTR_NOSYMFOLLOW},
		// The access time is one field: the last option wins, always with all of __ATIME cleared.
		{[]string{"rnoatime"}, unix.MOUNT_ATTR_NOATIME, unix.MOUNT_ATTR__ATIME},
		{[]string{"rnoatime", "rstrictatime"}, unix.MOUNT_ATTR_STRICTATIME, unix.MOUNT_ATTR__ATIME},
		{[]string{"rrelatime"}, unix.MOUNT_ATTR_RELATIME, unix.MOUNT_ATTR__ATIME},
		{[]string{"rnoatime", "ratime"}, unix.MOUNT_ATTR_RELATIME, unix.MOUNT_ATTR__ATIME},
		{[]string{"rnorelatime"}, unix.MOUNT_ATTR_RELATIME, unix.MOUNT_ATTR__ATIME},
		{[]string{"rstrictatime", "rnostrictatime"}, unix.MOUNT_ATTR_RELATIME, unix.MOUNT_ATTR__ATIME},
	} {
		m, err := Parse(append([]string{"rbind"}, tc.opts...))
		if err != nil || m.RecAttrSet != tc.set || m.RecAttrClr != tc.clr || m.Flags != 0 {
			t.Errorf("Parse(%q) = set %#x clr %#x flags %#x, %v; want set %#x clr %#x", tc.opts, m.RecAttrSet, m.RecAttrClr, m.Flags, err, tc.set, tc.clr)
		}
	}
}

// A bind mount changes only the attributes its options name, keeping the source's others.
func TestBindAttrsChangeOnlyWhatIsNamed(t *testing.T) {
	for _, tc := range []struct {
		opts     []string
		set, clr uint64
	}{
		{[]string{"bind"}, 0, 0},
		{[]string{"bind", "ro"}, unix.MOUNT_ATTR_RDONLY, 0},
		{[]string{"bind", "rw", "suid"}, 0, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID},
		{[]string{"bind", "nosuid", "nodev", "noexec", "nosymfollow"}, unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NOSYMFOLLOW, 0},
		{[]string{"bind", "noatime"}, unix.MOUNT_ATTR_NOATIME, unix.MOUNT_ATTR__ATIME},
		{[]string{"bind", "strictatime"}, unix.MOUNT_ATTR_STRICTATIME, unix.MOUNT_ATTR__ATIME},
		{[]string{"bind", "atime"}, unix.MOUNT_ATTR_RELATIME, unix.MOUNT_ATTR__ATIME},
		{[]string{"bind", "sync", "dirsync"}, 0, 0},
	} {
		m, err := Parse(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if set, clr := m.BindAttrs(); set != tc.set || clr != tc.clr {
			t.Errorf("%q: BindAttrs() = %#x, %#x; want %#x, %#x", tc.opts, set, clr, tc.set, tc.clr)
		}
	}
}

// features' mountOptions is every option Parse knows, and Parse knows every option it lists.
func TestNamesAreEveryOptionParseKnows(t *testing.T) {
	names := map[string]bool{}
	for _, n := range Names() {
		names[n] = true
		if m, err := Parse([]string{"bind", n}); err != nil || m.Data != "" {
			t.Errorf("Names() lists %q but Parse takes it as data: %+v, %v", n, m, err)
		}
	}
	for _, want := range []string{"rro", "rrw", "rnosymfollow", "nosymfollow", "symfollow", "tmpcopyup", "rbind", "rprivate", "lazytime", "acl"} {
		if !names[want] {
			t.Errorf("Names() lacks %q", want)
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

// idmap and ridmap are the runtime's to act on, never mount(2) data.
func TestParseMountOptionsIDMap(t *testing.T) {
	for _, tc := range []struct {
		opts       []string
		idmap, rec bool
	}{
		{[]string{"bind"}, false, false},
		{[]string{"bind", "idmap"}, true, false},
		{[]string{"rbind", "ridmap"}, true, true},
		{[]string{"rbind", "ridmap", "idmap"}, true, false},
	} {
		m, err := Parse(tc.opts)
		if err != nil || m.IDMap != tc.idmap || m.IDMapRecursive != tc.rec || m.Data != "" {
			t.Errorf("Parse(%q) = %+v, %v", tc.opts, m, err)
		}
	}
}
