package integration_tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	tapOnce  sync.Once
	tapPath  string
	tapBuild error
)

// tapBinary builds cmd/tap-twilio-usage once, next to the twilio-elt
// binary TestMain built, so TestMain's cleanup removes it too.
func tapBinary(t *testing.T) string {
	t.Helper()
	tapOnce.Do(func() {
		tapPath = filepath.Join(filepath.Dir(binary), "tap-twilio-usage")
		build := exec.Command("go", "build", "-o", tapPath, "../cmd/tap-twilio-usage")
		var stderr bytes.Buffer
		build.Stderr = &stderr
		if err := build.Run(); err != nil {
			tapBuild = &buildError{err, stderr.String()}
		}
	})
	if tapBuild != nil {
		t.Fatalf("build tap-twilio-usage: %v", tapBuild)
	}
	return tapPath
}

type buildError struct {
	err    error
	output string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.output }

// tapResult is one run of tap-twilio-usage.
type tapResult struct {
	stdout, stderr []byte
	code           int
	messages       []map[string]any // stdout, when it is Singer messages
}

// runTap runs the tap with args and the environment variables in env
// (KEY=value) added to a clean environment, so a developer's own
// TAP_TWILIO_USAGE_* variables cannot leak into a test.
func runTap(t *testing.T, env []string, args ...string) tapResult {
	t.Helper()
	cmd := exec.Command(tapBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := tapResult{stdout: out.Bytes(), stderr: errOut.Bytes()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run tap %v: %v", args, err)
	}
	return r
}

// syncTap runs a sync that must succeed, and checks its stdout the way
// singer-check-tap does: every line a Singer message, every RECORD after
// its stream's SCHEMA and valid against it, key properties present.
func syncTap(t *testing.T, env []string, args ...string) tapResult {
	t.Helper()
	r := runTap(t, env, args...)
	if r.code != 0 {
		t.Fatalf("tap %v: exit %d\nstderr:\n%s", args, r.code, tailText(r.stderr))
	}
	r.messages = checkSingerOutput(t, r.stdout)
	return r
}

func tailText(b []byte) string {
	const n = 4000
	if len(b) > n {
		return "…" + string(b[len(b)-n:])
	}
	return string(b)
}

// singerStream is what a SCHEMA message declared.
type singerStream struct {
	schema        *jsonschema.Schema
	keyProperties []string
	bookmarks     []string
}

func checkSingerOutput(t *testing.T, stdout []byte) []map[string]any {
	t.Helper()
	streams := map[string]*singerStream{}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("stdout line %d is not a JSON object: %v\n%s", n, err, line)
		}
		stream, _ := m["stream"].(string)
		switch m["type"] {
		case "SCHEMA":
			if stream == "" {
				t.Fatalf("line %d: SCHEMA without a stream", n)
			}
			raw, _ := json.Marshal(m["schema"])
			s := &singerStream{schema: compileSchema(t, "singer-"+stream, raw)}
			s.keyProperties = strings.Fields(strings.Trim(strings.ReplaceAll(jsonString(t, m["key_properties"]), ",", " "), "[]"))
			for i, k := range s.keyProperties {
				s.keyProperties[i] = strings.Trim(k, `"`)
			}
			props, _ := m["schema"].(map[string]any)["properties"].(map[string]any)
			for _, k := range s.keyProperties {
				if _, ok := props[k]; !ok {
					t.Errorf("line %d: key property %s of %s is not in its schema", n, k, stream)
				}
			}
			if bp, ok := m["bookmark_properties"].([]any); ok {
				for _, b := range bp {
					s.bookmarks = append(s.bookmarks, b.(string))
					if _, ok := props[b.(string)]; !ok {
						t.Errorf("line %d: bookmark property %v of %s is not in its schema", n, b, stream)
					}
				}
			}
			streams[stream] = s
		case "RECORD":
			s, ok := streams[stream]
			if !ok {
				t.Fatalf("line %d: RECORD of %q before its SCHEMA", n, stream)
			}
			rec, ok := m["record"].(map[string]any)
			if !ok {
				t.Fatalf("line %d: RECORD without a record object", n)
			}
			if err := s.schema.Validate(rec); err != nil {
				t.Fatalf("line %d: record of %s does not match its SCHEMA: %v\n%s", n, stream, err, line)
			}
			for _, k := range s.keyProperties {
				if rec[k] == nil {
					t.Fatalf("line %d: record of %s has no key property %s", n, stream, k)
				}
			}
			te, _ := m["time_extracted"].(string)
			if _, err := time.Parse(time.RFC3339, te); err != nil {
				t.Fatalf("line %d: time_extracted %q is not RFC 3339", n, te)
			}
		case "STATE":
			v, ok := m["value"].(map[string]any)
			if !ok {
				t.Fatalf("line %d: STATE without a value object", n)
			}
			if _, ok := v["bookmarks"].(map[string]any); !ok {
				t.Fatalf("line %d: STATE value has no bookmarks object", n)
			}
		default:
			t.Fatalf("stdout line %d is not a SCHEMA, RECORD or STATE message:\n%s", n, line)
		}
		out = append(out, m)
	}
	return out
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compileSchema compiles a stream's JSON schema, asserting formats
// (date, date-time) as well as types.
func compileSchema(t *testing.T, name string, raw []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("schema %s is not JSON: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	url := "mem://" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("schema %s does not compile: %v", name, err)
	}
	return s
}

// singerOfType returns the messages of typ, of stream if it is not empty.
func singerOfType(msgs []map[string]any, typ, stream string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["type"] == typ && (stream == "" || m["stream"] == stream) {
			out = append(out, m)
		}
	}
	return out
}

// singerCursors returns a Singer state's cursors: stream → partition → value.
func singerCursors(t *testing.T, value map[string]any) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for stream, b := range value["bookmarks"].(map[string]any) {
		parts, _ := b.(map[string]any)["partitions"].([]any)
		out[stream] = map[string]string{}
		for _, p := range parts {
			p := p.(map[string]any)
			for _, v := range p["context"].(map[string]any) {
				out[stream][v.(string)] = p["replication_key_value"].(string)
			}
		}
	}
	return out
}
