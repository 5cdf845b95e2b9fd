package parent

import (
	"context"
	"log/slog"
	"time"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// logFromInit writes a Log message of the init's to the runtime's log.
func logFromInit(l *syncmsg.Log) {
	ctx, h := context.Background(), slog.Default().Handler()
	if !h.Enabled(ctx, l.Level) {
		return
	}
	t := l.Time
	if t.IsZero() {
		t = time.Now()
	}
	h.Handle(ctx, slog.NewRecord(t, l.Level, "init: "+l.Msg, 0)) // stamped with the init's time
}
