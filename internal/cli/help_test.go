package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// run runs twilio-elt with args in process.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut,
		Getenv: func(string) string { return "" }})
	return out.String(), errOut.String(), code
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// TestHelp: `twilio-elt help CMD` and `twilio-elt CMD --help` print the
// same help on stdout and exit 0, for every command; it starts with the
// command's one-line summary and ends with an example.
func TestHelp(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			viaHelp, stderr, code := run(t, "", "help", c.name)
			if code != 0 || stderr != "" {
				t.Fatalf("help %s: exit %d, stderr %q", c.name, code, stderr)
			}
			for _, flagForm := range []string{"--help", "-h", "-help"} {
				out, stderr, code := run(t, "", c.name, flagForm)
				if code != 0 || stderr != "" || out != viaHelp {
					t.Errorf("%s %s: exit %d, stderr %q, and stdout differs from help %s:\n%s", c.name, flagForm, code, stderr, c.name, cmp.Diff(viaHelp, out))
				}
			}
			first, _, _ := strings.Cut(viaHelp, "\n")
			if want := "twilio-elt " + c.name + ": " + c.summary; first != want || !strings.HasSuffix(c.summary, ".") {
				t.Errorf("first line %q, want %q, one sentence", first, want)
			}
			if _, example, _ := strings.Cut(viaHelp, "\nExample:\n"); !strings.Contains(example, "twilio-elt "+c.name) {
				t.Errorf("no example running %s:\n%s", c.name, viaHelp)
			}
			golden(t, filepath.Join("help", c.name+".txt"), viaHelp)
		})
	}
}

// TestHelpListsOnlyACommandsOwnFlags checks what the golden files show,
// so that an -update cannot bless a wrong flag.
func TestHelpListsOnlyACommandsOwnFlags(t *testing.T) {
	tests := []struct {
		cmd       string
		has, lack []string
	}{
		{"spec", nil, []string{"-config", "-catalog", "-state", "-debug"}},
		{"check", []string{"-config", "-debug"}, []string{"-catalog", "-state"}},
		{"discover", []string{"-config"}, []string{"-catalog", "-state", "-debug"}},
		{"read", []string{"-config", "-catalog", "-state", "-debug"}, nil},
		{"verify", []string{"-path", "-from", "-to", "-destination"}, []string{"-keep-zero-rows", "-raw", "-staging", "-config"}},
		{"demo", []string{"-path", "-seed"}, []string{"-destination", "-project", "-keep-zero-rows", "-raw", "-staging"}},
		{"query", []string{"-path", "-csv", "-json"}, []string{"-destination", "-raw"}},
		{"load", []string{"-from-raw", "-keep-zero-rows", "-raw", "-staging"}, []string{"-config"}},
		{"sync", []string{"-config", "-keep-zero-rows"}, []string{"-from-raw"}},
		{"connect", []string{"-config", "-account-sid", "-name", "-api-key", "-auth-token"}, []string{"-path"}},
		{"version", nil, []string{"-config"}},
	}
	for _, tt := range tests {
		out, _, _ := run(t, "", "help", tt.cmd)
		_, flags, _ := strings.Cut(out, "\nFlags:\n")
		flags, _, _ = strings.Cut(flags, "\nExample:\n")
		for _, f := range tt.has {
			if !strings.Contains(flags, "  "+f+" ") && !strings.Contains(flags, "  "+f+"\n") {
				t.Errorf("help %s does not list %s:\n%s", tt.cmd, f, flags)
			}
		}
		for _, f := range tt.lack {
			if strings.Contains(flags, "  "+f) {
				t.Errorf("help %s lists %s, which it does not take:\n%s", tt.cmd, f, flags)
			}
		}
	}
}

func TestOverview(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		out, stderr, code := run(t, "", args...)
		if code != 0 || stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, stderr)
		}
		for _, c := range commands() {
			if !strings.Contains(out, "\n  "+c.name+" ") || !strings.Contains(out, c.summary) {
				t.Errorf("%v does not list %s with its summary", args, c.name)
			}
		}
		golden(t, filepath.Join("help", "overview.txt"), out)
	}
	// Without a command, the overview is an error: on stderr, exit 2.
	if out, stderr, code := run(t, ""); code != 2 || out != "" || !strings.Contains(stderr, "Usage: twilio-elt COMMAND") {
		t.Errorf("no command: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestUsageErrors: a wrong command line says what is wrong and where to
// look, on stderr. The Airbyte commands keep stdout to protocol messages:
// there the error is a TRACE, exit 1.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stderr     string
		stdoutPart string // "" means stdout must be empty
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`, ""},
		{[]string{"help", "frobnicate"}, 2, `unknown command "frobnicate"`, ""},
		{[]string{"verify", "--keep-zero-rows"}, 2, "flag provided but not defined: -keep-zero-rows\nRun 'twilio-elt help verify'", ""},
		{[]string{"sync", "extra"}, 2, `unexpected argument "extra"`, ""},
		{[]string{"demo", "--destination", "bigquery"}, 2, "flag provided but not defined: -destination", ""},
		{[]string{"query", "--csv", "--json", "SELECT 1"}, 2, "give --csv or --json, not both", ""},
		{[]string{"query", "--path", "x.duckdb"}, 2, "no SQL given", ""},
		{[]string{"spec", "--config", "c.json"}, 1, "flag provided but not defined: -config", `"failure_type":"config_error"`},
		{[]string{"read", "--bogus"}, 1, "Run 'twilio-elt help read'", `"type":"TRACE"`},
	}
	for _, tt := range tests {
		out, stderr, code := run(t, "", tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.stderr)
		}
		if tt.stdoutPart == "" && out != "" || !strings.Contains(out, tt.stdoutPart) {
			t.Errorf("%v: stdout %q", tt.args, out)
		}
		if tt.stdoutPart != "" && strings.Contains(out, "Usage:") {
			t.Errorf("%v: help text on an Airbyte command's stdout: %q", tt.args, out)
		}
	}
}

func TestTapHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	code := TapMain(context.Background(), []string{"--help"}, IO{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
	if code != 0 || errOut.Len() != 0 {
		t.Fatalf("tap --help: exit %d, stderr %q", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "tap-twilio-usage: ") || !strings.Contains(out.String(), "\nExample:\n") {
		t.Errorf("tap help does not start with its summary or lacks an example:\n%s", out.String())
	}
	golden(t, filepath.Join("help", "tap-twilio-usage.txt"), out.String())
	out.Reset()
	errOut.Reset()
	if code := TapMain(context.Background(), []string{"--bogus"}, IO{Stdout: &out, Stderr: &errOut}); code != 2 || out.Len() != 0 ||
		!strings.Contains(errOut.String(), "-bogus") {
		t.Errorf("tap --bogus: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{{"y\n", true}, {"YES\n", true}, {" yes \n", true}, {"n\n", false}, {"\n", false}, {"", false}, {"yeah\n", false}} {
		var out bytes.Buffer
		if got := confirm(strings.NewReader(tc.in), &out, "sure? "); got != tc.want || !strings.HasPrefix(out.String(), "sure? ") {
			t.Errorf("confirm(%q) = %v, asked %q; want %v", tc.in, got, out.String(), tc.want)
		}
	}
}
