package libnebulon

import "github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups/systemd"

// SystemdUserBusOwner is the uid of the systemd on the caller's user bus, as the bus sees it: a
// caller that is root of a user namespace uses the user's systemd only when this is not 0 (runc's
// shouldUseRootlessCgroupManager). It fails when there is no user bus or no systemd on it.
func SystemdUserBusOwner() (int, error) { return systemd.UserBusOwner() }
