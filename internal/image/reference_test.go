package image

import "testing"

func TestParseNameNormalisesAndDefaultsTheTag(t *testing.T) {
	for in, want := range map[string]string{
		"alpine":                            "alpine:latest",
		"alpine:3.19":                       "alpine:3.19",
		"library/alpine":                    "alpine:latest",
		"docker.io/library/alpine:3":        "alpine:3",
		"index.docker.io/foo/bar":           "foo/bar:latest",
		"docker.io/foo/bar:v1":              "foo/bar:v1",
		"localhost:5000/team/app":           "localhost:5000/team/app:latest",
		"localhost/app:dev":                 "localhost/app:dev",
		"registry.example.com/a/b/c:1.0_rc": "registry.example.com/a/b/c:1.0_rc",
		"team/my-app.v2__x":                 "team/my-app.v2__x:latest",
	} {
		n, err := ParseName(in)
		if err != nil || n.String() != want {
			t.Errorf("ParseName(%q) = %q, %v; want %q", in, n, err, want)
		}
	}
}

func TestParseNameRefusesWhatIsNoName(t *testing.T) {
	for _, in := range []string{
		"", ":tag", "alpine:", "Alpine", "a//b", "-a", "a-", "a:b:c", "alpine@sha256:abc",
		"a:" + string(make([]byte, 129)), "bad_host:5000x/app", "../etc", "a/../b",
		// Found by FuzzParseReference: without docker.io these would name another registry.
		"docker.io/docker.io/x", "docker.io/localhost/x", "index.docker.io/a.b:5000/c",
	} {
		if n, err := ParseName(in); err == nil {
			t.Errorf("ParseName(%q) = %q, want an error", in, n)
		}
	}
}
