package network

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
)

// Files a container gets in its /etc, bind-mounted from its directory as docker's are: they are
// nb's to write (a container on a network learns its peers' addresses through its hosts file),
// and an image's own stay untouched below.

// fallbackNameservers are docker's when the host has none but loopback ones, which cannot be
// reached from a container's own network namespace. (Docker adds 2001:4860:4860::8888 and ::8844
// on networks with IPv6, which nb's are not.)
var fallbackNameservers = []string{"8.8.8.8", "8.8.4.4"}

// ResolvConf is the container's /etc/resolv.conf from the host's: as it is with the host's
// network; otherwise without the nameservers on loopback (127.0.0.0/8, ::1), and, as docker
// leaves them out on a network without IPv6, which nb's are, without the IPv6 ones: the
// container could not reach them, and each lookup would wait for them first. Docker's fallback
// goes in when none is left.
func ResolvConf(host []byte, hostNetwork bool) []byte {
	if hostNetwork {
		return host
	}
	var out bytes.Buffer
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			addr, _, _ := strings.Cut(f[1], "%") // fe80::1%eth0: a link-local one's zone
			if ip := net.ParseIP(addr); ip != nil && (ip.IsLoopback() || ip.To4() == nil) {
				continue
			}
			servers++
		}
		out.WriteString(line + "\n")
	}
	if servers == 0 {
		for _, s := range fallbackNameservers {
			fmt.Fprintf(&out, "nameserver %s\n", s)
		}
	}
	return out.Bytes()
}

// HostEntry is a line of a hosts file: an address and its names.
type HostEntry struct {
	IP    string
	Names []string
}

// Hosts is a container's /etc/hosts: docker's localhost lines, then the container's own
// address (when it has one) and its peers'.
func Hosts(self *HostEntry, peers []HostEntry) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	for _, e := range append([]HostEntry{*orEmpty(self)}, peers...) {
		if e.IP != "" && len(e.Names) > 0 {
			fmt.Fprintf(&b, "%s\t%s\n", e.IP, strings.Join(e.Names, " "))
		}
	}
	return b.Bytes()
}

func orEmpty(e *HostEntry) *HostEntry {
	if e == nil {
		return &HostEntry{}
	}
	return e
}
