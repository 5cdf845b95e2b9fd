// Package image is nb's image store: images imported from rootfs tarballs, loaded from
// docker-archive and OCI layouts or pulled from registries, with their config defaults and
// the names that point at them. An image is a stack of layers, each unpacked once into a
// directory of its own and shared by every image that has it; a container's root is an
// overlayfs of its image's layer dirs (lowerdirs) and a directory of its own (upperdir).
//
// The store is one directory (nb gives it ROOT/images):
//
//	.lock                  flock: writers hold it exclusively, readers shared
//	repositories.json      {"REPOSITORY:TAG": "ID", ...}
//	ID/metadata.json       the image's record: id, created, size, platform, config, layers
//	layers/CHAIN/diff/     a layer's files, whiteouts as overlayfs has them (layers_linux.go)
//	layers/CHAIN/layer.json  the layer's record: chain id, diff id, parent, size
//	l/SHORT                -> ../layers/CHAIN/diff, short names for the overlay mount option
//	tmp/work-*/            imports in progress and images being deleted, each flocked by its owner
//
// An image appears in one rename of its work dir to ID/, after its new layers were renamed
// into layers/ under the same exclusive lock, all written and synced before, so no reader
// ever sees half an image or half a layer; tags change in one rename of repositories.json.
// Unpacking runs without the store lock: only those renames take it. A layer no image uses
// (its last image removed, or a crash between a commit's renames) is deleted under the
// exclusive lock by the next command that takes it.
package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/atomicfile"
)

// Store is the image store in one directory.
type Store struct {
	dir string
}

// Open opens the store in dir, making it on first use. The directory is 0700: image rootfs
// trees hold setuid binaries, which a user who can reach them could run (CVE-2021-41091).
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image store %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	return &Store{dir: abs}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) imageDir(id string) string { return filepath.Join(s.dir, id) }

// lock takes the store's flock (unix.LOCK_SH or unix.LOCK_EX) until unlock is called. flock
// locks belong to an open file description, so two goroutines, or two Stores in one process,
// exclude each other just as two nb processes do.
func (s *Store) lock(how int) (unlock func(), err error) {
	path := filepath.Join(s.dir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock image store: %w", err)
	}
	if err := flock(f, how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock image store %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("flock", err)
		}
	}
}

// workDir is a directory under tmp/ that one process fills, flocked as long as that process
// uses it, so pruneWork can tell a killed nb's leftovers from a running nb's work.
type workDir struct {
	path string
	lock *os.File
}

// newWorkDir makes a work dir. It holds the store lock shared meanwhile: pruneWork runs under
// the exclusive one, so it never sees a work dir whose flock is not taken yet.
func (s *Store) newWorkDir() (*workDir, error) {
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	path, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "work-")
	if err != nil {
		return nil, fmt.Errorf("make work dir: %w", err)
	}
	f, err := os.Open(path)
	if err == nil {
		err = flock(f, unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("lock work dir %s: %w", path, err)
	}
	return &workDir{path: path, lock: f}, nil
}

// newImageWorkDir is a work dir for a new image: its image/ and layers/ made.
func (s *Store) newImageWorkDir() (*workDir, error) {
	w, err := s.newWorkDir()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{workImageDir, workLayersDir} {
		if err := os.Mkdir(filepath.Join(w.path, d), 0o700); err != nil {
			w.remove()
			return nil, err
		}
	}
	return w, nil
}

// claimsDir, in a work dir, holds an empty file per store layer the work plans to use (named
// by its chain ID): gcLayersLocked keeps them as long as the work dir is there.
const claimsDir = "claims"

// claim keeps the store's layer chain from garbage collection while w lives.
func (w *workDir) claim(chain string) error {
	dir := filepath.Join(w.path, claimsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("claim layer %s: %w", chain, err)
	}
	if err := os.WriteFile(filepath.Join(dir, chain), nil, 0o600); err != nil {
		return fmt.Errorf("claim layer %s: %w", chain, err)
	}
	return nil
}

// claimedLayers are the layers the work dirs in tmp/ claim. The caller holds the exclusive
// lock and has pruned the work dirs nobody holds, so those left are running nb's.
func (s *Store) claimedLayers() map[string]bool {
	claimed := map[string]bool{}
	work, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	for _, wd := range work {
		entries, _ := os.ReadDir(filepath.Join(s.dir, "tmp", wd.Name(), claimsDir))
		for _, e := range entries {
			claimed[e.Name()] = true
		}
	}
	return claimed
}

// remove deletes the work dir, with what of it did not become part of the store, and drops
// its flock.
func (w *workDir) remove() error {
	err := os.RemoveAll(w.path)
	w.lock.Close()
	return err
}

// pruneWork clears out the work dirs nobody holds (left by an nb that was killed or crashed
// mid-import or mid-removal) and the layers no image uses, but those in keep. It only renames
// them into trash, a work dir the caller holds and deletes once it has dropped the lock: a
// deletion killed part way then leaves a work dir for the next prune, never half a layer at
// its chain ID for a load to reuse, and nobody waits on the lock while files are deleted.
// The caller holds the exclusive store lock.
func (s *Store) pruneWork(trash *workDir, keep ...string) {
	defer s.gcLayersLocked(trash.path, keep)
	tmp := filepath.Join(s.dir, "tmp")
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		path := filepath.Join(tmp, e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.Rename(path, filepath.Join(trash.path, "work-"+e.Name()))
		}
		f.Close()
	}
}

// Prune removes what imports and removals killed part way left in tmp/ (pruneWork), under the
// exclusive lock.
func (s *Store) Prune() error {
	trash, err := s.newWorkDir()
	if err != nil {
		return err
	}
	defer trash.remove()
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	s.pruneWork(trash)
	return nil
}

// has says whether the store holds image id. Its metadata.json arrives with the image's
// directory in one rename, so its presence means the whole image is there.
func (s *Store) has(id string) bool {
	_, err := os.Stat(filepath.Join(s.imageDir(id), metadataFile))
	return err == nil
}

// commit makes the image whose layers were unpacked in w an image of the store, described by
// rec, and points names at it. When the store has that image already (the same content
// imported again, or by another nb meanwhile) w is dropped and only the names move.
func (s *Store) commit(w *workDir, rec record, names []Name) (Image, error) {
	if err := writeJSON(filepath.Join(w.path, workImageDir), metadataFile, rec); err != nil {
		return Image{}, fmt.Errorf("write image metadata: %w", err)
	}
	// One syncfs instead of an fsync per file: the layers must be on disk before the renames
	// make them the store's, or a crash could leave an image with empty files.
	if err := syncFS(w.path); err != nil {
		return Image{}, err
	}
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	// The image's own layers stay, used or not yet: one a crash left without its image is
	// the one this commit planned to use.
	// w is the trash: the caller removes it after commit has dropped the lock.
	s.pruneWork(w, rec.Layers...)
	if !s.has(rec.ID) {
		if err := s.commitLayersLocked(w, rec); err != nil {
			return Image{}, err
		}
		if err := os.Rename(filepath.Join(w.path, workImageDir), s.imageDir(rec.ID)); err != nil {
			return Image{}, fmt.Errorf("add image %s: %w", rec.ID, err)
		}
		if err := atomicfile.SyncDir(s.dir); err != nil {
			return Image{}, fmt.Errorf("add image %s: %w", rec.ID, err)
		}
	}
	return s.tagLocked(rec.ID, names)
}

func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

// tagExisting points names at image id, which the store holds already.
func (s *Store) tagExisting(id string, names []Name) (Image, error) {
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	return s.tagLocked(id, names)
}

// tagLocked points names at image id, taking them from any image they named before (that
// image stays, untagged if it has no name left, as with docker). The caller holds the
// exclusive lock.
func (s *Store) tagLocked(id string, names []Name) (Image, error) {
	tags, err := readTags(s.dir)
	if err != nil {
		return Image{}, err
	}
	for _, n := range names {
		tags[n.String()] = id
	}
	if len(names) > 0 {
		if err := writeJSON(s.dir, repositoriesFile, tags); err != nil {
			return Image{}, fmt.Errorf("tag image %s: %w", id, err)
		}
	}
	var first *Name
	if len(names) > 0 {
		first = &names[0]
	}
	return s.image(id, tags, first)
}

// image reads image id's record and gives it with its tags; name is the one it was found
// by, if any.
func (s *Store) image(id string, tags map[string]string, name *Name) (Image, error) {
	rec, err := readRecord(s.imageDir(id))
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", id, err)
	}
	lower, err := s.lowerDirs(rec)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", id, err)
	}
	img := Image{
		ID:           rec.ID,
		RepoTags:     tagsOf(tags, id),
		Created:      rec.Created,
		Size:         rec.Size,
		Architecture: rec.Architecture,
		OS:           rec.OS,
		Config:       rec.Config,
		Layers:       rec.DiffIDs,
		Lower:        lower,
	}
	switch {
	case name != nil:
		img.Repository, img.Tag = name.Repository, name.Tag
	case len(img.RepoTags) > 0:
		img.Repository, img.Tag = splitTag(img.RepoTags[0])
	}
	return img, nil
}

// tagsOf lists the names pointing at id, sorted.
func tagsOf(tags map[string]string, id string) []string {
	names := []string{}
	for name, to := range tags {
		if to == id {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// splitTag splits "REPOSITORY:TAG"; a tag has no colon, a repository may (a registry port).
func splitTag(name string) (repository, tag string) {
	i := strings.LastIndex(name, ":")
	return name[:i], name[i+1:]
}

// ids lists the images in the store, sorted. A directory without metadata.json is no image
// (nb never makes one; someone else may have).
func (s *Store) ids() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && isID(e.Name()) && s.has(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// isID says whether s is an image ID: a sha256 in lowercase hex.
// isID says whether s is 64 lowercase hex digits: a sha256 digest's hex, as an image's ID and a
// layer's chain ID are.
func isID(s string) bool { return len(s) == 64 && isHex(s) }

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}
