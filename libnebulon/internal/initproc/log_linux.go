package initproc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// The init's log lines go to the runtime, over the sync socket (syncmsg.Log), and from there to
// the runtime's own log (--log, --log-format): the init's stderr is the container's, which engines
// keep as the container's output, and a runtime warning does not belong there. Once the socket is
// gone (the init waits for start) a line falls back to stderr.

// syncLogHandler sends records to the parent. The init logs from its one goroutine.
type syncLogHandler struct {
	conn  *syncmsg.Conn
	attrs []slog.Attr
	debug bool // the runtime logs debug records (syncmsg.EnvDebug)
}

func (h *syncLogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.debug
}

func (h *syncLogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if err := h.conn.Send(&syncmsg.Log{Level: r.Level, Msg: b.String(), Time: r.Time}); err != nil {
		fmt.Fprintf(os.Stderr, "nebulon init: %s: %s\n", r.Level, b.String())
	}
	return nil
}

func (h *syncLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &syncLogHandler{conn: h.conn, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *syncLogHandler) WithGroup(string) slog.Handler { return h }
