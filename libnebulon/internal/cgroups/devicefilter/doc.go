// Package devicefilter confines device access on cgroup v2, where there are no devices.allow and
// devices.deny files: the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE program, attached to the
// cgroup as BPF_CGROUP_DEVICE, on every open and mknod of a device node (return 1 allows, 0
// answers EPERM). The program sees the device type (b or c), major, minor and the access asked
// for (r, w and m bits; an O_RDWR open asks r and w in one call).
//
// # From rules to program
//
// The spec's linux.resources.devices list means the writes a runtime makes to cgroup v1's
// devices.allow and devices.deny, in order (config-linux.md, "Device allowlist"). So the rules are
// first replayed, without the kernel, through a model of the v1 controller (security/
// device_cgroup.c, devcgroup_update_access), starting from what a new child of the v1 root has:
// allow everything, no exceptions. The model keeps what v1 keeps, a default and a list of
// exceptions keyed by (type, major, minor), each with an access mask:
//
//   - a rule of type "a" (or "") resets: allow sets default-allow, deny sets default-deny, and
//     either clears every exception. v1 looks only at the "a": a rule's major, minor and access
//     are ignored, so {allow, a, 1:3, "r"} allows every device, read, write and mknod.
//   - a b or c rule whose verdict differs from the default adds its access to the exception with
//     exactly its key (a new exception, or one access mask OR-ed into an existing one).
//   - a b or c rule whose verdict equals the default removes its access from the exception with
//     exactly its key, dropping it when no access is left. Only an exact key is touched: v1 does
//     not split wildcard exceptions, so after deny-all, allow "c 1:* rwm", the rule deny
//     "c 1:3 w" removes nothing and writes to 1:3 stay allowed. This package keeps that, because
//     the spec defines the list by what v1 does, and the same list must confine a container the
//     same on v1 and v2 hosts.
//
// A request is then decided the way v1 decides it (devcgroup_legacy_check_permission):
//
//   - default-deny: allowed when one exception of its type matches its major and minor
//     (a wildcard matches any) and holds every access bit asked for; the bits are not pooled
//     across exceptions, so "c 1:* r" and "c 1:3 w" do not allow an O_RDWR open of 1:3.
//   - default-allow: denied when one exception of its type matches its major and minor and
//     shares any access bit with the request.
//
// Within one default every exception gives the same verdict, so their order does not matter and
// the program is a flat list of tests, one block per exception, each falling through to the next
// when it does not match, ending in the default:
//
//	r2 = type, r3 = access, r4 = major, r5 = minor      (from struct bpf_cgroup_dev_ctx)
//	if r2 != type  goto next                            per exception
//	if r4 != major goto next                            (left out for a wildcard)
//	if r5 != minor goto next                            (left out for a wildcard)
//	default-deny:  if r3 & ^access goto next; goto allow
//	default-allow: if r3 & access goto deny
//	next: ...
//	return <default>; allow: return 1 (or deny: return 0; only when jumped to)
//
// Keeping the v1 model rather than "the last matching rule decides" matters in three places
// where the two differ: allows of one device accumulate (allow "c 1:3 r" then allow "c 1:3 w"
// allow an O_RDWR open in v1), a deny does not punch a hole into a wildcard allow (above), and
// under default-allow an allow does not punch a hole into a wildcard deny (allow-all, deny
// "c 1:* w", allow "c 1:3 w" still denies writes to 1:3 in v1; a last-match rule would allow them).
//
// # Attaching
//
// Apply loads the program (named progName, never pinned: the attachment holds it alive), attaches
// it with BPF_F_ALLOW_MULTI and only then detaches the device programs of this package that were
// attached to the cgroup before, so that during an update both old and new apply (every attached
// program must allow, so the stricter wins) and the cgroup is never without confinement. Programs
// of other names (systemd's, say) are left alone.
//
// The package encodes the instructions itself (program.go) and makes the bpf(2) calls itself
// (bpf_linux.go) rather than through cilium/ebpf: linked into nebulon, cilium/ebpf (with
// crypto, debug/elf, go/format and more) made the static binary 1.5 MB larger and every exec of
// it slower, by 35 more package inits and more page faults (0.1 to 0.5 ms an exec on the
// development host), and the runtime is exec'd several times per container. The tests keep
// cilium/ebpf as the reference: its assembler must produce the same bytes, and it reads back
// what was loaded and attached.
package devicefilter
