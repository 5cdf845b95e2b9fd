package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/store"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

var infoCommand = &cli.Command{
	Name:  "info",
	Usage: "show the host's container features and the store",
	Description: `Example:
   nb info`,
	Action: func(ctx *cli.Context) error {
		return printInfo(ctx)
	},
}

// printInfo prints the host's features and the store's counts.
func printInfo(ctx *cli.Context) error {
	if err := needArgs(ctx, 0, 0); err != nil {
		return err
	}
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	h := libnebulon.Host()
	containers, err := s.Containers()
	if err != nil {
		return err
	}
	volumes, err := s.Volumes()
	if err != nil {
		return err
	}
	images, err := countImages(s)
	if err != nil {
		return err
	}
	w := ctx.App.Writer
	fmt.Fprintf(w, "Kernel: %s\n", h.Kernel)
	fmt.Fprintf(w, "Cgroup version: %s\n", h.CgroupVersion)
	fmt.Fprintf(w, "Cgroup controllers: %s\n", strings.Join(h.Controllers, " "))
	fmt.Fprintf(w, "Namespaces: %s\n", strings.Join(h.Namespaces, " "))
	fmt.Fprintf(w, "Seccomp: %s\n", availability(h.Seccomp))
	fmt.Fprintf(w, "AppArmor: %s\n", availability(h.AppArmor))
	fmt.Fprintf(w, "SELinux: %s\n", availability(h.SELinux))
	fmt.Fprintf(w, "Store: %s\n", s.Root)
	fmt.Fprintf(w, "Images: %d\n", images)
	fmt.Fprintf(w, "Containers: %d\n", len(containers))
	fmt.Fprintf(w, "Volumes: %d\n", len(volumes))
	return nil
}

func availability(on bool) string {
	if on {
		return "available"
	}
	return "not available"
}

// countImages counts the store's images (not their tags).
func countImages(s *store.Store) (int, error) {
	images, err := openImages(s)
	if err != nil {
		return 0, err
	}
	imgs, err := images.List()
	if err != nil {
		return 0, err
	}
	ids := map[string]bool{}
	for _, img := range imgs {
		ids[img.ID] = true
	}
	return len(ids), nil
}
