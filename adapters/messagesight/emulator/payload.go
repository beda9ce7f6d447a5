package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// member is one key of a request's top-level JSON object, in the order it
// was written (duplicates kept: the server rejects a repeated Service).
type member struct {
	Key string
	Raw json.RawMessage
}

// kind names a JSON value's type the way jansson does in CWLNA0127.
func (m member) kind() string {
	if len(m.Raw) == 0 {
		return "JSON_NULL"
	}
	switch c := m.Raw[0]; {
	case c == '"':
		return "JSON_STRING"
	case c == 't':
		return "JSON_TRUE"
	case c == 'f':
		return "JSON_FALSE"
	case c == 'n':
		return "JSON_NULL"
	case c == '{':
		return "JSON_OBJECT"
	case c == '[':
		return "JSON_ARRAY"
	case bytes.ContainsAny(m.Raw, ".eE"):
		return "JSON_REAL"
	}
	return "JSON_INTEGER"
}

func (m member) isString() bool { return m.kind() == "JSON_STRING" }
func (m member) isBool() bool   { k := m.kind(); return k == "JSON_TRUE" || k == "JSON_FALSE" }

func (m member) str() string {
	var s string
	_ = json.Unmarshal(m.Raw, &s)
	return s
}

// parseObject reads a JSON object keeping the order and repetition of keys.
func parseObject(body []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not an object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("key is not a string")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		out = append(out, member{Key: key, Raw: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return out, nil
}

// maskJSON renders a request body for the request log with the value of
// every key whose name contains "password" replaced by "***". A body that
// is not JSON is described by its size only, since it may hold anything.
func maskJSON(body []byte) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "-"
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Sprintf("<%d bytes, not JSON>", len(body))
	}
	var b strings.Builder
	writeMasked(&b, v, false)
	return b.String()
}

func writeMasked(b *strings.Builder, v any, secret bool) {
	if secret {
		b.WriteString(`"***"`)
		return
	}
	switch t := v.(type) {
	case map[string]any:
		// Key order is lost by the decoder; sorted keys keep the log stable.
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			writeMasked(b, t[k], strings.Contains(strings.ToLower(k), "password"))
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeMasked(b, e, false)
		}
		b.WriteByte(']')
	default:
		vb, _ := json.Marshal(t)
		b.Write(vb)
	}
}
