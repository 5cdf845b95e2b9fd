package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Registry access goes through go-containerregistry (ggcr): its remote package speaks the
// distribution API (token and basic auth, chunked uploads, cross-repository mounts, index
// resolution by platform) and reads blobs through readers that check each blob's digest.

// RegistryOptions say how nb reaches a registry, as podman's flags do.
type RegistryOptions struct {
	// TLSVerify false lets a registry that is not on loopback be reached over plain HTTP, or
	// over HTTPS with a certificate nb does not check (podman's --tls-verify=false). With it
	// true, only a registry on localhost, 127.0.0.0/8 or ::1 is tried over HTTPS, then HTTP,
	// as docker allows for those: ggcr would fall back to HTTP for private addresses and
	// *.localhost too, where a man in the middle would get the credentials in clear.
	TLSVerify bool
	// CertDirs are where to look for the CA certificates (*.crt) a registry's certificate
	// is checked against, besides the system's: a directory per registry, HOST:PORT/ below
	// each (podman's /etc/containers/certs.d, docker's /etc/docker/certs.d), or, given with
	// --cert-dir, the one directory to use.
	CertDirs []string
	// CertDirIsFlat says CertDirs[0] holds the *.crt itself (podman's --cert-dir).
	CertDirIsFlat bool
	// AuthFile is the credentials file nb login writes (see Credentials).
	AuthFile string
	// Progress, if not nil, is told the bytes moved so far and in all.
	Progress Progress
}

// DefaultCertDirs are podman's and docker's per-registry certificate directories.
var DefaultCertDirs = []string{"/etc/containers/certs.d", "/etc/docker/certs.d"}

// Timeouts of a registry's connection: nb never waits forever on a registry that does not
// answer. A blob's body may take as long as it needs, as long as its bytes keep coming
// (stallTimeout, in the readers).
const (
	dialTimeout     = 30 * time.Second
	responseTimeout = 60 * time.Second
)

// remoteOptions are ggcr's options for reaching ref's registry with opts.
func remoteOptions(reg name.Registry, opts RegistryOptions) ([]remote.Option, error) {
	tr, err := registryTransport(reg.RegistryStr(), opts)
	if err != nil {
		return nil, err
	}
	return []remote.Option{
		remote.WithTransport(tr),
		remote.WithAuthFromKeychain(authn.NewKeychainFromHelper(credentialHelper{path: opts.AuthFile})),
		remote.WithUserAgent("nb"),
	}, nil
}

// registryTransport is an HTTP transport with the registry's CA certificates and nb's timeouts.
func registryTransport(host string, opts RegistryOptions) (http.RoundTripper, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = dialTimeout
	tr.ResponseHeaderTimeout = responseTimeout
	tr.Proxy = http.ProxyFromEnvironment
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if !opts.TLSVerify {
		cfg.InsecureSkipVerify = true
	} else {
		pool, err := registryCAs(host, opts)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	tr.TLSClientConfig = cfg
	if opts.TLSVerify {
		return httpsOnly{uploadStallBound{tr}}, nil
	}
	return uploadStallBound{tr}, nil
}

// uploadStallBound fails a request whose body has not moved for stallTimeout: the transport's
// ResponseHeaderTimeout starts only once the body is sent, so a registry that stops taking a
// blob's bytes would otherwise hang a push (and the store's shared lock with it) for ever.
type uploadStallBound struct{ inner http.RoundTripper }

func (t uploadStallBound) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return t.inner.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	stalled := fmt.Errorf("upload to %s stalled: the registry took nothing for %s", req.URL.Redacted(), stallText())
	body := &stallBody{rc: req.Body, timer: time.AfterFunc(stallTimeout, func() { cancel(stalled) })}
	req = req.Clone(ctx)
	req.Body = body
	resp, err := t.inner.RoundTrip(req)
	body.stop()
	if err != nil {
		if errors.Is(context.Cause(ctx), stalled) {
			err = stalled
		}
		cancel(nil)
		return nil, err
	}
	// The response's body is read under ctx: it is let go when the body is closed.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
	return resp, nil
}

// stallBody is a request body whose reads push back its timer; its end stops it for good.
type stallBody struct {
	rc      io.ReadCloser
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.stop()
	} else if n > 0 {
		b.mu.Lock()
		if !b.stopped {
			b.timer.Reset(stallTimeout)
		}
		b.mu.Unlock()
	}
	return n, err
}

func (b *stallBody) Close() error {
	b.stop()
	return b.rc.Close()
}

func (b *stallBody) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	b.timer.Stop()
}

type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// httpsOnly refuses plain HTTP to any host but loopback, before connecting: ggcr's ping falls
// back to HTTP for every registry its name.Registry.Scheme says "http" for (private
// addresses, *.localhost), and a token realm or blob redirect may be http:// too.
type httpsOnly struct{ inner http.RoundTripper }

func (t httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !isLoopback(req.URL.Hostname()) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("refusing plain HTTP to %s: only a registry on loopback may be reached without TLS (--tls-verify=false allows it)", req.URL.Host)
	}
	return t.inner.RoundTrip(req)
}

// isLoopback says whether host (no port) is localhost, 127.0.0.0/8 or ::1: the registries
// docker reaches over plain HTTP without being told to.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// registryCAs is the system's CA pool with the registry's own CA certificates added, or nil
// (the system's) when it has none.
func registryCAs(host string, opts RegistryOptions) (*x509.CertPool, error) {
	var files []string
	for i, d := range opts.CertDirs {
		dir := filepath.Join(d, host)
		if i == 0 && opts.CertDirIsFlat {
			dir = d
		}
		found, err := filepath.Glob(filepath.Join(dir, "*.crt"))
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
		if opts.CertDirIsFlat {
			break
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("registry CA certificate: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("registry CA certificate %s: no PEM certificate in it", f)
		}
	}
	return pool, nil
}

// parseReference parses a registry reference (REPOSITORY[:TAG|@DIGEST], Docker Hub's when it
// names no registry, as with docker); opts.TLSVerify false allows plain HTTP.
func parseReference(ref string, opts RegistryOptions) (name.Reference, error) {
	var nopts []name.Option
	if !opts.TLSVerify {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %w", ref, err)
	}
	return r, nil
}

// registryError says what a registry's refusal means for the person: a login to do, an image
// that is not there.
func registryError(op string, ref name.Reference, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s %s: the registry refused access (%d); log in with nb login %s: %w", op, ref, terr.StatusCode, ref.Context().RegistryStr(), err)
		case http.StatusNotFound:
			return fmt.Errorf("%s %s: not found in the registry: %w", op, ref, err)
		}
	}
	if hint := tlsHint(ref.Context().RegistryStr(), err); hint != "" {
		return fmt.Errorf("%s %s: %s: %w", op, ref, hint, err)
	}
	return fmt.Errorf("%s %s: %w", op, ref, err)
}

// tlsHint says what to do when err is registry's certificate not being trusted, or its
// answering HTTPS with plain HTTP; it is "" for other errors.
func tlsHint(registry string, err error) string {
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Sprintf("the registry's certificate is not trusted (put its CA in /etc/containers/certs.d/%s/ca.crt, or give --cert-dir DIR)", registry)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return "the registry speaks plain HTTP (--tls-verify=false allows that)"
	}
	return ""
}
