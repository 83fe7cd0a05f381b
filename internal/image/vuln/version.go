package vuln

import (
	"strconv"
	"strings"
)

// CompareDpkg orders Debian versions as dpkg does:
// [epoch:]upstream[-revision], each part by verrevcmp (non-digits by
// character, '~' before everything, letters before other characters;
// digit runs numerically).
func CompareDpkg(a, b string) int {
	ea, ua, ra := splitDpkg(a)
	eb, ub, rb := splitDpkg(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

func splitDpkg(v string) (int, string, string) {
	epoch := 0
	if e, rest, ok := strings.Cut(v, ":"); ok {
		if n, err := strconv.Atoi(e); err == nil {
			epoch, v = n, rest
		}
	}
	up, rev := v, ""
	if i := strings.LastIndex(v, "-"); i >= 0 {
		up, rev = v[:i], v[i+1:]
	}
	return epoch, up, rev
}

func order(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := 0, 0
			if i < len(a) {
				ac = order(a[i])
			}
			if j < len(b) {
				bc = order(b[j])
			}
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		first := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if first != 0 {
			return sign(first)
		}
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// CompareSemver orders semantic versions ("v1.2.3" or "1.2.3", with
// -prerelease; +build ignored), as Go modules use them.
func CompareSemver(a, b string) int {
	a, b = strings.TrimPrefix(a, "v"), strings.TrimPrefix(b, "v")
	a, _, _ = strings.Cut(a, "+")
	b, _, _ = strings.Cut(b, "+")
	ca, pa, _ := strings.Cut(a, "-")
	cb, pb, _ := strings.Cut(b, "-")
	if c := numDots(ca, cb); c != 0 {
		return c
	}
	switch {
	case pa == pb:
		return 0
	case pa == "":
		return 1 // a release is after its prereleases
	case pb == "":
		return -1
	}
	xa, xb := strings.Split(pa, "."), strings.Split(pb, ".")
	for k := 0; k < len(xa) && k < len(xb); k++ {
		na, ea := strconv.ParseUint(xa[k], 10, 64)
		nb, eb := strconv.ParseUint(xb[k], 10, 64)
		switch {
		case ea == nil && eb == nil:
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
		case ea == nil:
			return -1 // numeric identifiers sort first
		case eb == nil:
			return 1
		default:
			if c := strings.Compare(xa[k], xb[k]); c != 0 {
				return c
			}
		}
	}
	return sign(len(xa) - len(xb))
}

// numDots compares dot-separated numbers; missing parts are 0.
func numDots(a, b string) int {
	xa, xb := strings.Split(a, "."), strings.Split(b, ".")
	for k := 0; k < len(xa) || k < len(xb); k++ {
		var na, nb uint64
		if k < len(xa) {
			na, _ = strconv.ParseUint(xa[k], 10, 64)
		}
		if k < len(xb) {
			nb, _ = strconv.ParseUint(xb[k], 10, 64)
		}
		if na != nb {
			if na < nb {
				return -1
			}
			return 1
		}
	}
	return 0
}

// ComparePEP440 orders Python versions: [N!]N(.N)*[{a|b|rc}N][.postN][.devN]
// (the common subset of PEP 440; local versions "+x" are ignored).
func ComparePEP440(a, b string) int {
	pa, pb := parsePy(a), parsePy(b)
	if pa.epoch != pb.epoch {
		return sign(pa.epoch - pb.epoch)
	}
	if c := numDots(pa.release, pb.release); c != 0 {
		return c
	}
	for k := range pa.key {
		if pa.key[k] != pb.key[k] {
			return sign(pa.key[k] - pb.key[k])
		}
	}
	return 0
}

type pyVer struct {
	epoch   int
	release string
	// key: pre phase (dev-only -3, a -2, b -1, rc 0... none 1), pre
	// number, post (-1 none), dev (max when none).
	key [4]int
}

func parsePy(v string) pyVer {
	v = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(v, "v")))
	v, _, _ = strings.Cut(v, "+")
	var p pyVer
	if e, rest, ok := strings.Cut(v, "!"); ok {
		p.epoch, _ = strconv.Atoi(e)
		v = rest
	}
	i := 0
	for i < len(v) && (isDigit(v[i]) || v[i] == '.') {
		i++
	}
	p.release, v = strings.TrimSuffix(v[:i], "."), v[i:]
	p.key = [4]int{1, 0, -1, 1 << 30}
	num := func() int {
		v = strings.TrimLeft(v, ".-_")
		j := 0
		for j < len(v) && isDigit(v[j]) {
			j++
		}
		n, _ := strconv.Atoi(v[:j])
		v = v[j:]
		return n
	}
	v = strings.TrimLeft(v, ".-_")
	for _, pre := range []struct {
		s     string
		phase int
	}{{"alpha", -2}, {"a", -2}, {"beta", -1}, {"b", -1}, {"rc", 0}, {"c", 0}} {
		if strings.HasPrefix(v, pre.s) {
			v = v[len(pre.s):]
			p.key[0], p.key[1] = pre.phase, num()
			break
		}
	}
	v = strings.TrimLeft(v, ".-_")
	if strings.HasPrefix(v, "post") {
		v = v[4:]
		p.key[2] = num()
	}
	v = strings.TrimLeft(v, ".-_")
	if strings.HasPrefix(v, "dev") {
		v = v[3:]
		p.key[3] = num()
		if p.key[0] == 1 && p.key[2] == -1 {
			p.key[0] = -3 // 1.0.dev1 is before 1.0a1
		}
	}
	return p
}

// CompareApk orders Alpine versions: N(.N)*[letter][_suffixN]*[-rN], with
// _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p.
func CompareApk(a, b string) int {
	va, ra := splitRev(a)
	vb, rb := splitRev(b)
	na, la, sa := splitApk(va)
	nb, lb, sb := splitApk(vb)
	if c := numDots(na, nb); c != 0 {
		return c
	}
	if la != lb {
		return sign(int(la) - int(lb))
	}
	for k := 0; k < len(sa) || k < len(sb); k++ {
		x, y := apkSuffix{rank: 4}, apkSuffix{rank: 4}
		if k < len(sa) {
			x = sa[k]
		}
		if k < len(sb) {
			y = sb[k]
		}
		if x.rank != y.rank {
			return sign(x.rank - y.rank)
		}
		if x.n != y.n {
			return sign(x.n - y.n)
		}
	}
	return sign(ra - rb)
}

func splitRev(v string) (string, int) {
	if i := strings.LastIndex(v, "-r"); i >= 0 {
		if n, err := strconv.Atoi(v[i+2:]); err == nil {
			return v[:i], n
		}
	}
	return v, 0
}

type apkSuffix struct{ rank, n int }

var apkSuffixes = []string{"alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"}

func splitApk(v string) (string, byte, []apkSuffix) {
	parts := strings.Split(v, "_")
	nums := parts[0]
	var letter byte
	if n := len(nums); n > 0 && !isDigit(nums[n-1]) && nums[n-1] != '.' {
		letter, nums = nums[n-1], nums[:n-1]
	}
	var sfx []apkSuffix
	for _, s := range parts[1:] {
		j := len(s)
		for j > 0 && isDigit(s[j-1]) {
			j--
		}
		n, _ := strconv.Atoi(s[j:])
		rank := 4
		for r, name := range apkSuffixes {
			if name != "" && name == s[:j] {
				rank = r
			}
		}
		sfx = append(sfx, apkSuffix{rank, n})
	}
	return nums, letter, sfx
}
