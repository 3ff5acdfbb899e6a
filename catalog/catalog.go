// Package catalog is what a stream is to Airbyte and Singer — name, JSON
// schema, primary key, cursor, sync modes, partitioning — and a Catalog
// of them, which parses the configured catalog a user or Airbyte passes
// to `read`. The streams themselves are declared in the connector's
// stream registry, each with its catalog entry; their JSON schemas are
// files here, in schemas/.
package catalog

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SyncMode is how a stream is read.
type SyncMode string

const (
	FullRefresh SyncMode = "full_refresh"
	Incremental SyncMode = "incremental"
)

// Stream describes one stream of the source.
type Stream struct {
	Name       string
	Schema     json.RawMessage
	PrimaryKey []string
	// Cursor is the record field that orders an incremental read; empty
	// for full_refresh-only streams.
	Cursor    string
	SyncModes []SyncMode
	// PartitionKey is the record field that names a stream's partition,
	// which keeps its own cursor in the state; empty when unpartitioned.
	PartitionKey string
}

// Supports reports whether the stream can be read in mode.
func (s Stream) Supports(mode SyncMode) bool { return slices.Contains(s.SyncModes, mode) }

//go:embed schemas/*.json
var schemas embed.FS

// Schema returns the JSON schema of the stream called name, from
// schemas/<name>.json. A stream without one is a programming error.
func Schema(name string) json.RawMessage {
	b, err := schemas.ReadFile("schemas/" + name + ".json")
	if err != nil {
		panic(fmt.Sprintf("catalog: missing schema for %s: %v", name, err))
	}
	return b
}

// Catalog is the streams of the source, in a stable order.
type Catalog []Stream

// Lookup returns the stream called name.
func (c Catalog) Lookup(name string) (Stream, bool) {
	i := slices.IndexFunc(c, func(s Stream) bool { return s.Name == name })
	if i < 0 {
		return Stream{}, false
	}
	return c[i], true
}

// AirbyteStream returns the stream as an Airbyte AirbyteStream object.
func (s Stream) AirbyteStream() json.RawMessage {
	pk := make([][]string, len(s.PrimaryKey))
	for i, k := range s.PrimaryKey {
		pk[i] = []string{k}
	}
	obj := map[string]any{
		"name":                       s.Name,
		"json_schema":                s.Schema,
		"supported_sync_modes":       s.SyncModes,
		"source_defined_primary_key": pk,
		"is_resumable":               s.Cursor != "",
	}
	if s.Cursor != "" {
		obj["source_defined_cursor"] = true
		obj["default_cursor_field"] = []string{s.Cursor}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	return b
}

// Configured is one stream the user selected, with how to read it.
type Configured struct {
	Stream   Stream
	SyncMode SyncMode
}

// ParseConfigured decodes an Airbyte ConfiguredAirbyteCatalog and checks
// every entry against the source's streams. All problems are reported at
// once.
func (c Catalog) ParseConfigured(data []byte) ([]Configured, error) {
	var doc struct {
		Streams *[]struct {
			Stream *struct {
				Name string `json:"name"`
			} `json:"stream"`
			SyncMode    SyncMode `json:"sync_mode"`
			CursorField []string `json:"cursor_field"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a configured catalog: %w", err)
	}
	if doc.Streams == nil {
		return nil, errors.New(`not a configured catalog: no "streams" array`)
	}
	var out []Configured
	var errs []error
	seen := map[string]bool{}
	for i, e := range *doc.Streams {
		at := fmt.Sprintf("streams[%d]", i)
		if e.Stream == nil || e.Stream.Name == "" {
			errs = append(errs, fmt.Errorf("%s: stream.name is missing", at))
			continue
		}
		name := e.Stream.Name
		at = fmt.Sprintf("%s (%s)", at, name)
		s, ok := c.Lookup(name)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: unknown stream; the streams are %s", at, strings.Join(c.Names(), ", ")))
			continue
		case seen[name]:
			errs = append(errs, fmt.Errorf("%s: stream configured twice", at))
			continue
		}
		seen[name] = true
		mode := e.SyncMode
		switch {
		case mode == "":
			errs = append(errs, fmt.Errorf("%s: sync_mode is missing", at))
			continue
		case !s.Supports(mode):
			errs = append(errs, fmt.Errorf("%s: sync_mode %q is not supported; use one of %v", at, mode, s.SyncModes))
			continue
		}
		if mode == Incremental && len(e.CursorField) > 0 && !slices.Equal(e.CursorField, []string{s.Cursor}) {
			errs = append(errs, fmt.Errorf("%s: cursor_field %v is not supported; the cursor is source-defined: [%s]", at, e.CursorField, s.Cursor))
			continue
		}
		out = append(out, Configured{Stream: s, SyncMode: mode})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the configured catalog selects no stream")
	}
	return out, nil
}

// All returns every stream configured in its most efficient mode:
// incremental where supported.
func (c Catalog) All() []Configured {
	out := make([]Configured, len(c))
	for i, s := range c {
		mode := FullRefresh
		if s.Supports(Incremental) {
			mode = Incremental
		}
		out[i] = Configured{Stream: s, SyncMode: mode}
	}
	return out
}

// Names returns the streams' names.
func (c Catalog) Names() []string {
	out := make([]string, len(c))
	for i, s := range c {
		out[i] = s.Name
	}
	return out
}
