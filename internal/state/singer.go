package state

// The Singer encoding. Singer state is one JSON object for the whole tap;
// each stream keeps its bookmark under "bookmarks". A partitioned stream
// uses the Meltano SDK's shape, one entry per partition:
//
//	{"bookmarks": {"usage_records": {"partitions": [
//	  {"context": {"account_sid": "AC…"}, "replication_key": "start_date", "replication_key_value": "2026-11-20"}]}}}

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

type singerPartition struct {
	Context             map[string]string `json:"context"`
	ReplicationKey      string            `json:"replication_key"`
	ReplicationKeyValue string            `json:"replication_key_value"`
}

// Singer returns the stream's Singer bookmark, {"partitions": […]}, with
// partitions sorted, so equal states encode to equal bytes.
func (s *Stream) Singer() json.RawMessage {
	doc := struct {
		Partitions []singerPartition `json:"partitions"`
	}{Partitions: []singerPartition{}}
	for _, p := range s.Partitions() {
		doc.Partitions = append(doc.Partitions, singerPartition{
			Context:             map[string]string{s.PartitionKey: p},
			ReplicationKey:      s.CursorField,
			ReplicationKeyValue: s.cursors[p],
		})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // strings always encode
	}
	return b
}

// FromSinger decodes one stream's Singer bookmark. An empty or null
// bookmark, or {}, is an empty state. Keys the Meltano SDK adds to a
// partition (progress_markers, replication_key_signpost, …) are ignored.
func FromSinger(bookmark json.RawMessage, partitionKey, cursorField string) (*Stream, error) {
	s := NewStream(partitionKey, cursorField)
	if len(bytes.TrimSpace(bookmark)) == 0 || string(bytes.TrimSpace(bookmark)) == "null" {
		return s, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(bookmark, &doc); err != nil || doc == nil {
		return nil, errors.New(`bookmark is not an object with a "partitions" array`)
	}
	raw, ok := doc["partitions"]
	if !ok {
		if len(doc) == 0 {
			return s, nil
		}
		if _, single := doc["replication_key_value"]; single {
			return nil, fmt.Errorf(`bookmark has one replication_key_value for the whole stream; this stream keeps one per %s, in a "partitions" array`, partitionKey)
		}
		return nil, errors.New(`bookmark has no "partitions" array`)
	}
	var parts []struct {
		Context             map[string]json.RawMessage `json:"context"`
		ReplicationKey      *string                    `json:"replication_key"`
		ReplicationKeyValue json.RawMessage            `json:"replication_key_value"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, errors.New(`"partitions" is not an array of objects`)
	}
	for i, p := range parts {
		var partition string
		if err := json.Unmarshal(p.Context[partitionKey], &partition); err != nil || partition == "" {
			return nil, fmt.Errorf("partitions[%d]: context has no %q string", i, partitionKey)
		}
		if p.ReplicationKey == nil && len(p.ReplicationKeyValue) == 0 {
			// The Meltano SDK writes a partition's context before its
			// first bookmark: nothing to resume from yet.
			continue
		}
		if p.ReplicationKey == nil || *p.ReplicationKey != cursorField {
			got := "none"
			if p.ReplicationKey != nil {
				got = fmt.Sprintf("%q", *p.ReplicationKey)
			}
			return nil, fmt.Errorf("partitions[%d] (%s): replication_key is %s, want %q", i, partition, got, cursorField)
		}
		var value string
		if err := json.Unmarshal(p.ReplicationKeyValue, &value); err != nil || value == "" {
			return nil, fmt.Errorf("partitions[%d] (%s): replication_key_value must be a non-empty string", i, partition)
		}
		s.Set(partition, value)
	}
	return s, nil
}

// Bookmarks maps a stream name to its Singer bookmark.
type Bookmarks map[string]json.RawMessage

// DecodeSinger decodes the state file a Singer runner passes to a tap:
// {"bookmarks": {stream: bookmark, …}}. It also accepts a STATE message
// ({"type": "STATE", "value": …}) and Meltano's stored form
// ({"singer_state": …}). An empty input, {} or null is an empty state.
func DecodeSinger(data []byte) (Bookmarks, error) {
	out := Bookmarks{}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return out, nil
	}
	if data[0] == '[' {
		return nil, errors.New(`state must be a JSON object: {"bookmarks": {…}}; this looks like an Airbyte state ` +
			"(a JSON array of state messages), which twilio-elt read takes")
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil || doc == nil {
		return nil, errors.New(`state must be a JSON object: {"bookmarks": {…}}`)
	}
	if _, ok := doc["bookmarks"]; !ok && doc["type"] != nil && doc["stream"] != nil {
		return nil, errors.New(`state must be a JSON object: {"bookmarks": {…}}; this looks like an Airbyte state message, ` +
			"which twilio-elt read takes")
	}
	for _, wrapper := range []string{"value", "singer_state"} {
		if inner, ok := doc[wrapper]; ok && doc["bookmarks"] == nil {
			if err := json.Unmarshal(inner, &doc); err != nil || doc == nil {
				return nil, fmt.Errorf("state: %q is not an object", wrapper)
			}
		}
	}
	raw, ok := doc["bookmarks"]
	if !ok || string(raw) == "null" {
		return out, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil || out == nil {
		return nil, errors.New(`state: "bookmarks" is not an object of stream bookmarks`)
	}
	return out, nil
}

// EncodeSinger returns the Singer state {"bookmarks": {…}}, streams
// sorted by name.
func EncodeSinger(b Bookmarks) json.RawMessage {
	var buf bytes.Buffer
	buf.WriteString(`{"bookmarks":{`)
	for i, name := range slices.Sorted(maps.Keys(b)) {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		buf.Write(k)
		buf.WriteByte(':')
		v := b[name]
		if len(bytes.TrimSpace(v)) == 0 {
			v = json.RawMessage("{}")
		}
		if err := json.Compact(&buf, v); err != nil {
			buf.WriteString("{}") // not JSON: nothing worth resuming from
		}
	}
	buf.WriteString(`}}`)
	return buf.Bytes()
}
