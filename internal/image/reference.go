package image

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultTag is the tag a name without one gets, as with docker.
const DefaultTag = "latest"

// Name is an image name, REPOSITORY:TAG.
type Name struct {
	Repository string
	Tag        string
}

func (n Name) String() string { return n.Repository + ":" + n.Tag }

// The grammar of distribution's reference package (docker/distribution reference/regexp.go),
// without digests: nb's names are only for finding images in its own store.
var (
	domainRE    = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$`)
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagRE       = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
)

// maxRepositoryLen is distribution's limit on a repository name.
const maxRepositoryLen = 255

// ParseName parses REPOSITORY[:TAG]; the tag defaults to "latest". Docker Hub's implicit parts
// are dropped ("docker.io/library/alpine" is "alpine", "docker.io/foo/bar" is "foo/bar"), so an
// image named by containerd's annotation and one named by `docker save` are the same name.
func ParseName(s string) (Name, error) {
	if strings.Contains(s, "@") {
		return Name{}, fmt.Errorf("image name %q: digest references are not supported", s)
	}
	repo, tag := s, DefaultTag
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		repo, tag = s[:i], s[i+1:]
	}
	if !tagRE.MatchString(tag) {
		return Name{}, fmt.Errorf("image name %q: invalid tag %q", s, tag)
	}
	repo, err := normaliseRepository(repo)
	if err != nil {
		return Name{}, fmt.Errorf("image name %q: %w", s, err)
	}
	return Name{Repository: repo, Tag: tag}, nil
}

// normaliseRepository checks repo against the grammar and drops Docker Hub's implicit parts.
func normaliseRepository(repo string) (string, error) {
	if repo == "" || len(repo) > maxRepositoryLen {
		return "", fmt.Errorf("invalid repository %q: want 1 to %d characters", repo, maxRepositoryLen)
	}
	parts := strings.Split(repo, "/")
	// As in distribution: a first part is a registry host only if it could not be a path
	// component (a dot, a port, or "localhost"); "foo/bar" is a Docker Hub repository.
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		if !domainRE.MatchString(parts[0]) {
			return "", fmt.Errorf("invalid registry %q", parts[0])
		}
		if parts[0] == "docker.io" || parts[0] == "index.docker.io" {
			parts = parts[1:]
			// "docker.io/localhost/x" is Docker Hub's localhost/x, but written without its
			// registry it would be registry localhost's x: refused, not silently renamed.
			if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
				return "", fmt.Errorf("invalid repository %q: %q after the Docker Hub registry would read as a registry", repo, parts[0])
			}
		}
	}
	for _, p := range parts[firstPathPart(parts):] {
		if !componentRE.MatchString(p) {
			return "", fmt.Errorf("invalid repository component %q (lowercase letters, digits and . _ - between them)", p)
		}
	}
	if len(parts) == 2 && parts[0] == "library" {
		parts = parts[1:]
	}
	return strings.Join(parts, "/"), nil
}

// firstPathPart is 1 when parts starts with a registry host left after normalising, else 0.
func firstPathPart(parts []string) int {
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		return 1
	}
	return 0
}

// nameFrom makes a Name from a repository and a tag given apart (Import's arguments); an
// empty tag is "latest".
func nameFrom(repository, tag string) (Name, error) {
	if tag == "" {
		tag = DefaultTag
	}
	return ParseName(repository + ":" + tag)
}
