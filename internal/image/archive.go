package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// archiveImage is one image an archive holds, as its manifest describes it.
type archiveImage struct {
	config blobRef
	layers []blobRef
	names  []Name
}

// blobRef is a file of an archive: its path from the archive's root and, when the format
// gives one, the digest to check its bytes against.
type blobRef struct {
	path   string
	digest string // "sha256:HEX", or "" (docker-archive names files, it does not digest them)
}

// opener opens a regular file of an archive, by its path from the archive's root.
type opener func(path string) (*os.File, error)

// maxJSON bounds a manifest, index or config read into memory: real ones are kilobytes, and
// an archive comes from anyone.
const maxJSON = 16 << 20

// Media types nb reads (OCI image-spec media-types.md, and docker's schema 2 equivalents).
const (
	mediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// Annotations on index.json's descriptors that name an image: containerd's full name, and
// OCI's, which may be a full name or only a tag (image-spec annotations.md).
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// dockerManifest is one entry of a `docker save` archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// descriptor is an OCI content descriptor (image-spec descriptor.md).
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

// manifestOrIndex holds an OCI image manifest or an image index (a docker manifest or
// manifest list too): which one it is shows in what it has.
type manifestOrIndex struct {
	MediaType string       `json:"mediaType"`
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"`
}

// configFile is the part of an image config (image-spec config.md; docker's is the same
// shape) that nb keeps.
type configFile struct {
	Created      *time.Time `json:"created"`
	Architecture string     `json:"architecture"`
	OS           string     `json:"os"`
	Config       struct {
		Env          []string
		Entrypoint   []string
		Cmd          []string
		WorkingDir   string
		User         string
		Labels       map[string]string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		StopSignal   string
	} `json:"config"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []History `json:"history"`
}

// checkDiffIDs refuses a config whose diff_ids are not all "sha256:" and 64 lowercase hex
// digits: a layer's chain ID, made from them, names its directory in the store, so
// "sha256:../../x" would be a path outside it.
func (c *configFile) checkDiffIDs() error {
	for i, d := range c.RootFS.DiffIDs {
		if !strings.HasPrefix(d, "sha256:") || !isID(strings.TrimPrefix(d, "sha256:")) {
			return fmt.Errorf("diff_id %d %q is not sha256:<64 hex digits>", i+1, d)
		}
	}
	return nil
}

func (c *configFile) defaults() Config {
	return Config{
		Env:        c.Config.Env,
		Entrypoint: c.Config.Entrypoint,
		Cmd:        c.Config.Cmd,
		WorkingDir: c.Config.WorkingDir,
		User:       c.Config.User,
		Labels:     c.Config.Labels,

		ExposedPorts: c.Config.ExposedPorts,
		Volumes:      c.Config.Volumes,
		StopSignal:   c.Config.StopSignal,
	}
}

// dockerImages reads a `docker save` archive's manifest.json. Docker 25 and later write an
// OCI layout with it, whose files the entries name, so this reads those archives too.
func dockerImages(open opener) ([]archiveImage, error) {
	var manifests []dockerManifest
	if _, err := readJSON(open, blobRef{path: "manifest.json"}, &manifests); err != nil {
		return nil, err
	}
	var images []archiveImage
	for i, m := range manifests {
		if m.Config == "" {
			return nil, fmt.Errorf("manifest.json: entry %d has no Config", i)
		}
		img := archiveImage{config: blobRef{path: m.Config}}
		for _, l := range m.Layers {
			img.layers = append(img.layers, blobRef{path: l})
		}
		for _, t := range m.RepoTags {
			n, err := ParseName(t)
			if err != nil {
				return nil, fmt.Errorf("manifest.json: entry %d: %w", i, err)
			}
			img.names = append(img.names, n)
		}
		images = append(images, img)
	}
	return images, nil
}

// ociImages reads an OCI image layout's index.json (image-spec image-layout.md): one image
// per descriptor, for this machine's platform when a descriptor is a multi-platform index.
func ociImages(open opener) ([]archiveImage, error) {
	var layout struct {
		Version string `json:"imageLayoutVersion"`
	}
	if _, err := readJSON(open, blobRef{path: "oci-layout"}, &layout); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(layout.Version, "1.") {
		return nil, fmt.Errorf("oci-layout: imageLayoutVersion %q, want 1.x", layout.Version)
	}
	var index manifestOrIndex
	if _, err := readJSON(open, blobRef{path: "index.json"}, &index); err != nil {
		return nil, err
	}
	var images []archiveImage
	for _, d := range index.Manifests {
		img, err := ociImage(open, d)
		if err != nil {
			return nil, fmt.Errorf("index.json: manifest %s: %w", d.Digest, err)
		}
		images = append(images, img)
	}
	return images, nil
}

// ociImage reads the image descriptor d points at.
func ociImage(open opener, d descriptor) (archiveImage, error) {
	m, err := readManifest(open, d, 0)
	if err != nil {
		return archiveImage{}, err
	}
	names, err := annotatedNames(d.Annotations)
	if err != nil {
		return archiveImage{}, err
	}
	img := archiveImage{names: names}
	if img.config, err = blobOf(m.Config); err != nil {
		return archiveImage{}, fmt.Errorf("config: %w", err)
	}
	for _, l := range m.Layers {
		if err := checkLayerType(l.MediaType); err != nil {
			return archiveImage{}, err
		}
		ref, err := blobOf(l)
		if err != nil {
			return archiveImage{}, fmt.Errorf("layer: %w", err)
		}
		img.layers = append(img.layers, ref)
	}
	return img, nil
}

// maxIndexDepth bounds indexes within indexes: real ones nest once at most.
const maxIndexDepth = 4

// readManifest reads the image manifest d points at, going through indexes to the manifest
// for this machine's platform.
func readManifest(open opener, d descriptor, depth int) (manifestOrIndex, error) {
	var m manifestOrIndex
	switch d.MediaType {
	case "", mediaTypeOCIIndex, mediaTypeDockerList, mediaTypeOCIManifest, mediaTypeDockerManifest:
	default:
		return m, fmt.Errorf("unsupported manifest media type %q", d.MediaType)
	}
	ref, err := blobOf(d)
	if err != nil {
		return m, err
	}
	if _, err := readJSON(open, ref, &m); err != nil {
		return m, err
	}
	if len(m.Manifests) == 0 {
		return m, nil
	}
	if depth >= maxIndexDepth {
		return m, fmt.Errorf("indexes nested more than %d deep", maxIndexDepth)
	}
	pick, err := choosePlatform(m.Manifests)
	if err != nil {
		return m, err
	}
	return readManifest(open, pick, depth+1)
}

// choosePlatform picks, from an index's manifests, the first for linux on this machine's
// architecture, or one that names no platform. (Build attestations name "unknown/unknown".)
func choosePlatform(ds []descriptor) (descriptor, error) {
	var have []string
	for _, d := range ds {
		if d.Platform == nil {
			return d, nil
		}
		if d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, nil
		}
		have = append(have, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	return descriptor{}, fmt.Errorf("no manifest for linux/%s in the index (it has %s)", runtime.GOARCH, strings.Join(have, ", "))
}

// annotatedNames gives the name index.json gives an image, if any: containerd's annotation,
// else OCI's ref.name when it is a full name. A ref.name that is only a tag ("latest", as
// docker writes beside containerd's) names no repository, so alone it leaves the image
// untagged.
func annotatedNames(a map[string]string) ([]Name, error) {
	key, value := annotationContainerdName, a[annotationContainerdName]
	if value == "" {
		key, value = annotationRefName, a[annotationRefName]
		if !strings.ContainsAny(value, ":/") {
			return nil, nil
		}
	}
	if value == "" {
		return nil, nil
	}
	n, err := ParseName(value)
	if err != nil {
		return nil, fmt.Errorf("annotation %s: %w", key, err)
	}
	return []Name{n}, nil
}

// checkLayerType refuses layers nb cannot unpack. Compression is told by magic number, so
// any tar media type will do (image-spec media-types.md; docker's rootfs.diff.tar.gzip).
func checkLayerType(mediaType string) error {
	switch {
	case strings.Contains(mediaType, "encrypted"):
		return fmt.Errorf("layer media type %q: encrypted layers are not supported", mediaType)
	case mediaType != "" && !strings.Contains(mediaType, "tar"):
		return fmt.Errorf("layer media type %q is not a tar", mediaType)
	}
	return nil
}

// blobOf is the file of an OCI layout holding the blob d points at: blobs/ALG/HEX
// (image-layout.md). Only sha256 digests are read, the only ones images use in practice.
func blobOf(d descriptor) (blobRef, error) {
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok || !isID(hexDigest) {
		return blobRef{}, fmt.Errorf("unsupported digest %q (want sha256:<64 hex digits>)", d.Digest)
	}
	return blobRef{path: "blobs/sha256/" + hexDigest, digest: d.Digest}, nil
}

// readJSON reads a JSON file of the archive into v and returns its bytes.
func readJSON(open opener, ref blobRef, v any) ([]byte, error) {
	data, err := readBlob(open, ref)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("parse %s: %w", ref.path, err)
	}
	return data, nil
}

// readBlob reads a small file of the archive, checked against its digest when it has one.
func readBlob(open opener, ref blobRef) ([]byte, error) {
	f, err := open(ref.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ref.path, err)
	}
	if len(data) > maxJSON {
		return nil, fmt.Errorf("%s is over %d bytes", ref.path, maxJSON)
	}
	if got := "sha256:" + sha256Hex(data); ref.digest != "" && got != ref.digest {
		return nil, fmt.Errorf("%s: content has digest %s, want %s", ref.path, got, ref.digest)
	}
	return data, nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// isNotExist says whether err means a file is missing; it is how Load tells formats apart.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
