package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/store"
)

// kept is what the store keeps with an image pulled under a policy that
// asked for signatures.
type kept struct {
	Version    int         `json:"version"`
	Digest     string      `json:"digest"`
	Signatures []Signature `json:"signatures"`
}

// VerifyPull is a store.PullOptions.Verify: it fetches the signatures
// only when the reference's scope asks for them, checks the policy, and
// returns the signatures for the store to keep.
func (p *Policy) VerifyPull(ctx context.Context, t store.VerifyTarget) ([]byte, error) {
	var sigs []Signature
	if p.NeedsSignatures(t.Ref) {
		var err error
		if sigs, err = FetchSignatures(ctx, t.Repo, t.Digest, t.Remote...); err != nil {
			return nil, err
		}
	}
	if err := p.Check(t.Ref, t.Digest, sigs); err != nil {
		return nil, err
	}
	if len(sigs) == 0 {
		return nil, nil
	}
	return json.Marshal(kept{Version: 1, Digest: t.Digest, Signatures: sigs})
}

// CheckStored checks the policy again for an image already in the store,
// as `tirith run` uses it (the policy or its keys may have changed since
// the pull, or the image came in without a policy). q is the name the user
// gave. A name or digest reference is checked as itself; an image named
// by ID is accepted if any of its names is.
func (p *Policy) CheckStored(s *store.Store, q string) error {
	img, matched, err := s.Lookup(q)
	if err != nil {
		return err
	}
	refs := []string{matched}
	if matched == "" {
		refs = append(append([]string{}, img.Names...), img.Digests...)
	}
	if len(refs) == 0 {
		if onlyAcceptAnything(p.Default) {
			return nil
		}
		return &RejectedError{Err: fmt.Errorf("image %s has no name to check the signature policy against, and the policy's default is not insecureAcceptAnything", img.ID)}
	}
	var errs []error
	for _, n := range refs {
		r, err := ref.Parse(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = p.checkStoredRef(s, img, r)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return &RejectedError{Err: fmt.Errorf("no name of image %s is accepted by the signature policy: %w", img.ID, errors.Join(errs...))}
}

// checkStoredRef checks r against each manifest digest the image was
// pulled as from r's repository, with the signatures kept for it.
func (p *Policy) checkStoredRef(s *store.Store, img *store.Image, r ref.Reference) error {
	var digests []string
	if r.Digest != "" {
		digests = []string{r.Digest}
	} else {
		for _, d := range img.Digests {
			if repo, dg, ok := strings.Cut(d, "@"); ok && repo == r.Repo() {
				digests = append(digests, dg)
			}
		}
	}
	if len(digests) == 0 {
		digests = []string{img.ManifestDigest} // loaded or imported: no registry digest
	}
	var first error
	for _, d := range digests {
		var sigs []Signature
		b, err := s.Signatures(d)
		if err != nil {
			return err
		}
		if b != nil {
			var k kept
			if err := json.Unmarshal(b, &k); err != nil || k.Digest != d {
				return fmt.Errorf("signatures kept for %s are damaged: pull the image again", d)
			}
			sigs = k.Signatures
		}
		err = p.Check(r, d, sigs)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func onlyAcceptAnything(reqs []Requirement) bool {
	for _, r := range reqs {
		if r.Type != TypeInsecureAcceptAnything {
			return false
		}
	}
	return len(reqs) > 0
}
