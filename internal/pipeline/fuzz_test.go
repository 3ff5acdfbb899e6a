package pipeline

import (
	"encoding/json"
	"testing"

	"github.com/twilio-elt/twilio-elt/internal/protocol"
)

// FuzzDecodeAirbyte: any line of `load`'s input decodes to a message or
// an error, never a panic; a record has a stream and JSON data, a state a
// stream.
func FuzzDecodeAirbyte(f *testing.F) {
	for _, s := range []string{
		`{"type":"RECORD","record":{"stream":"usage_records","data":{"price":1},"emitted_at":1}}`,
		`{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{}}}}`,
		`{"type":"TRACE","trace":{"type":"ERROR","error":{"message":"x"}}}`,
		`{"type":"LOG","log":{"level":"WARN","message":"x"}}`, `{"type":"RECORD"}`, `not json`, `{}`,
	} {
		f.Add([]byte(s))
	}
	d := newAirbyteDecoder()
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := d.decode(line)
		if err != nil {
			return
		}
		switch m := m.(type) {
		case protocol.Record:
			if m.Stream == "" || !json.Valid(m.Data) {
				t.Fatalf("a record without stream or with invalid data: %+v", m)
			}
		case protocol.State:
			if m.Stream == "" || !json.Valid(m.Data) {
				t.Fatalf("a state without stream or with invalid data: %+v", m)
			}
		}
	})
}

// TestDecodeAirbyteTakesTheLastOfARepeatedKey: as encoding/json does, of
// a key given twice in the envelope the last counts.
func TestDecodeAirbyteTakesTheLastOfARepeatedKey(t *testing.T) {
	m, err := newAirbyteDecoder().decode([]byte(`{"type":"LOG","type":"RECORD","record":{"stream":"sims","stream":"usage_records","data":{"a":1},"data":{"b":2}}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.(protocol.Record)
	if !ok || r.Stream != "usage_records" || string(r.Data) != `{"b":2}` {
		t.Fatalf("decoded %#v", m)
	}
}
