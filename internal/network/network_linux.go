// Package network is nb's networks: Linux bridges that containers are attached to with the CNI
// plugins (bridge with host-local addresses and IP masquerade, portmap for published ports),
// driven through libcni, as podman 3 and containerd drive them. The default network, bridge,
// is built in; others are made with nb network create and kept as ROOT/networks/NAME.json. The
// plugins' state is kept under ROOT/networks as well: host-local's leases in ipam/, libcni's
// cache of each attachment (its config and result, which DEL needs) in cache/. The default
// network's leases are the exception: every store's containers share its bridge, so they share
// its leases too, in SharedIPAMDir.
//
// The caller holds the store lock around Create and Remove, and around the decision to attach
// (see cmd/nb), so no network is removed while a container is being attached to it.
package network

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nebulon-dev/nebulon/internal/atomicfile"
	"github.com/nebulon-dev/nebulon/internal/rootless"
)

// Default is the network a container is on unless --network says otherwise, as docker's is its
// bridge: its own Linux bridge and a private subnet, chosen away from docker's (172.17.0.0/16),
// podman's (10.88.0.0/16 and 10.89.N.0/24) and Kubernetes distributions' (10.42, 10.244).
var Default = Network{Name: "bridge", ID: "default", Driver: "bridge", Bridge: "nb0", Subnet: "10.77.0.0/24", Gateway: "10.77.0.1"}

// autoSubnets is where nb network create without --subnet picks a /24: 10.77.1.0/24 and up.
const autoSubnetBase = 10<<24 | 77<<16

// Network is a network's definition, as nb network inspect shows it.
type Network struct {
	Name    string    `json:"Name"`
	ID      string    `json:"Id"`
	Created time.Time `json:"Created,omitzero"`
	Driver  string    `json:"Driver"`
	// Bridge is the Linux bridge the containers' veths are attached to.
	Bridge  string `json:"Bridge"`
	Subnet  string `json:"Subnet"`
	Gateway string `json:"Gateway"`
}

// Networks are a store's networks: ROOT/networks.
type Networks struct {
	dir string
}

// Open returns the networks of the store at root; the directory is made when first needed.
func Open(root string) *Networks { return &Networks{dir: filepath.Join(root, "networks")} }

// Dir is where the networks' definitions and the plugins' state are kept.
func (ns *Networks) Dir() string { return ns.dir }

func (ns *Networks) ipamDir() string { return filepath.Join(ns.dir, "ipam") }

// SharedIPAMDir keeps the address leases of the default network's bridge, which every nb store
// on the host attaches its containers to (as every podman store shares podman's network): leases
// kept per store would give two stores' containers the same address on nb0. It is keyed by the
// bridge, whose name is the host's to share, and on /run, as the bridge, the containers and
// their rules go with a reboot: a lease that outlived them would hold its address for good.
const SharedIPAMDir = "/run/nb/ipam"

// ipamDataDir is host-local's dataDir for network n: host-local keeps n's leases in NAME below.
// A network made with nb network create has a bridge of its own store's (nb-ID, a random ID).
func (ns *Networks) ipamDataDir(n *Network) string {
	if n.Bridge == Default.Bridge {
		return filepath.Join(SharedIPAMDir, n.Bridge)
	}
	return ns.ipamDir()
}
func (ns *Networks) cacheDir() string { return filepath.Join(ns.dir, "cache") }

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ErrNoNetwork is Get's error for a name no network has.
var ErrNoNetwork = errors.New("no such network")

// Get returns the network of that name.
func (ns *Networks) Get(name string) (*Network, error) {
	if name == Default.Name {
		n := Default
		return &n, nil
	}
	// slirp4netns is a rootless user's network: the host's root has bridges (and may have a
	// network of its own by that name, made before it was reserved).
	if name == Slirp.Name && rootless.Is() {
		n := Slirp
		return &n, nil
	}
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("%w: %s", ErrNoNetwork, name)
	}
	data, err := os.ReadFile(filepath.Join(ns.dir, name+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoNetwork, name)
	}
	if err != nil {
		return nil, err
	}
	n := &Network{}
	if err := json.Unmarshal(data, n); err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	return n, nil
}

// List returns every network, the default first, then by name.
func (ns *Networks) List() ([]*Network, error) {
	d := Default
	out := []*Network{&d}
	entries, err := os.ReadDir(ns.dir)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && e.Type().IsRegular() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		n, err := ns.Get(name)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Create defines a bridge network: subnet is an IPv4 CIDR, or "" to pick a free /24. Its
// bridge is made when the first container is attached.
func (ns *Networks) Create(name, subnet string) (*Network, error) {
	switch {
	case !nameRE.MatchString(name):
		return nil, fmt.Errorf("network name %q: want letters, digits and _.- (starting with a letter or digit)", name)
	case name == "none" || name == "host" || name == Default.Name || name == Slirp.Name:
		return nil, fmt.Errorf("network name %q: reserved for --network %s", name, name)
	}
	all, err := ns.List()
	if err != nil {
		return nil, err
	}
	for _, n := range all {
		if n.Name == name {
			return nil, fmt.Errorf("network %s already exists", name)
		}
	}
	var ipnet *net.IPNet
	if subnet == "" {
		if ipnet, err = freeSubnet(all); err != nil {
			return nil, err
		}
	} else if ipnet, err = parseSubnet(subnet); err != nil {
		return nil, err
	}
	for _, n := range all {
		_, other, err := net.ParseCIDR(n.Subnet)
		if err == nil && overlaps(ipnet, other) {
			return nil, fmt.Errorf("--subnet %s: overlaps network %s's subnet %s", ipnet, n.Name, n.Subnet)
		}
	}
	id := make([]byte, 4)
	rand.Read(id)
	gw := make(net.IP, 4)
	binary.BigEndian.PutUint32(gw, binary.BigEndian.Uint32(ipnet.IP.To4())+1)
	n := &Network{
		Name: name, ID: hex.EncodeToString(id), Created: time.Now().UTC(), Driver: "bridge",
		Bridge: "nb-" + hex.EncodeToString(id), Subnet: ipnet.String(), Gateway: gw.String(),
	}
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(ns.dir, 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(ns.dir, name+".json"), data, 0o600, true); err != nil {
		return nil, fmt.Errorf("create network %s: %w", name, err)
	}
	return n, nil
}

// Remove deletes a network that no container uses (the caller checked): its definition, its
// bridge and its address leases.
func (ns *Networks) Remove(name string) error {
	if name == Default.Name {
		return fmt.Errorf("network %s is the default network: it cannot be removed", name)
	}
	n, err := ns.Get(name)
	if err != nil {
		return err
	}
	if link, err := netlink.LinkByName(n.Bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			return fmt.Errorf("remove network %s: delete bridge %s: %w", name, n.Bridge, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(ns.ipamDir(), name)); err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	if err := os.Remove(filepath.Join(ns.dir, name+".json")); err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	return atomicfile.SyncDir(ns.dir)
}

// parseSubnet reads --subnet: an IPv4 network address with a prefix of 8 to 30 bits, as docker
// requires the network address itself (10.1.0.0/16, not 10.1.2.3/16).
func parseSubnet(s string) (*net.IPNet, error) {
	ip, ipnet, err := net.ParseCIDR(s)
	if err != nil || ip.To4() == nil {
		return nil, fmt.Errorf("--subnet %q: want an IPv4 CIDR such as 10.78.0.0/24", s)
	}
	ones, _ := ipnet.Mask.Size()
	if ones < 8 || ones > 30 {
		return nil, fmt.Errorf("--subnet %s: want a prefix length of 8 to 30 bits", s)
	}
	if !ip.Equal(ipnet.IP) {
		return nil, fmt.Errorf("--subnet %s: not a network address: did you mean %s?", s, ipnet)
	}
	if ip.IsLoopback() || ip.IsMulticast() || ip.IsUnspecified() {
		return nil, fmt.Errorf("--subnet %s: not a unicast range a bridge can use", s)
	}
	return ipnet, nil
}

func overlaps(a, b *net.IPNet) bool { return a.Contains(b.IP) || b.Contains(a.IP) }

// freeSubnet is the first 10.77.N.0/24 that no network of the store and no address of the
// host's is in.
func freeSubnet(all []*Network) (*net.IPNet, error) {
	var used []*net.IPNet
	for _, n := range all {
		if _, ipnet, err := net.ParseCIDR(n.Subnet); err == nil {
			used = append(used, ipnet)
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok {
				used = append(used, ipnet)
			}
		}
	}
next:
	for i := uint32(1); i < 256; i++ {
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, autoSubnetBase|i<<8)
		cand := &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}
		for _, u := range used {
			if overlaps(cand, u) {
				continue next
			}
		}
		return cand, nil
	}
	return nil, errors.New("no free subnet left in 10.77.0.0/16: give --subnet")
}
