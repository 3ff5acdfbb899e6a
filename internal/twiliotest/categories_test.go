package twiliotest

import (
	"os"
	"strings"
	"testing"
)

// referenceTSV is the repository's copy of the shared reference table of
// Twilio's usage categories (shared/reference/twilio/usage_categories.tsv):
// category, description, parent, is_rollup, service_group, evidence.
const referenceTSV = "../../transforms/usage_categories.tsv"

// unlistedCategories are served on purpose although Twilio's last published
// category list lacks them, with their parent in the emulator: a loader
// must handle categories it does not know.
var unlistedCategories = map[string]string{
	"wireless-usage-data-middleeast": "wireless-usage-data", // a new region under a listed prefix roll-up
	"voice-ai-agent-minutes":         "totalprice",          // no listed category is a prefix of it
}

// decidedParents are a project decision, not the reference's: the
// reference leaves these parents unknown (third-party data suggests
// onetime = brand registration + campaign vetting).
var decidedParents = map[string]string{
	"a2p-10dlc-registrationfees-onetime":           "a2p-registration-fees",
	"a2p-10dlc-registrationfees-monthly":           "a2p-registration-fees",
	"a2p-10dlc-registrationfees-brandregistration": "a2p-10dlc-registrationfees-onetime",
	"a2p-10dlc-registrationfees-campaignvetting":   "a2p-10dlc-registrationfees-onetime",
	"a2p-10dlc-registrationfees-campaigncharges":   "a2p-10dlc-registrationfees-monthly",
}

// decidedOverlays are overlays the reference does not mark OVERLAY:
// channels also totals sms and mms (third-party data), so it is never
// summed.
var decidedOverlays = map[string]bool{"channels": true}

type referenceCategory struct {
	parent, isRollup string
	overlay          bool
}

func readReference(t *testing.T) map[string]referenceCategory {
	t.Helper()
	b, err := os.ReadFile(referenceTSV)
	if err != nil {
		t.Fatalf("the reference category table: %v", err)
	}
	out := map[string]referenceCategory{}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			t.Fatalf("%s line %d: %d fields, want 6", referenceTSV, i+1, len(f))
		}
		if i == 0 {
			continue
		}
		out[f[0]] = referenceCategory{parent: f[2], isRollup: f[3], overlay: strings.HasPrefix(f[5], "OVERLAY")}
	}
	if len(out) < 600 {
		t.Fatalf("%s: %d categories", referenceTSV, len(out))
	}
	return out
}

// TestCategoriesMatchReference holds the emulator's category tree to the
// reference, except for the named exceptions above and top-level
// placement where the reference leaves a parent unknown.
func TestCategoriesMatchReference(t *testing.T) {
	ref := readReference(t)
	cats := New(testOptions()).Categories()
	served := map[string]bool{}
	for _, c := range cats {
		served[c.Name] = true
		r, listed := ref[c.Name]
		if parent, ok := unlistedCategories[c.Name]; ok {
			if listed {
				t.Errorf("%s is meant to be unknown to loaders but is in the reference: pick a name Twilio has not listed", c.Name)
			}
			if c.Parent != parent {
				t.Errorf("%s: parent %q, want %q", c.Name, c.Parent, parent)
			}
			// Its parent is the longest listed prefix, if any.
			longest := "totalprice"
			for n := range ref {
				if strings.HasPrefix(c.Name, n+"-") && len(n) > len(longest) {
					longest = n
				}
			}
			if longest != parent {
				t.Errorf("%s: the longest listed prefix is %q, not its parent %q", c.Name, longest, parent)
			}
			continue
		}
		if !listed {
			t.Errorf("%s: not in the reference (add it to unlistedCategories if meant)", c.Name)
			continue
		}
		switch want, decided := decidedParents[c.Name]; {
		case decided:
			if r.parent != "" {
				t.Errorf("%s: the reference now gives parent %q; drop the project decision %q", c.Name, r.parent, want)
			}
			if c.Parent != want {
				t.Errorf("%s: parent %q, want the project's %q", c.Name, c.Parent, want)
			}
		case r.parent == "" && c.Name != "totalprice":
			if c.Parent != "totalprice" {
				t.Errorf("%s: the reference's parent is unknown; want top-level, got %q", c.Name, c.Parent)
			}
		case c.Parent != r.parent:
			t.Errorf("%s: parent %q, reference %q", c.Name, c.Parent, r.parent)
		}
		if want := r.overlay || decidedOverlays[c.Name]; c.Overlay != want {
			t.Errorf("%s: overlay %v, want %v", c.Name, c.Overlay, want)
		}
		if c.Rollup && r.isRollup == "no" {
			t.Errorf("%s: a roll-up, but the reference says is_rollup=no", c.Name)
		}
	}
	for _, m := range []map[string]string{unlistedCategories, decidedParents} {
		for n := range m {
			if !served[n] {
				t.Errorf("%s is named as an exception but not served", n)
			}
		}
	}
}
