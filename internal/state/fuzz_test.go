package state

import (
	"bytes"
	"testing"
)

// FuzzDecodeAirbyte: any state file either decodes or is refused; a
// decoded stream state's cursors survive a round trip through the
// per-partition encoding, unchanged.
func FuzzDecodeAirbyte(f *testing.F) {
	for _, s := range []string{
		`[{"type":"STREAM","stream":{"stream_descriptor":{"name":"usage_records"},"stream_state":{"states":[{"partition":{"account_sid":"AC1"},"cursor":{"start_date":"2026-11-23"}}]}}}]`,
		`[{"type":"GLOBAL","global":{}}]`, `{"bookmarks":{}}`, `[]`, ``, `[{"type":"STATE","state":{"type":"STREAM"}}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		blobs, err := DecodeAirbyte(data)
		if err != nil {
			return
		}
		for name, blob := range blobs {
			st, err := FromAirbyte(blob, "account_sid", "start_date")
			if err != nil {
				continue
			}
			again, err := FromAirbyte(st.Airbyte(), "account_sid", "start_date")
			if err != nil {
				t.Fatalf("%s: a re-encoded state does not decode: %v", name, err)
			}
			if !bytes.Equal(again.Airbyte(), st.Airbyte()) {
				t.Fatalf("%s: %s became %s", name, st.Airbyte(), again.Airbyte())
			}
		}
	})
}
