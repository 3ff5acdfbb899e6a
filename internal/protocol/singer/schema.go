package singer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// maxRefDepth bounds $ref inlining; the catalog's schemas nest two deep.
const maxRefDepth = 16

// singerSchema returns the stream's JSON Schema as Singer targets take
// it: local "#/definitions/…" references inlined (many targets do not
// resolve $ref), and deselected properties left out.
func singerSchema(sel Selection) (json.RawMessage, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(sel.Stream.Schema))
	dec.UseNumber() // keep numbers as written
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("singer: schema of stream %s: %w", sel.Stream.Name, err)
	}
	defs, _ := doc["definitions"].(map[string]any)
	delete(doc, "definitions")
	inlined, err := inline(doc, defs, 0)
	if err != nil {
		return nil, fmt.Errorf("singer: schema of stream %s: %w", sel.Stream.Name, err)
	}
	doc = inlined.(map[string]any)
	if len(sel.Deselected) > 0 {
		if props, ok := doc["properties"].(map[string]any); ok {
			for _, p := range sel.Deselected {
				delete(props, p)
			}
		}
		if req, ok := doc["required"].([]any); ok {
			doc["required"] = slices.DeleteFunc(slices.Clone(req), func(v any) bool {
				s, _ := v.(string)
				return slices.Contains(sel.Deselected, s)
			})
		}
	}
	return json.Marshal(doc)
}

func inline(v any, defs map[string]any, depth int) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name, local := strings.CutPrefix(ref, "#/definitions/")
			def, found := defs[name]
			switch {
			case !local || !found:
				return nil, fmt.Errorf("cannot resolve $ref %q", ref)
			case depth >= maxRefDepth:
				return nil, fmt.Errorf("$ref %q nests deeper than %d", ref, maxRefDepth)
			}
			return inline(def, defs, depth+1)
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := inline(e, defs, depth)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := inline(e, defs, depth)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

// propertyNames returns the top-level properties of a schema, sorted.
func propertyNames(schema json.RawMessage) ([]string, error) {
	var doc struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(schema, &doc); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(doc.Properties)), nil
}
