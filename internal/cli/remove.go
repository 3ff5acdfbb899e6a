package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/twilio-elt/twilio-elt/internal/pipeline"
	"github.com/twilio-elt/twilio-elt/internal/report"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// runRemove: twilio-elt remove.
func runRemove(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("remove")
	account := fs.String("account", "", "main account `SID` (AC…) whose data to delete: its own and its subaccounts'")
	df := addDestFlags(fs, "twilio.duckdb", false)
	yes := fs.Bool("yes", false, "do not ask for confirmation (for scripts; required when stdin is not a terminal)")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	if *account == "" {
		usageError(sys.Stderr, "remove", "--account is required")
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt remove: %s\n", oneLine(err))
		return 1
	}
	if !*yes && !isTerminal(sys.Stdin) {
		return fail(errors.New("refusing to delete without confirmation: stdin is not a terminal; pass --yes to remove in a script"))
	}
	od, err := df.openExisting(ctx, sys.Stderr)
	if err != nil {
		return fail(err)
	}
	defer od.close()
	plan, err := pipeline.PlanRemoval(ctx, od.dest, *account, []warehouse.Table{report.AnomalyTable})
	if err != nil {
		return fail(err)
	}
	if plan.Empty() {
		return fail(fmt.Errorf("%s has no data in %s", *account, od.display))
	}
	writePlan(sys.Stdout, plan, od.display)
	if !*yes && !confirm(sys.Stdin, sys.Stderr, "Delete all of it, in one transaction? This cannot be undone. [y/N] ") {
		fmt.Fprintln(sys.Stderr, "twilio-elt remove: nothing deleted")
		return 1
	}
	if err := pipeline.Remove(ctx, od.dest, plan); err != nil {
		return fail(err)
	}
	fmt.Fprintf(sys.Stdout, "removed %s from %s\n", plan.Main, od.display)
	if od.rawDir != "" {
		fmt.Fprintf(sys.Stdout, "note: the raw archive %s still holds its records; `load --from-raw` would load them again\n", od.rawDir)
	}
	return 0
}

// writePlan says what removing plan deletes.
func writePlan(w io.Writer, plan pipeline.Removal, where string) {
	fmt.Fprintf(w, "%s in %s: %d account(s): %s\n", plan.Main, where, len(plan.Accounts), strings.Join(plan.Accounts, ", "))
	for _, table := range slices.Sorted(maps.Keys(plan.Rows)) {
		fmt.Fprintf(w, "  %-32s %d rows\n", table, plan.Rows[table])
	}
	if len(plan.Connections) > 0 {
		fmt.Fprintf(w, "  %-32s the sync state of %s\n", warehouse.StateTable, strings.Join(plan.Connections, ", "))
	}
}

// confirm asks question on w and reports whether the answer read from r
// is yes.
func confirm(r io.Reader, w io.Writer, question string) bool {
	fmt.Fprint(w, question)
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(w)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
