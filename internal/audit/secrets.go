package audit

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"strings"
)

// Secret detection for names and values found in an image (ENV, labels,
// history) or a container's environment. Nothing here returns a value:
// callers print names and the reason only.

// secretName says whether a variable or label name suggests a
// credential. Names that only look like one (GPG_KEY is a public key's
// fingerprint in the official images, *_SHA256 a checksum) are not.
func secretName(name string) bool {
	n := strings.ToUpper(name)
	n = strings.NewReplacer(".", "_", "-", "_").Replace(n)
	if notSecretName(n) {
		return false
	}
	for _, s := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE_KEY", "API_KEY", "APIKEY", "ACCESS_KEY", "CREDENTIAL"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return strings.HasSuffix(n, "_KEY") || strings.HasSuffix(n, "_AUTH") || strings.HasSuffix(n, "_PASS") || n == "PASS"
}

func notSecretName(n string) bool {
	if n == "GPG_KEY" || n == "GPG_KEYS" || strings.Contains(n, "PUBLIC") || strings.HasSuffix(n, "_FILE") || strings.HasSuffix(n, "_PATH") {
		return true
	}
	for _, s := range []string{"_SHA1", "_SHA256", "_SHA512", "_CHECKSUM", "_DIGEST", "_VERSION", "_URL"} {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

var (
	tokenPatterns = []struct {
		re   *regexp.Regexp
		what string
	}{
		{regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`), "an AWS access key id"},
		{regexp.MustCompile(`\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{22,}`), "a GitHub token"},
		{regexp.MustCompile(`\bglpat-[A-Za-z0-9_\-]{20}`), "a GitLab token"},
		{regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`), "a Slack token"},
		{regexp.MustCompile(`\b(sk|rk)_live_[A-Za-z0-9]{16,}`), "a Stripe key"},
		{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`), "a private key"},
		{regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`), "a URL with a password"},
	}
	tokenChars = regexp.MustCompile(`^[A-Za-z0-9+/=_\-]{20,}$`)
	// hexChars: hex keys have at most 4 bits per character, so they get
	// a threshold of their own (and must be long).
	hexChars = regexp.MustCompile(`^[0-9a-fA-F]+$`)
)

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	h := 0.0
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h
}

// secretValue says why value looks like a credential, or "": a known
// token shape, or a long token-like string of high entropy (random
// keys; words, paths and version strings stay below the threshold).
func secretValue(value string) string {
	for _, p := range tokenPatterns {
		if p.re.MatchString(value) {
			return "the value looks like " + p.what
		}
	}
	for _, w := range strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '"' || r == '\'' }) {
		if !tokenChars.MatchString(w) || !strings.ContainsAny(w, "0123456789") || strings.ToLower(w) == w && strings.ToUpper(w) == w {
			continue
		}
		h := entropy(w)
		if hexChars.MatchString(w) && len(w) >= 32 && h >= 3.3 || h >= 4.0 {
			return fmt.Sprintf("the value has high entropy (%.1f bits/char over %d chars)", h, len(w))
		}
	}
	return ""
}

// secretReason says why a NAME=VALUE pair looks like a secret, or "".
// An empty value is no secret, whatever its name.
func secretReason(name, value string) string {
	if value == "" {
		return ""
	}
	n := strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(name))
	if notSecretName(n) {
		// A checksum or a fingerprint is random by nature: only a known
		// token shape counts under such a name.
		for _, p := range tokenPatterns {
			if p.re.MatchString(value) {
				return "the value looks like " + p.what
			}
		}
		return ""
	}
	if why := secretValue(value); why != "" {
		return why
	}
	if secretName(name) {
		return "the name looks like a secret's"
	}
	return ""
}

// allowed says whether name (a variable, label or path) is in the
// allow-list; entries ending in "*" match prefixes, "/"-paths also
// match everything beneath them.
func allowed(name string, allow []string) bool {
	for _, a := range allow {
		switch {
		case a == name:
			return true
		case strings.HasSuffix(a, "*") && strings.HasPrefix(name, strings.TrimSuffix(a, "*")):
			return true
		case strings.HasPrefix(a, "/") && strings.HasPrefix(name, strings.TrimSuffix(a, "/")+"/"):
			return true
		}
	}
	return false
}

// secretFile says what kind of secret a file at p with (the start of)
// content looks like, or "".
func secretFile(p string, content []byte) string {
	base := path.Base(p)
	c := string(content)
	switch {
	case strings.Contains(c, "PRIVATE KEY-----") && strings.Contains(c, "-----BEGIN "):
		return "a private key"
	case base == "id_rsa" || base == "id_dsa" || base == "id_ecdsa" || base == "id_ed25519":
		if len(content) > 0 {
			return "an SSH private key"
		}
	case strings.HasSuffix(p, "/.aws/credentials"):
		return "AWS credentials"
	case base == ".npmrc":
		if regexp.MustCompile(`(?m)(_authToken|_auth|_password)\s*=`).MatchString(c) {
			return "an npm token"
		}
	case base == ".pypirc":
		if regexp.MustCompile(`(?m)^\s*password\s*[=:]`).MatchString(c) {
			return "a PyPI password"
		}
	case base == ".env" || strings.HasPrefix(base, ".env.") && !strings.HasSuffix(base, ".example") && !strings.HasSuffix(base, ".sample") && !strings.HasSuffix(base, ".template"):
		if len(content) > 0 {
			return "a dotenv file"
		}
	case base == ".git-credentials" || base == ".pgpass":
		if len(content) > 0 {
			return "stored credentials (" + base + ")"
		}
	case base == ".netrc":
		if strings.Contains(c, "password") {
			return "a .netrc password"
		}
	case strings.HasSuffix(p, "/.docker/config.json"):
		if strings.Contains(c, `"auth"`) {
			return "registry credentials"
		}
	}
	return ""
}
