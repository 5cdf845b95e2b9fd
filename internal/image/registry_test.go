package image

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCredentialsFileIsDockersFormatReadByTheKeychainHelper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	h := credentialHelper{path: path}
	if _, _, err := h.Get("127.0.0.1:5000"); err == nil {
		t.Fatal("credentials found in a missing file")
	}
	f := authFile{Auths: map[string]authEntry{}}
	f.Auths["127.0.0.1:5000"] = authEntry{Auth: "dXNlcjpwYTpzcw=="}       // user:pa:ss
	f.Auths[authKey("index.docker.io")] = authEntry{Auth: "aHViOmh1Yg=="} // hub:hub
	if err := writeAuthFile(path, f); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v, %v; want 0600", st.Mode(), err)
	}
	if u, p, err := h.Get("127.0.0.1:5000"); err != nil || u != "user" || p != "pa:ss" {
		t.Errorf("Get = %q %q %v; want user, pa:ss (a password may hold a colon)", u, p, err)
	}
	if u, _, err := h.Get("index.docker.io"); err != nil || u != "hub" {
		t.Errorf("Docker Hub's credentials under docker's key: %q, %v", u, err)
	}
	if _, _, err := h.Get("other:1"); err == nil {
		t.Error("credentials found for a registry never logged in to")
	}
	opts := RegistryOptions{AuthFile: path, TLSVerify: true}
	if err := Logout("127.0.0.1:5000", opts); err != nil {
		t.Fatal(err)
	}
	if err := Logout("127.0.0.1:5000", opts); err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Errorf("second logout = %v, want not logged in", err)
	}
	if err := Logout("docker.io", opts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the file outlives its last credentials: %v", err)
	}
}

func TestABrokenCredentialsFileIsAnErrorNotAnAnonymousPull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	writeTestFile(t, path, []byte("{not json"))
	if err := checkAuthFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("checkAuthFile = %v, want an error naming %s", err, path)
	}
}

func TestParseRegistryTakesHostPortOrAURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":            "127.0.0.1:5000",
		"https://registry.example/": "registry.example",
		"registry.example:443":      "registry.example:443",
		"http://localhost:5000":     "localhost:5000",
	} {
		reg, err := parseRegistry(in, RegistryOptions{TLSVerify: true})
		if err != nil || reg.RegistryStr() != want {
			t.Errorf("parseRegistry(%q) = %q, %v; want %q", in, reg.RegistryStr(), err, want)
		}
	}
	for _, bad := range []string{"", "registry.example/team", "bad host"} {
		if _, err := parseRegistry(bad, RegistryOptions{}); err == nil {
			t.Errorf("parseRegistry(%q) accepted", bad)
		}
	}
}

func selfSignedPEM(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestRegistryCAsComeFromTheRegistrysCertsDDirectory(t *testing.T) {
	certsD := t.TempDir()
	opts := RegistryOptions{TLSVerify: true, CertDirs: []string{certsD}}
	if pool, err := registryCAs("reg.example:5000", opts); err != nil || pool != nil {
		t.Fatalf("no certificate: pool %v, %v; want the system's (nil)", pool, err)
	}
	writeTestFile(t, filepath.Join(certsD, "reg.example:5000", "ca.crt"), selfSignedPEM(t))
	if pool, err := registryCAs("reg.example:5000", opts); err != nil || pool == nil {
		t.Errorf("certs.d/HOST:PORT/ca.crt not used: %v, %v", pool, err)
	}
	if pool, err := registryCAs("other.example", opts); err != nil || pool != nil {
		t.Errorf("another registry's CA used: %v, %v", pool, err)
	}
	flat := t.TempDir()
	writeTestFile(t, filepath.Join(flat, "ca.crt"), []byte("not a certificate"))
	_, err := registryCAs("reg.example:5000", RegistryOptions{TLSVerify: true, CertDirs: []string{flat}, CertDirIsFlat: true})
	if err == nil || !strings.Contains(err.Error(), "ca.crt") {
		t.Errorf("a --cert-dir file with no certificate: %v, want an error naming it", err)
	}
}

// With TLS verification on, a private address must not get plain HTTP (ggcr's Scheme says
// "http" for it and its ping falls back): the transport refuses before connecting, so this
// needs no network; loopback keeps docker's allowance.
func TestTLSVerifyRefusesPlainHTTPBeyondLoopback(t *testing.T) {
	for _, host := range []string{"10.0.0.1:5000", "192.168.1.1", "registry.localhost:5000", "[fd00::1]:5000"} {
		tr, err := registryTransport(host, RegistryOptions{TLSVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v2/", nil)
		start := time.Now()
		_, err = tr.RoundTrip(req)
		if err == nil || !strings.Contains(err.Error(), "refusing plain HTTP to "+host) {
			t.Errorf("%s: plain HTTP with --tls-verify=true: %v, want refused", host, err)
		}
		if time.Since(start) > time.Second {
			t.Errorf("%s: the refusal took %v: it connected first", host, time.Since(start))
		}
		reg, err := parseRegistry(host, RegistryOptions{TLSVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := loginSchemes(reg, RegistryOptions{TLSVerify: true}); len(got) != 1 || got[0] != "https" {
			t.Errorf("%s: login schemes %v, want https only", host, got)
		}
		insecure, err := parseRegistry(host, RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := loginSchemes(insecure, RegistryOptions{}); len(got) != 2 {
			t.Errorf("%s: login schemes with --tls-verify=false %v, want https, http", host, got)
		}
	}
	for _, host := range []string{"127.0.0.1:5000", "localhost:5000", "[::1]:5000"} {
		tr, err := registryTransport(host, RegistryOptions{TLSVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tr.(httpsOnly); !ok {
			t.Fatalf("transport %T, want httpsOnly", tr)
		}
		u, _ := url.Parse("http://" + host + "/v2/")
		if !isLoopback(u.Hostname()) {
			t.Errorf("%s: not loopback", host)
		}
		reg, err := parseRegistry(host, RegistryOptions{TLSVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := loginSchemes(reg, RegistryOptions{TLSVerify: true}); len(got) != 2 || got[1] != "http" {
			t.Errorf("%s: login schemes %v, want https, http (docker's loopback allowance)", host, got)
		}
	}
}

// A registry that stops taking an upload's bytes fails the request after stallTimeout,
// saying the upload stalled: the transport's response timeout starts only after the body.
func TestAnUploadTheRegistryStopsTakingFailsAsStalled(t *testing.T) {
	old := stallTimeout
	stallTimeout = 300 * time.Millisecond
	t.Cleanup(func() { stallTimeout = old })
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // never reads the body: the client's socket buffers fill up
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	tr, err := registryTransport(strings.TrimPrefix(srv.URL, "http://"), RegistryOptions{TLSVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/x/blobs/uploads/1", io.LimitReader(zeros{}, 1<<40))
	done := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stalled: the registry took nothing for 300ms") {
			t.Errorf("stalled upload = %v, want it to say so", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("an upload the registry stopped taking still hangs after 20s")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// nb logout (and login) at the same time change the credentials file under a lock: each
// removes its own registry's credentials, none is lost or comes back.
func TestConcurrentLogoutsEachRemoveTheirCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	const n = 40
	f := authFile{Auths: map[string]authEntry{}}
	for i := range n {
		f.Auths[fmt.Sprintf("127.0.0.1:%d", 5000+i)] = authEntry{Auth: "dXNlcjpwYXNz"}
	}
	if err := writeAuthFile(path, f); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- Logout(fmt.Sprintf("127.0.0.1:%d", 5000+i), RegistryOptions{AuthFile: path, TLSVerify: true})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if left, err := readAuthFile(path); err != nil || len(left.Auths) != 0 {
		t.Errorf("credentials left after every registry's logout: %d, %v", len(left.Auths), err)
	}
}
