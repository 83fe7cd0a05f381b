package engine

import "github.com/tirith-project/tirith/internal/engine/specgen"

// Options are `tirith run`'s flags (specgen.Options): the spec's and
// the container's (name, --detach, --rm).
type Options = specgen.Options

// Relaxation is one flag that weakens one wall, kept in the record.
type Relaxation = specgen.Relaxation

// SeccompOverride is a filter Tirith made for one container.
type SeccompOverride = specgen.SeccompOverride
