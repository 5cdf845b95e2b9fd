package image

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/atomicfile"
)

// List gives one Image per tag, and one, without Repository and Tag, per untagged image:
// the rows of `nb images`, newest first.
func (s *Store) List() ([]Image, error) {
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tags, err := readTags(s.dir)
	if err != nil {
		return nil, err
	}
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	var rows []Image
	for _, id := range ids {
		img, err := s.image(id, tags, nil)
		if err != nil {
			return nil, err
		}
		if len(img.RepoTags) == 0 {
			rows = append(rows, img)
		}
		for _, t := range img.RepoTags {
			row := img
			row.Repository, row.Tag = splitTag(t)
			rows = append(rows, row)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].Created.Equal(rows[j].Created) {
			return rows[i].Created.After(rows[j].Created)
		}
		return rows[i].Repository+":"+rows[i].Tag < rows[j].Repository+":"+rows[j].Tag
	})
	return rows, nil
}

// Get finds the image ref names: NAME[:TAG], a full ID (with or without "sha256:"), or an
// ID prefix that only one image has. The Image is its full metadata, `nb image inspect`'s
// output.
func (s *Store) Get(ref string) (Image, error) {
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	tags, err := readTags(s.dir)
	if err != nil {
		return Image{}, err
	}
	id, name, err := s.resolve(ref, tags)
	if err != nil {
		return Image{}, err
	}
	return s.image(id, tags, name)
}

// resolve finds the image ID ref names, in docker's order: a full ID, then a name, then an
// ID prefix (so a repository named "cafe" is found by name before any ID starting "cafe").
// name is the name ref was, when it was one.
func (s *Store) resolve(ref string, tags map[string]string) (id string, name *Name, err error) {
	hexRef := strings.TrimPrefix(ref, "sha256:")
	if isID(hexRef) && s.has(hexRef) {
		return hexRef, nil, nil
	}
	if n, err := ParseName(ref); err == nil {
		if id, ok := tags[n.String()]; ok {
			return id, &n, nil
		}
	}
	if isHex(hexRef) {
		ids, err := s.ids()
		if err != nil {
			return "", nil, err
		}
		var matches []string
		for _, id := range ids {
			if strings.HasPrefix(id, hexRef) {
				matches = append(matches, id)
			}
		}
		switch len(matches) {
		case 0:
		case 1:
			return matches[0], nil, nil
		default:
			return "", nil, fmt.Errorf("%w %q: %d images match (%s)", ErrAmbiguous, ref, len(matches), shortIDs(matches))
		}
	}
	return "", nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
}

// shortIDs lists ids by their first 12 digits, as `nb images` shows them.
func shortIDs(ids []string) string {
	short := make([]string, len(ids))
	for i, id := range ids {
		short[i] = id[:12]
	}
	return strings.Join(short, ", ")
}

// Remove removes the image ref names, as `docker rmi` does. Given a name of an image that
// has other names too, it only untags that name. Otherwise it deletes the image: its tags,
// metadata, and the layers no other image uses. Deleting is refused when inUse (if not nil) says a container uses
// the image, and, given an ID, when the image has more than one name; force overrides both.
// The in-use check runs under the store's exclusive lock, so no other nb can tag or delete
// the image in between; a caller that creates containers keeps them from appearing meanwhile.
func (s *Store) Remove(ref string, inUse func(id string) bool, force bool) (RemoveResult, error) {
	// The image's directory is moved into a work dir under the lock, and deleted from there
	// after it: a big rootfs takes a while to delete, and nobody needs to wait for that.
	trash, err := s.newWorkDir()
	if err != nil {
		return RemoveResult{}, err
	}
	defer trash.remove()
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return RemoveResult{}, err
	}
	defer unlock()
	s.pruneWork(trash)
	tags, err := readTags(s.dir)
	if err != nil {
		return RemoveResult{}, err
	}
	id, name, err := s.resolve(ref, tags)
	if err != nil {
		return RemoveResult{}, err
	}
	names := tagsOf(tags, id)
	if name != nil && len(names) > 1 {
		delete(tags, name.String())
		if err := writeJSON(s.dir, repositoriesFile, tags); err != nil {
			return RemoveResult{}, fmt.Errorf("untag %s: %w", name, err)
		}
		return RemoveResult{Untagged: []string{name.String()}}, nil
	}
	used := inUse != nil && inUse(id)
	if err := checkRemovable(id, name, names, used, force); err != nil {
		return RemoveResult{}, err
	}
	if used {
		// Forced: its names go, as with docker rmi -f, but the image stays while a container
		// uses it: its layers are the container's lowerdirs.
		return s.untagLocked(id, names, tags)
	}
	return s.deleteLocked(id, names, tags, trash)
}

// checkRemovable says why image id may not be deleted, unless forced; used (a container uses
// it) keeps it even then when it has no name left to take.
func checkRemovable(id string, name *Name, names []string, used, force bool) error {
	if used && force && len(names) == 0 {
		return fmt.Errorf("remove image %s: %w and has no name left to untag (remove the container first)", id[:12], ErrInUse)
	}
	if force {
		return nil
	}
	if name == nil && len(names) > 1 {
		return fmt.Errorf("image %s has several names (%s): remove them one by one, or force", id[:12], strings.Join(names, ", "))
	}
	if used {
		return fmt.Errorf("remove image %s: %w (force untags it)", id[:12], ErrInUse)
	}
	return nil
}

// untagLocked takes all names from image id, which stays.
func (s *Store) untagLocked(id string, names []string, tags map[string]string) (RemoveResult, error) {
	for _, n := range names {
		delete(tags, n)
	}
	if err := writeJSON(s.dir, repositoriesFile, tags); err != nil {
		return RemoveResult{}, fmt.Errorf("untag image %s: %w", id, err)
	}
	return RemoveResult{Untagged: names}, nil
}

// deleteLocked untags image id and moves its directory into trash. Untagging first means a
// crash in between leaves an untagged image, never a name pointing at nothing.
func (s *Store) deleteLocked(id string, names []string, tags map[string]string, trash *workDir) (RemoveResult, error) {
	for _, n := range names {
		delete(tags, n)
	}
	if len(names) > 0 {
		if err := writeJSON(s.dir, repositoriesFile, tags); err != nil {
			return RemoveResult{}, fmt.Errorf("untag image %s: %w", id, err)
		}
	}
	if err := os.Rename(s.imageDir(id), filepath.Join(trash.path, id)); err != nil {
		return RemoveResult{}, fmt.Errorf("delete image %s: %w", id, err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return RemoveResult{}, fmt.Errorf("delete image %s: %w", id, err)
	}
	// Its layers that no other image uses go too; a crash before this leaves them to the
	// next command's gcLayersLocked.
	freed, err := s.gcLayersLocked(trash.path, nil)
	if err != nil {
		// The image is gone already: its layers wait for the next command's gcLayersLocked.
		slog.Warn("layers of the removed image kept", "image", id, "err", err)
	}
	return RemoveResult{Untagged: names, Deleted: id, DeletedLayers: freed}, nil
}
