package specgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// maxIDFile caps how much of the image's /etc/passwd or /etc/group we
// read: both come from an untrusted image.
const maxIDFile = 4 << 20

// User is a USER resolved against the image: the payload's ids and
// home directory.
type User struct {
	UID, GID       uint32
	AdditionalGids []uint32
	Home           string
}

// openInRoot opens path inside rootfs: every symlink on the way is
// resolved with rootfs as "/", so an image's /etc/passwd -> /host/...
// can never make us read a host file.
func openInRoot(rootfs, path string) (*os.File, error) {
	p, err := securejoin.SecureJoin(rootfs, path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

type idEntry struct {
	name    string
	id      uint32
	gid     uint32 // passwd only
	home    string // passwd only
	members []string
}

// readIDFile parses a passwd- or group-format file inside rootfs; a
// missing file is no entries.
func readIDFile(rootfs, path string, passwd bool) ([]idEntry, error) {
	f, err := openInRoot(rootfs, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", path, err)
	}
	defer f.Close()
	var out []idEntry
	sc := bufio.NewScanner(io.LimitReader(f, maxIDFile))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, ":")
		if (passwd && len(fields) < 7) || (!passwd && len(fields) < 4) {
			continue
		}
		id, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		e := idEntry{name: fields[0], id: uint32(id)}
		if passwd {
			g, err := strconv.ParseUint(fields[3], 10, 32)
			if err != nil {
				continue
			}
			e.gid, e.home = uint32(g), fields[5]
		} else if fields[3] != "" {
			e.members = strings.Split(fields[3], ",")
		}
		out = append(out, e)
	}
	return out, nil
}

// ResolveUser turns USER[:GROUP] (names or numbers, Docker's syntax)
// into ids, reading the image's /etc/passwd and /etc/group safely inside
// rootfs. "" means root. A numeric uid need not exist in /etc/passwd; a
// name must.
func ResolveUser(rootfs, spec string) (*User, error) {
	u := &User{Home: "/"}
	if spec == "" {
		spec = "0"
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	users, err := readIDFile(rootfs, "/etc/passwd", true)
	if err != nil {
		return nil, err
	}
	groups, err := readIDFile(rootfs, "/etc/group", false)
	if err != nil {
		return nil, err
	}
	var pw *idEntry
	if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(n)
		for i := range users {
			if users[i].id == u.UID {
				pw = &users[i]
				break
			}
		}
		if pw == nil {
			u.GID = u.UID
			if u.UID == 0 {
				u.Home = "/root"
			}
		}
	} else {
		for i := range users {
			if users[i].name == userPart {
				pw = &users[i]
				break
			}
		}
		if pw == nil {
			return nil, fmt.Errorf("user %q: no such user in the image's /etc/passwd", userPart)
		}
		u.UID = pw.id
	}
	if pw != nil {
		u.GID, u.Home = pw.gid, pw.home
		if u.Home == "" {
			u.Home = "/"
		}
		// Supplementary groups from /etc/group, as login(1) would.
		for _, g := range groups {
			for _, m := range g.members {
				if m == pw.name && g.id != u.GID {
					u.AdditionalGids = append(u.AdditionalGids, g.id)
				}
			}
		}
	}
	if hasGroup {
		if n, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(n)
		} else {
			found := false
			for _, g := range groups {
				if g.name == groupPart {
					u.GID, found = g.id, true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("group %q: no such group in the image's /etc/group", groupPart)
			}
		}
		// An explicit group replaces the user's groups (Docker).
		u.AdditionalGids = nil
	}
	return u, nil
}
