package selinux

import (
	"errors"
	"testing"
)

// Where SELinux does not run, asking for a label is refused, not silently
// ignored (the payload would run unlabelled).
func TestSetExecLabelWithoutSELinux(t *testing.T) {
	if Enabled() {
		t.Skip("SELinux is enabled on this host; a test label is out of scope")
	}
	if err := SetExecLabel("system_u:system_r:container_t:s0"); !errors.Is(err, ErrNotEnabled) {
		t.Fatalf("SetExecLabel on a host without SELinux: %v, want ErrNotEnabled", err)
	}
}
