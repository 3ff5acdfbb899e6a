package integration_tests

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/cli"
	"github.com/twilio-elt/twilio-elt/spec"
)

// meltanoExtractor reads the tap-twilio-usage block of meltano.yml: its
// executable, capabilities, and settings with whether each is sensitive.
// It knows only the plain YAML that file uses.
func meltanoExtractor(t *testing.T) (executable string, capabilities []string, settings map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("../meltano.yml")
	if err != nil {
		t.Fatal(err)
	}
	settings = map[string]bool{}
	inTap, block, current := false, "", ""
	for _, line := range strings.Split(string(b), "\n") {
		text := strings.TrimSpace(line)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case indent == 4 && strings.HasPrefix(text, "- name: "):
			inTap = text == "- name: tap-twilio-usage"
			continue
		case !inTap || indent < 6:
			if indent < 4 {
				inTap = false
			}
			continue
		case indent == 6:
			key, value, _ := strings.Cut(text, ":")
			block = key
			if key == "executable" {
				executable = strings.TrimSpace(value)
			}
			continue
		}
		switch {
		case block == "capabilities":
			capabilities = append(capabilities, strings.TrimPrefix(text, "- "))
		case block == "settings" && strings.HasPrefix(text, "- name: "):
			current = strings.TrimPrefix(text, "- name: ")
			settings[current] = false
		case block == "settings" && text == "sensitive: true":
			settings[current] = true
		}
	}
	return executable, capabilities, settings
}

func TestSingerMeltanoProjectMirrorsTheSpec(t *testing.T) {
	exe, caps, settings := meltanoExtractor(t)
	var doc struct {
		Properties map[string]struct {
			Secret bool `json:"airbyte_secret"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(spec.ConnectionSpecification(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for name, p := range doc.Properties {
		want[name] = p.Secret
	}
	if diff := cmp.Diff(want, settings); diff != "" {
		t.Errorf("meltano.yml settings (name → sensitive) differ from the spec (-spec +meltano.yml):\n%s", diff)
	}
	if exe != cli.TapName {
		t.Errorf("executable %q, want %q", exe, cli.TapName)
	}
	if !slices.Equal(caps, cli.TapCapabilities) {
		t.Errorf("capabilities %v, want %v", caps, cli.TapCapabilities)
	}
}
