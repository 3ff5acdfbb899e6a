package transforms

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// usage_categories.tsv is a copy of the shared reference table of Twilio
// usage categories (../shared/reference/twilio/usage_categories.tsv and
// its NOTES): category, description, parent, is_rollup, service_group,
// evidence. The taxonomy below is compiled from it plus the decisions in
// assumedParents and overlayRollups.
//
//go:embed usage_categories.tsv
var categoriesTSV string

// TotalCategory is the category whose price is an account's whole bill.
const TotalCategory = "totalprice"

// OtherGroup is the service group of what fits no other.
const OtherGroup = "Other"

// Where a category's place in the hierarchy comes from.
const (
	HierarchyDocumented = "documented" // Twilio's usage-record docs
	HierarchyInferred   = "inferred"   // the X-qualifier ⊂ X naming pattern
	HierarchyAssumed    = "assumed"    // the reference says unknown; decided here
	HierarchyPrefix     = "prefix"     // not in the shipped table: placed by ClassifyCategory
)

// FOCUS ChargeFrequency values.
const (
	UsageBased = "Usage-Based"
	Recurring  = "Recurring"
	OneTime    = "One-Time"
)

// Category is a Twilio usage category and its place in the cost model.
type Category struct {
	Name   string
	Parent string // the narrowest roll-up containing it; "" only for totalprice
	// Rollup: other categories have it as their parent.
	Rollup bool
	// Overlay: a duplicate view of usage counted in another category. It
	// is never summed, and the sums of its children skip it.
	Overlay bool
	// Known: in the shipped table (false: placed by ClassifyCategory).
	Known        bool
	Hierarchy    string
	ServiceGroup string
	// The FOCUS 1.2 service of the category. Each ServiceName has one
	// ServiceCategory; each ServiceSubcategory belongs to its category.
	ServiceName        string
	ServiceCategory    string
	ServiceSubcategory string
	ChargeFrequency    string
	Description        string
}

// assumedParents settles parents the reference leaves unknown, from the
// data the reference cites: third-party Usage Records show
// a2p-10dlc-registrationfees-onetime equal to brand registration plus
// campaign vetting. These links are HierarchyAssumed, and `verify`
// reports, per link, whether the loaded data supports it.
//
// Every other category whose reference parent is unknown is placed
// directly under totalprice (HierarchyAssumed). A category whose roll-up
// status the reference calls unknown is a leaf unless listed categories
// name it as parent: if it does contain others, the day's attributed cost
// exceeds totalprice, and `verify` fails on that day (over_total).
var assumedParents = map[string]string{
	"a2p-10dlc-registrationfees-onetime":              "a2p-registration-fees",
	"a2p-10dlc-registrationfees-monthly":              "a2p-registration-fees",
	"a2p-10dlc-registrationfees-brandregistration":    "a2p-10dlc-registrationfees-onetime",
	"a2p-10dlc-registrationfees-bv":                   "a2p-10dlc-registrationfees-onetime",
	"a2p-10dlc-registrationfees-campaignvetting":      "a2p-10dlc-registrationfees-onetime",
	"a2p-10dlc-registrationfees-campaignregistration": "a2p-10dlc-registrationfees-onetime",
	"a2p-10dlc-registrationfees-campaigncharges":      "a2p-10dlc-registrationfees-monthly",
}

// overlayRollups are roll-ups whose total repeats categories outside
// their listed children: third-party data shows `channels` totalling
// sms, mms and A2P fees as well, so it is never summed (its children,
// channels-whatsapp and channels-messaging, are).
var overlayRollups = map[string]bool{"channels": true}

// focusServices maps a service group to its FOCUS service. The mapping
// follows ../shared/reference/focus/NOTES.md §5.
var focusServices = map[string][3]string{
	"Messaging":            {"Programmable Messaging", "Integration", "Messaging"},
	"Conversations":        {"Conversations", "Integration", "Messaging"},
	"Voice":                {"Programmable Voice", "Integration", "Other (Integration)"},
	"Phone Numbers":        {"Phone Numbers", "Networking", "Other (Networking)"},
	"Verify & Identity":    {"Verify", "Identity", "Identity and Access Management"},
	"Lookups":              {"Lookup", "Identity", "Other (Identity)"},
	"Video":                {"Programmable Video", "Media", "Media Streaming"},
	"Wireless/IoT":         {"Wireless", "Internet of Things", "Other (Internet of Things)"},
	"Flex":                 {"Flex", "Business Applications", "Other (Business Applications)"},
	"Recordings & Storage": {"Recordings and Storage", "Storage", "Object Storage"},
	"Platform":             {"Twilio Platform", "Developer Tools", "Developer Platforms"},
	"Marketplace":          {"Marketplace Add-ons", "Other", "Other (Other)"},
	OtherGroup:             {"Twilio Other", "Other", "Other (Other)"},
}

// Services that are split out of their group to keep one FOCUS category
// per ServiceName: SIP trunking is network connectivity, transcription
// and voice intelligence are language processing.
var (
	trunkingService     = [3]string{"Elastic SIP Trunking", "Networking", "Network Connectivity"}
	intelligenceService = [3]string{"Voice Intelligence", "AI and Machine Learning", "Natural Language Processing"}
)

func focusService(name, group string) [3]string {
	switch {
	case group == "Voice" && strings.HasPrefix(name, "trunking"):
		return trunkingService
	case group == "Voice" && (strings.HasPrefix(name, "voice-intelligence") || name == "transcriptions"):
		return intelligenceService
	}
	if s, ok := focusServices[group]; ok {
		return s
	}
	return focusServices[OtherGroup]
}

// chargeFrequency tells recurring fees (number and short-code rentals,
// monthly fees and plans) and one-time fees (setup, registration,
// vetting) from usage.
func chargeFrequency(name string) string {
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(name, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("onetime", "setup", "brandregistration", "campaignregistration", "campaignvetting", "-bv"):
		return OneTime
	case has("monthly", "monthy", "-mrc", "campaigncharges"),
		name == "phonenumbers" || strings.HasPrefix(name, "phonenumbers-local") ||
			strings.HasPrefix(name, "phonenumbers-mobile") || strings.HasPrefix(name, "phonenumbers-tollfree"),
		slices.Contains([]string{"shortcodes", "shortcodes-customerowned", "shortcodes-random", "shortcodes-uk", "shortcodes-vanity"}, name):
		return Recurring
	}
	return UsageBased
}

type taxonomy struct {
	byName map[string]Category
	order  []string // the reference's order
}

var loadTaxonomy = sync.OnceValue(func() *taxonomy {
	t := &taxonomy{byName: map[string]Category{}}
	children := map[string]int{}
	for i, line := range strings.Split(strings.TrimSpace(categoriesTSV), "\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			panic(fmt.Sprintf("transforms: usage_categories.tsv line %d has %d fields, want 6", i+1, len(f)))
		}
		parentClaim, _, _ := strings.Cut(f[5], "||")
		c := Category{
			Name:         f[0],
			Description:  f[1],
			Parent:       f[2],
			Known:        true,
			Overlay:      strings.Contains(parentClaim, "OVERLAY") || overlayRollups[f[0]],
			ServiceGroup: f[4],
		}
		switch {
		case c.Name == TotalCategory:
			c.Hierarchy, c.ServiceGroup = HierarchyDocumented, OtherGroup
		case assumedParents[c.Name] != "":
			c.Parent, c.Hierarchy = assumedParents[c.Name], HierarchyAssumed
		case c.Parent == "":
			c.Parent, c.Hierarchy = TotalCategory, HierarchyAssumed
		case strings.Contains(parentClaim, "twilio.com/docs") && !strings.HasPrefix(parentClaim, "name prefix"):
			c.Hierarchy = HierarchyDocumented
		case strings.Contains(parentClaim, "name prefix"):
			c.Hierarchy = HierarchyInferred
		default:
			c.Hierarchy = HierarchyAssumed
		}
		s := focusService(c.Name, c.ServiceGroup)
		c.ServiceName, c.ServiceCategory, c.ServiceSubcategory = s[0], s[1], s[2]
		c.ChargeFrequency = chargeFrequency(c.Name)
		t.byName[c.Name] = c
		t.order = append(t.order, c.Name)
		if !c.Overlay || overlayRollups[c.Name] {
			children[c.Parent]++
		}
	}
	for name, c := range t.byName {
		c.Rollup = children[name] > 0
		t.byName[name] = c
	}
	return t
})

// Categories returns the shipped taxonomy, in the reference's order.
func Categories() []Category {
	t := loadTaxonomy()
	out := make([]Category, len(t.order))
	for i, name := range t.order {
		out[i] = t.byName[name]
	}
	return out
}

// LookupCategory returns the shipped entry of the category called name.
func LookupCategory(name string) (Category, bool) {
	c, ok := loadTaxonomy().byName[name]
	return c, ok
}

// ClassifyCategory returns the entry of any category: the shipped one, or,
// for a category the table does not know (Twilio adds them often and no
// longer publishes a list), a leaf placed by prefix: its parent is the
// longest summed roll-up R with name prefix R + "-" (never a bare
// prefix: wireless-data-quota1 is not inside wireless-data-quota10-x),
// else totalprice; its service group is that of the longest listed
// category it extends, else Other.
func ClassifyCategory(name string) Category {
	t := loadTaxonomy()
	if c, ok := t.byName[name]; ok {
		return c
	}
	c := Category{Name: name, Parent: TotalCategory, Hierarchy: HierarchyPrefix, ServiceGroup: OtherGroup}
	var parentLen, groupLen int
	for i := strings.IndexByte(name, '-'); i > 0; i = next(name, i) {
		p, ok := t.byName[name[:i]]
		if !ok || p.Name == TotalCategory {
			continue
		}
		if i > groupLen {
			groupLen, c.ServiceGroup = i, p.ServiceGroup
		}
		if p.Rollup && !p.Overlay && i > parentLen {
			parentLen, c.Parent = i, p.Name
		}
	}
	s := focusService(name, c.ServiceGroup)
	c.ServiceName, c.ServiceCategory, c.ServiceSubcategory = s[0], s[1], s[2]
	c.ChargeFrequency = chargeFrequency(name)
	return c
}

// next returns the index of the '-' after the one at i, or -1.
func next(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '-')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// Ancestors returns c's ancestors, nearest first, ending at totalprice.
func Ancestors(c Category) []string {
	var out []string
	for p := c.Parent; p != ""; {
		out = append(out, p)
		if len(out) > 16 {
			panic("transforms: usage category cycle at " + c.Name)
		}
		pc, ok := LookupCategory(p)
		if !ok {
			panic("transforms: usage category " + c.Name + " has unknown ancestor " + p)
		}
		p = pc.Parent
	}
	return out
}
