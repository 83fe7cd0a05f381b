package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// strict decodes b into v refusing unknown fields, fields spelt in
// another case (encoding/json would accept "KeyPath" for "keyPath"),
// duplicated fields and trailing data: the way containers/image parses a
// policy, so a file means the same to Tirith as to podman.
func strict(b []byte, v any) error {
	if err := exactKeys(b, reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

var rawType = reflect.TypeOf(json.RawMessage(nil))

// exactKeys checks that every object key in b is a json tag of t's
// fields, exactly and once, recursing into nested structs, slices and
// maps. json.RawMessage parts are checked when they are decoded.
func exactKeys(b []byte, t reflect.Type, where string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawType {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil || m == nil {
			return nil // not an object: Decode reports the type error
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		if err := noDuplicates(b); err != nil {
			return fmt.Errorf("%s%w", where, err)
		}
		for k, raw := range m {
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("%sjson: unknown field %q", where, k)
			}
			if err := exactKeys(raw, ft, where); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // base64 []byte
		}
		var items []json.RawMessage
		if json.Unmarshal(b, &items) == nil {
			for _, it := range items {
				if err := exactKeys(it, t.Elem(), where); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) == nil {
			if err := noDuplicates(b); err != nil {
				return fmt.Errorf("%s%w", where, err)
			}
			if t.Elem().Kind() == reflect.Interface {
				return nil // free-form (payload "optional")
			}
			for _, v := range m {
				if err := exactKeys(v, t.Elem(), where); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// noDuplicates refuses an object (b's top level) that repeats a key.
func noDuplicates(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil
		}
		k, _ := t.(string)
		if seen[k] {
			return fmt.Errorf("json: duplicate field %q", k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}
