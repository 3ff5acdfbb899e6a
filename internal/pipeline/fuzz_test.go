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
