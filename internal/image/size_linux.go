package image

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// treeSize is what `nb images` shows as an image's size: the bytes of the regular files under
// dir, a file with several hard links counted once. WalkDir does not follow symlinks, and dir
// is nb's own, unpacked by nb: no one else can change it under the walk.
func treeSize(dir string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var size int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if ok && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino}
			if seen[key] {
				return nil
			}
			seen[key] = true
		}
		size += info.Size()
		return nil
	})
	return size, err
}
