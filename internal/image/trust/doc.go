// Package trust is Tirith's image signature policy: containers-policy.json
// (the format podman, skopeo and CRI-O read) and offline verification of
// cosign key-based signatures.
//
// A pull asks the policy for the requirements of the reference's scope;
// for sigstoreSigned it reads the signatures cosign stores next to the
// image (the sha256-<hex>.sig tag: an image whose layers are
// simple-signing payloads, the base64 signature in each layer's
// dev.cosignproject.cosign/signature annotation), verifies each with the
// requirement's public keys (ECDSA over SHA-256, or Ed25519), then checks
// the payload's docker-manifest-digest against the digest actually pulled
// and its docker-reference against signedIdentity. All of this happens
// before any layer is fetched, and the accepted signatures are kept in the
// store so that `tirith run` checks the policy again.
//
// The verification is written on the standard library (crypto/ecdsa,
// crypto/ed25519, encoding/pem) rather than sigstore-go or containers/image:
// key-based simple-signing needs only that, and those libraries bring in
// hundreds of modules (TUF, Rekor, Fulcio, GPG) Tirith would not use.
// There is no transparency-log or Fulcio (keyless) verification.
package trust
