package parent

import (
	"context"
	"log/slog"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// logFromInit writes a Log message of the init's to the runtime's log.
func logFromInit(l *syncmsg.Log) {
	slog.Log(context.Background(), l.Level, "init: "+l.Msg)
}
