package report

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// Querier runs SQL on a warehouse, DuckDB or BigQuery: what the report
// and alerts need to read.
type Querier interface {
	Dialect() warehouse.Dialect
	// QueryStrings returns the rows of a rendered query as text, NULL as
	// "NULL".
	QueryStrings(ctx context.Context, query string) ([][]string, error)
}

// Warehouse is a Querier that can also create and replace tables: what
// Refresh needs to store anomalies.
type Warehouse interface {
	Querier
	Setup(ctx context.Context, tables []warehouse.Table) error
	Commit(ctx context.Context, b warehouse.Batch) error
}

// query renders tmpl for q's dialect and runs it; what names the
// operation in errors.
func query(ctx context.Context, q Querier, what, tmpl string) ([][]string, error) {
	sql, err := q.Dialect().Render(tmpl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	rows, err := q.QueryStrings(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return rows, nil
}

// dateLit is a DATE literal both engines read.
func dateLit(t time.Time) string { return "DATE '" + t.Format(time.DateOnly) + "'" }

// sidLit is the string literal of a SID, which callers have checked
// against sidPattern: it holds no quote or backslash, which DuckDB and
// BigQuery escape differently.
func sidLit(sid string) string {
	if strings.ContainsAny(sid, `'\`) {
		panic("report: unchecked SID " + sid)
	}
	return "'" + sid + "'"
}

// parseDay reads a DATE as the warehouse renders it.
func parseDay(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", s, err)
	}
	return t, nil
}

// parseTime reads a TIMESTAMP as DuckDB ("2026-11-24 03:15:00.123+00")
// or BigQuery ("2026-11-24 03:15:00.123+00") renders it.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: not a time", s)
}

// parseMoney reads a DECIMAL as exact scale-9 decimal; NULL is 0.
func parseMoney(s string) (decimal128.Num, error) {
	if s == "NULL" || s == "" {
		return decimal128.Num{}, nil
	}
	n, err := transforms.ParseDecimal(s)
	if err != nil {
		return n, fmt.Errorf("decimal %q: %w", s, err)
	}
	return n, nil
}

// parseInt reads an INT64; NULL is 0.
func parseInt(s string) (int64, error) {
	if s == "NULL" || s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("integer %q: %w", s, err)
	}
	return n, nil
}

// nullable returns "" for NULL.
func nullable(s string) string {
	if s == "NULL" {
		return ""
	}
	return s
}
