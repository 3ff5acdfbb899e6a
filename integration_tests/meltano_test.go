package integration_tests

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/twilio-elt/twilio-elt/internal/cli"
	"github.com/twilio-elt/twilio-elt/spec"
)

// meltanoExtractor reads the tap-twilio-usage block of meltano.yml: its
// executable, capabilities, and settings with whether each is sensitive.
func meltanoExtractor(t *testing.T) (executable string, capabilities []string, settings map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("../meltano.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Plugins struct {
			Extractors []struct {
				Name         string   `yaml:"name"`
				Executable   string   `yaml:"executable"`
				Capabilities []string `yaml:"capabilities"`
				Settings     []struct {
					Name      string `yaml:"name"`
					Sensitive bool   `yaml:"sensitive"`
				} `yaml:"settings"`
			} `yaml:"extractors"`
		} `yaml:"plugins"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("meltano.yml: %v", err)
	}
	for _, e := range doc.Plugins.Extractors {
		if e.Name != "tap-twilio-usage" {
			continue
		}
		settings = map[string]bool{}
		for _, s := range e.Settings {
			settings[s.Name] = s.Sensitive
		}
		return e.Executable, e.Capabilities, settings
	}
	t.Fatal("meltano.yml has no extractor tap-twilio-usage")
	return "", nil, nil
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
