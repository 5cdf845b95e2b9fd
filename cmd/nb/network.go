package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/network"
	"github.com/nebulon-dev/nebulon/internal/rootless"
	"github.com/nebulon-dev/nebulon/internal/store"
	"github.com/nebulon-dev/nebulon/specconv"
)

var networkCommand = &cli.Command{
	Name:  "network",
	Usage: "manage networks: bridges that containers are attached to (bridge is the default one)",
	Subcommands: []*cli.Command{
		{
			Name:      "create",
			Usage:     "create a bridge network; its containers reach each other by name",
			ArgsUsage: "NAME",
			Description: `Without --subnet, nb picks a free /24 in 10.77.0.0/16. Examples:
   nb network create backend
   nb network create --subnet 10.78.0.0/24 backend`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "subnet", Usage: "the network's IPv4 range (CIDR)"},
			},
			Action: networkCreate,
		},
		{
			Name:    "ls",
			Aliases: []string{"list"},
			Usage:   "list networks (NETWORK ID, NAME, DRIVER, SUBNET)",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "names only"},
			},
			Action: networkList,
		},
		{
			Name:      "rm",
			Aliases:   []string{"remove"},
			Usage:     "remove networks (refused while a container is on one)",
			ArgsUsage: "NAME...",
			Action:    networkRemove,
		},
		{
			Name:      "inspect",
			Usage:     "print networks as JSON, with their running containers' addresses",
			ArgsUsage: "NAME...",
			Action:    networkInspect,
		},
	},
}

func networkCreate(ctx *cli.Context) error {
	if rootless.Is() {
		return fmt.Errorf("network create: a bridge network needs root, and nb runs rootless (uid %d): its containers use --network %s (the default), host or none", rootless.UID(), network.Slirp.Name)
	}
	s, unlock, err := lockStore(ctx, 1, 1)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := network.Open(s.Root).Create(ctx.Args().First(), ctx.String("subnet"))
	if err != nil {
		return fmt.Errorf("network create: %w", err)
	}
	fmt.Fprintln(ctx.App.Writer, n.Name)
	return nil
}

func networkList(ctx *cli.Context) error {
	if err := needArgs(ctx, 0, 0); err != nil {
		return err
	}
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	all, err := network.Open(s.Root).List()
	if err != nil {
		return err
	}
	if ctx.Bool("quiet") {
		for _, n := range all {
			fmt.Fprintln(ctx.App.Writer, n.Name)
		}
		return nil
	}
	w := tabwriter.NewWriter(ctx.App.Writer, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "NETWORK ID\tNAME\tDRIVER\tSUBNET")
	for _, n := range all {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n.ID, n.Name, n.Driver, n.Subnet)
	}
	return w.Flush()
}

func networkRemove(ctx *cli.Context) error {
	s, unlock, err := lockStore(ctx, 1, -1)
	if err != nil {
		return err
	}
	defer unlock()
	nets := network.Open(s.Root)
	for _, name := range ctx.Args().Slice() {
		if _, err := nets.Get(name); err != nil {
			return err
		}
		users, err := networkUsers(s, name)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("network %s is in use by container %s: remove them first", name, strings.Join(users, ", "))
		}
		if err := nets.Remove(name); err != nil {
			return err
		}
		fmt.Fprintln(ctx.App.Writer, name)
	}
	return nil
}

// networkUsers names the containers on network name, running or not: each would need it to
// start again.
func networkUsers(s *store.Store, name string) ([]string, error) {
	cs, err := s.Containers()
	if err != nil {
		return nil, err
	}
	var users []string
	for _, c := range cs {
		if c.Network == name {
			users = append(users, c.Name)
		}
	}
	return users, nil
}

// networkView is nb network inspect's JSON: the network and its attached containers.
type networkView struct {
	*network.Network
	Containers map[string]networkEndpoint `json:"Containers"`
}

type networkEndpoint struct {
	Name      string `json:"Name"`
	IPAddress string `json:"IPv4Address"`
}

func networkInspect(ctx *cli.Context) error {
	if err := needArgs(ctx, 1, -1); err != nil {
		return err
	}
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	cs, err := s.Containers()
	if err != nil {
		return err
	}
	nets := network.Open(s.Root)
	var out []networkView
	for _, name := range ctx.Args().Slice() {
		n, err := nets.Get(name)
		if err != nil {
			return err
		}
		v := networkView{Network: n, Containers: map[string]networkEndpoint{}}
		for _, c := range cs {
			if c.Network == name && c.IPAddress != "" {
				v.Containers[c.ID] = networkEndpoint{Name: c.Name, IPAddress: c.IPAddress}
			}
		}
		out = append(out, v)
	}
	return printJSON(ctx, out)
}

// The container side: where a container's network namespace and /etc files live, and how they
// are made at create, attached at start and released at exit.

// netnsPath is the file container id's network namespace is bound on while it is attached.
func netnsPath(s *store.Store, id string) string { return filepath.Join(s.ContainerDir(id), "netns") }

// etcFiles are the files a container gets in /etc, kept in its directory.
var etcFiles = []string{"hosts", "hostname", "resolv.conf"}

// setNetwork resolves --network and -p for a new container: the network must exist, a
// container:X must be one on a network; it sets the namespace path the spec joins and the /etc
// files it mounts, and records the network on c.
func setNetwork(s *store.Store, c *store.Container, o *specconv.Options, cfg *createConfig) error {
	dir := s.ContainerDir(c.ID)
	etcDir := map[string]string{"hosts": dir, "hostname": dir, "resolv.conf": dir}
	switch {
	case o.Network.Attached():
		n, err := network.Open(s.Root).Get(string(o.Network))
		if err != nil && string(o.Network) == network.Slirp.Name {
			return fmt.Errorf("--network %s: for nb run by an unprivileged user; the host's root's containers use a bridge network (--network %s, the default, or one of nb network create): %w", o.Network, network.Default.Name, err)
		}
		if err != nil {
			return fmt.Errorf("--network %s: %w", o.Network, err)
		}
		if rootless.Is() && n.Driver != network.Slirp.Driver {
			return fmt.Errorf("--network %s: a bridge network needs root, and nb runs rootless (uid %d): use --network %s (the default), host or none", o.Network, rootless.UID(), network.Slirp.Name)
		}
		o.NetworkNamespace, c.Network = netnsPath(s, c.ID), string(o.Network)
	default:
		ref, joined := o.Network.Container()
		if !joined {
			break
		}
		target, err := s.FindContainer(ref)
		if err != nil {
			return fmt.Errorf("--network %s: %w", o.Network, err)
		}
		if target.Network == "" {
			return fmt.Errorf("--network %s: container %s is on no network of nb's (its --network is none, host or another container's)", o.Network, target.ID)
		}
		// Docker gives it the other's hosts and resolv.conf too: it has the other's addresses.
		o.NetworkNamespace = netnsPath(s, target.ID)
		etcDir["hosts"], etcDir["resolv.conf"] = s.ContainerDir(target.ID), s.ContainerDir(target.ID)
		cfg.Network = "container:" + target.ID
	}
	if len(cfg.Ports) > 0 && !o.Network.Attached() {
		return fmt.Errorf("-p %s: publishing ports needs a network (--network bridge or a network's name), not --network %s", cfg.Ports[0], o.Network)
	}
	for _, f := range etcFiles {
		o.ExtraMounts = append(o.ExtraMounts, specconv.Mount{Source: filepath.Join(etcDir[f], f), Destination: "/etc/" + f})
	}
	return nil
}

// writeEtcFiles writes a new container's hosts, hostname and resolv.conf, as docker does: the
// host's resolv.conf without its loopback nameservers, or as it is with --network host, whose
// containers get the host's hosts file too.
func writeEtcFiles(s *store.Store, id, hostname string, mode specconv.Network) error {
	hostNet := mode == specconv.NetworkHost
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	hosts := network.Hosts(nil, nil)
	if hostNet {
		if hosts, err = os.ReadFile("/etc/hosts"); err != nil {
			return err
		}
	}
	dir := s.ContainerDir(id)
	for name, data := range map[string][]byte{
		"hosts": hosts, "hostname": []byte(hostname + "\n"), "resolv.conf": network.ResolvConf(resolv, hostNet),
	} {
		// 0644: the container's users read them, as they read an image's /etc.
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// containerNetwork is the network container c is attached to when it runs, nil when none.
func containerNetwork(s *store.Store, c *store.Container) (*network.Network, error) {
	if c.Network == "" {
		return nil, nil
	}
	return network.Open(s.Root).Get(c.Network)
}

// attachNetwork gives container id, about to start, its network: a new network namespace
// attached to its network, its address in its metadata and in the hosts files of the network's
// containers. A container joining another's network checks that one is up. What a killed nb left
// attached is released first.
func attachNetwork(s *store.Store, id string) (retErr error) {
	c, err := s.LoadContainer(id)
	if err != nil {
		return err
	}
	var cfg createConfig
	if len(c.Config) > 0 {
		if err := json.Unmarshal(c.Config, &cfg); err != nil {
			return err
		}
	}
	if target, joined := specconv.Network(cfg.Network).Container(); joined {
		if !network.IsNamespace(netnsPath(s, target)) {
			return fmt.Errorf("--network container:%s: that container is not running", target)
		}
		return nil
	}
	n, err := containerNetwork(s, c)
	if n == nil || err != nil {
		return err
	}
	nets := network.Open(s.Root)
	path := netnsPath(s, id)
	if err := nets.Detach(n, id, path); err != nil {
		return err
	}
	if err := network.RemoveNamespace(path); err != nil {
		return err
	}
	if err := network.NewNamespace(path); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			network.RemoveNamespace(path)
		}
	}()
	var ports []network.PortMapping
	for _, p := range cfg.Ports {
		pm, err := network.ParsePublish(p)
		if err != nil {
			return err
		}
		ports = append(ports, pm)
	}
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	// Under the store lock from the check to the address being recorded: two containers of
	// this store starting at once cannot both publish a port.
	if err := checkPortsUnused(s, id, ports); err != nil {
		return err
	}
	a, err := nets.Attach(n, id, path, ports)
	if err != nil {
		return err
	}
	err = func() error {
		c, err := s.LoadContainer(id)
		if err != nil {
			return err
		}
		c.IPAddress = a.IP
		if err := s.SaveContainer(c); err != nil {
			return err
		}
		return refreshHosts(s, n.Name)
	}()
	if err != nil {
		nets.Detach(n, id, path)
	}
	return err
}

// checkPortsUnused refuses a port that another running container of the store publishes: the
// plugins would add a second DNAT rule for it without a word, where docker says the port is
// allocated. (Ports that host programs listen on, Attach checks.)
func checkPortsUnused(s *store.Store, id string, ports []network.PortMapping) error {
	if len(ports) == 0 {
		return nil
	}
	cs, err := s.Containers()
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ID == id || c.IPAddress == "" {
			continue
		}
		var cfg createConfig
		json.Unmarshal(c.Config, &cfg)
		for _, other := range cfg.Ports {
			o, err := network.ParsePublish(other)
			if err != nil {
				continue
			}
			for _, p := range ports {
				if p.HostPort == o.HostPort && p.Protocol == o.Protocol && (p.HostIP == o.HostIP || p.HostIP == "" || o.HostIP == "") {
					return fmt.Errorf("-p %s: port %d/%s is already published by container %s", p, p.HostPort, p.Protocol, c.Name)
				}
			}
		}
	}
	return nil
}

// releaseNetwork detaches container c from its network and removes its namespace: CNI DEL with
// what libcni cached at ADD, so no veth, masquerade or port rule, or address lease is left. It
// clears c's address and takes it out of its peers' hosts files; the caller holds the store
// lock and saves c. Nothing attached is no error: it runs again after a crash.
func releaseNetwork(s *store.Store, c *store.Container) error {
	n, _ := containerNetwork(s, c) // nil when its definition is gone: libcni's cache is enough
	path := netnsPath(s, c.ID)
	if err := network.Open(s.Root).Detach(n, c.ID, path); err != nil {
		return err
	}
	if err := network.RemoveNamespace(path); err != nil {
		return err
	}
	if c.IPAddress == "" {
		return nil
	}
	c.IPAddress = ""
	if err := s.SaveContainer(c); err != nil {
		return err
	}
	return refreshHosts(s, c.Network)
}

// refreshHosts rewrites the hosts file of each container attached to network name. On a network
// made with nb network create each lists the others by name and hostname, as docker's embedded
// DNS answers for them; on the default bridge, as on docker's, only itself. The files are
// rewritten in place: the containers have them bind-mounted, and a rename would leave them the
// old one. The caller holds the store lock.
func refreshHosts(s *store.Store, name string) error {
	cs, err := s.Containers()
	if err != nil {
		return err
	}
	var on []*store.Container
	for _, c := range cs {
		if c.Network == name && c.IPAddress != "" {
			on = append(on, c)
		}
	}
	entries := make([]network.HostEntry, len(on))
	for i, c := range on {
		names := []string{c.Name}
		if h := containerHostname(s, c.ID); h != "" && h != c.Name {
			names = append(names, h)
		}
		entries[i] = network.HostEntry{IP: c.IPAddress, Names: names}
	}
	for i, c := range on {
		self := network.HostEntry{IP: c.IPAddress, Names: entries[i].Names[len(entries[i].Names)-1:]}
		var peers []network.HostEntry
		if name != network.Default.Name {
			peers = slices.Delete(slices.Clone(entries), i, i+1)
		}
		if err := os.WriteFile(filepath.Join(s.ContainerDir(c.ID), "hosts"), network.Hosts(&self, peers), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// containerHostname is the hostname nb wrote for container id.
func containerHostname(s *store.Store, id string) string {
	data, err := os.ReadFile(filepath.Join(s.ContainerDir(id), "hostname"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}
