// Command probe is the static in-container probe of the integration
// tests: it prints, as JSON, which walls the kernel shows it (see
// internal/probe). Built with CGO_ENABLED=0 so that it runs in a rootfs
// with no libc.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/tirith-project/tirith/internal/probe"
)

func main() {
	r, err := probe.Gather()
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "--text" {
		r.Print(os.Stdout)
		return
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		os.Exit(1)
	}
}
