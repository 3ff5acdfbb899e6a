package integration_tests

// Docker cannot run here, so the image is checked without a daemon: the
// Dockerfile's entrypoint, environment, labels, user and stages agree
// with each other, with metadata.yaml and with the version the binaries
// report; and the builder's `go build` lines, run directly on the build
// context .dockerignore leaves, give binaries that work.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/twilio-elt/twilio-elt/internal/cli"
	"github.com/twilio-elt/twilio-elt/spec"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, …
	args string
}

// stage is one FROM and what follows it.
type stage struct {
	from, name string
	body       []instruction
}

func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []stage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// keyValues parses ENV and LABEL arguments: k="v" k2=v2 …
func keyValues(t *testing.T, args string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, w := range shellWords(t, args) {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			t.Fatalf("%q is not key=value", w)
		}
		out[k] = v
	}
	return out
}

// shellWords splits a command line the way sh does for the simple
// quoting a Dockerfile uses: whitespace, "double" and 'single' quotes.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", s)
	}
	if inWord {
		out = append(out, w.String())
	}
	return out
}

// metadataData reads metadata.yaml: the scalar keys of its data block,
// and its allowedHosts.hosts list.
func metadataData(t *testing.T) (map[string]string, []string) {
	t.Helper()
	b, err := os.ReadFile("../metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data map[string]any `yaml:"data"`
	}
	var hosts struct {
		Data struct {
			AllowedHosts struct {
				Hosts []string `yaml:"hosts"`
			} `yaml:"allowedHosts"`
		} `yaml:"data"`
	}
	for _, v := range []any{&doc, &hosts} {
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("metadata.yaml: %v", err)
		}
	}
	data := map[string]string{}
	for k, v := range doc.Data {
		switch v.(type) {
		case map[string]any, []any:
		default:
			data[k] = fmt.Sprint(v)
		}
	}
	return data, hosts.Data.AllowedHosts.Hosts
}

func TestDockerfileAgreesWithMetadataAndVersion(t *testing.T) {
	stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("the Dockerfile has %d stages; want a builder and a final image", len(stages))
	}
	final := stages[len(stages)-1]
	env, labels := map[string]string{}, map[string]string{}
	var entrypoint []string
	var user, workdir string
	var runs []string
	copied := map[string]string{} // destination → source, from other stages
	for _, in := range final.body {
		switch in.cmd {
		case "ENV":
			for k, v := range keyValues(t, in.args) {
				env[k] = v
			}
		case "LABEL":
			for k, v := range keyValues(t, in.args) {
				labels[k] = v
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &entrypoint); err != nil {
				t.Errorf("ENTRYPOINT is not in exec (JSON array) form: %s", in.args)
			}
		case "USER":
			user = in.args
		case "WORKDIR":
			workdir = in.args
		case "RUN":
			runs = append(runs, in.args)
		case "COPY":
			w := strings.Fields(in.args)
			if strings.HasPrefix(w[0], "--from=") && len(w) == 3 {
				copied[w[2]] = w[1]
			}
		}
	}

	data, hosts := metadataData(t)
	if diff := cmp.Diff([]string{"/usr/local/bin/twilio-elt"}, entrypoint); diff != "" {
		t.Errorf("ENTRYPOINT (-want +got):\n%s", diff)
	}
	if env["AIRBYTE_ENTRYPOINT"] != strings.Join(entrypoint, " ") {
		t.Errorf("AIRBYTE_ENTRYPOINT %q differs from ENTRYPOINT %v", env["AIRBYTE_ENTRYPOINT"], entrypoint)
	}
	want := map[string]string{
		"io.airbyte.version = cli.Version":                 cli.Version,
		"io.airbyte.version = metadata dockerImageTag":     data["dockerImageTag"],
		"io.airbyte.name = metadata dockerRepository":      data["dockerRepository"],
		"metadata documentationUrl = spec's":               cli.DocumentationURL,
		"metadata connectorType":                           "source",
		"metadata connectorSubtype":                        "api",
		"metadata releaseStage":                            "alpha",
		"USER is not root":                                 "non-root",
		"WORKDIR":                                          "/airbyte",
		"the entrypoint is a binary copied from a builder": "/out/twilio-elt",
		"the final image has a libc for a cgo binary":      "yes",
		"/airbyte is chowned to the user":                  "yes",
	}
	userName, _, _ := strings.Cut(user, ":")
	got := map[string]string{
		"io.airbyte.version = cli.Version":                 labels["io.airbyte.version"],
		"io.airbyte.version = metadata dockerImageTag":     labels["io.airbyte.version"],
		"io.airbyte.name = metadata dockerRepository":      labels["io.airbyte.name"],
		"metadata documentationUrl = spec's":               data["documentationUrl"],
		"metadata connectorType":                           data["connectorType"],
		"metadata connectorSubtype":                        data["connectorSubtype"],
		"metadata releaseStage":                            data["releaseStage"],
		"USER is not root":                                 map[bool]string{true: "non-root", false: "root: " + user}[userName != "" && userName != "root" && userName != "0"],
		"WORKDIR":                                          workdir,
		"the entrypoint is a binary copied from a builder": copied[entrypoint[0]],
		"the final image has a libc for a cgo binary":      map[bool]string{true: "yes", false: "no: " + final.from}[!regexp.MustCompile(`^scratch$|alpine|distroless/static`).MatchString(final.from)],
		"/airbyte is chowned to the user":                  map[bool]string{true: "yes", false: "no"}[slices.ContainsFunc(runs, func(r string) bool { return regexp.MustCompile(`chown\s+\S+\s+/airbyte\b`).MatchString(r) })],
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Dockerfile and metadata.yaml (-want +got):\n%s", diff)
	}
	for _, key := range []string{"name", "definitionId", "dockerRepository", "dockerImageTag", "license", "documentationUrl", "githubIssueLabel"} {
		if data[key] == "" {
			t.Errorf("metadata.yaml: data.%s is missing", key)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(data["definitionId"]) {
		t.Errorf("metadata.yaml: definitionId %q is not a UUID", data["definitionId"])
	}
	if diff := cmp.Diff([]string{"api.twilio.com", "wireless.twilio.com"}, hosts); diff != "" {
		t.Errorf("metadata.yaml allowedHosts (-want +got):\n%s", diff)
	}
}

// dockerignored reports whether rel (slash-separated) is left out of the
// build context by patterns: the subset of .dockerignore's syntax this
// repository uses. Patterns are anchored at the context's root ("/" is
// optional), "**/" matches any number of directories, and a pattern that
// matches a directory leaves out everything under it.
func dockerignored(patterns []string, rel string) bool {
	parts := strings.Split(rel, "/")
	match := func(p string, segs []string) bool {
		ok, _ := filepath.Match(p, strings.Join(segs, "/"))
		return ok
	}
	for _, p := range patterns {
		p = strings.TrimPrefix(p, "/")
		last := 0 // the last segment the pattern may start at
		if rest, ok := strings.CutPrefix(p, "**/"); ok {
			p, last = rest, len(parts)-1
		}
		for i := 0; i <= last; i++ {
			for j := i + 1; j <= len(parts); j++ {
				if match(p, parts[i:j]) {
					return true
				}
			}
		}
	}
	return false
}

func TestDockerIgnoreMatcher(t *testing.T) {
	patterns := []string{".git", "tools", "**/testdata", "*.duckdb", "/twilio-elt", "**/*.test"}
	for rel, want := range map[string]bool{
		".git/config":                         true,
		"tools/bigquery-emulator/go.mod":      true,
		"internal/twilio/testdata/page.json":  true,
		"x.duckdb":                            true,
		"twilio-elt":                          true,
		"internal/twiliotest/twiliotest.test": true,
		"cmd/twilio-elt/main.go":              false,
		"internal/tools.go":                   false,
		"catalog/schemas/usage_records.json":  false,
	} {
		if got := dockerignored(patterns, rel); got != want {
			t.Errorf("dockerignored(%s) = %v, want %v", rel, got, want)
		}
	}
}

// buildContext copies the repository, less what .dockerignore leaves out,
// into a temporary directory.
func buildContext(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "!") {
				t.Fatalf(".dockerignore: exceptions (%s) are not understood by this test", line)
			}
			patterns = append(patterns, line)
		}
	}
	dst := t.TempDir()
	root, _ := filepath.Abs("..")
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if dockerignored(patterns, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, src); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestDockerBuildStageRunsDirectly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries from a copy of the build context")
	}
	stages := parseDockerfile(t, "../Dockerfile")
	builder := stages[0]
	env := []string{}
	var builds [][]string
	for _, in := range builder.body {
		switch in.cmd {
		case "ENV":
			for k, v := range keyValues(t, in.args) {
				env = append(env, k+"="+v)
			}
		case "RUN":
			for _, cmd := range strings.Split(in.args, "&&") {
				if w := shellWords(t, cmd); len(w) > 1 && w[0] == "go" && w[1] == "build" {
					builds = append(builds, w)
				}
			}
		}
	}
	if len(builds) == 0 {
		t.Fatal("the builder stage runs no go build")
	}
	context := buildContext(t)
	out := t.TempDir()
	built := map[string]string{} // image path → local path
	for _, w := range builds {
		i := slices.Index(w, "-o")
		if i < 0 || i+1 >= len(w) {
			t.Fatalf("%v has no -o", w)
		}
		local := filepath.Join(out, filepath.Base(w[i+1]))
		built[w[i+1]] = local
		args := slices.Clone(w[1:])
		args[i] = local
		cmd := exec.Command("go", args...)
		cmd.Dir = context
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s (in the build context): %v\n%s", strings.Join(w, " "), err, b)
		}
	}
	elt, tap := built["/out/twilio-elt"], built["/out/tap-twilio-usage"]
	if elt == "" || tap == "" {
		t.Fatalf("the builder does not build both binaries: %v", builds)
	}

	specOut, err := exec.Command(elt, "spec").Output()
	if err != nil {
		t.Fatalf("the built twilio-elt spec: %v", err)
	}
	msgs := validMessages(t, specOut)
	if len(msgs) != 1 || msgs[0]["type"] != "SPEC" {
		t.Fatalf("the built twilio-elt spec printed %v", msgs)
	}
	var gotSpec, wantSpec any
	b, _ := json.Marshal(msgs[0]["spec"].(map[string]any)["connectionSpecification"])
	json.Unmarshal(b, &gotSpec)
	json.Unmarshal(spec.ConnectionSpecification(), &wantSpec)
	if diff := cmp.Diff(wantSpec, gotSpec); diff != "" {
		t.Errorf("the built binary's spec (-want +got):\n%s", diff)
	}
	v, err := exec.Command(tap, "--version").Output()
	if err != nil || string(v) != "tap-twilio-usage "+cli.Version+"\n" {
		t.Errorf("the built tap --version: %q, %v", v, err)
	}
}
