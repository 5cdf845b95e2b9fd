package image

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A registry that stops sending a blob part way fails the pull after stallTimeout with an
// error saying so, not "context canceled", and leaves nothing in the store. The registry is
// go-containerregistry's own (pkg/registry), on loopback, its blob responses cut short.
func TestAPullTheRegistryStopsSendingSaysSo(t *testing.T) {
	requireRoot(t)
	old := stallTimeout
	stallTimeout = 300 * time.Millisecond
	t.Cleanup(func() { stallTimeout = old })
	img, err := random.Image(64<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	reg := registry.New()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+layer.String()) {
			reg.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes()[:1000])
		w.(http.Flusher).Flush()
		select { // then nothing more
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ref := strings.TrimPrefix(srv.URL, "http://") + "/stall/img:1"
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = s.Pull(ctx, ref, RegistryOptions{TLSVerify: true})
	if err == nil || !strings.Contains(err.Error(), "the registry sent nothing for 300ms") {
		t.Errorf("pull of a stalled blob = %v, want it to say the registry sent nothing", err)
	}
	assertStoreEmpty(t, s)
}

// A single-manifest image for another architecture is refused, naming both platforms: a
// container from it could not run here (docker pulls it with a warning).
func TestPullRefusesAnImageForAnotherArchitecture(t *testing.T) {
	requireRoot(t)
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	other := "arm64"
	if runtime.GOARCH == other {
		other = "amd64"
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", other
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/other/img:1"
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t)
	_, err = s.Pull(context.Background(), ref, RegistryOptions{TLSVerify: true})
	if want := "the image is for linux/" + other + ", this machine is linux/" + runtime.GOARCH; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("pull of a %s image = %v, want %q", other, err, want)
	}
	assertStoreEmpty(t, s)
}
