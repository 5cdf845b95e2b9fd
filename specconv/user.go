package specconv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// UserSpec is a parsed --user U[:G]: each half is a number (UID, GID) or a name (User, Group)
// to look up in the container's /etc/passwd or /etc/group. A nil GID with an empty Group means
// the user's primary group.
type UserSpec struct {
	User  string
	UID   *uint32
	Group string
	GID   *uint32
}

// ParseUser parses --user U[:G], as docker reads it: U and G are numbers (0 to 2147483647) or
// names. Names are only checked for shape here; ResolveUser looks them up.
func ParseUser(s string) (UserSpec, error) { return parseUser("--user", s) }

// parseUser is ParseUser for a user that source (a flag, or the image's config) gave.
func parseUser(source, s string) (UserSpec, error) {
	u, g, hasGroup := strings.Cut(s, ":")
	var us UserSpec
	var err error
	if us.User, us.UID, err = parseUserPart(u); err != nil {
		return UserSpec{}, fmt.Errorf("%s %q: user %w", source, s, err)
	}
	if hasGroup {
		if us.Group, us.GID, err = parseUserPart(g); err != nil {
			return UserSpec{}, fmt.Errorf("%s %q: group %w", source, s, err)
		}
	}
	return us, nil
}

// parseUserPart is one half of U[:G]: a number, or a name that cannot be confused with one
// or with an option. Names in passwd(5) may hold almost anything; these rules are useradd's
// loosest (no leading -, no :, no whitespace).
func parseUserPart(s string) (name string, id *uint32, err error) {
	if s == "" {
		return "", nil, errors.New("is empty")
	}
	if strings.Trim(s, "0123456789") == "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n > maxID {
			return "", nil, fmt.Errorf("%s is not from 0 to %d", s, maxID)
		}
		v := uint32(n)
		return "", &v, nil
	}
	if s[0] == '-' || strings.ContainsFunc(s, func(r rune) bool { return r == ':' || !unicode.IsPrint(r) || unicode.IsSpace(r) }) {
		return "", nil, fmt.Errorf("%q is neither a number nor a name", s)
	}
	return s, nil, nil
}

// String is the spec back in U[:G] form.
func (u UserSpec) String() string {
	s := u.User
	if u.UID != nil {
		s = strconv.FormatUint(uint64(*u.UID), 10)
	}
	switch {
	case u.GID != nil:
		s += ":" + strconv.FormatUint(uint64(*u.GID), 10)
	case u.Group != "":
		s += ":" + u.Group
	}
	return s
}

// ResolveUser turns a user as --user or an image's User give it ("" is root) into the process's
// user, the way docker does (moby/sys/user GetExecUser): a name is looked up in passwd, a group
// name in group; a number needs no entry (its group is then the passwd entry's, or 0); and a user
// whose group is not given explicitly gets the groups that list it in /etc/group as additional
// groups. passwd and group are the contents of the container's /etc/passwd and /etc/group, nil
// when the file is missing. source says where s came from ("--user", "image User"), for errors.
// nb exec --user can use this too.
func ResolveUser(source, s string, passwd, group []byte) (specs.User, error) {
	if s != "" {
		if _, err := parseUser(source, s); err != nil {
			return specs.User{}, err
		}
	}
	eu, err := user.GetExecUser(s, &user.ExecUser{Home: "/"}, reader(passwd), reader(group))
	switch {
	case errors.Is(err, user.ErrNoPasswdEntries):
		return specs.User{}, fmt.Errorf("%s %q: no such user in the container's /etc/passwd", source, s)
	case errors.Is(err, user.ErrNoGroupEntries):
		return specs.User{}, fmt.Errorf("%s %q: no such group in the container's /etc/group", source, s)
	case err != nil:
		return specs.User{}, fmt.Errorf("%s %q: %w", source, s, err)
	}
	u := specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid)}
	for _, g := range eu.Sgids {
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	return u, nil
}

// reader is b as an io.Reader, and nil (not a reader of nothing) when b is: GetExecUser tells a
// missing file from an empty one by a nil reader.
func reader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}
