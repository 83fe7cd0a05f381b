// Package subid reads subordinate id files (subuid(5), subgid(5)):
// lines of NAME_OR_UID:START:COUNT.
package subid

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Range is one line: Owner's ids Start to Start+Size-1.
type Range struct {
	Owner       string
	Start, Size uint64
}

// Parse reads path; a missing file or a malformed line (a count of 0
// among them) is no range.
func Parse(path string) []Range {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []Range
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(p) != 3 {
			continue
		}
		s, err1 := strconv.ParseUint(p[1], 10, 32)
		n, err2 := strconv.ParseUint(p[2], 10, 32)
		if err1 == nil && err2 == nil && n > 0 {
			out = append(out, Range{p[0], s, n})
		}
	}
	return out
}

// First is the first range of the user named name (or numbered uid), if
// any.
func First(path, name string, uid int) (Range, bool) {
	for _, r := range Parse(path) {
		if r.Owner == name || r.Owner == strconv.Itoa(uid) {
			return r, true
		}
	}
	return Range{}, false
}
