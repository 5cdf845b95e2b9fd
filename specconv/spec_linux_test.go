package specconv

import (
	"testing"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

// Whatever Spec makes, the runtime must take: every successful case of TestSpec passes
// libnebulon.Validate, the check `nebulon create` runs before it makes anything.
func TestSpecPassesRuntimeValidation(t *testing.T) {
	for _, tc := range specCases {
		o := baseOptions()
		if tc.opts != nil {
			tc.opts(o)
		}
		s, err := Spec(o)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if err := libnebulon.Validate(s); err != nil {
			t.Errorf("%s: the runtime refuses Spec's output: %v", tc.name, err)
		}
	}
}

// The capabilities Spec may name are the ones the runtime knows: ALL is AllCapabilities.
func TestAllCapabilitiesAreTheRuntimes(t *testing.T) {
	all := AllCapabilities()
	if len(all) != len(libnebulon.Capabilities) {
		t.Errorf("AllCapabilities has %d capabilities, the runtime %d", len(all), len(libnebulon.Capabilities))
	}
	for _, c := range all {
		if _, ok := libnebulon.Capabilities[c]; !ok {
			t.Errorf("%s is unknown to the runtime", c)
		}
	}
}

// rlimitNames is the runtime's list, so Spec refuses exactly what the runtime would.
func TestRlimitNamesAreTheRuntimes(t *testing.T) {
	if len(rlimitNames) != len(libnebulon.Rlimits) {
		t.Errorf("specconv knows %d rlimits, the runtime %d", len(rlimitNames), len(libnebulon.Rlimits))
	}
	for _, n := range rlimitNames {
		if _, ok := libnebulon.Rlimits[n]; !ok {
			t.Errorf("%s is unknown to the runtime", n)
		}
	}
}
