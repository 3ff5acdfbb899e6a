package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ReadOnly is a DuckDB file opened for queries only: DuckDB refuses every
// write to it, and the query can reach nothing outside it (no COPY TO, no
// ATTACH of another file, no reading files, no extension downloads).
type ReadOnly struct {
	path string
	db   *sql.DB
	conn *duckdb.Connector
}

// OpenReadOnly opens the existing DuckDB file at path for reading only.
func OpenReadOnly(ctx context.Context, path string) (*ReadOnly, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no DuckDB warehouse at %s: %w", path, err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not a DuckDB file", path)
	}
	c, err := duckdb.NewConnector(path+"?access_mode=read_only", func(execer driver.ExecerContext) error {
		for _, q := range []string{"SET TimeZone = 'UTC'", "SET enable_external_access = false", "SET lock_configuration = true"} {
			if _, err := execer.ExecContext(ctx, q, nil); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("open duckdb %s: another process is writing it (a sync or load?); query it when that is done: %w", path, err)
		}
		return nil, fmt.Errorf("open duckdb %s: %w", path, err)
	}
	db := sql.OpenDB(c)
	// One connection: the configuration is locked once set, so a second
	// connection's setup would fail.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		c.Close()
		return nil, fmt.Errorf("open duckdb %s: %w", path, err)
	}
	return &ReadOnly{path: path, db: db, conn: c}, nil
}

// Close closes the database.
func (r *ReadOnly) Close() error {
	if err := errors.Join(r.db.Close(), r.conn.Close()); err != nil {
		return fmt.Errorf("close duckdb %s: %w", r.path, err)
	}
	return nil
}

// Column is a column of a query's result.
type Column struct {
	Name string
	Type string // DuckDB's type name: DECIMAL(38,9), DATE, VARCHAR, …
}

// Kind is what JSON value a Value is.
type Kind int

const (
	KindNull   Kind = iota
	KindString      // a JSON string
	KindNumber      // a JSON number: Text is its exact decimal text
	KindBool        // true or false
	KindJSON        // a list, struct or map: Text is its JSON
)

// Value is one cell of a result as exact text.
type Value struct {
	Text string // "" for NULL
	Kind Kind
}

// JSON returns the value as a JSON value.
func (v Value) JSON() json.RawMessage {
	switch v.Kind {
	case KindNull:
		return json.RawMessage("null")
	case KindNumber, KindBool, KindJSON:
		return json.RawMessage(v.Text)
	}
	b, _ := json.Marshal(v.Text)
	return b
}

// Result is the rows of a query, read one at a time.
type Result struct {
	Columns []Column
	rows    *sql.Rows
	vals    []any
}

// Query runs one SQL statement. The caller must Close the result.
func (r *ReadOnly) Query(ctx context.Context, query string) (*Result, error) {
	rows, err := r.db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("query duckdb %s: %w", r.path, err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		return nil, fmt.Errorf("query duckdb %s: %w", r.path, err)
	}
	res := &Result{rows: rows, vals: make([]any, len(types))}
	for _, t := range types {
		res.Columns = append(res.Columns, Column{Name: t.Name(), Type: t.DatabaseTypeName()})
	}
	return res, nil
}

// Next advances to the next row; false at the end or on an error (Err).
func (res *Result) Next() bool { return res.rows.Next() }

// Err is the error that ended Next, if any.
func (res *Result) Err() error { return res.rows.Err() }

// Close releases the result.
func (res *Result) Close() error { return res.rows.Close() }

// Row returns the current row.
func (res *Result) Row() ([]Value, error) {
	ptrs := make([]any, len(res.vals))
	for i := range res.vals {
		ptrs[i] = &res.vals[i]
	}
	if err := res.rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]Value, len(res.vals))
	for i, v := range res.vals {
		out[i] = valueOf(v, res.Columns[i].Type)
	}
	return out, nil
}

// valueOf renders what the driver scanned as exact text.
func valueOf(v any, typ string) Value {
	switch v := v.(type) {
	case nil:
		return Value{Kind: KindNull}
	case bool:
		return Value{Text: strconv.FormatBool(v), Kind: KindBool}
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, uint:
		return Value{Text: fmt.Sprint(v), Kind: KindNumber}
	case *big.Int:
		return Value{Text: v.String(), Kind: KindNumber}
	case float32:
		return floatValue(float64(v), 32)
	case float64:
		return floatValue(v, 64)
	case duckdb.Decimal:
		return Value{Text: decimalText(v), Kind: KindNumber}
	case string:
		return Value{Text: v, Kind: KindString}
	case []byte:
		if typ == "UUID" && len(v) == 16 {
			var u duckdb.UUID
			copy(u[:], v)
			return Value{Text: u.String(), Kind: KindString}
		}
		if utf8.Valid(v) {
			return Value{Text: string(v), Kind: KindString}
		}
		return Value{Text: `\x` + hex.EncodeToString(v), Kind: KindString}
	case time.Time:
		return Value{Text: timeText(v, typ), Kind: KindString}
	case duckdb.Interval:
		return Value{Text: fmt.Sprintf("%d months %d days %d microseconds", v.Months, v.Days, v.Micros), Kind: KindString}
	case []any, map[string]any, duckdb.Map, duckdb.Union:
		b, err := json.Marshal(jsonable(v))
		if err != nil {
			return Value{Text: fmt.Sprint(v), Kind: KindString}
		}
		return Value{Text: string(b), Kind: KindJSON}
	}
	return Value{Text: fmt.Sprint(v), Kind: KindString}
}

func floatValue(f float64, bits int) Value {
	s := strconv.FormatFloat(f, 'g', -1, bits)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{Text: s, Kind: KindString}
	}
	return Value{Text: s, Kind: KindNumber}
}

// decimalText is d with every digit of its scale: 12.340000000 for a
// DECIMAL(38,9), as DuckDB prints it.
func decimalText(d duckdb.Decimal) string {
	digits := new(big.Int).Abs(d.Value).String()
	scale := int(d.Scale)
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	s := digits
	if scale > 0 {
		s = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if d.Value.Sign() < 0 {
		s = "-" + s
	}
	return s
}

func timeText(t time.Time, typ string) string {
	switch {
	case typ == "DATE":
		return t.Format(time.DateOnly)
	case strings.HasPrefix(typ, "TIME") && !strings.HasPrefix(typ, "TIMESTAMP"):
		return t.Format("15:04:05.999999")
	case strings.Contains(typ, "WITH TIME ZONE") || typ == "TIMESTAMPTZ":
		return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
	}
	return t.Format("2006-01-02 15:04:05.999999")
}

// jsonable turns nested driver values into what encoding/json writes
// exactly: decimals as numbers with every digit.
func jsonable(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonable(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonable(e)
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case duckdb.Union:
		return map[string]any{v.Tag: jsonable(v.Value)}
	case duckdb.Decimal:
		return json.Number(decimalText(v))
	case *big.Int:
		return json.Number(v.String())
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
		return `\x` + hex.EncodeToString(v)
	}
	return v
}
