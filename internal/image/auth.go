package image

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/atomicfile"
)

// Credentials are kept in one file in docker's config.json format (nb gives it ROOT/auth.json;
// podman's auth.json is the same format), so `docker login`'s and podman's files can be
// copied in and ggcr reads it as any docker config:
//
//	{"auths": {"HOST[:PORT]": {"auth": "base64(USER:PASSWORD)"}}}
//
// It is mode 0600 and written crash-safely (a temp file renamed over it): it holds passwords.
type authFile struct {
	Auths map[string]authEntry `json:"auths"`
}

type authEntry struct {
	Auth string `json:"auth"`
}

// readAuthFile reads path; a missing file holds no credentials.
func readAuthFile(path string) (authFile, error) {
	f := authFile{Auths: map[string]authEntry{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("credentials file %s: %w", path, err)
	}
	if f.Auths == nil {
		f.Auths = map[string]authEntry{}
	}
	return f, nil
}

// authKey is the key of registry in the file: its host[:port], as podman writes it; Docker
// Hub's is docker's historic URL.
func authKey(registry string) string {
	if registry == name.DefaultRegistry || registry == "docker.io" {
		return authn.DefaultAuthKey
	}
	return registry
}

// credentialHelper gives ggcr's keychain the credentials of the file at path
// (authn.NewKeychainFromHelper): an error means none, and the registry is asked anonymously.
type credentialHelper struct{ path string }

func (h credentialHelper) Get(registry string) (string, string, error) {
	if h.path == "" {
		return "", "", errors.New("no credentials file")
	}
	f, err := readAuthFile(h.path)
	if err != nil {
		return "", "", err
	}
	for _, key := range []string{authKey(registry), "https://" + registry, "http://" + registry} {
		if e, ok := f.Auths[key]; ok {
			return decodeAuth(e.Auth)
		}
	}
	return "", "", fmt.Errorf("no credentials for %s", registry)
}

func decodeAuth(s string) (user, password string, err error) {
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", fmt.Errorf("credentials: %w", err)
	}
	user, password, ok := strings.Cut(string(data), ":")
	if !ok {
		return "", "", errors.New("credentials: no user:password")
	}
	return user, password, nil
}

// checkAuthFile says whether the credentials file can be read, so that a broken one is an
// error rather than, through the keychain, a silent anonymous pull.
func checkAuthFile(path string) error {
	if path == "" {
		return nil
	}
	_, err := readAuthFile(path)
	return err
}

// Login checks user and password against registry (host[:port]) and, when it accepts them,
// keeps them in the credentials file opts.AuthFile, as `docker login` does.
func Login(ctx context.Context, registry, user, password string, opts RegistryOptions) error {
	reg, err := parseRegistry(registry, opts)
	if err != nil {
		return err
	}
	if user == "" || password == "" {
		return fmt.Errorf("login to %s: a username and a password are needed", registry)
	}
	if err := checkLogin(ctx, reg, user, password, opts); err != nil {
		return err
	}
	return updateAuthFile(opts.AuthFile, func(f *authFile) error {
		f.Auths[authKey(reg.RegistryStr())] = authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
		return nil
	})
}

// Logout forgets registry's credentials; it is an error when there were none, as with podman.
func Logout(registry string, opts RegistryOptions) error {
	reg, err := parseRegistry(registry, opts)
	if err != nil {
		return err
	}
	return updateAuthFile(opts.AuthFile, func(f *authFile) error {
		key := authKey(reg.RegistryStr())
		if _, ok := f.Auths[key]; !ok {
			return fmt.Errorf("logout: not logged in to %s", reg.RegistryStr())
		}
		delete(f.Auths, key)
		return nil
	})
}

// updateAuthFile changes the credentials file at path with change, under a flock on
// path.lock: two nb login or logout at once would otherwise each write what it read, and one
// registry's credentials would be lost or come back. A file left with no credentials is
// removed.
func updateAuthFile(path string, change func(*authFile) error) error {
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock credentials: %w", err)
	}
	defer lock.Close()
	if err := flock(lock, unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock credentials %s.lock: %w", path, err)
	}
	f, err := readAuthFile(path)
	if err != nil {
		return err
	}
	if err := change(&f); err != nil {
		return err
	}
	if len(f.Auths) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove credentials: %w", err)
		}
		return nil
	}
	return writeAuthFile(path, f)
}

func writeAuthFile(path string, f authFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o600, true); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// parseRegistry parses a registry's host[:port]; a URL's scheme and path are dropped, as
// docker login takes "https://registry.example/".
func parseRegistry(registry string, opts RegistryOptions) (name.Registry, error) {
	host := registry
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	host = strings.TrimSuffix(host, "/")
	var nopts []name.Option
	if !opts.TLSVerify {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, append(nopts, name.StrictValidation)...)
	if err != nil || host == "" || strings.Contains(host, "/") {
		return name.Registry{}, fmt.Errorf("invalid registry %q: want HOST[:PORT]", registry)
	}
	return reg, nil
}

// checkLogin asks the registry's /v2/ with the credentials: 200 means they are accepted. For
// a token registry ggcr's transport gets a token with them first, which fails when they are
// wrong.
func checkLogin(ctx context.Context, reg name.Registry, user, password string, opts RegistryOptions) error {
	base, err := registryTransport(reg.RegistryStr(), opts)
	if err != nil {
		return err
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	tr, err := transport.NewWithContext(ctx, reg, auth, base, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return loginError(reg, err)
	}
	var lastErr error
	for _, scheme := range loginSchemes(reg, opts) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+reg.RegistryStr()+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("login to %s: wrong username or password (%s)", reg.RegistryStr(), resp.Status)
		default:
			return fmt.Errorf("login to %s: the registry answered %s", reg.RegistryStr(), resp.Status)
		}
	}
	return loginError(reg, lastErr)
}

// loginSchemes are the schemes checkLogin tries, in order, as ggcr pings: HTTPS, then HTTP
// where that is allowed: with --tls-verify=false, where ggcr's Scheme says "http", and with
// it true only on loopback (see httpsOnly).
func loginSchemes(reg name.Registry, opts RegistryOptions) []string {
	schemes := []string{"https"}
	if reg.Scheme() == "http" && (!opts.TLSVerify || isLoopback(hostOnly(reg.RegistryStr()))) {
		schemes = append(schemes, "http")
	}
	return schemes
}

// hostOnly is host[:port] without its port.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func loginError(reg name.Registry, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("login to %s: wrong username or password: %w", reg.RegistryStr(), err)
	}
	if hint := tlsHint(reg.RegistryStr(), err); hint != "" {
		return fmt.Errorf("login to %s: %s: %w", reg.RegistryStr(), hint, err)
	}
	return fmt.Errorf("login to %s: %w", reg.RegistryStr(), err)
}
