package initproc

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/hooks"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

func TestStartFailureFitsAPipeWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		cut  bool
	}{
		{"short", errors.New("exec: \"nope\": no such file"), false},
		{"long plain", errors.New(strings.Repeat("0123456789abcdef", 10000)), true},
		{"long, every byte escaped", errors.New(strings.Repeat("\n\x01\"", 30000)), true},
		{"long multibyte", errors.New(strings.Repeat("é€😀", 5000)), true},
		{"a hook's", &hooks.Error{Err: errors.New(strings.Repeat("x", 5000))}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startFailure(tc.err)
			if len(b) > syncmsg.MaxStartFailure {
				t.Fatalf("%d bytes, want at most %d", len(b), syncmsg.MaxStartFailure)
			}
			var msg syncmsg.StartFailure
			if err := json.Unmarshal(b, &msg); err != nil {
				t.Fatal(err)
			}
			var hookErr *hooks.Error
			if msg.Hook != errors.As(tc.err, &hookErr) {
				t.Errorf("hook %v, want %v", msg.Hook, !msg.Hook)
			}
			if !utf8.ValidString(msg.Error) {
				t.Errorf("the message is not valid UTF-8 after the cut")
			}
			full := tc.err.Error()
			if !tc.cut {
				if msg.Error != full {
					t.Errorf("message %q, want %q", msg.Error, full)
				}
				return
			}
			kept, ok := strings.CutSuffix(msg.Error, "...")
			if !ok || !strings.HasPrefix(full, kept) {
				t.Fatalf("message %.40q... is not a prefix of the error and \"...\"", msg.Error)
			}
			// The cut keeps as much as fits, near enough.
			if len(b) < syncmsg.MaxStartFailure*9/10 {
				t.Errorf("kept only %d bytes of the message, %d of JSON", len(kept), len(b))
			}
		})
	}
}
