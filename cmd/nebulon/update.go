package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change the resource limits of a running container",
	ArgsUsage: "<container-id>",
	Description: `Sets the limits given by flags, or by --resources (a JSON linux.resources object of the
OCI spec; "-" reads standard input), and leaves the others. Sizes take k, m, g suffixes; -1
is unlimited. If a limit cannot be set, the ones set before it are restored. Examples:
   nebulon update --memory 64m --pids-limit 100 mycontainer
   nebulon update --cpu-quota 50000 --cpu-period 100000 mycontainer
   echo '{"memory":{"limit":67108864}}' | nebulon update --resources - mycontainer`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "JSON file of linux.resources, or - for standard input"},
		&cli.StringFlag{Name: "blkio-weight", Usage: "block I/O weight, 10 to 1000"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period (µs)"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota per period (µs), -1 for none"},
		&cli.StringFlag{Name: "cpu-burst", Usage: "CPU CFS burst (µs)"},
		&cli.StringFlag{Name: "cpu-share", Usage: "CPU shares (relative weight)"},
		&cli.StringFlag{Name: "cpu-rt-period", Usage: "CPU real-time period (µs)"},
		&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "CPU real-time runtime per period (µs)"},
		&cli.StringFlag{Name: "cpu-idle", Usage: "1 for SCHED_IDLE, 0 for the default"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to run on (0-3,5)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (bytes, or 64m)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit, -1 for unlimited swap"},
		&cli.StringFlag{Name: "kernel-memory", Usage: "kernel memory limit (cgroup v1 only; obsolete)"},
		&cli.StringFlag{Name: "kernel-memory-tcp", Usage: "kernel TCP memory limit (cgroup v1 only; obsolete)"},
		&cli.StringFlag{Name: "pids-limit", Usage: "most processes at once, -1 for no limit"},
		&cli.StringFlag{Name: "l3-cache-schema", Usage: "Intel RDT L3 cache schema"},
		&cli.StringFlag{Name: "mem-bw-schema", Usage: "Intel RDT memory bandwidth schema"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, "[flags] <container-id>"); err != nil {
			return err
		}
		r, err := updateResources(ctx)
		if err != nil {
			return err
		}
		c, err := libnebulon.Load(ctx.String("root"), ctx.Args().First())
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Update(r); err != nil {
			return err
		}
		if l3, mb := ctx.String("l3-cache-schema"), ctx.String("mem-bw-schema"); l3 != "" || mb != "" {
			return c.UpdateIntelRdt(&specs.LinuxIntelRdt{L3CacheSchema: l3, MemBwSchema: mb})
		}
		return nil
	},
}

// updateResources reads --resources, or else builds the resources from the flags, as runc does.
func updateResources(ctx *cli.Context) (*specs.LinuxResources, error) {
	if err := checkRDT(ctx.String("l3-cache-schema"), ctx.String("mem-bw-schema"), libnebulon.ResctrlRoot()); err != nil {
		return nil, err
	}
	r := &specs.LinuxResources{}
	if in := ctx.String("resources"); in != "" {
		var data []byte
		var err error
		if in == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(in)
		}
		if err != nil {
			return nil, fmt.Errorf("update: --resources: %w", err)
		}
		// Unknown fields are ignored, as runc ignores them: an engine built on a newer spec
		// must still be able to update what this one knows.
		if err := json.Unmarshal(data, r); err != nil {
			return nil, fmt.Errorf("update: --resources %s: not a linux.resources JSON object: %w", in, err)
		}
		return r, nil
	}
	p := flagParser{ctx: ctx}
	mem := &specs.LinuxMemory{
		Limit: p.bytes("memory"), Reservation: p.bytes("memory-reservation"), Swap: p.bytes("memory-swap"),
		Kernel: p.bytes("kernel-memory"), KernelTCP: p.bytes("kernel-memory-tcp"),
	}
	if *mem != (specs.LinuxMemory{}) {
		r.Memory = mem
	}
	cpu := &specs.LinuxCPU{
		Shares: p.uint("cpu-share"), Quota: p.int("cpu-quota"), Period: p.uint("cpu-period"),
		Burst: p.uint("cpu-burst"), RealtimeRuntime: p.int("cpu-rt-runtime"), RealtimePeriod: p.uint("cpu-rt-period"),
		Idle: p.int("cpu-idle"), Cpus: ctx.String("cpuset-cpus"), Mems: ctx.String("cpuset-mems"),
	}
	if *cpu != (specs.LinuxCPU{}) {
		r.CPU = cpu
	}
	if n := p.int("pids-limit"); n != nil {
		r.Pids = &specs.LinuxPids{Limit: n}
	}
	if w := p.uint("blkio-weight"); w != nil {
		if *w < 10 || *w > 1000 {
			p.fail("blkio-weight", ctx.String("blkio-weight"), "is not in 10..1000")
		}
		v := uint16(*w)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &v}
	}
	return r, p.err
}

// flagParser parses the flags that are set, keeping the first error.
type flagParser struct {
	ctx *cli.Context
	err error
}

func (p *flagParser) fail(name, val, msg string) {
	if p.err == nil {
		p.err = fmt.Errorf("update: --%s %q: %s", name, val, msg)
	}
}

func (p *flagParser) int(name string) *int64 {
	if !p.ctx.IsSet(name) {
		return nil
	}
	n, err := strconv.ParseInt(p.ctx.String(name), 10, 64)
	if err != nil {
		p.fail(name, p.ctx.String(name), "not an integer")
		return nil
	}
	return &n
}

func (p *flagParser) uint(name string) *uint64 {
	if !p.ctx.IsSet(name) {
		return nil
	}
	n, err := strconv.ParseUint(p.ctx.String(name), 10, 64)
	if err != nil {
		p.fail(name, p.ctx.String(name), "not a non-negative integer")
		return nil
	}
	return &n
}

func (p *flagParser) bytes(name string) *int64 {
	if !p.ctx.IsSet(name) {
		return nil
	}
	n, err := parseBytes(p.ctx.String(name))
	if err != nil {
		p.fail(name, p.ctx.String(name), err.Error())
		return nil
	}
	return &n
}

// parseBytes reads a size as docker and runc take it: a number of bytes with an optional binary
// suffix (k, m, g, t, p, with or without b; any case), or -1 for unlimited.
func parseBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	num := strings.ToLower(strings.TrimSpace(s))
	num = strings.TrimSuffix(strings.TrimSuffix(num, "b"), "i")
	if num == "" || strings.Trim(num, "0123456789.kmgtp") != "" {
		return 0, fmt.Errorf("not a size such as 1048576, 512k, 64m or 1g")
	}
	shift := 0
	if i := len(num) - 1; i > 0 {
		if k := strings.IndexByte("kmgtp", num[i]); k >= 0 {
			shift = 10 * (k + 1)
			num = num[:i]
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size such as 1048576, 512k, 64m or 1g")
	}
	v := n * float64(int64(1)<<shift)
	if v > float64(1<<62) {
		return 0, fmt.Errorf("too large")
	}
	return int64(v), nil
}

// checkRDT refuses --l3-cache-schema and --mem-bw-schema with runc's words when the host has no
// Intel RDT feature for them: CAT needs resctrl's info/L3, MBA its info/MB (Documentation/
// filesystems/resctrl.rst).
func checkRDT(l3, memBw, resctrl string) error {
	for _, f := range []struct{ flag, val, info, err string }{
		{"l3-cache-schema", l3, "L3", "Intel RDT/CAT: l3 cache schema is not enabled"},
		{"mem-bw-schema", memBw, "MB", "Intel RDT/MBA: memory bandwidth schema is not enabled"},
	} {
		if f.val == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(resctrl, "info", f.info)); resctrl == "" || err != nil {
			return errors.New(f.err)
		}
	}
	return nil
}
