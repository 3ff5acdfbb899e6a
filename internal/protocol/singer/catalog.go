package singer

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twilio-elt/twilio-elt/catalog"
)

// Replication methods, as Singer catalogs spell them.
const (
	Incremental = "INCREMENTAL"
	FullTable   = "FULL_TABLE"
)

// Selection is a stream a Singer catalog selected, with how to read it.
type Selection struct {
	catalog.Configured
	// Deselected are top-level properties the catalog deselected: they are
	// left out of the stream's SCHEMA and RECORDs. Key properties and the
	// replication key are never deselected.
	Deselected []string
}

// bookmarkProperties is the SCHEMA's bookmark_properties: the replication
// key of a stream read incrementally.
func (s Selection) bookmarkProperties() []string {
	if s.SyncMode == catalog.Incremental && s.Stream.Cursor != "" {
		return []string{s.Stream.Cursor}
	}
	return nil
}

// All selects every stream, incremental where it can be: what a tap
// run without a catalog reads.
func All(cat catalog.Catalog) []Selection {
	var out []Selection
	for _, c := range cat.All() {
		out = append(out, Selection{Configured: c})
	}
	return out
}

// Configured returns the connector's view of the selections.
func Configured(sels []Selection) []catalog.Configured {
	out := make([]catalog.Configured, len(sels))
	for i, s := range sels {
		out[i] = s.Configured
	}
	return out
}

// metadataEntry is one entry of a Singer catalog stream's metadata.
type metadataEntry struct {
	Breadcrumb []string       `json:"breadcrumb"`
	Metadata   map[string]any `json:"metadata"`
}

type catalogStream struct {
	TapStreamID       string          `json:"tap_stream_id"`
	Stream            string          `json:"stream"`
	Schema            json.RawMessage `json:"schema"`
	KeyProperties     []string        `json:"key_properties"`
	ReplicationMethod string          `json:"replication_method"`
	ReplicationKey    string          `json:"replication_key,omitempty"`
	Metadata          []metadataEntry `json:"metadata"`
}

// Discover returns the Singer catalog of every stream, each selected, in
// its most efficient replication method.
func Discover(cat catalog.Catalog) (json.RawMessage, error) {
	doc := struct {
		Streams []catalogStream `json:"streams"`
	}{}
	for _, c := range cat.All() {
		s := c.Stream
		schema, err := singerSchema(Selection{Configured: c})
		if err != nil {
			return nil, err
		}
		method := FullTable
		if c.SyncMode == catalog.Incremental {
			method = Incremental
		}
		top := map[string]any{
			"inclusion":            "available",
			"selected":             true,
			"selected-by-default":  true,
			"replication-method":   method,
			"table-key-properties": nonNil(s.PrimaryKey),
		}
		cs := catalogStream{
			TapStreamID:       s.Name,
			Stream:            s.Name,
			Schema:            schema,
			KeyProperties:     nonNil(s.PrimaryKey),
			ReplicationMethod: method,
		}
		if s.Supports(catalog.Incremental) {
			top["replication-key"] = s.Cursor
			top["valid-replication-keys"] = []string{s.Cursor}
			cs.ReplicationKey = s.Cursor
		} else {
			top["forced-replication-method"] = FullTable
		}
		cs.Metadata = append(cs.Metadata, metadataEntry{Breadcrumb: []string{}, Metadata: top})
		props, err := propertyNames(schema)
		if err != nil {
			return nil, fmt.Errorf("schema of stream %s: %w", s.Name, err)
		}
		for _, p := range props {
			inclusion := "available"
			if alwaysIncluded(s, p) {
				inclusion = "automatic"
			}
			cs.Metadata = append(cs.Metadata, metadataEntry{
				Breadcrumb: []string{"properties", p},
				Metadata:   map[string]any{"inclusion": inclusion, "selected-by-default": true},
			})
		}
		doc.Streams = append(doc.Streams, cs)
	}
	return json.MarshalIndent(doc, "", "  ")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// alwaysIncluded reports whether property p of s is a key property or
// the replication key, which Singer calls inclusion "automatic".
func alwaysIncluded(s catalog.Stream, p string) bool {
	return slices.Contains(s.PrimaryKey, p) || (p != "" && p == s.Cursor)
}

// ParseCatalog decodes the catalog a Singer runner passes with --catalog
// (or the legacy --properties) and returns the selected streams. A stream
// is selected by its metadata with breadcrumb [] (selected, else
// selected-by-default), or by a legacy "selected" on the stream or its
// schema. replication-method INCREMENTAL or FULL_TABLE chooses the sync
// mode; without one a stream is read incrementally where it can be. Every
// problem is reported at once, each naming the stream's position and name.
func ParseCatalog(data []byte, cat catalog.Catalog) ([]Selection, error) {
	var doc struct {
		Streams *[]struct {
			TapStreamID       string `json:"tap_stream_id"`
			Stream            string `json:"stream"`
			Selected          *bool  `json:"selected"`
			ReplicationMethod string `json:"replication_method"`
			ReplicationKey    string `json:"replication_key"`
			Schema            struct {
				Selected *bool `json:"selected"`
			} `json:"schema"`
			Metadata []json.RawMessage `json:"metadata"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a Singer catalog: %w", err)
	}
	if doc.Streams == nil {
		return nil, errors.New(`not a Singer catalog: no "streams" array`)
	}
	var out []Selection
	var errs []error
	seen := map[string]bool{}
	for i, e := range *doc.Streams {
		at := fmt.Sprintf("streams[%d]", i)
		name := e.TapStreamID
		if name == "" {
			name = e.Stream
		}
		if name == "" {
			errs = append(errs, fmt.Errorf("%s: tap_stream_id is missing", at))
			continue
		}
		at = fmt.Sprintf("%s (%s)", at, name)
		top, props, err := decodeMetadata(e.Metadata)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
			continue
		}
		selected := firstBool(top["selected"], e.Selected, e.Schema.Selected, top["selected-by-default"])
		if !selected {
			continue
		}
		s, ok := cat.Lookup(name)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: unknown stream; the streams are %s", at, strings.Join(cat.Names(), ", ")))
			continue
		case seen[name]:
			errs = append(errs, fmt.Errorf("%s: stream listed twice", at))
			continue
		}
		seen[name] = true

		method, _ := top["replication-method"].(string)
		if method == "" {
			method = e.ReplicationMethod
		}
		mode := catalog.FullRefresh
		switch strings.ToUpper(method) {
		case "":
			if s.Supports(catalog.Incremental) {
				mode = catalog.Incremental
			}
		case FullTable:
		case Incremental:
			if !s.Supports(catalog.Incremental) {
				errs = append(errs, fmt.Errorf("%s: metadata replication-method %s is not supported; this stream is %s only", at, Incremental, FullTable))
				continue
			}
			mode = catalog.Incremental
		default:
			errs = append(errs, fmt.Errorf("%s: metadata replication-method %q is not supported; use %s or %s", at, method, Incremental, FullTable))
			continue
		}
		key, _ := top["replication-key"].(string)
		if key == "" {
			key = e.ReplicationKey
		}
		if mode == catalog.Incremental && key != "" && key != s.Cursor {
			errs = append(errs, fmt.Errorf("%s: metadata replication-key %q is not supported; the replication key is %q", at, key, s.Cursor))
			continue
		}
		sel := Selection{Configured: catalog.Configured{Stream: s, SyncMode: mode}}
		for _, p := range slices.Sorted(maps.Keys(props)) {
			if !props[p] && !alwaysIncluded(s, p) {
				sel.Deselected = append(sel.Deselected, p)
			}
		}
		out = append(out, sel)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the catalog selects no stream; mark a stream selected in its metadata (breadcrumb [], \"selected\": true), or in Meltano add a select rule")
	}
	return out, nil
}

// decodeMetadata returns the stream-level metadata and, per top-level
// property, whether it is selected.
func decodeMetadata(entries []json.RawMessage) (top map[string]any, props map[string]bool, err error) {
	top = map[string]any{}
	props = map[string]bool{}
	for i, raw := range entries {
		var e metadataEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, nil, fmt.Errorf("metadata[%d] is not {\"breadcrumb\": […], \"metadata\": {…}}", i)
		}
		switch {
		case len(e.Breadcrumb) == 0:
			maps.Copy(top, e.Metadata)
		case len(e.Breadcrumb) == 2 && e.Breadcrumb[0] == "properties":
			sel, isBool := e.Metadata["selected"].(bool)
			if !isBool {
				sel, isBool = e.Metadata["selected-by-default"].(bool)
			}
			if inc, _ := e.Metadata["inclusion"].(string); inc == "unsupported" {
				sel, isBool = false, true
			}
			props[e.Breadcrumb[1]] = !isBool || sel
		}
	}
	for _, k := range []string{"selected", "selected-by-default"} {
		if v, ok := top[k]; ok {
			if _, isBool := v.(bool); !isBool {
				return nil, nil, fmt.Errorf("metadata %q must be true or false", k)
			}
		}
	}
	return top, props, nil
}

// firstBool returns the first of values that is set: a bool or a *bool.
func firstBool(values ...any) bool {
	for _, v := range values {
		switch v := v.(type) {
		case bool:
			return v
		case *bool:
			if v != nil {
				return *v
			}
		}
	}
	return false
}
