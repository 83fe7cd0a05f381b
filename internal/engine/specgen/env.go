package specgen

import (
	"fmt"
	"strings"

	"github.com/tirith-project/tirith/internal/spec"
)

// buildEnv merges the image's Env, Docker's defaults and the flags: later
// entries replace earlier ones with the same name.
func buildEnv(image []string, o *Options, hostname, home string) ([]string, []string, error) {
	var warns []string
	var order []string
	vals := map[string]string{}
	set := func(kv string) {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	set("PATH=" + spec.DefaultPath)
	for _, kv := range image {
		set(kv)
	}
	set("HOSTNAME=" + hostname)
	if _, ok := vals["HOME"]; !ok {
		set("HOME=" + home)
	}
	if o.TTY {
		set("TERM=xterm")
	}
	var user []string
	for _, f := range o.EnvFiles {
		lines, err := readEnvFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("--env-file %s: %w", f, err)
		}
		user = append(user, lines...)
	}
	user = append(user, o.Env...)
	for _, kv := range user {
		k, _, hasVal := strings.Cut(kv, "=")
		if k == "" {
			return nil, nil, fmt.Errorf("--env %q: empty variable name", kv)
		}
		if !hasVal {
			// `-e NAME` passes the caller's value, or nothing.
			if o.LookupEnv == nil {
				continue
			}
			v, ok := o.LookupEnv(k)
			if !ok {
				continue
			}
			kv = k + "=" + v
		}
		if looksSecret(k) {
			warns = append(warns, fmt.Sprintf("--env %s: looks like a secret; environment variables leak (/proc/PID/environ, child processes, logs): use --secret %s-file,target=%s", k, strings.ToLower(k), strings.ToLower(k)))
		}
		set(kv)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, warns, nil
}
