package caps

import (
	"fmt"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setIdentity drops the runtime's supplementary groups for the ones asked
// for, then switches gid and uid. The raw syscalls act on this thread
// only, which is the one that will execve.
func setIdentity(u specs.User, setgroups bool) error {
	if setgroups {
		gids := make([]uint32, len(u.AdditionalGids)+1)
		copy(gids, u.AdditionalGids)
		if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(u.AdditionalGids)), uintptr(unsafe.Pointer(&gids[0])), 0); e != 0 {
			return fmt.Errorf("setgroups %v: %w", u.AdditionalGids, e)
		}
	} else if len(u.AdditionalGids) > 0 {
		return fmt.Errorf("additionalGids %v: setgroups is denied in this user namespace", u.AdditionalGids)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	}
	return nil
}
