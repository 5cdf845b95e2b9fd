package systemd

import (
	"errors"
	"os"
	"slices"

	sd "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
)

// Manager is the systemd driver's cgroups.Manager. The container's cgroup is a transient unit
// that systemd makes around the init (Attach), with Delegate=yes and the resources systemd
// models as the unit's properties; everything else (the cgroup files systemd has no property
// for, freezing, stats, the process list) is the cgroupfs code on the unit's directories, which
// the embedded Manager is.
type Manager struct {
	cgroups.Manager
	unit  Unit
	user  bool // the user's systemd, for a rootless runtime
	res   *specs.LinuxResources
	props []sd.Property
	// annotated: the properties config.json's annotations set, which Attach adds last.
	annotated []sd.Property
	client    *Client
	// fresh: made by New for a create that has not asked systemd for the unit yet (Attach), so
	// there is no unit to clean up.
	fresh bool
	// delegated: the controllers the user's systemd was delegated, which limit its units.
	delegated []string
}

// New returns the manager of unit u (ParsePath). Nothing is asked of the system's systemd yet;
// the user's is asked where its cgroup is (user@UID.service), below which u's is, as runc asks
// it: only the controllers delegated there can limit u, and only on cgroup v2, where a
// user's systemd has a subtree of its own.
func New(u Unit, user bool) (*Manager, error) {
	var client *Client
	if user {
		if cgroups.DetectMode() != cgroups.Unified {
			return nil, errors.New("systemd cgroup driver: a user's systemd manages cgroups only on cgroup v2 (this host has v1): run nebulon without --systemd-cgroup, rootless without a cgroup")
		}
		var err error
		if client, err = Dial(true); err != nil {
			return nil, err
		}
		if u.Root, err = client.ControlGroup(); err != nil {
			client.Close()
			return nil, err
		}
		if err := checkUserRoot(u.Root); err != nil {
			client.Close()
			return nil, err
		}
	}
	m, err := load(u, user)
	if err != nil {
		client.Close()
		return nil, err
	}
	m.client, m.fresh = client, true
	if user {
		if m.delegated, err = Delegated(u.Root); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

func load(u Unit, user bool) (*Manager, error) {
	dir, err := u.CgroupDir()
	if err != nil {
		return nil, err
	}
	fs, err := cgroups.New(dir, "")
	if err != nil {
		return nil, err
	}
	return &Manager{Manager: fs, unit: u, user: user}, nil
}

// Load returns the manager of a container's unit and the cgroup directories saved with it.
func Load(u Unit, user bool, paths map[string]string) *Manager {
	return &Manager{Manager: cgroups.Load(paths), unit: u, user: user}
}

// SetAnnotations takes the unit properties that annotations set (AnnotationProperties), which
// Attach gives systemd after the driver's own, so that they win.
func (m *Manager) SetAnnotations(annotations map[string]string) error {
	props, err := AnnotationProperties(annotations)
	if err != nil {
		return err
	}
	m.annotated = props
	return nil
}

// Unit is the container's unit.
func (m *Manager) Unit() Unit { return m.unit }

// User says whether the unit is the user's systemd's.
func (m *Manager) User() bool { return m.user }

// Close closes the connection to systemd, if one was made.
func (m *Manager) Close() {
	if m.client != nil {
		m.client.Close()
		m.client = nil
	}
}

func (m *Manager) dial() error {
	if m.client != nil {
		return nil
	}
	c, err := Dial(m.user)
	if err != nil {
		return err
	}
	m.client = c
	return nil
}

// Create connects to systemd, which makes the unit when Attach asks, with the init in it. Every
// hierarchy is reported made: the unit's cgroups are the container's alone, and Destroy stops
// the unit and removes what is left of them.
func (m *Manager) Create() ([]string, error) {
	if err := m.dial(); err != nil {
		return nil, err
	}
	made := make([]string, 0, len(m.Paths()))
	for key := range m.Paths() {
		made = append(made, key)
	}
	return made, nil
}

// Entry places nothing: the init is born in the runtime's cgroups, and systemd moves it into
// the unit when Attach makes it (a scope cannot be made empty).
func (m *Manager) Entry() (*cgroups.Entry, error) { return &cgroups.Entry{}, nil }

// Set works out the unit's properties for r, which Attach applies with the cgroup files; the
// errors name the field.
func (m *Manager) Set(r *specs.LinuxResources) error {
	if m.user && r != nil {
		if err := cgroups.CheckDelegated(r, m.delegated, m.unit.Root); err != nil {
			return err
		}
		// A user's systemd cannot install device programs, nor can the user: device
		// rules are left out, as runc's rootless managers ignore them.
		nr := *r
		nr.Devices = nil
		r = &nr
	}
	props, err := m.properties(r, true)
	if err != nil {
		return err
	}
	m.res, m.props = r, props
	return nil
}

// properties are the unit's properties for r, device rules too when devices.
func (m *Manager) properties(r *specs.LinuxResources, devices bool) ([]sd.Property, error) {
	if err := m.dial(); err != nil {
		return nil, err
	}
	version, err := m.client.Version()
	if err != nil {
		return nil, err
	}
	props, err := Properties(r, cgroups.DetectMode() == cgroups.Unified, version)
	if err != nil {
		return nil, err
	}
	if devices && r != nil && r.Devices != nil {
		procDevices, err := os.ReadFile("/proc/devices")
		if err != nil {
			return nil, err
		}
		dev, _, err := DeviceProperties(r.Devices, string(procDevices))
		if err != nil {
			return nil, err
		}
		props = append(props, dev...)
	}
	return props, nil
}

// Attach has systemd make the unit with pid in it, then writes the cgroup files for r (Set):
// systemd's properties first, the files after, as runc does, for what systemd has no property
// for. On v1 systemd makes the unit's cgroup in the hierarchies it manages; the others are made
// here at the same path and pid joins them.
func (m *Manager) Attach(pid int) error {
	if err := m.dial(); err != nil {
		return err
	}
	m.fresh = false
	if err := m.client.StartScope(m.unit, pid, append(slices.Clip(m.props), m.annotated...)); err != nil {
		return err
	}
	if cgroups.DetectMode() != cgroups.Unified {
		if _, err := m.Manager.Create(); err != nil {
			return err
		}
		for _, dir := range m.Paths() {
			if err := cgroups.Enter(dir, pid); err != nil {
				return err
			}
		}
	}
	return m.Manager.Set(m.res)
}

// LeaveMemory moves pid back into the runtime's own v1 memory cgroup, out of the unit's, and
// returns the memory pair for the init to join the unit's last (cgroups.Attacher).
func (m *Manager) LeaveMemory(pid int) (*cgroups.Entry, error) {
	if cgroups.DetectMode() == cgroups.Unified {
		return nil, nil
	}
	return cgroups.LeaveMemory(m.Paths(), pid)
}

// Update changes the cgroup files for what r sets, then the unit's properties, so that a
// daemon-reload, which rewrites the files from the properties, keeps the new limits. The files
// go first: an update the kernel refuses part way is rolled back there (cgroups.Manager.Update),
// and the unit is left as it was; systemd writes the files from new properties later, not
// within the call that sets them, and would undo that roll-back.
func (m *Manager) Update(r *specs.LinuxResources) error {
	if m.user {
		if m.delegated == nil { // loaded from the state
			var err error
			if m.delegated, err = Delegated(m.unit.Root); err != nil {
				return err
			}
		}
		if err := cgroups.CheckDelegated(r, m.delegated, m.unit.Root); err != nil {
			return err
		}
	}
	props, err := m.properties(r, false)
	if err != nil {
		return err
	}
	if err := m.Manager.Update(r); err != nil {
		return err
	}
	return m.client.Set(m.unit, props)
}

// Destroy stops the unit, waiting until it is gone, and removes what is left of its cgroups:
// the v1 hierarchies systemd does not manage, and sub-cgroups the container made. A unit
// without a cgroup has no process left (systemd stops a scope with its last process): only a
// failed state may stay, which is reset, at best. A create that never asked for the unit
// asks systemd nothing (the state names a unit only from then on).
func (m *Manager) Destroy(made []string) error {
	if !m.anyDir() {
		if !m.fresh && m.dial() == nil {
			m.client.ResetFailed(m.unit)
		}
		return nil
	}
	if err := m.dial(); err != nil {
		return err
	}
	if err := m.client.Stop(m.unit); err != nil {
		return err
	}
	return m.Manager.Destroy(made)
}

// anyDir reports whether one of the unit's cgroup directories exists.
func (m *Manager) anyDir() bool {
	for _, dir := range m.Paths() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}
