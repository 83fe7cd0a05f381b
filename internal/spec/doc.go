// Package spec loads and validates an OCI bundle's config.json (runtime-spec
// types, no second config model) and builds Tirith's default spec. Errors name
// the JSON field at fault, e.g.
// `process.capabilities.bounding[2]: unknown capability "CAP_FOO"`.
//
// It does not apply anything: the runtime turns a validated spec into
// actions (internal/runtime).
package spec
