// Package subid reads /etc/subuid and /etc/subgid, the subordinate ids shadow gives each user,
// for the runtime's rootless parent (libnebulon/internal/parent) and rootless nb
// (internal/rootless), which map them.
package subid

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Range is a line of /etc/subuid or /etc/subgid: Count ids from Start.
type Range struct{ Start, Count uint64 }

// Read reads the ranges file gives the user name (or its uid), shadow's format
// "name-or-uid:start:count"; listed says whether a line names the user. A missing file lists
// no one. Malformed lines are skipped; a range of 0 ids is kept (describe it, map none).
func Read(file, name string, uid int) (_ []Range, listed bool, _ error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	var out []Range
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(parts) != 3 || (parts[0] != name && parts[0] != strconv.Itoa(uid)) {
			continue
		}
		listed = true
		start, err1 := strconv.ParseUint(parts[1], 10, 32)
		count, err2 := strconv.ParseUint(parts[2], 10, 32)
		if err1 == nil && err2 == nil {
			out = append(out, Range{start, count})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, listed, fmt.Errorf("read %s: %w", file, err)
	}
	return out, listed, nil
}
