package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nebulon-dev/nebulon/internal/atomicfile"
)

var (
	// ErrNotFound means no image matches a reference.
	ErrNotFound = errors.New("no such image")
	// ErrAmbiguous means an ID prefix matches more than one image.
	ErrAmbiguous = errors.New("ambiguous image ID prefix")
	// ErrInUse means a container uses the image, so it is kept unless removal is forced.
	ErrInUse = errors.New("image is in use by a container")
)

// Config is the part of an image's config that a container starts from (OCI image-spec,
// config.md, the "config" object): the defaults that `nb run` flags override.
type Config struct {
	Env        []string          `json:"env,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	User       string            `json:"user,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Kept for nb push to write back, as the image had them.
	ExposedPorts map[string]struct{} `json:"exposed_ports,omitempty"`
	Volumes      map[string]struct{} `json:"volumes,omitempty"`
	StopSignal   string              `json:"stop_signal,omitempty"`
}

// History is one entry of an image config's history (config.md, "history"), kept for nb push.
type History struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Author     string     `json:"author,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
}

// Image is what nb knows of one image: its metadata.json, the tags that point at it and where
// its layers are. List gives one Image per tag (Repository and Tag set) and one per untagged
// image; Get gives the image a reference names, with Repository and Tag set to the name used
// (or its first tag when the reference was an ID). It is what `nb image inspect` prints.
type Image struct {
	ID           string    `json:"id"`
	Repository   string    `json:"repository,omitempty"`
	Tag          string    `json:"tag,omitempty"`
	RepoTags     []string  `json:"repo_tags"`
	Created      time.Time `json:"created"`
	Size         int64     `json:"size"`
	Architecture string    `json:"architecture,omitempty"`
	OS           string    `json:"os,omitempty"`
	Config       Config    `json:"config"`
	// Layers are the image's layers by diff ID ("sha256:HEX"), lowest first, as in its config.
	Layers []string `json:"layers,omitempty"`
	// Lower are the directories of the image's layers for overlayfs' lowerdir, top first as
	// the option lists them.
	Lower []string `json:"lower"`
}

// record is an image's metadata.json. Tags are kept apart, in repositories.json, so that
// moving a tag from one image to another is one atomic rename of one file.
type record struct {
	ID           string    `json:"id"`
	Created      time.Time `json:"created"`
	Size         int64     `json:"size"`
	Architecture string    `json:"architecture,omitempty"`
	OS           string    `json:"os,omitempty"`
	Config       Config    `json:"config"`
	// Layers are the image's layers by chain ID (hex), lowest first; DiffIDs the same by diff
	// ID. An image from before the layer store has none, and its tree in rootfs/.
	Layers  []string  `json:"layers,omitempty"`
	DiffIDs []string  `json:"diff_ids,omitempty"`
	History []History `json:"history,omitempty"`
}

// Progress is told how many bytes of the input have been read so far and how many there are
// in all (-1 when unknown, as for a pipe), so that a CLI can draw a progress bar.
type Progress func(done, total int64)

// RemoveResult says what Remove did: the names it untagged and the image it deleted, if any.
type RemoveResult struct {
	Untagged []string `json:"untagged,omitempty"`
	Deleted  string   `json:"deleted,omitempty"`
	// DeletedLayers are the chain IDs of the layers no other image used, freed with it.
	DeletedLayers []string `json:"deleted_layers,omitempty"`
}

const (
	metadataFile     = "metadata.json"
	repositoriesFile = "repositories.json"
	rootfsDir        = "rootfs" // an image's tree, before the layer store
)

// readRecord reads the metadata.json in dir.
func readRecord(dir string) (record, error) {
	var rec record
	path := filepath.Join(dir, metadataFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("parse %s: %w", path, err)
	}
	// Its layers are directories of the store by chain ID: anything else would be a path.
	for _, l := range rec.Layers {
		if !isID(l) {
			return rec, fmt.Errorf("%s: layer %q is not a chain ID (64 hex digits)", path, l)
		}
	}
	return rec, nil
}

// readTags reads repositories.json, "REPOSITORY:TAG" -> image ID; a store with no image yet
// has none.
func readTags(dir string) (map[string]string, error) {
	tags := map[string]string{}
	path := filepath.Join(dir, repositoriesFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return tags, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &tags); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return tags, nil
}

// writeJSON writes v as dir/name crash-safely: a temp file in the same directory, synced, then
// renamed over the old one and the directory synced, so a reader or a crash sees the old
// version or the new one, never half of one (rename(2) is atomic within a filesystem).
func writeJSON(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return atomicfile.Write(filepath.Join(dir, name), append(data, '\n'), 0o600, true)
}
