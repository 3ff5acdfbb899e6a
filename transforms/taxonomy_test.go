package transforms

import (
	"strings"
	"testing"
)

func TestTaxonomyIsATreeUnderTotalprice(t *testing.T) {
	cats := Categories()
	if len(cats) != 643 {
		t.Fatalf("%d categories, want the reference's 643", len(cats))
	}
	for _, c := range cats {
		if c.Name == TotalCategory {
			if c.Parent != "" || !c.Rollup {
				t.Errorf("totalprice: parent %q rollup %v", c.Parent, c.Rollup)
			}
			continue
		}
		anc := Ancestors(c)
		if len(anc) == 0 || anc[len(anc)-1] != TotalCategory {
			t.Errorf("%s: ancestors %v do not end at totalprice", c.Name, anc)
		}
		p, ok := LookupCategory(c.Parent)
		if !ok {
			t.Errorf("%s: parent %q is not a category", c.Name, c.Parent)
		} else if !p.Rollup && !c.Overlay {
			t.Errorf("%s: parent %s is not a roll-up", c.Name, p.Name)
		}
		if c.Hierarchy == "" || c.ServiceGroup == "" || c.ServiceName == "" {
			t.Errorf("%s: incomplete %+v", c.Name, c)
		}
	}
}

// The traps of the reference NOTES hold in the compiled table.
func TestTaxonomyTraps(t *testing.T) {
	for _, tc := range []struct {
		name, parent   string
		rollup, overly bool
		hierarchy      string
	}{
		{"sms-outbound", "sms", true, false, HierarchyDocumented},
		{"sms-outbound-longcode", "sms-outbound", false, false, HierarchyDocumented},
		{"calls-outbound", "calls", false, false, HierarchyDocumented}, // its only child is an overlay
		{"authy-calls-outbound", "calls-outbound", false, true, HierarchyDocumented},
		{"authy-sms-outbound", "sms-outbound", false, true, HierarchyDocumented},
		{"channels", "totalprice", true, true, HierarchyInferred},
		{"channels-whatsapp", "channels", true, false, HierarchyInferred},
		{"calls-sip", "totalprice", true, false, HierarchyDocumented},
		{"calls-recordings", "recordings", false, false, HierarchyDocumented},
		{"a2p-registration-fees", "totalprice", true, false, HierarchyAssumed},
		{"a2p-10dlc-registrationfees-onetime", "a2p-registration-fees", true, false, HierarchyAssumed},
		{"a2p-10dlc-registrationfees-campaignvetting", "a2p-10dlc-registrationfees-onetime", false, false, HierarchyAssumed},
		{"text-to-speech", "totalprice", false, false, HierarchyAssumed},
		{"sms-messages-carrierfees", "totalprice", false, false, HierarchyAssumed},
		{"functions-rollup", "totalprice", false, false, HierarchyAssumed},
		{"text-to-speech", "totalprice", false, false, HierarchyAssumed},
	} {
		c, ok := LookupCategory(tc.name)
		if !ok {
			t.Errorf("%s missing", tc.name)
			continue
		}
		if c.Parent != tc.parent || c.Rollup != tc.rollup || c.Overlay != tc.overly || c.Hierarchy != tc.hierarchy {
			t.Errorf("%s = parent %q rollup %v overlay %v %s; want %q %v %v %s", tc.name,
				c.Parent, c.Rollup, c.Overlay, c.Hierarchy, tc.parent, tc.rollup, tc.overly, tc.hierarchy)
		}
	}
}

func TestClassifyUnknownCategories(t *testing.T) {
	for _, tc := range []struct{ name, parent, group string }{
		{"wireless-usage-data-antarctica", "wireless-usage-data", "Wireless/IoT"},
		{"sms-outbound-rcs-fallback", "sms-outbound", "Messaging"},
		// wireless-data-quota1 is a leaf-less string prefix, not a parent.
		{"wireless-data-quota1x-foo", "wireless-data", "Wireless/IoT"},
		{"voice-ai-agent-minutes", "totalprice", "Other"},
		// channels is never summed, so it is never a parent either.
		{"channels-rcs", "totalprice", "Messaging"},
	} {
		c := ClassifyCategory(tc.name)
		if c.Known || c.Hierarchy != HierarchyPrefix || c.Rollup || c.Parent != tc.parent || c.ServiceGroup != tc.group {
			t.Errorf("ClassifyCategory(%s) = %+v; want parent %s, group %s, an unknown leaf", tc.name, c, tc.parent, tc.group)
		}
	}
	if c := ClassifyCategory("sms-outbound"); !c.Known || c.Hierarchy != HierarchyDocumented {
		t.Errorf("ClassifyCategory(sms-outbound) = %+v, want the shipped entry", c)
	}
}

// Every ServiceName maps to one FOCUS ServiceCategory, and every
// subcategory belongs to its category (FOCUS 1.2's list).
func TestFocusServices(t *testing.T) {
	parents := map[string]string{}
	for _, c := range append(Categories(), ClassifyCategory("voice-ai-agent-minutes")) {
		if p, ok := parents[c.ServiceName]; ok && p != c.ServiceCategory {
			t.Errorf("ServiceName %s has categories %s and %s", c.ServiceName, p, c.ServiceCategory)
		}
		parents[c.ServiceName] = c.ServiceCategory
		if !strings.HasPrefix(c.ServiceSubcategory, "Other (") && !validSubcategory[c.ServiceSubcategory+"|"+c.ServiceCategory] {
			t.Errorf("%s: subcategory %q is not one of %q's", c.Name, c.ServiceSubcategory, c.ServiceCategory)
		}
		if strings.HasPrefix(c.ServiceSubcategory, "Other (") && c.ServiceSubcategory != "Other ("+c.ServiceCategory+")" {
			t.Errorf("%s: subcategory %q under %q", c.Name, c.ServiceSubcategory, c.ServiceCategory)
		}
	}
}

var validSubcategory = map[string]bool{
	"Messaging|Integration": true, "Identity and Access Management|Identity": true, "Media Streaming|Media": true,
	"Object Storage|Storage": true, "Developer Platforms|Developer Tools": true, "Network Connectivity|Networking": true,
	"Natural Language Processing|AI and Machine Learning": true,
}

func TestChargeFrequency(t *testing.T) {
	for name, want := range map[string]string{
		"phonenumbers-local": Recurring, "shortcodes-vanity": Recurring, "authy-monthly-fees": Recurring,
		"a2p-10dlc-registrationfees-campaigncharges": Recurring, "wireless-usage-mrc-individual": Recurring,
		"a2p-10dlc-registrationfees-brandregistration": OneTime, "shortcodes-setup-fees": OneTime,
		"sms-outbound-longcode": UsageBased, "shortcodes-messages-outbound-longcode": UsageBased, "calls": UsageBased,
	} {
		if got := chargeFrequency(name); got != want {
			t.Errorf("chargeFrequency(%s) = %s, want %s", name, got, want)
		}
	}
}
