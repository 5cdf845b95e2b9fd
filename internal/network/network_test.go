package network

import (
	"strings"
	"testing"
)

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "8080:80", want: "8080:80/tcp"},
		{in: "127.0.0.1:8080:80/udp", want: "127.0.0.1:8080:80/udp"},
		{in: "0.0.0.0:53:53/udp", want: "53:53/udp"},
		{in: "80", err: `-p "80": no host port (nb does not pick one)`},
		{in: "0:80", err: `host port "0" is not a port`},
		{in: "8080:70000", err: `container port "70000" is not a port`},
		{in: "8080:80/sctp", err: `protocol "sctp" is neither tcp nor udp`},
		{in: "localhost:8080:80", err: `host address "localhost" is not an IPv4 address`},
		{in: "::1:8080:80", err: `host address ::1 is IPv6, and nb's networks are IPv4 only`},
		{in: "[::1]:8080:80", err: `-p "[::1]:8080:80": host address ::1 is IPv6, and nb's networks are IPv4 only`},
		{in: "[::]:8080:80/udp", err: `host address :: is IPv6`},
		{in: ":8080:80", want: "8080:80/tcp"},
		{in: "8080-8081:80-81", err: `host port "8080-8081" is a range: nb publishes one port per -p`},
		{in: "8080:80-81", err: `container port "80-81" is a range`},
	} {
		p, err := ParsePublish(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParsePublish(%q) error = %v; want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || p.String() != tc.want):
			t.Errorf("ParsePublish(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
}

func TestParseSubnet(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{in: "10.78.0.0/24"},
		{in: "10.78.0.1/24", err: "not a network address: did you mean 10.78.0.0/24?"},
		{in: "10.78.0.0/31", err: "want a prefix length of 8 to 30 bits"},
		{in: "fd00::/64", err: "want an IPv4 CIDR"},
		{in: "banana", err: "want an IPv4 CIDR"},
		{in: "127.0.0.0/8", err: "not a unicast range"},
	} {
		_, err := parseSubnet(tc.in)
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("parseSubnet(%q) = %v; want %q", tc.in, err, tc.err)
		}
	}
}

func TestCreateRefusesOverlaps(t *testing.T) {
	ns := Open(t.TempDir())
	a, err := ns.Create("a", "")
	if err != nil || a.Subnet != "10.77.1.0/24" && a.Subnet != "10.77.2.0/24" {
		t.Fatalf("Create(a) = %+v, %v", a, err)
	}
	if _, err := ns.Create("b", "10.77.0.0/16"); err == nil || !strings.Contains(err.Error(), "overlaps network") {
		t.Errorf("Create(b, 10.77.0.0/16) = %v; want an overlap error", err)
	}
	if _, err := ns.Create("a", "10.200.0.0/24"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Create(a) again = %v", err)
	}
	if _, err := ns.Create("host", ""); err == nil {
		t.Error("Create(host) succeeded")
	}
	all, err := ns.List()
	if err != nil || len(all) != 2 || all[0].Name != "bridge" || all[1].Name != "a" {
		t.Errorf("List = %v, %v", all, err)
	}
}

func TestResolvConf(t *testing.T) {
	host := "search example.org\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0\n"
	if got := string(ResolvConf([]byte(host), false)); got != "search example.org\noptions edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n" {
		t.Errorf("loopback only: %q", got)
	}
	host = "nameserver 10.0.0.2\nnameserver 127.0.0.1\n"
	if got := string(ResolvConf([]byte(host), false)); got != "nameserver 10.0.0.2\n" {
		t.Errorf("mixed: %q", got)
	}
	// IPv6 nameservers are out too: nb's networks are IPv4 only.
	v6 := "nameserver 2001:db8::53\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\n"
	if got := string(ResolvConf([]byte(v6), false)); got != "nameserver 10.0.0.2\n" {
		t.Errorf("IPv6 and IPv4: %q", got)
	}
	if got := string(ResolvConf([]byte("nameserver 2001:db8::53\n"), false)); got != "nameserver 8.8.8.8\nnameserver 8.8.4.4\n" {
		t.Errorf("IPv6 only: %q", got)
	}
	if got := string(ResolvConf([]byte(v6), true)); got != v6 {
		t.Errorf("host network, IPv6: %q", got)
	}
	if got := string(ResolvConf([]byte(host), true)); got != host {
		t.Errorf("host network: %q", got)
	}
}

func TestHosts(t *testing.T) {
	got := string(Hosts(&HostEntry{IP: "10.77.0.2", Names: []string{"box"}}, []HostEntry{{IP: "10.77.0.3", Names: []string{"db", "db-host"}}}))
	if !strings.HasPrefix(got, "127.0.0.1\tlocalhost\n") || !strings.HasSuffix(got, "10.77.0.2\tbox\n10.77.0.3\tdb db-host\n") {
		t.Errorf("Hosts = %q", got)
	}
}
