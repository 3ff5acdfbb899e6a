package airbyte

import (
	"bytes"
	"os"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// protocolSchemaFile is the Airbyte protocol v0 JSON Schema, converted from
// the YAML in the Airbyte repository
// (airbyte-protocol/models/src/main/resources/airbyte_protocol/airbyte_protocol.yaml).
const protocolSchemaFile = "testdata/airbyte_protocol_v0.json"

var compileMessageSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	f, err := os.Open(protocolSchemaFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(protocolSchemaFile, doc); err != nil {
		return nil, err
	}
	return c.Compile(protocolSchemaFile + "#/definitions/AirbyteMessage")
})

// validateMessage fails the test unless line is one AirbyteMessage that
// conforms to the Airbyte protocol schema.
func validateMessage(t *testing.T, line []byte) {
	t.Helper()
	schema, err := compileMessageSchema()
	if err != nil {
		t.Fatalf("compile the Airbyte protocol schema: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		t.Errorf("not JSON: %v\n%s", err, line)
		return
	}
	if err := schema.Validate(inst); err != nil {
		t.Errorf("not a valid AirbyteMessage: %v\n%s", err, line)
	}
}

func TestMessageSchemaRejectsInvalid(t *testing.T) {
	// The validator is only worth something if it can say no.
	schema, err := compileMessageSchema()
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{
		`{"type": "RECORD", "record": {"stream": "s", "data": {}, "emitted_at": 1.5}}`,
		`{"type": "RECORD", "record": {"stream": "s", "data": []}}`,
		`{"type": "STATE", "state": {"type": "PER_STREAM"}}`,
		`{"type": "LOG", "log": {"level": "WARNING", "message": "m"}}`,
		`{"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 1, "error": {"message": "m", "failure_type": "oops"}}}`,
		`{"type": "CONNECTION_STATUS", "connectionStatus": {"status": "OK"}}`,
		`{"type": "BOGUS"}`,
		`{"record": {}}`,
	} {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(doc)))
		if err != nil {
			t.Fatal(err)
		}
		if schema.Validate(inst) == nil {
			t.Errorf("schema accepts %s", doc)
		}
	}
}
