// Package units reads the sizes users type, in Docker's syntax, for every
// flag that takes one (run's and update's --memory, --memory-swap,
// --memory-reservation, --kernel-memory-tcp): one grammar, so a size that
// `tirith run` accepts is never refused by `tirith update`.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses Docker's size syntax: a decimal number, fractions allowed,
// with an optional b/k/m/g/t suffix in any case (binary multiples; "kb",
// "kib" are "k"), e.g. "512m", "1.5g", "1048576". Any negative number is
// -1, "unlimited", as Docker and runc read it.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "ib")
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	// Plain decimal digits only, as Docker's own grammar: ParseFloat
	// alone would also take "1e3", "0x1p4", "1_000", "inf" and "nan".
	if !decimal(strings.TrimPrefix(t, "-")) {
		return 0, fmt.Errorf("invalid size %q (want e.g. 512m, 1g)", s)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q (want e.g. 512m, 1g)", s)
	}
	if f < 0 {
		return -1, nil
	}
	// NaN, infinities and sizes beyond int64 would convert to a negative
	// number, i.e. "unlimited".
	if v := f * float64(mult); math.IsNaN(v) || v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q (out of range)", s)
	}
	return int64(f * float64(mult)), nil
}

// decimal reports whether s is digits with an optional fraction ("1",
// "1.5"; not "", ".5" or "1.").
func decimal(s string) bool {
	whole, frac, hasFrac := strings.Cut(s, ".")
	return digits(whole) && (!hasFrac || digits(frac))
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
