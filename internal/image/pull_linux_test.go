package image

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
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

// nb push writes back what the image's config had: exposed ports, volumes, stop signal and
// its history, not only what a container starts from.
func TestPushKeepsPortsVolumesStopSignalAndHistory(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := [][]byte{makeTar(t, reg("a", "a")), makeTar(t, reg("b", "b"))}
	var cfg map[string]any
	if err := json.Unmarshal(imageConfig(t, layers), &cfg); err != nil {
		t.Fatal(err)
	}
	c := cfg["config"].(map[string]any)
	c["ExposedPorts"] = map[string]any{"80/tcp": map[string]any{}}
	c["Volumes"] = map[string]any{"/data": map[string]any{}}
	c["StopSignal"] = "SIGQUIT"
	cfg["history"] = []map[string]any{
		{"created": testTime, "created_by": "ADD a /"},
		{"created": testTime, "created_by": "ENV X=1", "empty_layer": true},
		{"created": testTime, "created_by": "ADD b /", "comment": "second"},
	}
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, mustJSON(t, cfg), []string{"app:1"}))
	if _, err := s.Load(archive, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app:1"
	if _, err := s.Push(context.Background(), "app:1", ref, RegistryOptions{TLSVerify: true}); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(ref, name.Insecure)
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	got, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Config.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("pushed ExposedPorts %v, want 80/tcp", got.Config.ExposedPorts)
	}
	if _, ok := got.Config.Volumes["/data"]; !ok {
		t.Errorf("pushed Volumes %v, want /data", got.Config.Volumes)
	}
	if got.Config.StopSignal != "SIGQUIT" {
		t.Errorf("pushed StopSignal %q, want SIGQUIT", got.Config.StopSignal)
	}
	var by []string
	for _, h := range got.History {
		by = append(by, h.CreatedBy)
	}
	if want := []string{"ADD a /", "ENV X=1", "ADD b /"}; !reflect.DeepEqual(by, want) || !got.History[1].EmptyLayer || got.History[2].Comment != "second" {
		t.Errorf("pushed history %+v, want the image's: %v", got.History, want)
	}
	if len(got.RootFS.DiffIDs) != 2 {
		t.Errorf("pushed %d diff_ids, want 2", len(got.RootFS.DiffIDs))
	}
}
