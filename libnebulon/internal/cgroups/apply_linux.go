package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// applied is a write made, with what the file held before it, so a failed update can be undone.
type applied struct {
	path, old string
}

// applyWrites makes the writes in order, each into the first of its files the host has, and
// returns those it made. A controller or file the host lacks is an error naming the field:
// a limit that is not applied is never silently dropped. With keepOld, each file's old value is
// read first, for rollback.
func applyWrites(ws []write, dirOf func(ctrl string) (string, error), keepOld bool) ([]applied, error) {
	var done []applied
	for _, w := range ws {
		dir, err := dirOf(w.ctrl)
		if err != nil {
			return done, &ResourceError{Field: w.field, Err: err}
		}
		i := firstExisting(dir, w.files)
		if i < 0 && w.optional {
			continue
		}
		if i < 0 {
			return done, resErr(w.field, "this host cannot apply it: no %s in %s", strings.Join(w.files, " or "), dir)
		}
		path := filepath.Join(dir, w.files[i])
		var old string
		if keepOld {
			if old, err = oldValue(path, w.key); err != nil {
				return done, &ResourceError{Field: w.field, Err: err}
			}
		}
		if err := os.WriteFile(path, []byte(w.vals[i]), 0); err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return done, resErr(w.field, "write %q to %s: %w", w.vals[i], path, err)
		}
		if keepOld {
			done = append(done, applied{path: path, old: old})
		}
		if w.verify && !limitApplied(path, w.vals[i]) {
			got, _ := os.ReadFile(path)
			return done, resErr(w.field, "this kernel accepts %s and ignores it (it reads %s): the limit cannot be applied",
				path, strings.TrimSpace(string(got)))
		}
	}
	return done, nil
}

// update makes the writes on a live cgroup, after the memory.checkBeforeUpdate check against
// usageFile, and restores the old values if one fails.
func update(ws []write, dirOf func(string) (string, error), mem *specs.LinuxMemory, usageFile string) error {
	if err := checkBeforeUpdate(mem, dirOf, usageFile); err != nil {
		return err
	}
	done, err := applyWrites(ws, dirOf, true)
	if err != nil {
		if rerr := rollback(done); rerr != nil {
			return fmt.Errorf("%w (and the old limits could not all be restored: %v)", err, rerr)
		}
	}
	return err
}

// rollback restores the old values, last write first: limits that depend on each other (memory
// and memory+swap on v1) were written in an order that works, and undoing in reverse keeps it.
func rollback(done []applied) error {
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		if err := os.WriteFile(done[i].path, []byte(done[i].old), 0); err != nil {
			errs = append(errs, fmt.Errorf("restore %s to %q: %w", done[i].path, done[i].old, err))
		}
	}
	return errors.Join(errs...)
}

// limitApplied reports whether a byte limit file reads what was written, as the kernel stores
// it: rounded down to whole pages, and -1 (no limit) as the largest page count.
func limitApplied(path, want string) bool {
	got, err := readInt(path)
	n, perr := strconv.ParseInt(want, 10, 64)
	if err != nil || perr != nil {
		return false
	}
	if n < 0 {
		return got < 0 || got >= 1<<62
	}
	page := int64(os.Getpagesize())
	return got == n/page*page
}

func firstExisting(dir string, files []string) int {
	for i, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return i
		}
	}
	return -1
}

// oldValue reads what writing back restores a file to. Files with a line per device (or
// interface) restore that line, or clear the key when it had none.
func oldValue(path, key string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	content := strings.TrimSpace(string(data))
	file := filepath.Base(path)
	if key != "" {
		for _, line := range strings.Split(content, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == key {
				return line, nil
			}
		}
		return key + " " + clearValue(file), nil
	}
	switch file {
	case "memory.oom_control":
		for _, line := range strings.Split(content, "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill_disable "); ok {
				return v, nil
			}
		}
	case "io.weight", "io.bfq.weight":
		line, _, _ := strings.Cut(content, "\n") // "default 100"
		return line, nil
	}
	return content, nil
}

// clearValue is the value that removes a key's line from a per-key file.
func clearValue(file string) string {
	switch file {
	case "io.max":
		return "rbps=max wbps=max riops=max wiops=max"
	case "io.weight", "io.bfq.weight":
		return "default"
	case "rdma.max":
		return "hca_handle=max hca_object=max"
	case "blkio.bfq.weight_device":
		return "default" // BFQ refuses a weight of 0
	}
	return "0" // v1 throttles, weight_device, net_prio.ifpriomap
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
