package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// accountSID is the shape of a Twilio Account SID.
var accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)

// Columns by which a row belongs to a main account: the account it is of
// (one of the main account's fleet), and the main account that bills it
// or whose connection loaded it.
const (
	accountColumn = "account_sid"
	billingColumn = "billing_account_sid"
)

// Removal is what removing one main account's data deletes: see
// PlanRemoval.
type Removal struct {
	// Main is the main (billing) account.
	Main string
	// Accounts are its accounts in the warehouse: itself and its
	// subaccounts, sorted.
	Accounts []string
	// Connections are the main accounts whose stream states are deleted:
	// Main's, and those of its subaccounts connected on their own.
	Connections []string
	// Rows holds, per table, how many rows are deleted (tables with none
	// left out).
	Rows map[string]int64

	tables []warehouse.Table
}

// Empty reports whether r deletes nothing.
func (r Removal) Empty() bool { return len(r.Rows) == 0 && len(r.Connections) == 0 }

// PlanRemoval finds what main account main has in dest: every row of
// the loader's tables (and of extra, such as the anomaly table) whose
// account_sid is main or one of its subaccounts (its fleet: twilio_accounts'
// children of main, and the accounts whose usage main is billed for), or
// whose billing_account_sid or main_account_sid is main; and the stream
// states of main and of its subaccounts' own connections. A subaccount
// of another account is refused: its data is its parent's.
func PlanRemoval(ctx context.Context, dest Destination, main string, extra []warehouse.Table) (Removal, error) {
	if !accountSID.MatchString(main) {
		return Removal{}, fmt.Errorf("account %q is not an Account SID (AC followed by 32 hexadecimal digits)", main)
	}
	tables := slices.Concat(Tables(), extra)
	if err := dest.Setup(ctx, tables); err != nil {
		return Removal{}, err
	}
	lit := "'" + main + "'" // main matches accountSID: no quoting needed
	fleet := map[string]bool{}
	var parent string
	err := query(ctx, dest, `SELECT account_sid, parent_account_sid FROM {{table "`+connector.AccountsTable+`"}}
WHERE account_sid = `+lit+` OR parent_account_sid = `+lit+` OR `+connector.MainAccountColumn+` = `+lit+`
UNION ALL
SELECT DISTINCT account_sid, CAST(NULL AS {{string}}) FROM {{table "`+transforms.UsageDaily+`"}} WHERE billing_account_sid = `+lit,
		func(row []sql.NullString) error {
			if row[0].String == main && row[1].Valid && row[1].String != main {
				parent = row[1].String
			}
			fleet[row[0].String] = true
			return nil
		})
	if err != nil {
		return Removal{}, err
	}
	if parent != "" {
		return Removal{}, fmt.Errorf("%s is a subaccount of %s: its data belongs to that main account (remove %s to remove both)", main, parent, parent)
	}
	fleet[main] = true
	r := Removal{Main: main, Rows: map[string]int64{}, tables: tables}
	for sid := range fleet {
		r.Accounts = append(r.Accounts, sid)
	}
	slices.Sort(r.Accounts)

	in := make([]string, len(r.Accounts))
	for i, sid := range r.Accounts {
		in[i] = "'" + sid + "'"
	}
	err = query(ctx, dest, `SELECT DISTINCT account_sid FROM {{table "`+warehouse.StateTable+`"}}
WHERE account_sid IN (`+strings.Join(in, ", ")+`)`, func(row []sql.NullString) error {
		r.Connections = append(r.Connections, row[0].String)
		return nil
	})
	if err != nil {
		return Removal{}, err
	}
	slices.Sort(r.Connections)
	for _, t := range tables {
		where := r.where(t)
		if where == "" {
			continue
		}
		err := query(ctx, dest, `SELECT COUNT(*) FROM {{table "`+t.Name+`"}} WHERE `+where, func(row []sql.NullString) error {
			n, err := strconv.ParseInt(row[0].String, 10, 64)
			if err != nil {
				return fmt.Errorf("count: %w", err)
			}
			if n > 0 {
				r.Rows[t.Name] = n
			}
			return nil
		})
		if err != nil {
			return Removal{}, err
		}
	}
	return r, nil
}

// where is the SQL condition on t's rows that r deletes, "" for a table
// that holds no account's rows (the category taxonomy).
func (r Removal) where(t warehouse.Table) string {
	var or []string
	has := func(col string) bool { return len(t.Schema.FieldIndices(col)) > 0 }
	if has(accountColumn) {
		in := make([]string, len(r.Accounts))
		for i, sid := range r.Accounts {
			in[i] = "'" + sid + "'"
		}
		or = append(or, accountColumn+" IN ("+strings.Join(in, ", ")+")")
	}
	for _, col := range []string{billingColumn, connector.MainAccountColumn} {
		if has(col) {
			or = append(or, col+" = '"+r.Main+"'")
		}
	}
	return strings.Join(or, " OR ")
}

// batch is the transaction that deletes what r found.
func (r Removal) batch() warehouse.Batch {
	// Main's states go whatever Connections holds: with them the
	// unscoped ones, which would tell Main's next sync its data is in.
	b := warehouse.Batch{ForgetStates: slices.Compact(slices.Sorted(slices.Values(append([]string{r.Main}, r.Connections...))))}
	for _, t := range r.tables {
		if r.where(t) == "" {
			continue
		}
		has := func(col string) bool { return len(t.Schema.FieldIndices(col)) > 0 }
		if has(accountColumn) {
			for _, sid := range r.Accounts {
				b.Deletes = append(b.Deletes, warehouse.Delete{Table: t.Name, Column: accountColumn, Value: sid})
			}
		}
		for _, col := range []string{billingColumn, connector.MainAccountColumn} {
			if has(col) {
				b.Deletes = append(b.Deletes, warehouse.Delete{Table: t.Name, Column: col, Value: r.Main})
			}
		}
	}
	return b
}

// Remove deletes what r found, in one transaction: after it, no row and
// no stream state of r.Main's fleet is left, and every other account's
// are as they were.
func Remove(ctx context.Context, dest Destination, r Removal) error {
	if r.Main == "" {
		return errors.New("remove: no account planned")
	}
	if err := dest.Commit(ctx, r.batch()); err != nil {
		return fmt.Errorf("remove the data of %s: %w", r.Main, err)
	}
	return nil
}

// query renders q in dest's dialect and streams its rows to fn.
func query(ctx context.Context, dest Destination, q string, fn func(row []sql.NullString) error) error {
	rendered, err := dest.Dialect().Render(q)
	if err != nil {
		return err
	}
	if err := dest.QueryEach(ctx, rendered, fn); err != nil {
		return fmt.Errorf("remove: read the warehouse: %w", err)
	}
	return nil
}
