package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
	"github.com/nebulon-dev/nebulon/specconv"
)

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a default config.json to the bundle",
	Description: `Writes the same default as runc 1.5's runc spec, but for the hostname: sh at a terminal in
new namespaces with a read-only busybox-style root in ./rootfs. It does not overwrite an existing
config.json. Examples:
   nebulon spec
   nebulon spec --bundle /mycontainer --rootless`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle directory to write config.json in"},
		&cli.BoolFlag{Name: "rootless", Usage: "a config for a container run by an unprivileged user"},
	},
	Action: func(ctx *cli.Context) error {
		// runc's example has a cgroup namespace only where /sys/fs/cgroup is cgroup v2.
		s := specconv.ExampleFor(libnebulon.Host().CgroupVersion == "v2")
		if ctx.Bool("rootless") {
			// The effective ids, as runc's ToRootless maps: an unprivileged writer of
			// uid_map and gid_map may map only its own effective ids (user_namespaces(7)).
			specconv.ToRootless(s, uint32(os.Geteuid()), uint32(os.Getegid()))
		}
		path := filepath.Join(ctx.String("bundle"), "config.json")
		data, err := json.MarshalIndent(s, "", "\t")
		if err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("file %s exists: remove it first", path)
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(append(data, '\n')); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	},
}
