package focusvalidator

import (
	"fmt"
	"strings"
)

// Status is the outcome of one rule.
type Status int

const (
	Passed Status = iota + 1
	Failed
	Skipped
)

func (s Status) String() string {
	switch s {
	case Passed:
		return "passed"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// A Result is the outcome of one model rule.
type Result struct {
	ID      string
	Keyword string // MUST, MUST NOT, SHOULD, SHOULD NOT, RECOMMENDED, MAY
	Status  Status
	// Violations counts the rows that break a leaf rule, the offending
	// groups of a CheckDistinctCount rule, 1 for a missing column, and the
	// failed referenced rules of a composite rule.
	Violations  int64
	MustSatisfy string
	// Reason says why a rule was skipped, or which error or referenced
	// rules made it fail.
	Reason string
}

// Mandatory reports whether the rule's keyword is MUST or MUST NOT.
func (r Result) Mandatory() bool { return r.Keyword == "MUST" || r.Keyword == "MUST NOT" }

// A Report holds the outcome of every rule in the model, ordered by ID.
type Report struct {
	Model    string // rule file version, "1.2"
	Relation string
	Criteria []string
	Results  []Result
}

// Failed returns the failed MUST and MUST NOT rules.
func (r Report) Failed() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status == Failed && res.Mandatory() {
			out = append(out, res)
		}
	}
	return out
}

// Count returns how many rules ended with status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// String summarizes the report and lists every failed rule with its
// MustSatisfy text and violation count.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FOCUS %s rules on %s (criteria %s): %d passed, %d failed, %d skipped",
		r.Model, r.Relation, strings.Join(r.Criteria, ","), r.Count(Passed), r.Count(Failed), r.Count(Skipped))
	for _, res := range r.Results {
		if res.Status != Failed {
			continue
		}
		fmt.Fprintf(&b, "\n  %s [%s] %d violation(s): %s", res.ID, res.Keyword, res.Violations, res.MustSatisfy)
		if res.Reason != "" {
			fmt.Fprintf(&b, " (%s)", res.Reason)
		}
	}
	return b.String()
}
