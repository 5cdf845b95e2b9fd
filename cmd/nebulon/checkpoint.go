package main

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

// criuFlags are the CRIU options checkpoint and restore share, as runc names them.
var criuFlags = []cli.Flag{
	&cli.StringFlag{Name: "image-path", Usage: "directory of the CRIU image files (default: ./checkpoint)"},
	&cli.StringFlag{Name: "work-path", Usage: "directory for CRIU's work files and logs (default: the image directory)"},
	&cli.BoolFlag{Name: "tcp-established", Usage: "checkpoint/restore established TCP connections"},
	&cli.BoolFlag{Name: "ext-unix-sk", Usage: "allow external unix sockets"},
	&cli.BoolFlag{Name: "shell-job", Usage: "allow shell jobs (a process attached to a terminal outside the container)"},
	&cli.BoolFlag{Name: "file-locks", Usage: "checkpoint/restore file locks"},
	&cli.StringFlag{Name: "manage-cgroups-mode", Usage: "CRIU's cgroups mode: soft, full, strict or ignore (default: CRIU's, soft)"},
	&cli.StringSliceFlag{Name: "empty-ns", Usage: "namespace to create but not restore the properties of (network)"},
	&cli.BoolFlag{Name: "auto-dedup", Usage: "deduplicate memory images against the parent's"},
	&cli.BoolFlag{Name: "lazy-pages", Usage: "restore memory pages lazily, with userfaultfd"},
}

var checkpointCommand = &cli.Command{
	Name:      "checkpoint",
	Usage:     "checkpoint a running container with CRIU",
	ArgsUsage: "<container-id>",
	Description: `The container's processes are dumped into the image directory and end, and the container
is deleted, unless --leave-running or --pre-dump. Examples:
   nebulon checkpoint --image-path /tmp/ck mycontainer
   nebulon checkpoint --pre-dump --image-path /tmp/ck/1 mycontainer
   nebulon checkpoint --image-path /tmp/ck/2 --parent-path ../1 mycontainer`,
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "parent-path", Usage: "the images of a pre-dump, relative to --image-path"},
		&cli.BoolFlag{Name: "leave-running", Usage: "leave the processes running after the checkpoint"},
		&cli.BoolFlag{Name: "pre-dump", Usage: "dump the memory only, and leave the container running"},
		&cli.BoolFlag{Name: "tcp-skip-in-flight", Usage: "skip TCP connections not yet established"},
		&cli.BoolFlag{Name: "link-remap", Usage: "link unlinked open files back, where possible"},
		&cli.IntFlag{Name: "status-fd", Value: -1, Usage: "with --lazy-pages, a descriptor written \\0 once the lazy-pages server is ready"},
		&cli.StringFlag{Name: "page-server", Usage: "ADDRESS:PORT of a CRIU page server to send the memory to"},
	}, criuFlags...),
	Action: func(ctx *cli.Context) error {
		return withContainer(ctx, func(c *libnebulon.Container) error {
			opts, err := criuOptions(ctx, true)
			if err != nil {
				return err
			}
			return c.Checkpoint(opts)
		})
	},
}

// criuOptions reads the CRIU flags of checkpoint (dump) or restore.
func criuOptions(ctx *cli.Context, dump bool) (*libnebulon.CriuOpts, error) {
	image := ctx.String("image-path")
	if image == "" {
		cwd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		image = filepath.Join(cwd, "checkpoint")
	}
	o := &libnebulon.CriuOpts{
		ImagesDirectory:   image,
		WorkDirectory:     ctx.String("work-path"),
		TCPEstablished:    ctx.Bool("tcp-established"),
		ExtUnixSk:         ctx.Bool("ext-unix-sk"),
		ShellJob:          ctx.Bool("shell-job"),
		FileLocks:         ctx.Bool("file-locks"),
		ManageCgroupsMode: ctx.String("manage-cgroups-mode"),
		AutoDedup:         ctx.Bool("auto-dedup"),
		LazyPages:         ctx.Bool("lazy-pages"),
		StatusFd:          -1,
	}
	for _, ns := range ctx.StringSlice("empty-ns") {
		o.EmptyNs = append(o.EmptyNs, specs.LinuxNamespaceType(ns))
	}
	if !dump {
		o.LsmProfile = ctx.String("lsm-profile")
		o.LsmMountContext = ctx.String("lsm-mount-context")
		return o, nil
	}
	o.LeaveRunning = ctx.Bool("leave-running")
	o.PreDump = ctx.Bool("pre-dump")
	o.TCPSkipInFlight = ctx.Bool("tcp-skip-in-flight")
	o.LinkRemap = ctx.Bool("link-remap")
	o.StatusFd = ctx.Int("status-fd")
	o.PageServer = ctx.String("page-server")
	if p := ctx.String("parent-path"); p != "" {
		if err := checkParentPath(image, p); err != nil {
			return nil, err
		}
		o.ParentImage = p
	}
	return o, nil
}

// checkParentPath checks --parent-path: CRIU takes it relative to the image directory.
func checkParentPath(image, parent string) error {
	if filepath.IsAbs(parent) {
		return fmt.Errorf("--parent-path %s: must be relative to --image-path", parent)
	}
	full := filepath.Join(image, parent)
	fi, err := os.Stat(full)
	if err == nil && !fi.IsDir() {
		err = &os.PathError{Op: "stat", Path: full, Err: unix.ENOTDIR}
	}
	if err != nil {
		return fmt.Errorf("--parent-path: %w", err)
	}
	return nil
}
