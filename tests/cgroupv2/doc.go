// Package cgroupv2 is an end-to-end suite for Nebulon on a cgroup v2-only host. It drives the
// nebulon binary the way engines do and checks the container's cgroup files and behaviour.
//
// The hosts Nebulon is built on mount cgroup v1, so tests/cgroupv2/run.sh boots a QEMU guest
// that mounts cgroup2 alone at /sys/fs/cgroup and runs this package's test binary there (see
// init.sh). Anywhere else every test skips: it runs only where NEBULON_CGROUPV2_TEST=1 is set,
// /sys/fs/cgroup is cgroup2 and the user is root. NEBULON names the runtime binary, and
// NEBULON_ROOTFS a busybox root filesystem to copy into each bundle (by default one is made
// from /bin/busybox).
package cgroupv2
