package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/moby/sys/userns"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/atomicfile"
)

// A layer is one tar of an image unpacked into a directory of its own, stored once however
// many images use it, under its chain ID (image-spec config.md, "Layer ChainID"): the digest
// of the layer on top of all the layers below it. The diff ID alone would not do: a layer is
// unpacked as a change to its parents (its whiteouts, its hard links), so the same tar on
// other parents is another layer, as in docker and containers/storage.
//
// A stored layer's whiteouts are overlayfs': a ".wh.NAME" entry is a 0/0 character device
// NAME, an opaque directory has trusted.overlay.opaque=y (kernel
// Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories"), so that a
// stack of layer dirs as overlayfs' lowerdirs shows the image.
// opaqueXattr marks a layer's opaque directory: trusted.overlay.opaque, which only the host's
// root may set; in a rootless user's namespace, user.overlay.opaque, which overlayfs reads on a
// mount with userxattr (internal/overlay; Linux 5.11), as containers/storage does rootless.
var opaqueXattr = func() string {
	if userns.RunningInUserNS() {
		return "user.overlay.opaque"
	}
	return "trusted.overlay.opaque"
}()

const (
	layersDir     = "layers"     // layers/CHAIN/{diff/,layer.json}
	linksDir      = "l"          // l/SHORT -> ../layers/CHAIN/diff
	layerDiffDir  = "diff"       // a layer's unpacked files
	layerFile     = "layer.json" // a layer's record; present means the layer is whole
	shortLinkLen  = 20           // hex digits of the chain ID that name its short link
	maxLayerDepth = 500          // overlayfs' most lowerdirs (OVL_MAX_STACK)
	workImageDir  = "image"      // in a work dir: the image's directory to be
	workLayersDir = "layers"     // in a work dir: the layers unpacked for it, by chain ID
)

// layerRecord is a layer's layer.json.
type layerRecord struct {
	ChainID string `json:"chain_id"`
	DiffID  string `json:"diff_id"`
	Parent  string `json:"parent,omitempty"`
	Size    int64  `json:"size"`
}

// chainOf is the chain ID of the layer diffID ("sha256:HEX") on the layers whose chain ID is
// parent (hex; "" for the bottom layer), in hex: ChainID(L0) = DiffID(L0),
// ChainID(L0|...|Ln) = Digest(ChainID(L0|...|Ln-1) + " " + DiffID(Ln)).
func chainOf(parent, diffID string) string {
	if parent == "" {
		return strings.TrimPrefix(diffID, "sha256:")
	}
	sum := sha256.Sum256([]byte("sha256:" + parent + " " + diffID))
	return hex.EncodeToString(sum[:])
}

func (s *Store) layerDir(chain string) string { return filepath.Join(s.dir, layersDir, chain) }

// hasLayer says whether the store holds layer chain: its layer.json comes into place with the
// layer's directory in one rename.
func (s *Store) hasLayer(chain string) bool {
	if !isID(chain) {
		return false
	}
	_, err := os.Stat(filepath.Join(s.layerDir(chain), layerFile))
	return err == nil
}

func (s *Store) readLayer(chain string) (layerRecord, error) {
	return readLayerAt(s.layerDir(chain), chain)
}

// readLayerAt reads the layer.json of layer chain in dir.
func readLayerAt(dir, chain string) (layerRecord, error) {
	var rec layerRecord
	data, err := os.ReadFile(filepath.Join(dir, layerFile))
	if err != nil {
		return rec, fmt.Errorf("layer %s: %w", chain, err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("layer %s: parse %s: %w", chain, layerFile, err)
	}
	// layer.json names the layers below; a record that is not this layer's, or names one by
	// something other than a chain ID, would lead outside layers/.
	if rec.ChainID != chain || (rec.Parent != "" && !isID(rec.Parent)) || !strings.HasPrefix(rec.DiffID, "sha256:") || !isID(strings.TrimPrefix(rec.DiffID, "sha256:")) {
		return rec, fmt.Errorf("layer %s: %s names chain ID %q, parent %q, diff ID %q: not this layer's", chain, layerFile, rec.ChainID, rec.Parent, rec.DiffID)
	}
	return rec, nil
}

// shortLink is the path of layer chain's short link. overlayfs takes its lowerdirs in one
// mount option, and the whole option must fit in a page (fs_parse, PAGE_SIZE): absolute
// paths of 64-digit layer dirs would allow some 40 layers, "SHORT:" from l/ about 180.
func (s *Store) shortLink(chain string) string {
	return filepath.Join(s.dir, linksDir, chain[:shortLinkLen])
}

// ensureLink makes layer chain's short link if it is missing (a crash between a layer's
// rename and its link leaves it so); two nb making it at once both succeed.
func (s *Store) ensureLink(chain string) error {
	link := s.shortLink(chain)
	target := filepath.Join("..", layersDir, chain, layerDiffDir)
	if got, err := os.Readlink(link); err == nil {
		if got != target {
			return fmt.Errorf("layer %s: short link %s points to %s, another layer", chain, link, got)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		return err
	}
	if err := os.Symlink(target, link); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("layer %s: %w", chain, err)
	}
	return nil
}

// lowerDirs are image rec's directories for overlayfs' lowerdir, top layer first, as the
// option lists them. An image from before the layer store has its one rootfs/ tree.
func (s *Store) lowerDirs(rec record) ([]string, error) {
	if len(rec.Layers) == 0 {
		return []string{filepath.Join(s.imageDir(rec.ID), rootfsDir)}, nil
	}
	dirs := make([]string, 0, len(rec.Layers))
	for i := len(rec.Layers) - 1; i >= 0; i-- {
		if err := s.ensureLink(rec.Layers[i]); err != nil {
			return nil, err
		}
		dirs = append(dirs, s.shortLink(rec.Layers[i]))
	}
	return dirs, nil
}

// unpackLayer unpacks the tar r (compressed or not) into w's layers/, as the layer on parent
// (a chain ID, "" for none). plain is for a rootfs tarball, whose ".wh." files are files.
// It checks the tar against wantDiffID when that is not "", and returns the layer's record.
// lowers are the diff dirs of the layers below, top first (see lowerDiffDirs).
func (w *workDir) unpackLayer(r io.Reader, parent, wantDiffID string, plain bool, lowers []string) (layerRecord, error) {
	tmp, err := os.MkdirTemp(filepath.Join(w.path, workLayersDir), "new-")
	if err != nil {
		return layerRecord{}, err
	}
	diff := filepath.Join(tmp, layerDiffDir)
	if err := os.Mkdir(diff, 0o755); err != nil {
		return layerRecord{}, err
	}
	a, err := newApplier(diff, !plain, lowers)
	if err != nil {
		return layerRecord{}, err
	}
	defer a.close()
	got, err := applyStream(a, r)
	if err != nil {
		return layerRecord{}, err
	}
	if err := a.finish(); err != nil {
		return layerRecord{}, err
	}
	diffID := "sha256:" + got
	if wantDiffID != "" && diffID != wantDiffID {
		return layerRecord{}, fmt.Errorf("uncompressed layer has digest %s, the config's diff_id is %s", diffID, wantDiffID)
	}
	size, err := treeSize(diff)
	if err != nil {
		return layerRecord{}, fmt.Errorf("size of layer: %w", err)
	}
	rec := layerRecord{ChainID: chainOf(parent, diffID), DiffID: diffID, Parent: parent, Size: size}
	if err := writeJSON(tmp, layerFile, rec); err != nil {
		return layerRecord{}, err
	}
	dst := filepath.Join(w.path, workLayersDir, rec.ChainID)
	if err := os.Rename(tmp, dst); err != nil && !errors.Is(err, os.ErrExist) && !errors.Is(err, unix.ENOTEMPTY) {
		return layerRecord{}, err
	}
	return rec, nil
}

// lowerDiffDirs are the diff dirs of layer chain and the layers below it, top first: in the
// store, or in w for those unpacked for the image being added.
func (s *Store) lowerDiffDirs(w *workDir, chain string) ([]string, error) {
	var dirs []string
	for chain != "" {
		if len(dirs) == maxLayerDepth {
			return nil, fmt.Errorf("layer %s: more than %d layers below it", chain, maxLayerDepth)
		}
		dir := filepath.Join(w.path, workLayersDir, chain)
		if s.hasLayer(chain) {
			dir = s.layerDir(chain)
		}
		rec, err := readLayerAt(dir, chain)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, filepath.Join(dir, layerDiffDir))
		chain = rec.Parent
	}
	return dirs, nil
}

// commitLayersLocked moves the layers of rec that the store does not hold yet from w into
// layers/. A layer the store held when w was planned is claimed by w, so garbage collection
// keeps it; one that is gone all the same (deleted by hand) cannot be made up for: the caller
// tries again. The caller holds the exclusive lock.
func (s *Store) commitLayersLocked(w *workDir, rec record) error {
	if len(rec.Layers) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(s.dir, layersDir), 0o700); err != nil {
		return err
	}
	for _, chain := range rec.Layers {
		if s.hasLayer(chain) {
			continue
		}
		src := filepath.Join(w.path, workLayersDir, chain)
		if _, err := os.Stat(filepath.Join(src, layerFile)); err != nil {
			return fmt.Errorf("layer %s was removed while image %s was being added; try again", chain[:12], rec.ID[:12])
		}
		// A layer dir without layer.json is a half one nobody completed: gcLayers' to take.
		os.RemoveAll(s.layerDir(chain))
		if err := os.Rename(src, s.layerDir(chain)); err != nil {
			return fmt.Errorf("add layer %s: %w", chain, err)
		}
		if err := s.ensureLink(chain); err != nil {
			return err
		}
	}
	return atomicfile.SyncDir(filepath.Join(s.dir, layersDir))
}

// gcLayersLocked removes the layers no image uses, with their short links: those of removed
// images, and those a crash left between a commit's layer renames and its image rename. They
// are moved into trash (a work dir, deleted after the lock is dropped), never deleted in
// place: a deletion killed part way would leave layer.json with part of diff/ for addLayer to
// reuse. The layers in keep, and those a running nb claimed (workDir.claim), stay. The caller holds the exclusive lock, so no commit is
// between its renames. It returns the chain IDs it removed.
func (s *Store) gcLayersLocked(trash string, keep []string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, layersDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	used, err := s.usedLayers()
	if err != nil {
		return nil, err
	}
	for _, l := range keep {
		used[l] = true
	}
	for l := range s.claimedLayers() {
		used[l] = true
	}
	var freed []string
	for _, e := range entries {
		chain := e.Name()
		if used[chain] {
			continue
		}
		if len(chain) >= shortLinkLen {
			os.Remove(s.shortLink(chain))
		}
		if err := os.Rename(s.layerDir(chain), filepath.Join(trash, "layer-"+chain)); err != nil {
			return freed, fmt.Errorf("remove layer %s: %w", chain, err)
		}
		freed = append(freed, chain)
	}
	return freed, atomicfile.SyncDir(filepath.Join(s.dir, layersDir))
}

// usedLayers is the set of chain IDs the store's images use. An image whose record cannot be
// read keeps every layer: better a leak than a layer deleted under an image.
func (s *Store) usedLayers() (map[string]bool, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, id := range ids {
		rec, err := readRecord(s.imageDir(id))
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", id, err)
		}
		for _, l := range rec.Layers {
			used[l] = true
		}
	}
	return used, nil
}
