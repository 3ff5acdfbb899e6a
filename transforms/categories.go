package transforms

import (
	_ "embed"
	"strings"
)

// usage_categories.tsv is a copy of the shared reference table of Twilio
// usage categories (../shared/reference/twilio/usage_categories.tsv and
// its NOTES): category, description, parent, is_rollup, service_group,
// evidence.
//
//go:embed usage_categories.tsv
var categoriesTSV string

// Category is what is known of a Twilio usage category.
type Category struct {
	Name         string
	Parent       string // the narrowest roll-up containing it; "" unknown
	Rollup       string // "yes", "no" or "unknown"
	ServiceGroup string // Messaging, Voice, Wireless/IoT, …
	// Overlay marks a duplicate view of usage counted in another category.
	Overlay bool
}

// Leaf reports whether summing c with other leaves cannot double count:
// it is known not to be a roll-up and is not an overlay.
func (c Category) Leaf() bool { return c.Rollup == "no" && !c.Overlay }

var categories = func() map[string]Category {
	out := map[string]Category{}
	for i, line := range strings.Split(strings.TrimSpace(categoriesTSV), "\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 6 {
			continue
		}
		parentClaim, _, _ := strings.Cut(f[5], "||")
		out[f[0]] = Category{Name: f[0], Parent: f[2], Rollup: f[3], ServiceGroup: f[4], Overlay: strings.Contains(parentClaim, "OVERLAY")}
	}
	return out
}()

// LookupCategory returns what is known of the category called name.
func LookupCategory(name string) (Category, bool) {
	c, ok := categories[name]
	return c, ok
}

// TotalCategory is the category whose price is an account's whole bill.
const TotalCategory = "totalprice"
