package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigFile is the name of the config inside a bundle.
const ConfigFile = "config.json"

// maxConfigSize bounds what we read: a config.json is a few KiB; a huge one
// is a mistake or an attack on the runtime's memory.
const maxConfigSize = 16 << 20

// Load reads and validates bundle/config.json. The returned spec has
// root.path made absolute.
func Load(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, ConfigFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open bundle config: %w", err)
	}
	defer f.Close()
	data := make([]byte, 0, 16<<10)
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(io.LimitReader(f, maxConfigSize+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if buf.Len() > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigSize)
	}
	s, err := Parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := Validate(s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !filepath.IsAbs(s.Root.Path) {
		s.Root.Path = filepath.Join(bundle, s.Root.Path)
	}
	abs, err := filepath.Abs(s.Root.Path)
	if err != nil {
		return nil, err
	}
	s.Root.Path = abs
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("root.path: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("root.path: %q is not a directory", abs)
	}
	return s, nil
}

// Parse decodes config.json, turning decoder errors into ones that name the
// line, column and field.
func Parse(data []byte) (*specs.Spec, error) {
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := position(data, se.Offset)
			return nil, fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
		case errors.As(err, &te):
			line, col := position(data, te.Offset)
			return nil, fmt.Errorf("%s: cannot be a JSON %s, want %s (line %d, column %d)", te.Field, te.Value, te.Type, line, col)
		}
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	return &s, nil
}

func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	col = int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

var validID = regexp.MustCompile(`^[\w+\-.]+$`)

// ValidateID checks a container id: it names a directory under --root, so
// anything that could climb out of it ("/", "..") is refused (runc's rule).
func ValidateID(id string) error {
	if id == "" {
		return errors.New("container id cannot be empty")
	}
	if len(id) > 1024 || !validID.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("invalid container id %q: only letters, digits, '_', '+', '-' and '.' are allowed, and not \".\" or \"..\"", id)
	}
	return nil
}
