package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/engine"
	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/image/trust"
)

// signaturePolicyFlag is podman's --signature-policy.
func signaturePolicyFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "signature-policy", "", "containers-policy.json to verify images with (default "+trust.DefaultPolicyPath+" when it exists)")
}

// loadPolicy reads --signature-policy, or the host's policy when it
// exists. nil means no policy is in force (images are not verified).
func loadPolicy(flag string) (*trust.Policy, error) {
	if flag != "" {
		return trust.LoadPolicy(flag, true)
	}
	return trust.LoadPolicy(trust.DefaultPolicyPath, false)
}

// checkStoredImage checks the policy again for the image `run` is about
// to use, from the signatures kept with it. A missing image is left to
// the engine's own error.
func checkStoredImage(g *Globals, image string, pol *trust.Policy) error {
	if pol == nil || engine.IsBuiltin(image) {
		return nil
	}
	s, err := store.Open(g.Storage)
	if err != nil {
		return err
	}
	if err := pol.CheckStored(s, image); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
