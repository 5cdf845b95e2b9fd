package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/console"
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/image"
	"github.com/nebulon-dev/nebulon/internal/store"
)

var imageCommand = &cli.Command{
	Name:  "image",
	Usage: "manage images: root filesystems with their config, that containers start from",
	Subcommands: []*cli.Command{
		{
			Name:      "import",
			Usage:     "import a root filesystem tarball (docker export's: plain, gzip, xz, zstd) as NAME[:TAG]",
			ArgsUsage: "FILE NAME [TAG]",
			Description: `Examples:
   nb image import rootfs.tar.gz busybox
   nb image import rootfs.tar.zst myapp v1`,
			Action: imageImport,
		},
		{
			Name:      "load",
			Usage:     "load images from a docker-archive (docker save) or an OCI image layout or archive",
			ArgsUsage: "FILE|DIR",
			Description: `Examples:
   nb image load busybox.tar
   nb image load ./oci-layout-dir`,
			Action: imageLoad,
		},
		copyCommand(pullCommand),
		copyCommand(pushCommand),
		{
			Name:    "ls",
			Aliases: []string{"list"},
			Usage:   "list images (REPOSITORY TAG IMAGE ID CREATED SIZE)",
			Description: `Examples:
   nb image ls
   nb image ls -q
   nb image ls --format json`,
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "ids only"},
				&cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
			},
			Action: imageList,
		},
		{
			Name:      "rm",
			Aliases:   []string{"remove"},
			Usage:     "remove an image, or one tag of it (refused while a container uses it, unless -f)",
			ArgsUsage: "NAME [TAG] | NAME:TAG | ID",
			Description: `Examples:
   nb image rm busybox
   nb image rm myapp v1
   nb image rm myapp:v1`,
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove even if a container uses it"},
			},
			Action: imageRemove,
		},
		{
			Name:      "inspect",
			Usage:     "print images' metadata as JSON",
			ArgsUsage: "NAME[:TAG]|ID...",
			Description: `Example:
   nb image inspect busybox`,
			Action: imageInspect,
		},
	},
}

func imageImport(ctx *cli.Context) error {
	_, images, err := imageStore(ctx, 2, 3)
	if err != nil {
		return err
	}
	args := ctx.Args()
	bar := newProgress("importing " + args.Get(0))
	img, err := images.Import(args.Get(0), args.Get(1), args.Get(2), bar.update)
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintln(ctx.App.Writer, img.ID)
	return nil
}

func imageLoad(ctx *cli.Context) error {
	_, images, err := imageStore(ctx, 1, 1)
	if err != nil {
		return err
	}
	bar := newProgress("loading " + ctx.Args().First())
	imgs, err := images.Load(ctx.Args().First(), bar.update)
	bar.done()
	if err != nil {
		return err
	}
	for _, img := range imgs {
		if len(img.RepoTags) == 0 {
			fmt.Fprintf(ctx.App.Writer, "Loaded image ID: %s\n", img.ID)
		}
		for _, t := range img.RepoTags {
			fmt.Fprintf(ctx.App.Writer, "Loaded image: %s\n", t)
		}
	}
	return nil
}

func imageList(ctx *cli.Context) error {
	format := ctx.String("format")
	if format != "table" && format != "json" {
		return fmt.Errorf("image ls: --format %q: want table or json", format)
	}
	_, images, err := imageStore(ctx, 0, 0)
	if err != nil {
		return err
	}
	if err := images.Prune(); err != nil {
		return err
	}
	imgs, err := images.List()
	if err != nil {
		return err
	}
	switch {
	case ctx.Bool("quiet"):
		seen := map[string]bool{}
		for _, img := range imgs {
			if !seen[img.ID] {
				seen[img.ID] = true
				fmt.Fprintln(ctx.App.Writer, shortID(img.ID))
			}
		}
	case format == "json":
		if imgs == nil {
			imgs = []image.Image{}
		}
		return printJSON(ctx, imgs)
	default:
		now := time.Now()
		w := tabwriter.NewWriter(ctx.App.Writer, 0, 8, 3, ' ', 0)
		fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
		for _, img := range imgs {
			repo, tag := img.Repository, img.Tag
			if repo == "" {
				repo, tag = "<none>", "<none>"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s ago\t%s\n", repo, tag, shortID(img.ID), humanDuration(now.Sub(img.Created)), humanSize(img.Size))
		}
		return w.Flush()
	}
	return nil
}

func imageRemove(ctx *cli.Context) error {
	ref := ctx.Args().First()
	if tag := ctx.Args().Get(1); tag != "" {
		if strings.Contains(ref, ":") {
			return fmt.Errorf("image rm: %s already names a tag; give NAME TAG or NAME:TAG", ref)
		}
		ref += ":" + tag
	}
	s, images, err := imageStore(ctx, 1, 2)
	if err != nil {
		return err
	}
	// The store lock, then the image store's (Remove takes it): nb create holds the store lock
	// from its image lookup to its container's metadata, so no container appears between the
	// in-use check and the removal. See package store's comment for the order.
	unlock, err := lockClean(s)
	if err != nil {
		return err
	}
	defer unlock()
	var user string
	inUse := func(id string) bool {
		user = imageUser(s, id)
		return user != ""
	}
	res, err := images.Remove(ref, inUse, ctx.Bool("force"))
	if err != nil {
		if user != "" && ctx.Bool("force") {
			return fmt.Errorf("image %s is in use by container %s and has no name left to untag: remove the container first", ref, user)
		}
		if user != "" {
			return fmt.Errorf("image %s is in use by container %s (nb image rm -f untags it; the image stays while a container uses it)", ref, user)
		}
		return err
	}
	for _, t := range res.Untagged {
		fmt.Fprintf(ctx.App.Writer, "Untagged: %s\n", t)
	}
	if res.Deleted != "" {
		fmt.Fprintf(ctx.App.Writer, "Deleted: %s\n", res.Deleted)
	}
	// As docker: the layers no other image used, freed with the image.
	for _, l := range res.DeletedLayers {
		fmt.Fprintf(ctx.App.Writer, "Deleted: %s\n", l)
	}
	return nil
}

// copyCommand is a copy of c, for a command that is both nb's and nb image's (docker's pull,
// push): the cli sets a command's help name when it sets its parent up, so one value cannot
// serve two parents.
func copyCommand(c *cli.Command) *cli.Command {
	dup := *c
	return &dup
}

// imageStore checks the argument count and opens nb's store and its image store.
func imageStore(ctx *cli.Context, min, max int) (*store.Store, *image.Store, error) {
	if err := needArgs(ctx, min, max); err != nil {
		return nil, nil, err
	}
	s, err := openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	images, err := openImages(s)
	return s, images, err
}

// imageUser names a container made from image id, or is "".
func imageUser(s *store.Store, id string) string {
	cs, err := s.Containers()
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	for _, c := range cs {
		if c.ImageID == id {
			return c.ID
		}
	}
	return ""
}

func imageInspect(ctx *cli.Context) error {
	_, images, err := imageStore(ctx, 1, -1)
	if err != nil {
		return err
	}
	var out []image.Image
	for _, ref := range ctx.Args().Slice() {
		img, err := images.Get(ref)
		if err != nil {
			return err
		}
		out = append(out, img)
	}
	return printJSON(ctx, out)
}

// shortID is an image id as docker shows it: 12 hex digits.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// humanSize is a size as docker shows it (go-units HumanSize: decimal units, 3 digits).
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

// progress draws a progress bar on stderr when it is a terminal, and nothing otherwise.
type progress struct {
	what string
	tty  bool
	last time.Time
}

func newProgress(what string) *progress {
	_, err := console.ConsoleFromFile(os.Stderr)
	return &progress{what: what, tty: err == nil}
}

func (p *progress) update(done, total int64) {
	if !p.tty || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	if total <= 0 {
		fmt.Fprintf(os.Stderr, "\r%s: %s", p.what, humanSize(done))
		return
	}
	const width = 30
	n := int(done * width / total)
	fmt.Fprintf(os.Stderr, "\r%s [%s%s] %3d%%", p.what, strings.Repeat("=", n), strings.Repeat(" ", width-n), done*100/total)
}

func (p *progress) done() {
	if p.tty && !p.last.IsZero() {
		fmt.Fprintln(os.Stderr)
	}
}
