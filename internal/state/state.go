// Package state holds the cursors of incremental streams, one per stream
// and partition, and their encodings: the Airbyte per-partition stream
// state and the Singer bookmarks of the Meltano SDK. It does no I/O.
//
// The Airbyte blob of a partitioned stream has the shape of the Airbyte
// CDK's per-partition cursor:
//
//	{"states": [{"partition": {"account_sid": "AC…"}, "cursor": {"start_date": "2026-11-20"}}]}
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Stream is the state of one stream: a cursor value per partition. Its
// zero value is not usable; use NewStream. It is not safe for concurrent
// use.
type Stream struct {
	PartitionKey string
	CursorField  string
	cursors      map[string]string
}

// NewStream returns an empty state for a stream partitioned by
// partitionKey with cursor field cursorField.
func NewStream(partitionKey, cursorField string) *Stream {
	return &Stream{PartitionKey: partitionKey, CursorField: cursorField, cursors: map[string]string{}}
}

// Cursor returns the cursor of partition, if there is one.
func (s *Stream) Cursor(partition string) (string, bool) {
	v, ok := s.cursors[partition]
	return v, ok
}

// Set records value as the cursor of partition.
func (s *Stream) Set(partition, value string) { s.cursors[partition] = value }

// Partitions returns the partitions that have a cursor, sorted.
func (s *Stream) Partitions() []string { return slices.Sorted(maps.Keys(s.cursors)) }

// Clone returns an independent copy.
func (s *Stream) Clone() *Stream {
	return &Stream{PartitionKey: s.PartitionKey, CursorField: s.CursorField, cursors: maps.Clone(s.cursors)}
}

type airbytePartition struct {
	Partition map[string]string `json:"partition"`
	Cursor    map[string]string `json:"cursor"`
}

// Airbyte returns the stream_state blob for an Airbyte STREAM state.
// Partitions are sorted, so equal states encode to equal bytes.
func (s *Stream) Airbyte() json.RawMessage {
	doc := struct {
		States []airbytePartition `json:"states"`
	}{States: []airbytePartition{}}
	for _, p := range s.Partitions() {
		doc.States = append(doc.States, airbytePartition{
			Partition: map[string]string{s.PartitionKey: p},
			Cursor:    map[string]string{s.CursorField: s.cursors[p]},
		})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // maps of strings always encode
	}
	return b
}

// FromAirbyte decodes a stream_state blob written by Airbyte. An empty or
// null blob, or {}, is an empty state.
func FromAirbyte(blob json.RawMessage, partitionKey, cursorField string) (*Stream, error) {
	s := NewStream(partitionKey, cursorField)
	if len(blob) == 0 || string(blob) == "null" {
		return s, nil
	}
	var doc struct {
		States *[]airbytePartition `json:"states"`
	}
	if err := json.Unmarshal(blob, &doc); err != nil {
		return nil, fmt.Errorf("stream_state is not an object with a \"states\" array: %w", err)
	}
	if doc.States == nil {
		var empty map[string]json.RawMessage
		if json.Unmarshal(blob, &empty) == nil && len(empty) == 0 {
			return s, nil
		}
		return nil, errors.New(`stream_state has no "states" array`)
	}
	for i, st := range *doc.States {
		p, ok := st.Partition[partitionKey]
		if !ok || p == "" {
			return nil, fmt.Errorf("states[%d]: partition has no %q", i, partitionKey)
		}
		c, ok := st.Cursor[cursorField]
		if !ok || c == "" {
			return nil, fmt.Errorf("states[%d] (%s): cursor has no %q", i, p, cursorField)
		}
		s.Set(p, c)
	}
	return s, nil
}

// Blobs maps a stream name to the stream_state blob Airbyte passed in.
type Blobs map[string]json.RawMessage

// DecodeAirbyte decodes the state file Airbyte passes to `read`: a JSON
// array of AirbyteStateMessage of type STREAM. Whole AirbyteMessages
// ({"type": "STATE", "state": …}) are accepted too. An empty input or []
// is an empty state.
func DecodeAirbyte(data []byte) (Blobs, error) {
	out := Blobs{}
	if len(bytes.TrimSpace(data)) == 0 {
		return out, nil
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(data, &msgs); err != nil {
		if hint := airbyteStateHint(data); hint != "" {
			return nil, fmt.Errorf("state must be a JSON array of STREAM state messages; %s", hint)
		}
		return nil, fmt.Errorf("state must be a JSON array of STREAM state messages: %w", err)
	}
	for i, raw := range msgs {
		var m struct {
			Type   string          `json:"type"`
			State  json.RawMessage `json:"state"`
			Stream *struct {
				Descriptor *struct {
					Name string `json:"name"`
				} `json:"stream_descriptor"`
				State json.RawMessage `json:"stream_state"`
			} `json:"stream"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("state[%d]: %w", i, err)
		}
		if m.Type == "STATE" && m.State != nil {
			if err := json.Unmarshal(m.State, &m); err != nil {
				return nil, fmt.Errorf("state[%d].state: %w", i, err)
			}
		}
		switch m.Type {
		case "STREAM":
		case "GLOBAL", "LEGACY", "":
			return nil, fmt.Errorf("state[%d]: type %q is not supported; this source writes per-stream (STREAM) state", i, m.Type)
		default:
			return nil, fmt.Errorf("state[%d]: unknown state type %q", i, m.Type)
		}
		if m.Stream == nil || m.Stream.Descriptor == nil || m.Stream.Descriptor.Name == "" {
			return nil, fmt.Errorf("state[%d]: stream.stream_descriptor.name is missing", i)
		}
		out[m.Stream.Descriptor.Name] = m.Stream.State
	}
	return out, nil
}

// airbyteStateHint names what a JSON object given as an Airbyte state
// looks like instead, or returns "".
func airbyteStateHint(data []byte) string {
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil || doc == nil {
		return ""
	}
	if looksSinger(doc) {
		return `this looks like a Singer state ({"bookmarks": …}), which tap-twilio-usage reads; ` +
			"twilio-elt read takes the state Airbyte passes: a JSON array of STREAM state messages"
	}
	if _, ok := doc["type"]; ok {
		return "this is a single state message: put it in a JSON array, [ … ]"
	}
	return ""
}

// looksSinger reports whether a JSON object is a Singer state, bare or in
// one of the wrappers DecodeSinger accepts.
func looksSinger(doc map[string]json.RawMessage) bool {
	if _, ok := doc["bookmarks"]; ok {
		return true
	}
	for _, wrapper := range []string{"value", "singer_state"} {
		var inner map[string]json.RawMessage
		if json.Unmarshal(doc[wrapper], &inner) == nil {
			if _, ok := inner["bookmarks"]; ok {
				return true
			}
		}
	}
	return false
}
