// Package netdev moves host network interfaces into a container's network namespace
// (linux.netDevices, config-linux.md#network-devices): renamed as the config asks, with their
// permanent global addresses, and up. It runs in the runtime, once the container's init exists,
// before anything of the container runs. An interface is never moved back: its lifecycle is
// the network namespace's owner's (a physical one returns to the host when the namespace goes,
// a virtual one goes with it).
package netdev

import (
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
)

// fieldErr names the linux.netDevices entry that is wrong ("" for the field itself).
func fieldErr(entry, msg string) error {
	field := "linux.netDevices"
	if entry != "" {
		field += "." + entry
	}
	return linuxspec.Errorf(field, "%s", msg)
}

// checkName checks an interface name as the kernel does (dev_valid_name): 1 to 15 bytes, not
// "." or "..", no "/", ":" or white space. A template's "%d" the kernel fills in.
func checkName(name string) error {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." ||
		strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("%q is not an interface name (1 to %d bytes, no /, : or spaces)", name, unix.IFNAMSIZ-1)
	}
	return nil
}

// Check validates linux.netDevices before anything is made: the names, a network namespace of
// the container's own to move them to, and that each interface exists on the host.
func Check(devs map[string]specs.LinuxNetDevice, newNetNS bool) error {
	if len(devs) > 0 && !newNetNS {
		return fieldErr("", "moving interfaces needs a new network namespace (linux.namespaces has no network entry without a path)")
	}
	for host, d := range devs {
		if err := checkName(host); err != nil {
			return fieldErr(host, err.Error())
		}
		if d.Name != "" {
			if err := checkName(d.Name); err != nil {
				return fieldErr(host+".name", err.Error())
			}
		}
		if _, err := netlink.LinkByName(host); err != nil {
			return fieldErr(host, fmt.Sprintf("no such interface on the host: %v", err))
		}
	}
	return nil
}

// Move moves every interface of devs into the network namespace of process pid, then gives it
// back its permanent global addresses (RFC 3549 2.3.3.2: IFA_F_PERMANENT, RT_SCOPE_UNIVERSE),
// which a move drops, and sets it up. A name already taken there is an error unless the new
// name is a template ("eth%d").
func Move(devs map[string]specs.LinuxNetDevice, pid int) error {
	if len(devs) == 0 {
		return nil
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return fieldErr("", fmt.Sprintf("open the container's network namespace: %v", err))
	}
	defer ns.Close()
	in, err := netlink.NewHandleAt(netnsHandle(ns))
	if err != nil {
		return fieldErr("", fmt.Sprintf("netlink in the container's network namespace: %v", err))
	}
	defer in.Close()
	for host, d := range devs {
		if err := move(in, ns, host, d.Name); err != nil {
			return fieldErr(host, err.Error())
		}
	}
	return nil
}

func move(in *netlink.Handle, ns *os.File, host, name string) error {
	link, err := netlink.LinkByName(host)
	if err != nil {
		return fmt.Errorf("no such interface on the host: %w", err)
	}
	addrs, err := permanentAddrs(link)
	if err != nil {
		return err
	}
	if name == "" {
		name = host
	}
	// Checked before the move: the kernel moves an interface under its host name and renames it
	// after, so a name taken in the container would fail only once the interface is gone from
	// the host (config-linux.md#network-devices: the runtime MUST check the move is possible).
	if !strings.Contains(name, "%") {
		if _, err := in.LinkByName(name); err == nil {
			return fmt.Errorf("the container has an interface named %s already (a name ending in %%d lets the kernel pick a free one)", name)
		}
	}
	if err := moveLink(link.Attrs().Index, ns, name); err != nil {
		return err
	}
	// The kernel filled in a template: the interface is the one with the host's index... which
	// may change in the new namespace; find it by the hardware address and index alike.
	moved, err := findMoved(in, link, name)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		a.Label = "" // a label carries the old name
		if err := in.AddrAdd(moved, &a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s in the container: %w", a.IPNet, err)
		}
	}
	if err := in.LinkSetUp(moved); err != nil {
		return fmt.Errorf("set %s up in the container: %w", moved.Attrs().Name, err)
	}
	return nil
}

// permanentAddrs lists the interface's permanent addresses of global scope, every family.
func permanentAddrs(link netlink.Link) ([]netlink.Addr, error) {
	all, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list its addresses: %w", err)
	}
	var out []netlink.Addr
	for _, a := range all {
		if a.Flags&unix.IFA_F_PERMANENT != 0 && a.Scope == unix.RT_SCOPE_UNIVERSE {
			out = append(out, a)
		}
	}
	return out, nil
}

// moveLink moves interface index into ns and renames it there, in one RTM_NEWLINK: with
// IFLA_NET_NS_FD the kernel takes IFLA_IFNAME as the name in the new namespace (a template is
// filled in there), and as the name to move under when the host's is taken there.
func moveLink(index int, ns *os.File, name string) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(ns.Fd()))))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("the container has an interface named %s already (a name ending in %%d lets the kernel pick a free one)", name)
		}
		return fmt.Errorf("move into the container's network namespace as %s: %w", name, err)
	}
	return nil
}

// findMoved finds the interface just moved: by the name asked for, or for a template by its
// hardware address (a dummy's or veth's is kept by the move).
func findMoved(in *netlink.Handle, was netlink.Link, name string) (netlink.Link, error) {
	if !strings.Contains(name, "%") {
		l, err := in.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("find %s in the container: %w", name, err)
		}
		return l, nil
	}
	links, err := in.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list the container's interfaces: %w", err)
	}
	for _, l := range links {
		if l.Attrs().HardwareAddr.String() == was.Attrs().HardwareAddr.String() && l.Type() == was.Type() {
			return l, nil
		}
	}
	return nil, fmt.Errorf("the interface moved as %s is not in the container", name)
}
