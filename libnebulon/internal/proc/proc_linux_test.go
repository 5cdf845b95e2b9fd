package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestParseProcStatCountsFieldsFromTheLastParenthesis(t *testing.T) {
	line := "1234 (we ird) na)me) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100 18446744073709551615\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'S' || st.PPid != 1 || st.StartTime != 987654 {
		t.Fatalf("parseStat = %+v, want state S, ppid 1, start 987654", st)
	}
}

func TestAliveIsFalseForAnotherStartTime(t *testing.T) {
	self, err := ReadStat(1)
	if err != nil {
		t.Skip("no /proc")
	}
	if !Alive(1, self.StartTime) {
		t.Fatal("pid 1 with its own start time is not alive")
	}
	if Alive(1, self.StartTime+1) {
		t.Fatal("pid 1 with another start time counts as alive: pid reuse would go unnoticed")
	}
}

// ReadFile reads what os.ReadFile reads, of any size, and fails as it does.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4095, 4096, 4097, 100000} {
		path := filepath.Join(dir, fmt.Sprint(size))
		want := bytes.Repeat([]byte("x"), size)
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadFile of %d bytes: %d bytes, %v", size, len(got), err)
		}
	}
	if got, err := ReadFile("/proc/self/stat"); err != nil || !bytes.HasPrefix(got, []byte(fmt.Sprint(os.Getpid())+" ")) {
		t.Errorf("ReadFile(/proc/self/stat) = %q, %v", got, err)
	}
	_, err := ReadFile(filepath.Join(dir, "missing"))
	_, want := os.ReadFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, os.ErrNotExist) || err.Error() != want.Error() {
		t.Errorf("missing file: %v, want %v", err, want)
	}
	if _, err := ReadFile(dir); err == nil || !errors.Is(err, syscall.EISDIR) {
		t.Errorf("directory: %v, want EISDIR", err)
	}
}
