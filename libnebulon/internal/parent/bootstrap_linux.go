package parent

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// bootstrap runs steps 1-5 of syncmsg's flows with stage0 and returns the process it forked.
func (p *Process) bootstrap(stage0 int, conn *syncmsg.Conn) (*launched, error) {
	if adj := p.Spec.Process.OOMScoreAdj; adj != nil {
		// Inherited by the init; written here, by the runtime, because lowering it needs privilege.
		if err := writeOOMScoreAdj(stage0, *adj); err != nil {
			return nil, fmt.Errorf("process.oomScoreAdj %d: %w", *adj, err)
		}
	}
	if err := conn.Send(p.Namespaces); err != nil {
		return nil, err
	}
	for {
		m, err := conn.Recv()
		if errors.Is(err, syncmsg.ErrClosed) {
			return nil, errors.New("container init exited during namespace setup")
		}
		if err != nil {
			return nil, err
		}
		switch m := m.(type) {
		case *syncmsg.UserMap:
			if err := writeIDMaps(stage0, p.Spec.Linux); err != nil {
				return nil, err
			}
			if err := conn.Send(&syncmsg.UserMapDone{}); err != nil {
				return nil, err
			}
		case *syncmsg.Pid:
			return checkInit(conn, stage0, m.Pid())
		case *syncmsg.Error:
			return nil, m
		default:
			return nil, fmt.Errorf("sync: unexpected %s from nsexec stage", syncmsg.Name(m))
		}
	}
}

// checkInit reads the init's start time while stage0, its parent, still waits for PidAck: then
// the pid cannot have been reused, and the start time saved with it identifies the init for good.
func checkInit(conn *syncmsg.Conn, stage0, pid int) (*launched, error) {
	ps, err := proc.ReadStat(pid)
	if err != nil {
		return nil, fmt.Errorf("container init %d exited: %w", pid, err)
	}
	if ps.PPid != stage0 {
		return nil, fmt.Errorf("container init %d is not the child of nsexec stage %d", pid, stage0)
	}
	l := &launched{pid: pid, startTime: ps.StartTime}
	return l, conn.Send(&syncmsg.PidAck{})
}

// writeOOMScoreAdj writes /proc/<pid>/oom_score_adj through a verified procfs handle.
func writeOOMScoreAdj(pid, adj int) error {
	procRoot, err := procfs.OpenProcRoot()
	if err != nil {
		return err
	}
	defer procRoot.Close()
	h, err := procRoot.OpenPid(pid, "oom_score_adj")
	if err != nil {
		return err
	}
	defer h.Close()
	return proc.Write(h, strconv.Itoa(adj))
}
