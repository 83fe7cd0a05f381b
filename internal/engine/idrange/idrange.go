// Package idrange hands out the host id ranges of front-end containers'
// user namespaces (wall 1): each container maps its ids 0..Size-1 onto a
// range of host ids of its own, carved from root's /etc/subuid range or,
// without one, from a pool from 2^31 up that no /etc/subuid entry uses.
//
// It knows nothing of containers: the caller says which ranges are taken
// (the bases in its records) and holds the lock that keeps them still.
package idrange

import (
	"fmt"

	"github.com/tirith-project/tirith/internal/subid"
)

// Size is the number of ids mapped into each container: the full
// 16-bit range images expect.
const Size = 65536

// defaultPoolStart is where container ranges are carved from when root
// has no /etc/subuid entry: high enough that no ordinary user's
// subordinate range starts there.
const defaultPoolStart = 1 << 31

// pool returns the host ids container ranges come from: root's range in
// subuid (respected: nothing outside it is used), else a pool from 2^31
// up, moved above any subuid entry it would overlap.
func pool(subuid string) (start, size uint64) {
	entries := subid.Parse(subuid)
	for _, e := range entries {
		if (e.Owner == "root" || e.Owner == "0") && e.Size >= Size {
			return e.Start, e.Size
		}
	}
	start, end := uint64(defaultPoolStart), uint64(1<<32-1)
	for _, e := range entries {
		if e.Start < end && e.Start+e.Size > start {
			start = e.Start + e.Size
		}
	}
	start = (start + Size - 1) / Size * Size
	if start >= end {
		return 0, 0
	}
	return start, end - start
}

// Alloc picks the lowest range of the pool bounded by subuid whose base
// is not in used. The caller holds whatever lock keeps used current.
func Alloc(subuid string, used map[uint32]bool) (uint32, error) {
	start, size := pool(subuid)
	for base := start; base+Size <= start+size; base += Size {
		if !used[uint32(base)] {
			return uint32(base), nil
		}
	}
	return 0, fmt.Errorf("no free range of %d host ids for a user namespace (pool %d+%d in use; see /etc/subuid)", Size, start, size)
}
