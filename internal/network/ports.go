package network

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// PortMapping is one -p: its JSON is the portmap plugin's portMappings capability.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

func (p PortMapping) String() string {
	s := fmt.Sprintf("%d:%d/%s", p.HostPort, p.ContainerPort, p.Protocol)
	if p.HostIP != "" {
		s = net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)) + fmt.Sprintf(":%d/%s", p.ContainerPort, p.Protocol)
	}
	return s
}

// ParsePublish reads -p [IP:]HOSTPORT:CTRPORT[/tcp|udp]. Without an IP the port is published on
// every address of the host, as docker publishes it (0.0.0.0).
func ParsePublish(s string) (PortMapping, error) {
	bad := func(why string) (PortMapping, error) {
		return PortMapping{}, fmt.Errorf("-p %q: %s; want [IP:]HOSTPORT:CTRPORT[/tcp|udp]", s, why)
	}
	spec, proto, hasProto := strings.Cut(s, "/")
	p := PortMapping{Protocol: "tcp"}
	if hasProto {
		if proto != "tcp" && proto != "udp" {
			return bad(fmt.Sprintf("protocol %q is neither tcp nor udp", proto))
		}
		p.Protocol = proto
	}
	i := strings.LastIndex(spec, ":")
	if i < 0 {
		return bad("no host port (nb does not pick one)")
	}
	hostPart, ctr := spec[:i], spec[i+1:]
	host := hostPart
	if j := strings.LastIndex(hostPart, ":"); j >= 0 {
		ip := strings.TrimSuffix(strings.TrimPrefix(hostPart[:j], "["), "]")
		host = hostPart[j+1:]
		parsed := net.ParseIP(ip)
		switch {
		case ip == "":
			// :8080:80, as docker reads it: every address.
		case parsed != nil && parsed.To4() == nil:
			// Docker publishes on [::1] through its proxy; portmap would skip an IPv6 host
			// address for an IPv4 container without a word.
			return bad(fmt.Sprintf("host address %s is IPv6, and nb's networks are IPv4 only", ip))
		case parsed == nil:
			return bad(fmt.Sprintf("host address %q is not an IPv4 address", ip))
		case !parsed.IsUnspecified():
			p.HostIP = parsed.String()
		}
	}
	var err error
	if p.HostPort, err = parsePort(host); err != nil {
		return bad("host port " + err.Error())
	}
	if p.ContainerPort, err = parsePort(ctr); err != nil {
		return bad("container port " + err.Error())
	}
	return p, nil
}

func parsePort(s string) (int, error) {
	if strings.Contains(s, "-") {
		return 0, fmt.Errorf("%q is a range: nb publishes one port per -p", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return n, nil
}
