package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/specconv"
)

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a default config.json to the bundle",
	Description: `Writes the same default as runc spec: sh in new namespaces with a read-only busybox-style
root in ./rootfs. It does not overwrite an existing config.json. Examples:
   nebulon spec
   nebulon spec --bundle /mycontainer --rootless`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle directory to write config.json in"},
		&cli.BoolFlag{Name: "rootless", Usage: "a config for a container run by an unprivileged user"},
	},
	Action: func(ctx *cli.Context) error {
		s := specconv.Example()
		if ctx.Bool("rootless") {
			specconv.ToRootless(s, uint32(os.Getuid()), uint32(os.Getgid()))
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
