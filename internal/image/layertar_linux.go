package image

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeLayerTar writes the layer dir diff as a layer tar (image-spec layer.md), the form a
// registry takes: overlayfs' whiteouts become ".wh." entries again, an opaque directory gets
// its ".wh..wh..opq", a file with several links is one file and hard links. The same dir
// gives the same bytes (sorted names, no access or change times, numeric owners only), so a
// layer pushed twice, or shared by two images, is one blob.
func writeLayerTar(w io.Writer, diff string) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	err := filepath.WalkDir(diff, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(diff, path)
		if err != nil || rel == "." {
			return err
		}
		return writeLayerEntry(tw, path, rel, links)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// writeLayerEntry writes the entry for path, rel in the layer; links maps the inodes of files
// written so far with several links to their first name.
func writeLayerEntry(tw *tar.Writer, path, rel string, links map[[2]uint64]string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()).UTC(),
		Format:  tar.FormatPAX,
	}
	mode := st.Mode & unix.S_IFMT
	if mode == unix.S_IFCHR && st.Rdev == 0 {
		// An overlayfs whiteout: the layer deletes what the layers below have there.
		hdr.Name = filepath.Join(filepath.Dir(rel), whiteoutPrefix+filepath.Base(rel))
		hdr.Typeflag, hdr.Mode = tar.TypeReg, 0
		return tw.WriteHeader(hdr)
	}
	xattrs, err := listXattrs(path)
	if err != nil {
		return err
	}
	for name, value := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = value
	}
	switch mode {
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case unix.S_IFLNK:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		hdr.Typeflag = map[uint32]byte{unix.S_IFCHR: tar.TypeChar, unix.S_IFBLK: tar.TypeBlock, unix.S_IFIFO: tar.TypeFifo}[mode]
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := links[key]; ok && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			return tw.WriteHeader(hdr)
		}
		if st.Nlink > 1 {
			links[key] = rel
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	default:
		return nil // a socket: nothing a layer can hold
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	switch {
	case mode == unix.S_IFDIR && opaque(path):
		return tw.WriteHeader(&tar.Header{Name: rel + "/" + opaqueMarker, Typeflag: tar.TypeReg, ModTime: hdr.ModTime, Format: tar.FormatPAX})
	case mode == unix.S_IFREG:
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, st.Size)
		return err
	}
	return nil
}

func opaque(path string) bool {
	buf := make([]byte, 1)
	n, err := unix.Lgetxattr(path, opaqueXattr, buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// listXattrs gives path's xattrs but overlayfs' own, which are the store's, not the image's.
func listXattrs(path string) (map[string]string, error) {
	size, err := unix.Llistxattr(path, nil)
	if errors.Is(err, unix.ENOTSUP) || size == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "listxattr", Path: path, Err: err}
	}
	buf := make([]byte, size)
	if size, err = unix.Llistxattr(path, buf); err != nil {
		return nil, &os.PathError{Op: "listxattr", Path: path, Err: err}
	}
	names := strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00")
	sort.Strings(names)
	out := map[string]string{}
	for _, name := range names {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		vsize, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, &os.PathError{Op: "getxattr " + name, Path: path, Err: err}
		}
		value := make([]byte, vsize)
		if vsize, err = unix.Lgetxattr(path, name, value); err != nil {
			return nil, &os.PathError{Op: "getxattr " + name, Path: path, Err: err}
		}
		out[name] = string(value[:vsize])
	}
	return out, nil
}
