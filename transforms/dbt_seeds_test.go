package transforms

import (
	"bytes"
	"encoding/csv"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The dbt package (dbt/) computes cost in SQL for usage other tools land
// (twilio_cost_source: usage_records). It must not need the loader's
// taxonomy tables, so it ships the taxonomy as seeds generated here from
// this package: the rows the loader writes into twilio_usage_categories and
// twilio_usage_category_ancestors, and, for categories the table does not
// know, the rules ClassifyCategory applies, as data the SQL looks up.
// go test ./transforms -run TestDbtSeed -update rewrites them.

var update = flag.Bool("update", false, "rewrite the dbt package's seeds (dbt/seeds/*.csv) from the taxonomy")

const seedDir = "dbt/seeds"

// dbtSeeds returns each seed's rows, header first.
func dbtSeeds() map[string][][]string {
	cats := [][]string{{"category", "parent", "is_rollup", "is_overlay", "is_known", "hierarchy", "service_group",
		"service_name", "service_category", "service_subcategory", "charge_frequency", "description"}}
	ancestors := [][]string{{"category", "ancestor", "distance"}}
	for _, c := range Categories() {
		cats = append(cats, []string{c.Name, c.Parent, strconv.FormatBool(c.Rollup), strconv.FormatBool(c.Overlay),
			strconv.FormatBool(c.Known), c.Hierarchy, c.ServiceGroup, c.ServiceName, c.ServiceCategory,
			c.ServiceSubcategory, c.ChargeFrequency, c.Description})
		for d, a := range Ancestors(c) {
			ancestors = append(ancestors, []string{c.Name, a, strconv.Itoa(d + 1)})
		}
	}
	return map[string][][]string{
		"twilio_elt__usage_categories":   cats,
		"twilio_elt__category_ancestors": ancestors,
		"twilio_elt__focus_services":     focusServiceSeed(),
		"twilio_elt__charge_frequencies": chargeFrequencySeed(),
	}
}

// focusServicePrefixes are the name prefixes focusService gives a service
// of its own within a service group. (Its third exception, the category
// named exactly "transcriptions", is in the table: an unknown category is
// never named so.) TestDbtSeedRulesPlaceLikeClassifyCategory checks this list against
// focusService.
var focusServicePrefixes = [][2]string{{"Voice", "trunking"}, {"Voice", "voice-intelligence"}}

// focusServiceSeed: the FOCUS service of a category the table does not
// know is the row of its service group with the longest name_prefix
// (possibly "") that starts its name; a group without a row has Other's.
func focusServiceSeed() [][]string {
	rows := [][]string{{"service_group", "name_prefix", "service_name", "service_category", "service_subcategory"}}
	for _, g := range slices.Sorted(maps.Keys(focusServices)) {
		s := focusServices[g]
		rows = append(rows, []string{g, "", s[0], s[1], s[2]})
	}
	for _, p := range focusServicePrefixes {
		s := focusService(p[1], p[0])
		rows = append(rows, []string{p[0], p[1], s[0], s[1], s[2]})
	}
	return rows
}

// chargeFrequencyRules are what chargeFrequency looks for in a name that
// is not in the table, in its order: One-Time before Recurring. (Its
// exact names, phonenumbers and the short-code rentals, are in the
// table.) TestDbtSeedRulesPlaceLikeClassifyCategory checks the list against chargeFrequency.
var chargeFrequencyRules = []struct{ match, pattern string }{
	{"contains", "onetime"}, {"contains", "setup"}, {"contains", "brandregistration"},
	{"contains", "campaignregistration"}, {"contains", "campaignvetting"}, {"contains", "-bv"},
	{"contains", "monthly"}, {"contains", "monthy"}, {"contains", "-mrc"}, {"contains", "campaigncharges"},
	{"prefix", "phonenumbers-local"}, {"prefix", "phonenumbers-mobile"}, {"prefix", "phonenumbers-tollfree"},
	{"contains", ""},
}

// chargeFrequencySeed: the charge frequency of a category the table does
// not know is that of the matching rule with the lowest priority; the
// last rule (contains "") matches every name.
func chargeFrequencySeed() [][]string {
	rows := [][]string{{"match", "pattern", "charge_frequency", "priority"}}
	for i, r := range chargeFrequencyRules {
		example := "x-" + r.pattern + "-x"
		if r.match == "prefix" {
			example = r.pattern + "-x"
		}
		rows = append(rows, []string{r.match, r.pattern, chargeFrequency(example), strconv.Itoa(i + 1)})
	}
	return rows
}

func TestDbtSeedsAreCurrent(t *testing.T) {
	for name, rows := range dbtSeeds() {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		if err := w.WriteAll(rows); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(seedDir, name+".csv")
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./transforms -run TestDbtSeed -update writes it)", err)
		}
		if !bytes.Equal(got, b.Bytes()) {
			t.Errorf("%s is not what the taxonomy gives: run go test ./transforms -run TestDbtSeed -update", path)
		}
	}
	entries, err := os.ReadDir(seedDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".csv"); ok && dbtSeeds()[name] == nil {
			t.Errorf("%s/%s is no seed this test generates", seedDir, e.Name())
		}
	}
}

// The rules the seeds give the dbt package's SQL for a category the table
// does not know — its parent, service group, FOCUS service and charge
// frequency, looked up as the SQL looks them up — place it where
// ClassifyCategory does, for a name extending each category of the table
// and each rule's pattern.
func TestDbtSeedRulesPlaceLikeClassifyCategory(t *testing.T) {
	seeds := dbtSeeds()
	var probes []string
	for _, c := range Categories() {
		probes = append(probes, c.Name+"-zz", c.Name+"zz-x")
	}
	for _, r := range chargeFrequencyRules {
		probes = append(probes, "zz-"+r.pattern+"-zz", r.pattern+"zz", r.pattern+"-zz")
	}
	for _, p := range focusServicePrefixes {
		probes = append(probes, p[1]+"zz", p[1]+"-zz", "calls-"+p[1]+"-zz")
	}
	var checked int
	for _, name := range probes {
		if _, known := LookupCategory(name); known {
			continue
		}
		checked++
		want := ClassifyCategory(name)
		got := seedClassify(seeds, name)
		if got != want {
			t.Errorf("%s: the seeds' rules give\n%+v\nClassifyCategory\n%+v", name, got, want)
		}
	}
	if checked < 1000 {
		t.Errorf("only %d probes are unknown categories", checked)
	}
}

// seedClassify places an unknown category as the dbt package's SQL does
// (models/staging/stg_twilio__usage_categories.sql), from the seeds.
func seedClassify(seeds map[string][][]string, name string) Category {
	c := Category{Name: name, Parent: TotalCategory, Hierarchy: HierarchyPrefix, ServiceGroup: OtherGroup}
	var parentLen, groupLen int
	for _, r := range seeds["twilio_elt__usage_categories"][1:] {
		known, rollup, overlay, group := r[0], r[2] == "true", r[3] == "true", r[6]
		if known == TotalCategory || !strings.HasPrefix(name, known+"-") {
			continue
		}
		if len(known) > groupLen {
			groupLen, c.ServiceGroup = len(known), group
		}
		if rollup && !overlay && len(known) > parentLen {
			parentLen, c.Parent = len(known), known
		}
	}
	// The service group's row with the longest name_prefix that starts
	// the name, else Other's row.
	var svc []string
	best := -1
	for _, r := range seeds["twilio_elt__focus_services"][1:] {
		if r[0] == c.ServiceGroup && strings.HasPrefix(name, r[1]) && len(r[1]) > best {
			best, svc = len(r[1]), r
		}
	}
	for _, r := range seeds["twilio_elt__focus_services"][1:] {
		if svc == nil && r[0] == OtherGroup && r[1] == "" {
			svc = r
		}
	}
	c.ServiceName, c.ServiceCategory, c.ServiceSubcategory = svc[2], svc[3], svc[4]
	priority := -1
	for _, r := range seeds["twilio_elt__charge_frequencies"][1:] {
		p, _ := strconv.Atoi(r[3])
		match := strings.Contains(name, r[1])
		if r[0] == "prefix" {
			match = strings.HasPrefix(name, r[1])
		}
		if match && (priority < 0 || p < priority) {
			priority, c.ChargeFrequency = p, r[2]
		}
	}
	return c
}
