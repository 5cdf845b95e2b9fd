package rootless

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestIDMapMapsTheUserThenEachOfItsRanges(t *testing.T) {
	file := filepath.Join(t.TempDir(), "subuid")
	uid := os.Geteuid()
	data := "other:100000:65536\nme:200000:1000\n" + strconv.Itoa(uid) + ":300000:10\nme:bad:1\nme:400000:0\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := idMap(file, "me", 4242)
	if err != nil {
		t.Fatal(err)
	}
	want := "0 4242 1 1 200000 1000 1001 300000 10"
	if got := strings.Join(m, " "); got != want {
		t.Errorf("idMap = %q, want %q", got, want)
	}
}

func TestIDMapWithoutARangeNamesTheFileAndTheUser(t *testing.T) {
	file := filepath.Join(t.TempDir(), "subgid")
	if err := os.WriteFile(file, []byte("other:100000:65536\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := idMap(file, "nobody-here", 4242)
	if err == nil || !strings.Contains(err.Error(), file+" gives it no subordinate ids") || !strings.Contains(err.Error(), "user nobody-here") {
		t.Errorf("idMap = %v, want an error naming %s and the user", err, file)
	}
}
