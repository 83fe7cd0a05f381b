// Package ref parses image references the way Docker users type them and
// normalises them to one canonical spelling, so that "busybox",
// "library/busybox:latest" and "docker.io/library/busybox:latest" name the
// same image in the store.
//
// It owns parsing, normalisation and the decision whether a registry may be
// spoken to over plain http. It does not talk to registries (that is
// internal/image/store) and does not resolve tags to digests.
package ref
