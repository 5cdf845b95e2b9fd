package netdev

import (
	"os"

	"github.com/vishvananda/netns"
)

// netnsHandle is a network namespace fd as the netlink library takes it; the file keeps it open.
func netnsHandle(f *os.File) netns.NsHandle { return netns.NsHandle(f.Fd()) }
