package units

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1048576", 1048576}, {"0", 0}, {"100b", 100}, {"100B", 100},
		{"64k", 64 << 10}, {"64K", 64 << 10}, {"64kb", 64 << 10}, {"64KiB", 64 << 10},
		{"512m", 512 << 20}, {"512M", 512 << 20}, {"512mb", 512 << 20}, {"512MiB", 512 << 20},
		{"1g", 1 << 30}, {"2G", 2 << 30}, {"1.5g", 1610612736}, {"0.5m", 512 << 10},
		{"1t", 1 << 40}, {"1T", 1 << 40}, {"  2g  ", 2 << 30},
		{"-1", -1}, {"-0.5", -1}, {"-2g", -1},
	} {
		if got, err := ParseSize(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "m", "g", "1.5x", "ten", "1e30", "9000000t", "+Inf", "nan", "0x10m", "1_000", "1 g b", "1p", "1e3", ".5g", "1.g", "--1", "1.2.3m"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

// FuzzParseSize: no input panics, and a size is -1 (unlimited: any
// negative input) or a non-negative byte count, never an overflowed or
// NaN-derived value. Seeds live in testdata/fuzz/FuzzParseSize.
func FuzzParseSize(f *testing.F) {
	f.Add("512m")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < -1 {
			t.Fatalf("ParseSize(%q) = %d: want -1 or a non-negative size", s, n)
		}
	})
}
