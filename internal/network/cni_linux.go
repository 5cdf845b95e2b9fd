package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// PluginDirs are where the CNI plugins are looked for: Debian's containernetworking-plugins,
// then the upstream release's and Fedora's places.
var PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni"}

// cniVersion is the spec version of the configs nb writes: the newest that Debian's plugins
// (1.1) speak; libcni passes it on to each plugin.
const cniVersion = "1.0.0"

// pluginTimeout bounds one ADD or DEL of a whole plugin list: a plugin that hangs (an iptables
// or address lease lock held elsewhere) is killed and an error, not an nb that never returns.
// A variable for the tests.
var pluginTimeout = 60 * time.Second

// pluginErr is op's error from the plugins; when they ran out of time it says so, where the
// killed plugin's own error would be only "signal: killed".
func pluginErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: the CNI plugins did not finish in %s (a plugin hangs, or waits for a lock another holds): %w", op, pluginTimeout, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ifName is the container's interface, as docker and podman name it.
const ifName = "eth0"

// Attachment is what attaching a container gave it.
type Attachment struct {
	IP      string
	Gateway string
}

// confList is the CNI plugin list of network n: the bridge plugin (its bridge, a veth per
// container, host-local addresses, the gateway on the bridge, and IP masquerade of what leaves
// the subnet, as docker's bridge does), portmap (published ports, DNAT; snat makes
// 127.0.0.1:PORT on the host reach the container, through route_localnet on the bridge), and
// firewall (FORWARD rules for the container's address).
func (ns *Networks) confList(n *Network) (*libcni.NetworkConfigList, error) {
	conf := map[string]any{
		"cniVersion": cniVersion,
		"name":       n.Name,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": n.Subnet, "gateway": n.Gateway}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ns.ipamDataDir(n),
				},
			},
			map[string]any{"type": "portmap", "snat": true, "capabilities": map[string]bool{"portMappings": true}},
			// Lets the container's traffic through the FORWARD chain where its policy is DROP
			// (docker sets it so, and br_netfilter sends bridged traffic there): what podman's
			// default network does too.
			map[string]any{"type": "firewall", "backend": "iptables"},
		},
	}
	data, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	return libcni.NetworkConfFromBytes(data)
}

func (ns *Networks) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(PluginDirs, ns.cacheDir(), nil)
}

func runtimeConf(id, netns string, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifName}
	if len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rt
}

// Attach connects the network namespace at netns (NewNamespace's) to network n as container
// id, publishing ports. On error nothing is left attached.
func (ns *Networks) Attach(n *Network, id, netns string, ports []PortMapping) (_ *Attachment, retErr error) {
	if err := os.MkdirAll(ns.dir, 0o700); err != nil {
		return nil, err
	}
	if n.Driver == Slirp.Driver {
		return ns.attachSlirp(id, netns, ports)
	}
	if err := checkSubnetFree(n); err != nil {
		return nil, err
	}
	if err := checkPortsFree(ports); err != nil {
		return nil, err
	}
	list, err := ns.confList(n)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), pluginTimeout)
	defer cancel()
	rt := runtimeConf(id, netns, ports)
	res, err := ns.cni().AddNetworkList(ctx, list, rt)
	if err != nil {
		// A plugin part way through may have made its share: DEL undoes what there is.
		ns.Detach(n, id, netns)
		return nil, pluginErr(ctx, "attach to network "+n.Name, err)
	}
	defer func() {
		if retErr != nil {
			ns.Detach(n, id, netns)
		}
	}()
	cur, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("attach to network %s: %w", n.Name, err)
	}
	for _, ipc := range cur.IPs {
		if ipc.Address.IP.To4() != nil {
			return &Attachment{IP: ipc.Address.IP.String(), Gateway: ipc.Gateway.String()}, nil
		}
	}
	return nil, fmt.Errorf("attach to network %s: the plugins gave no IPv4 address", n.Name)
}

// Detach undoes Attach: DEL with the config, ports and result libcni cached at ADD (the bridge
// plugin finds the masquerade rules to remove from the addresses in the namespace, portmap its
// rules from the ports, host-local frees the lease). Without a cached attachment (an ADD that
// failed part way) it is n's current config. n may be nil: the cache is enough. Nothing attached
// is no error, so it can run again after a crash.
func (ns *Networks) Detach(n *Network, id, netns string) error {
	if err := ns.detachSlirp(id); err != nil || (n != nil && n.Driver == Slirp.Driver) {
		return err
	}
	nsPath := netns
	if !IsNamespace(netns) {
		// Gone, or an empty file after a reboot: the plugins release what is outside it (the
		// lease); the interfaces went with the namespace.
		nsPath = ""
	}
	c := ns.cni()
	atts, err := c.GetCachedAttachments(id)
	if err != nil {
		return fmt.Errorf("detach %s: %w", id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pluginTimeout)
	defer cancel()
	for _, a := range atts {
		list, err := libcni.NetworkConfFromBytes(a.Config)
		if err != nil {
			return fmt.Errorf("detach %s from network %s: cached config: %w", id, a.Network, err)
		}
		rt := &libcni.RuntimeConf{ContainerID: id, NetNS: nsPath, IfName: a.IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs}
		if err := c.DelNetworkList(ctx, list, rt); err != nil {
			return pluginErr(ctx, fmt.Sprintf("detach %s from network %s", id, a.Network), err)
		}
	}
	if len(atts) > 0 || n == nil || nsPath == "" {
		return nil
	}
	list, err := ns.confList(n)
	if err != nil {
		return err
	}
	if err := c.DelNetworkList(ctx, list, runtimeConf(id, nsPath, nil)); err != nil {
		return pluginErr(ctx, fmt.Sprintf("detach %s from network %s", id, n.Name), err)
	}
	return nil
}

// checkSubnetFree refuses to attach to network n while an interface of the host's other than
// n's bridge has an address in n's subnet: the bridge plugin would put the gateway on n's bridge
// all the same, and the host's routes to the subnet would go one way or the other at random. It
// is how two stores' networks made with the same subnet (each store checks only its own) or a
// subnet the host's LAN took since meet.
func checkSubnetFree(n *Network) error {
	_, subnet, err := net.ParseCIDR(n.Subnet)
	if err != nil {
		return fmt.Errorf("network %s: subnet %q: %w", n.Name, n.Subnet, err)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, ifc := range ifaces {
		if ifc.Name == n.Bridge {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && ipnet.IP.To4() != nil && overlaps(subnet, ipnet) {
				return fmt.Errorf("attach to network %s: its subnet %s overlaps %s of the host's interface %s (another nb store's network, or the host's own)", n.Name, n.Subnet, ipnet, ifc.Name)
			}
		}
	}
	return nil
}

// checkPortsFree refuses a published port that something on the host already listens on:
// portmap's DNAT would silently take its traffic, where docker says the port is allocated.
func checkPortsFree(ports []PortMapping) error {
	for _, p := range ports {
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
		if p.HostIP == "" {
			addr = net.JoinHostPort("0.0.0.0", strconv.Itoa(p.HostPort))
		}
		var err error
		if p.Protocol == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp4", addr); err == nil {
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp4", addr); err == nil {
				l.Close()
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "address already in use") {
				return fmt.Errorf("-p %s: port %d/%s is already in use on the host", p, p.HostPort, p.Protocol)
			}
			return fmt.Errorf("-p %s: %w", p, err)
		}
	}
	return nil
}
