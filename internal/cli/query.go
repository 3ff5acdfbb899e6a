package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/twilio-elt/twilio-elt/internal/warehouse/duckdb"
)

// runQuery: twilio-elt query. It opens the DuckDB file read-only, so a
// query can look at everything and change nothing.
func runQuery(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("query")
	path := fs.String("path", "twilio.duckdb", "DuckDB database `file` (opened read-only)")
	asCSV := fs.Bool("csv", false, "print CSV with a header line (NULL as an empty field)")
	asJSON := fs.Bool("json", false, "print JSON Lines: one object per row, money as exact JSON numbers")
	// Flags may come after the SQL too; "--" ends them.
	var sqlArgs []string
	rest, afterDash := args, []string(nil)
	if i := slices.Index(args, "--"); i >= 0 {
		rest, afterDash = args[:i], args[i+1:]
	}
	for {
		if code, done := parseFlags(fs, rest, sys, len(rest)); done {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		sqlArgs = append(sqlArgs, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	sqlArgs = append(sqlArgs, afterDash...)
	if *asCSV && *asJSON {
		usageError(sys.Stderr, "query", "give --csv or --json, not both")
		return 2
	}
	query := strings.TrimSpace(strings.Join(sqlArgs, " "))
	if query == "" && sys.Stdin != nil && !isTerminal(sys.Stdin) {
		b, err := io.ReadAll(sys.Stdin)
		if err != nil {
			fmt.Fprintf(sys.Stderr, "twilio-elt query: read SQL from stdin: %v\n", err)
			return 1
		}
		query = strings.TrimSpace(string(b))
	}
	if query == "" {
		usageError(sys.Stderr, "query", "no SQL given: put it after the flags, in quotes, or on stdin")
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt query: %s\n", oneLine(err))
		return 1
	}
	db, err := duckdb.OpenReadOnly(ctx, *path)
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	res, err := db.Query(ctx, query)
	if err != nil {
		return fail(err)
	}
	defer res.Close()
	var write func(*duckdb.Result, io.Writer) error
	switch {
	case *asCSV:
		write = writeCSV
	case *asJSON:
		write = writeJSONLines
	default:
		write = writeTable
	}
	if err := write(res, sys.Stdout); err != nil {
		return fail(err)
	}
	return 0
}

// rows calls fn with every row of res.
func rows(res *duckdb.Result, fn func([]duckdb.Value) error) error {
	for res.Next() {
		row, err := res.Row()
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return res.Err()
}

func writeCSV(res *duckdb.Result, w io.Writer) error {
	cw := csv.NewWriter(w)
	header := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		header[i] = c.Name
	}
	cw.Write(header)
	err := rows(res, func(row []duckdb.Value) error {
		rec := make([]string, len(row))
		for i, v := range row {
			rec[i] = v.Text
		}
		return cw.Write(rec)
	})
	cw.Flush()
	return errors.Join(err, cw.Error())
}

func writeJSONLines(res *duckdb.Result, w io.Writer) error {
	keys := make([][]byte, len(res.Columns))
	for i, c := range res.Columns {
		keys[i] = jsonString(c.Name)
	}
	var line bytes.Buffer
	return rows(res, func(row []duckdb.Value) error {
		line.Reset()
		line.WriteByte('{')
		for i, v := range row {
			if i > 0 {
				line.WriteByte(',')
			}
			line.Write(keys[i])
			line.WriteByte(':')
			line.Write(v.JSON())
		}
		line.WriteString("}\n")
		_, err := w.Write(line.Bytes())
		return err
	})
}

func jsonString(s string) []byte {
	return duckdb.Value{Text: s, Kind: duckdb.KindString}.JSON()
}

// writeTable prints an aligned table, numbers right-aligned, and the row
// count. It holds every row to size the columns: use --csv or --json for
// large results.
func writeTable(res *duckdb.Result, w io.Writer) error {
	cols := res.Columns
	width := make([]int, len(cols))
	numeric := make([]bool, len(cols))
	for i, c := range cols {
		width[i] = utf8.RuneCountInString(c.Name)
		numeric[i] = true
	}
	var all [][]duckdb.Value
	err := rows(res, func(row []duckdb.Value) error {
		for i, v := range row {
			width[i] = max(width[i], utf8.RuneCountInString(cellText(v)))
			if v.Kind != duckdb.KindNumber && v.Kind != duckdb.KindNull {
				numeric[i] = false
			}
		}
		all = append(all, row)
		return nil
	})
	if err != nil {
		return err
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch {
			case numeric[i]:
				b.WriteString(pad + c)
			case i == len(cells)-1:
				b.WriteString(c)
			default:
				b.WriteString(c + pad)
			}
		}
		b.WriteString("\n")
	}
	header := make([]string, len(cols))
	rule := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.Name
		rule[i] = strings.Repeat("-", width[i])
	}
	line(header)
	line(rule)
	for _, row := range all {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = cellText(v)
		}
		line(cells)
	}
	if len(all) == 1 {
		b.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(&b, "(%d rows)\n", len(all))
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// cellText is a value as the table shows it: NULL spelled out, a line
// break as \n so a row stays one line.
func cellText(v duckdb.Value) string {
	if v.Kind == duckdb.KindNull {
		return "NULL"
	}
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(v.Text)
}
