package warehouse

import (
	"fmt"
	"strings"
	"text/template"
)

// Dialect renders SQL written once for DuckDB and BigQuery. A query is a
// text/template with these functions:
//
//	{{table "twilio_usage_daily"}}  the table or view, qualified and quoted
//	{{numeric}} {{string}} {{int64}}  column types: DECIMAL(38, 9) / NUMERIC, …
//	{{dayStart "d" 1}}  TIMESTAMP of midnight UTC, 1 day after DATE d
//	{{monthStart "d" 1}}  TIMESTAMP of the first of the month, 1 month after d's
//	{{argMin "x" "y"}}  aggregate: the x of the row with the smallest y (NULL y ignored)
//	{{epochMicros "t"}}  INT64 microseconds since 1970 of TIMESTAMP t
//
// Everything else must be SQL both engines read alike.
type Dialect struct {
	// BigQuery selects BigQuery's spelling; DuckDB's otherwise.
	BigQuery bool
	// Table returns the quoted, qualified reference to a table or view.
	Table func(name string) string
}

// Literal returns s as a string literal of the dialect, safe to splice
// into SQL whatever s holds.
func (d Dialect) Literal(s string) string {
	if !d.BigQuery {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// Render renders query.
func (d Dialect) Render(query string) (string, error) {
	pick := func(duck, bq string) func() string {
		return func() string {
			if d.BigQuery {
				return bq
			}
			return duck
		}
	}
	funcs := template.FuncMap{
		"table":   d.Table,
		"numeric": pick("DECIMAL(38, 9)", "NUMERIC"),
		"string":  pick("VARCHAR", "STRING"),
		"int64":   pick("BIGINT", "INT64"),
		"dayStart": func(expr string, days int) string {
			if d.BigQuery {
				return fmt.Sprintf("TIMESTAMP(DATE_ADD(%s, INTERVAL %d DAY))", expr, days)
			}
			return fmt.Sprintf("(CAST(%s AS TIMESTAMP) + INTERVAL %d DAY)", expr, days)
		},
		"argMin": func(x, y string) string {
			if d.BigQuery {
				return fmt.Sprintf("ARRAY_AGG(%s IGNORE NULLS ORDER BY %s LIMIT 1)[SAFE_OFFSET(0)]", x, y)
			}
			return fmt.Sprintf("arg_min(%s, %s)", x, y)
		},
		"epochMicros": func(expr string) string {
			if d.BigQuery {
				return "UNIX_MICROS(" + expr + ")"
			}
			return "epoch_us(" + expr + ")"
		},
		"monthStart": func(expr string, months int) string {
			if d.BigQuery {
				return fmt.Sprintf("TIMESTAMP(DATE_ADD(DATE_TRUNC(%s, MONTH), INTERVAL %d MONTH))", expr, months)
			}
			return fmt.Sprintf("(CAST(date_trunc('month', %s) AS TIMESTAMP) + INTERVAL %d MONTH)", expr, months)
		},
	}
	t, err := template.New("query").Funcs(funcs).Option("missingkey=error").Parse(query)
	if err != nil {
		return "", fmt.Errorf("parse query template: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		return "", fmt.Errorf("render query: %w", err)
	}
	return b.String(), nil
}
