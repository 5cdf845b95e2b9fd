package specconv

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
)

// DockerCapabilities are the capabilities a container made by Spec starts with: docker's
// default set (moby oci/caps, DefaultCapabilities), sorted.
var DockerCapabilities = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYS_CHROOT",
}

// capAll is the word --cap-add and --cap-drop take for every capability.
const capAll = "ALL"

// AllCapabilities is every capability nb knows (moby/sys/capability's list, the one the runtime
// validates against), sorted. Docker's ALL is the running kernel's list instead; asking the
// kernel is not for this package, and the runtime skips, with a warning, any capability the
// kernel lacks, so the result is the same.
func AllCapabilities() []string {
	var all []string
	for _, c := range capability.ListKnown() {
		all = append(all, "CAP_"+strings.ToUpper(c.String()))
	}
	slices.Sort(all)
	return all
}

// knownCapabilities is AllCapabilities, made on first use.
var knownCapabilities = sync.OnceValue(AllCapabilities)

// NormalizeCapability turns a capability as a person writes it ("net_admin", "NET_ADMIN",
// "CAP_NET_ADMIN") into its spec name, CAP_NET_ADMIN, and "all" into ALL. ok is false for a name
// nb does not know.
func NormalizeCapability(s string) (name string, ok bool) {
	name = strings.ToUpper(s)
	if name == capAll {
		return name, true
	}
	if !strings.HasPrefix(name, "CAP_") {
		name = "CAP_" + name
	}
	_, ok = slices.BinarySearch(knownCapabilities(), name)
	return name, ok
}

// ParseCapabilities applies --cap-add and --cap-drop to DockerCapabilities, the way docker does:
// --cap-drop ALL leaves only what --cap-add gives; --cap-add ALL gives every capability but those
// dropped; otherwise the dropped ones go and the added ones come. Two contradictions that docker
// resolves towards more privilege (ALL added and dropped gives all; a capability both added and
// dropped is kept) are errors here, as they are in podman. The result is sorted.
func ParseCapabilities(add, drop []string) ([]string, error) {
	adds, err := normalizeCapabilities("--cap-add", add)
	if err != nil {
		return nil, err
	}
	drops, err := normalizeCapabilities("--cap-drop", drop)
	if err != nil {
		return nil, err
	}
	addAll, dropAll := slices.Contains(adds, capAll), slices.Contains(drops, capAll)
	if addAll && dropAll {
		return nil, fmt.Errorf("--cap-add ALL and --cap-drop ALL: give one or the other")
	}
	if !addAll && !dropAll {
		for _, c := range adds {
			if slices.Contains(drops, c) {
				return nil, fmt.Errorf("--cap-add %s and --cap-drop %s: a capability is either added or dropped", c, c)
			}
		}
	}
	var caps []string
	switch {
	case dropAll:
		caps = slices.Clone(adds)
	case addAll:
		caps = without(AllCapabilities(), drops)
	default:
		caps = append(without(DockerCapabilities, drops), adds...)
	}
	caps = without(caps, []string{capAll})
	slices.Sort(caps)
	return slices.Compact(caps), nil
}

func normalizeCapabilities(flag string, list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, s := range list {
		c, ok := NormalizeCapability(s)
		if !ok {
			return nil, fmt.Errorf("%s %q: unknown capability", flag, s)
		}
		out = append(out, c)
	}
	return out, nil
}

// without is list less the elements of drop, in a new slice.
func without(list, drop []string) []string {
	var out []string
	for _, c := range list {
		if !slices.Contains(drop, c) {
			out = append(out, c)
		}
	}
	return out
}
