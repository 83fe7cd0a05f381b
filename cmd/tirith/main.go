// Command tirith is Tirith's one binary. Invoked as tirith-runc (or runc)
// it is the runc-compatible OCI runtime, with runc's grammar only; under
// any other name, the front end, with the OCI runtime under `tirith
// runtime` (cli.NewRootCmd). The container init and the user-namespace
// holder are re-execs of this binary and work under every name.
package main

import (
	"os"

	"github.com/tirith-project/tirith/internal/cli"
	"github.com/tirith-project/tirith/internal/engine/snapshot"
	// Links nsenter.c, the constructor that enters namespaces before the
	// Go runtime starts (only when the runtime re-execs itself as init).
	_ "github.com/tirith-project/tirith/internal/nsenter"
	"github.com/tirith-project/tirith/internal/runtime/initproc"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			initproc.Main() // never returns
		case snapshot.HoldUsernsArg:
			snapshot.HoldUserns() // never returns
		}
	}
	os.Exit(cli.Main(os.Args))
}
