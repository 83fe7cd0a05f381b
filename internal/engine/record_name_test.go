package engine

import (
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"web": true, "a": true, "Web_1.v-2": true, "0abc": true, strings.Repeat("a", 128): true,
		"": false, "_web": false, ".web": false, "-web": false, "we b": false, "web/1": false,
		"wéb": false, strings.Repeat("a", 129): false, "web\n": false,
	} {
		if got := validName(name); got != want {
			t.Errorf("validName(%q) = %v, want %v", name, got, want)
		}
	}
}
