// Package atomicfile writes a file whole or not at all: a temporary file beside it is renamed
// over it (rename(2) is atomic within a filesystem), so a reader sees the old content or the new
// one, never half of it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path with mode. Durable also syncs the file before the rename and the
// directory after it, so that a crash leaves the old version or the new one: what nb's store on
// disk needs. The runtime's state lives on a tmpfs that does not outlive a reboot, and an fsync
// on a disk-backed --root costs milliseconds per create, so it writes without.
func Write(path string, data []byte, mode os.FileMode, durable bool) (retErr error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return SyncDir(dir)
}

// SyncDir makes a rename or removal in dir durable: the entry lives in the directory.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
