package spec

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the config reference in ../README.md")

const (
	referenceBegin = "<!-- config reference: generated from spec/connection_specification.json by `go test ./spec -update` -->\n"
	referenceEnd   = "<!-- end of config reference -->\n"
)

// The README's config reference is the spec, rendered.
func TestREADMEConfigReferenceMatchesSpec(t *testing.T) {
	const path = "../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, referenceBegin)
	end := strings.Index(text, referenceEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md has no config reference block (%q … %q)", referenceBegin, referenceEnd)
	}
	want := MarkdownReference()
	got := text[start+len(referenceBegin) : end]
	if got == want {
		return
	}
	if *update {
		text = text[:start+len(referenceBegin)] + want + text[end:]
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's config reference is out of date; run go test ./spec -update\n got:\n%s\nwant:\n%s", got, want)
}

func TestMarkdownReferenceNamesEverySetting(t *testing.T) {
	ref := MarkdownReference()
	for key := range fields {
		if !strings.Contains(ref, "| `"+key+"` |") {
			t.Errorf("the reference has no row for %s", key)
		}
	}
}
