package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// Volume is a named directory of the store that containers mount with -v NAME:/path.
type Volume struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	Options    map[string]string `json:"Options"`
	CreatedAt  time.Time         `json:"CreatedAt"`
}

var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ErrVolumeExists and ErrNoVolume are CreateVolume's and Volume's errors for a name in use and
// a name not in use.
var (
	ErrVolumeExists = errors.New("volume already exists")
	ErrNoVolume     = errors.New("no such volume")
)

func (s *Store) volumeDir(name string) string { return filepath.Join(s.Root, "volumes", name) }

// CreateVolume makes volume name: its data directory and its metadata. Only the local driver
// exists; options are kept, as docker's local driver keeps them.
func (s *Store) CreateVolume(name, driver string, opts map[string]string) (*Volume, error) {
	if !volumeName.MatchString(name) {
		return nil, fmt.Errorf("volume name %q: want letters, digits and _.- (starting with a letter or digit)", name)
	}
	if driver == "" {
		driver = "local"
	}
	if driver != "local" {
		return nil, fmt.Errorf("volume driver %q: only local is available", driver)
	}
	dir := s.volumeDir(name)
	if err := os.Mkdir(dir, 0o700); errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%w: %s", ErrVolumeExists, name)
	} else if err != nil {
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	v := &Volume{Name: name, Driver: driver, Mountpoint: filepath.Join(dir, "_data"), Options: opts, CreatedAt: time.Now().UTC()}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	data, _ := json.MarshalIndent(v, "", "  ")
	if err := os.Mkdir(v.Mountpoint, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "volume.json"), data); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	return v, nil
}

// Volume reads volume name's metadata.
func (s *Store) Volume(name string) (*Volume, error) {
	if !volumeName.MatchString(name) {
		return nil, fmt.Errorf("%w: %s", ErrNoVolume, name)
	}
	data, err := os.ReadFile(filepath.Join(s.volumeDir(name), "volume.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoVolume, name)
	}
	if err != nil {
		return nil, err
	}
	v := &Volume{}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("volume %s: volume.json: %w", name, err)
	}
	return v, nil
}

// Volumes lists every volume by name.
func (s *Store) Volumes() ([]*Volume, error) {
	entries, err := os.ReadDir(filepath.Join(s.Root, "volumes"))
	if err != nil {
		return nil, err
	}
	var out []*Volume
	for _, e := range entries {
		if v, err := s.Volume(e.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveVolume deletes volume name and its data; usedBy names the containers that mount it,
// and a volume in use is refused. The caller holds the lock.
func (s *Store) RemoveVolume(name string, usedBy []string) error {
	if _, err := s.Volume(name); err != nil {
		return err
	}
	if len(usedBy) > 0 {
		return fmt.Errorf("volume %s is in use by container %s", name, usedBy[0])
	}
	return os.RemoveAll(s.volumeDir(name))
}
