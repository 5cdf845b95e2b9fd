package specconv

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func u32(n uint32) *uint32 { return &n }

func TestParseUser(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want UserSpec
		err  string
	}{
		{in: "1000", want: UserSpec{UID: u32(1000)}},
		{in: "1000:100", want: UserSpec{UID: u32(1000), GID: u32(100)}},
		{in: "nginx", want: UserSpec{User: "nginx"}},
		{in: "nginx:www-data", want: UserSpec{User: "nginx", Group: "www-data"}},
		{in: "0:wheel", want: UserSpec{UID: u32(0), Group: "wheel"}},
		{in: "svc$:5", want: UserSpec{User: "svc$", GID: u32(5)}},
		{in: "2147483647", want: UserSpec{UID: u32(2147483647)}},
		{in: "", err: `--user "": user is empty`},
		{in: ":100", err: `--user ":100": user is empty`},
		{in: "nginx:", err: `--user "nginx:": group is empty`},
		{in: "a:b:c", err: `--user "a:b:c": group "b:c" is neither a number nor a name`},
		{in: "2147483648", err: `--user "2147483648": user 2147483648 is not from 0 to 2147483647`},
		{in: "1:99999999999", err: `--user "1:99999999999": group 99999999999 is not from 0 to 2147483647`},
		{in: "-1", err: `--user "-1": user "-1" is neither a number nor a name`},
		{in: "a b", err: `--user "a b": user "a b" is neither a number nor a name`},
	} {
		got, err := ParseUser(tc.in)
		if errString(err) != tc.err || got.String() != tc.want.String() || got.User != tc.want.User || got.Group != tc.want.Group {
			t.Errorf("ParseUser(%q) = %v, %q; want %v, %q", tc.in, got, errString(err), tc.want, tc.err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("ParseUser(%q).String() = %q", tc.in, got.String())
		}
	}
}

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
`

const testGroup = `root:x:0:root
bin:x:1:root,daemon
wheel:x:10:root,app
nginx:x:101:
app:x:1000:
www-data:x:33:nginx
`

func TestResolveUser(t *testing.T) {
	passwd, group := []byte(testPasswd), []byte(testGroup)
	for _, tc := range []struct {
		name          string
		in            string
		passwd, group []byte
		want          specs.User
		err           string
	}{
		{name: "no user is root, with root's groups", in: "", passwd: passwd, group: group,
			want: specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0, 1, 10}}},
		{name: "no user and no files is root", in: "", want: specs.User{}},
		{name: "a name", in: "nginx", passwd: passwd, group: group,
			want: specs.User{UID: 101, GID: 101, AdditionalGids: []uint32{33}}},
		{name: "a name and a group name: no additional groups", in: "app:www-data", passwd: passwd, group: group,
			want: specs.User{UID: 1000, GID: 33}},
		{name: "a uid in passwd takes its group", in: "1000", passwd: passwd, group: group,
			want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10}}},
		{name: "a uid not in passwd has group 0", in: "4242", passwd: passwd, group: group,
			want: specs.User{UID: 4242, GID: 0}},
		{name: "numbers need no files", in: "4242:4343", want: specs.User{UID: 4242, GID: 4343}},
		{name: "a number group needs no entry", in: "nginx:777", passwd: passwd, group: group,
			want: specs.User{UID: 101, GID: 777}},
		{name: "a name not in passwd", in: "nobody", passwd: passwd, group: group,
			err: `--user "nobody": no such user in the container's /etc/passwd`},
		{name: "a name with no passwd", in: "nginx",
			err: `--user "nginx": no such user in the container's /etc/passwd`},
		{name: "a group not in group", in: "app:staff", passwd: passwd, group: group,
			err: `--user "app:staff": no such group in the container's /etc/group`},
		{name: "a group name with no group file", in: "0:wheel", passwd: passwd,
			err: `--user "0:wheel": no such group in the container's /etc/group`},
		{name: "a bad spec", in: "a:b:c", err: `--user "a:b:c": group "b:c" is neither a number nor a name`},
	} {
		got, err := ResolveUser("--user", tc.in, tc.passwd, tc.group)
		if errString(err) != tc.err || got.UID != tc.want.UID || got.GID != tc.want.GID || !slices.Equal(got.AdditionalGids, tc.want.AdditionalGids) {
			t.Errorf("%s: ResolveUser(%q) = %+v, %q; want %+v, %q", tc.name, tc.in, got, errString(err), tc.want, tc.err)
		}
	}
}
