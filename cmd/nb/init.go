package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/rootless"
	"github.com/nebulon-dev/nebulon/internal/store"
)

var initCommand = &cli.Command{
	Name:  "init",
	Usage: "create the store (images/, containers/, volumes/); running it again changes nothing",
	Description: `Examples:
   nb init
   nb --root /srv/nb init
   NEBULON_ROOT=/srv/nb nb init`,
	Action: func(ctx *cli.Context) error {
		if err := needArgs(ctx, 0, 0); err != nil {
			return err
		}
		root, err := storeRoot(ctx)
		if err != nil {
			return err
		}
		s, err := store.Init(root)
		if err != nil && rootless.Is() && !ctx.IsSet("root") {
			return fmt.Errorf("%w (nb runs rootless: the store's place is $XDG_DATA_HOME/nebulon, or $HOME/.local/share/nebulon without XDG_DATA_HOME; give --root to keep it elsewhere)", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(ctx.App.Writer, "nb store ready at %s\n", s.Root)
		return nil
	},
}
