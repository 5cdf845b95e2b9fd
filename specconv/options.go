package specconv

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Options are what `nb create` knows about a container once its flags are parsed (with the
// Parse functions of this package) and the caller has done what needs the host: unpacked or
// mounted the root, resolved volume names to directories, read the root's /etc/passwd and
// /etc/group. Spec turns them into an OCI runtime spec; the zero value of a field means "not
// given" and gets docker's default.
type Options struct {
	// ID is the container's id. The default hostname is its first 12 characters, as docker's
	// is the first 12 of its id.
	ID string
	// Name is --name. The spec keeps it as the annotation AnnotationName, so `nebulon state`
	// and hooks can tell which nb container a bundle is.
	Name string
	// Hostname is --hostname. Docker gives a --network host container the host's hostname;
	// a caller that wants that passes os.Hostname() here, as Spec may not ask the host.
	Hostname string

	// RootfsPath is the absolute path of the container's root: --rootfs, or the directory the
	// caller mounted the image's layers on.
	RootfsPath string
	// Image is the image's config, nil with --rootfs.
	Image *ImageConfig

	// Args is CMD [ARGS...] from the command line: it replaces the image's Cmd, and follows the
	// image's Entrypoint.
	Args []string
	// Workdir is --workdir, an absolute path inside the container.
	Workdir string
	// Env is --env, K=V each, in the order given: a later one wins over an earlier one and over
	// the image's. The CLI resolves a bare `--env K` from its own environment first, as docker
	// does, because reading the environment is not for this package.
	Env []string
	// TTY is -t: the process gets a terminal, and TERM=xterm.
	TTY bool
	// Init is --init: the host path of a static init (docker-init, which is tini; podman's
	// catatonit) that runs as the container's process 1, reaping orphans and passing signals
	// on to the command, which it runs after "--". It is bound read-only at InitPath, as
	// docker binds its own.
	Init string

	// User is --user U[:G] (see ParseUser); UID and GID are --uid and --gid (ParseID). One or
	// the other, not both; --gid alone changes only the group of the image's user. Names are
	// resolved against Passwd and Group, by ResolveUser.
	User     string
	UID, GID *uint32
	// Passwd and Group are the contents of the container root's /etc/passwd and /etc/group,
	// read by the caller (within the root: they may be symlinks the image controls), nil when
	// the file is missing. Numeric users need neither.
	Passwd, Group []byte

	// Memory is --memory in bytes (ParseMemory); 0 is no limit.
	Memory int64
	// CPUQuota and CPUPeriod are --cpus (ParseCPUs), in microseconds; 0 is no limit.
	CPUQuota  int64
	CPUPeriod uint64
	// PidsLimit is --pids-limit (ParsePidsLimit); 0 or -1 is no limit.
	PidsLimit int64
	// Rlimits are the process's rlimits. None given means none set: the container inherits the
	// runtime's, as docker's containers inherit dockerd's. See NofileRlimit for podman's choice.
	Rlimits []specs.POSIXRlimit

	// Volumes are -v, each resolved by the caller to a host directory (ParseVolume tells a
	// volume name from a host path).
	Volumes []Mount
	// Tmpfs is --tmpfs (ParseTmpfs).
	Tmpfs []Tmpfs
	// ExtraMounts are files or directories the caller prepares for the container, such as
	// /etc/hosts, /etc/resolv.conf and /etc/hostname. Like docker's, they are read-only when
	// the root is.
	ExtraMounts []Mount
	// ReadOnly is --read-only: the root is mounted read-only.
	ReadOnly bool

	// Network is --network (ParseNetwork); empty is NetworkNone.
	Network Network
	// NetworkNamespace is the path of the network namespace the container joins: one the
	// caller made and attached to a network (a bridge), or another container's. Empty with
	// host, and with none, where the runtime makes one holding only lo.
	NetworkNamespace string
	// CapAdd and CapDrop are --cap-add and --cap-drop (see ParseCapabilities).
	CapAdd, CapDrop []string

	// CgroupsPath is linux.cgroupsPath, chosen by the caller; empty lets the runtime choose.
	CgroupsPath string
	// Annotations are added to the spec's, over the image's labels.
	Annotations map[string]string
}

// ImageConfig is the part of an image's config (OCI image-spec config.md, "config") that sets a
// container's defaults.
type ImageConfig struct {
	Env        []string
	Entrypoint []string
	Cmd        []string
	WorkingDir string
	User       string
	Labels     map[string]string
}

// Mount is a bind mount of a host path into the container: a -v volume resolved to its
// directory, a -v host directory, or one of the caller's ExtraMounts.
type Mount struct {
	Source      string // absolute host path
	Destination string // absolute path in the container
	ReadOnly    bool
}

// Tmpfs is a --tmpfs mount: Options are the ones given after the path, which Spec puts after
// the defaults (TmpfsDefaultOptions), where they win.
type Tmpfs struct {
	Destination string
	Options     []string
}

// Network is the --network mode: none, host, container:ID|NAME, or a network's name.
type Network string

// The network modes nb knows. Any other value names a network (a bridge the caller attaches the
// container to, with CNI plugins, in a namespace it passes as NetworkNamespace).
const (
	// NetworkNone is a network namespace of the container's own, holding only lo.
	NetworkNone Network = "none"
	// NetworkHost is no network namespace: the container shares the host's.
	NetworkHost Network = "host"
	// NetworkBridge is nb's default network, as docker's default is its bridge.
	NetworkBridge Network = "bridge"
)

// Container reports whether n is container:ID|NAME, and which container it names.
func (n Network) Container() (string, bool) {
	return strings.CutPrefix(string(n), "container:")
}

// Attached reports whether n is a network the container is attached to (not none, host or
// another container's).
func (n Network) Attached() bool {
	_, joined := n.Container()
	return n != "" && n != NetworkNone && n != NetworkHost && !joined
}

// AnnotationName is the annotation that holds --name.
const AnnotationName = "org.nebulon.nb.name"
