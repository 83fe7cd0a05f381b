package apparmor

import (
	"errors"
	"testing"
)

// Where AppArmor does not run, asking for a profile is refused, not
// silently ignored (the payload would run unconfined).
func TestSetExecProfileWithoutAppArmor(t *testing.T) {
	if Enabled() {
		t.Skip("AppArmor is enabled on this host; loading a test profile is out of scope")
	}
	if err := SetExecProfile("tirith-default"); !errors.Is(err, ErrNotEnabled) {
		t.Fatalf("SetExecProfile on a host without AppArmor: %v, want ErrNotEnabled", err)
	}
}
