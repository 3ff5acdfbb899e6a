package focusvalidator

import (
	"fmt"
	"strings"
)

// The SQL below follows focus_validator's DuckDB check generators
// (config_objects/focus_to_duckdb_converter.py). Each leaf has two forms:
// a violation predicate, true for a row that breaks the requirement, and a
// condition predicate, true for a row a Condition selects.

const (
	datetimeTypes   = `('TIMESTAMP', 'TIMESTAMP_NS', 'TIMESTAMP WITH TIME ZONE', 'DATE')`
	isoUTCPattern   = `^[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z$`
	isoUTCPatternZ  = `^[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z?$`
	numericPattern  = `^[+-]?([0-9]*[.])?[0-9]+([eE][+-]?[0-9]+)?$`
	asciiPattern    = `^[\x00-\x7F]*$`
	currencyPattern = `^[A-Z]{3}$`
)

// unitPattern is FormatUnitGenerator._generate_unit_format_regex.
var unitPattern = func() string {
	data := "b|Kb|Mb|Gb|Tb|Pb|Eb|B|KB|MB|GB|TB|PB|EB|Kib|Mib|Gib|Tib|Pib|Eib|KiB|MiB|GiB|TiB|PiB|EiB"
	singular := "Year|Month|Day|Hour|Minute|Second"
	plural := "Years|Months|Days|Hours|Minutes|Seconds"
	count := `[A-Za-z][A-Za-z0-9]*(?:\s+[A-Za-z][A-Za-z0-9]*)*`
	alts := []string{
		"^(" + data + "|" + singular + "|" + plural + "|" + count + ")$",
		"^(" + data + "|" + count + ")-(" + plural + ")$",
		"^(" + data + "|" + count + "|" + plural + ")/(" + singular + ")$",
		"^[0-9]+ (" + data + "|" + singular + "|" + plural + "|" + count + ")$",
		"^(" + data + "|" + count + "|" + plural + ")/[0-9]+ (" + plural + ")$",
	}
	for i, a := range alts {
		alts[i] = "(" + a + ")"
	}
	return strings.Join(alts, "|")
}()

// A compiler turns checks into DuckDB SQL for one relation.
type compiler struct {
	relation   string // as written in FROM
	schema     string // for information_schema lookups; "" matches any
	table      string
	currencies string // SQL list of ISO 4217 codes
}

func newCompiler(relation string) (*compiler, error) {
	codes, err := currencyCodes()
	if err != nil {
		return nil, fmt.Errorf("read currency codes: %w", err)
	}
	quoted := make([]string, len(codes))
	for i, c := range codes {
		quoted[i] = quote(c)
	}
	c := &compiler{relation: relation, table: relation, currencies: "(" + strings.Join(quoted, ", ") + ")"}
	if i := strings.LastIndexByte(relation, '.'); i >= 0 {
		c.schema, c.table = unquoteIdent(relation[:i]), relation[i+1:]
	}
	c.table = unquoteIdent(c.table)
	return c, nil
}

func unquoteIdent(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return s
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// errUnported reports a CheckFunction this package cannot evaluate where
// the rule file uses it.
type errUnported struct {
	Function string
	Where    string
}

func (e *errUnported) Error() string {
	return fmt.Sprintf("CheckFunction %q is not supported %s", e.Function, e.Where)
}

// columns returns the named column arguments as quoted identifiers.
func (c *check) columns(names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		s, err := c.str(n)
		if err != nil {
			return nil, err
		}
		out[i] = ident(s)
	}
	return out, nil
}

// rowArgs lists the arguments each row-level leaf needs.
var rowArgs = map[string][]string{
	"CheckValue":                      {"ColumnName", "Value"},
	"CheckNotValue":                   {"ColumnName", "Value"},
	"CheckSameValue":                  {"ColumnAName", "ColumnBName"},
	"CheckNotSameValue":               {"ColumnAName", "ColumnBName"},
	"CheckGreaterOrEqualThanValue":    {"ColumnName", "Value"},
	"ColumnByColumnEqualsColumnValue": {"ColumnAName", "ColumnBName", "ResultColumnName"},
	"TypeString":                      {"ColumnName"},
	"TypeDecimal":                     {"ColumnName"},
	"TypeDateTime":                    {"ColumnName"},
	"FormatNumeric":                   {"ColumnName"},
	"FormatString":                    {"ColumnName"},
	"FormatDateTime":                  {"ColumnName"},
	"FormatCurrency":                  {"ColumnName"},
	"CheckNationalCurrency":           {"ColumnName"},
	"FormatUnit":                      {"ColumnName"},
	"FormatKeyValue":                  {"ColumnName"},
}

// violation returns a predicate true for rows that break a row-level
// requirement. AND and OR are evaluated per row: a row breaks an OR when
// it breaks every item, and an AND when it breaks any item.
func (cp *compiler) violation(c *check) (string, error) {
	switch c.Function {
	case "AND", "OR":
		if len(c.Items) == 0 {
			return "", fmt.Errorf("%s needs Items", c.Function)
		}
		join := " OR "
		if c.Function == "OR" {
			join = " AND "
		}
		parts := make([]string, len(c.Items))
		for i, it := range c.Items {
			p, err := cp.violation(it)
			if err != nil {
				return "", err
			}
			parts[i] = "(" + p + ")"
		}
		return strings.Join(parts, join), nil
	}
	args, ok := rowArgs[c.Function]
	if !ok {
		return "", &errUnported{Function: c.Function, Where: "as a row-level requirement"}
	}
	if !c.has(args...) {
		return "", fmt.Errorf("%s needs arguments %v", c.Function, args)
	}
	cols, err := c.columns(columnArgs(args)...)
	if err != nil {
		return "", err
	}
	p, err := cp.leafViolation(c, cols)
	if err != nil {
		return "", err
	}
	return "COALESCE((" + p + "), FALSE)", nil
}

func columnArgs(args []string) []string {
	var cols []string
	for _, a := range args {
		if a != "Value" {
			cols = append(cols, a)
		}
	}
	return cols
}

func (cp *compiler) leafViolation(c *check, cols []string) (string, error) {
	col := cols[0]
	switch c.Function {
	case "CheckValue":
		v, null, err := c.value()
		if err != nil {
			return "", err
		}
		if null {
			return col + " IS NOT NULL", nil
		}
		return col + " != " + quote(v), nil
	case "CheckNotValue":
		v, null, err := c.value()
		if err != nil {
			return "", err
		}
		if null {
			return col + " IS NULL", nil
		}
		return "(" + col + " IS NOT NULL AND " + col + " = " + quote(v) + ")", nil
	case "CheckSameValue":
		a, b := cols[0], cols[1]
		return a + " IS NOT NULL AND " + b + " IS NOT NULL AND " + a + " <> " + b, nil
	case "CheckNotSameValue":
		a, b := cols[0], cols[1]
		return a + " IS NOT NULL AND " + b + " IS NOT NULL AND " + a + " = " + b, nil
	case "CheckGreaterOrEqualThanValue":
		v, null, err := c.value()
		if err != nil {
			return "", err
		}
		if null {
			return "", fmt.Errorf("%s: Value is null", c.Function)
		}
		return col + " IS NOT NULL AND " + col + " < " + v, nil
	case "ColumnByColumnEqualsColumnValue":
		a, b, r := cols[0], cols[1], cols[2]
		return a + " IS NOT NULL AND " + b + " IS NOT NULL AND " + r + " IS NOT NULL AND (" + a + " * " + b + ") <> " + r, nil
	case "TypeString":
		return col + " IS NOT NULL AND typeof(" + col + ") != 'VARCHAR'", nil
	case "TypeDecimal":
		return col + " IS NOT NULL AND typeof(" + col + ") NOT IN ('DECIMAL', 'DOUBLE', 'FLOAT') AND typeof(" + col + ") NOT LIKE 'DECIMAL(%'", nil
	case "TypeDateTime":
		return col + " IS NOT NULL AND typeof(" + col + ") NOT IN " + datetimeTypes +
			" AND NOT (" + col + "::TEXT ~ " + quote(isoUTCPattern) + ")", nil
	case "FormatNumeric":
		return col + " IS NOT NULL AND NOT (TRIM(" + col + "::TEXT) ~ " + quote(numericPattern) + ")", nil
	case "FormatString":
		return col + " IS NOT NULL AND NOT (" + col + "::TEXT ~ " + quote(asciiPattern) + ")", nil
	case "FormatDateTime":
		return col + " IS NOT NULL AND typeof(" + col + ") NOT IN " + datetimeTypes +
			" AND NOT (typeof(" + col + ") = 'VARCHAR' AND " + col + "::TEXT ~ " + quote(isoUTCPatternZ) +
			" AND TRY_CAST(" + col + " AS TIMESTAMP) IS NOT NULL)", nil
	case "FormatCurrency":
		return col + " IS NOT NULL AND NOT (TRIM(" + col + "::TEXT) ~ " + quote(currencyPattern) + ")", nil
	case "CheckNationalCurrency":
		return col + " IS NOT NULL AND TRIM(" + col + "::TEXT) NOT IN " + cp.currencies, nil
	case "FormatUnit":
		return col + " IS NOT NULL AND NOT regexp_matches(" + col + ", " + quote(unitPattern) + ")", nil
	case "FormatKeyValue":
		return col + " IS NOT NULL AND (TRY_CAST(" + col + " AS JSON) IS NULL OR (typeof(" + col + ") = 'VARCHAR' AND NOT json_valid(" + col + "::TEXT)))", nil
	}
	return "", &errUnported{Function: c.Function, Where: "as a row-level requirement"}
}

// condition returns the predicate for a Condition, or "" where
// focus_validator applies no filter: a Condition without a CheckFunction
// or without its required arguments, and the checks that have no
// row-level predicate (ColumnPresent, CheckDistinctCount, CheckModelRule,
// CheckDecimalValue).
func (cp *compiler) condition(c *check) (string, error) {
	if c == nil || c.Function == "" {
		return "", nil
	}
	switch c.Function {
	case "AND", "OR":
		var parts []string
		for _, it := range c.Items {
			p, err := cp.condition(it)
			if err != nil {
				return "", err
			}
			if p != "" {
				parts = append(parts, "("+p+")")
			}
		}
		if len(parts) == 0 {
			if c.Function == "AND" {
				return "TRUE", nil
			}
			return "FALSE", nil
		}
		return strings.Join(parts, " "+c.Function+" "), nil
	case "ColumnPresent", "CheckDistinctCount", "CheckModelRule", "CheckDecimalValue":
		return "", nil
	}
	args, ok := rowArgs[c.Function]
	if !ok {
		return "", &errUnported{Function: c.Function, Where: "in a Condition"}
	}
	if !c.has(args...) {
		return "", nil
	}
	cols, err := c.columns(columnArgs(args)...)
	if err != nil {
		return "", err
	}
	col := cols[0]
	switch c.Function {
	case "CheckValue":
		v, null, err := c.value()
		if err != nil {
			return "", err
		}
		if null {
			return col + " IS NULL", nil
		}
		return col + " = " + quote(v), nil
	case "CheckNotValue":
		v, null, err := c.value()
		if err != nil {
			return "", err
		}
		if null {
			return col + " IS NOT NULL", nil
		}
		return "(" + col + " IS NOT NULL AND " + col + " <> " + quote(v) + ")", nil
	case "CheckSameValue":
		a, b := cols[0], cols[1]
		return a + " IS NOT NULL AND " + b + " IS NOT NULL AND " + a + " = " + b, nil
	case "CheckNotSameValue":
		a, b := cols[0], cols[1]
		return a + " IS NOT NULL AND " + b + " IS NOT NULL AND " + a + " <> " + b, nil
	case "CheckGreaterOrEqualThanValue":
		v, null, err := c.value()
		if err != nil {
			return "", err
		}
		lit := "NULL"
		if !null {
			lit = v
			if raw := strings.TrimSpace(string(c.args["Value"])); strings.HasPrefix(raw, `"`) {
				lit = quote(v)
			}
		}
		return col + " IS NOT NULL AND " + col + " >= " + lit, nil
	case "ColumnByColumnEqualsColumnValue":
		a, b, r := cols[0], cols[1], cols[2]
		return a + " IS NOT NULL AND " + b + " IS NOT NULL AND " + r + " IS NOT NULL AND (" + a + " * " + b + ") = " + r, nil
	case "TypeString":
		return col + " IS NOT NULL AND typeof(" + col + ") = 'VARCHAR'", nil
	case "TypeDecimal":
		return col + " IS NOT NULL AND (typeof(" + col + ") IN ('DECIMAL', 'DOUBLE', 'FLOAT') OR typeof(" + col + ") LIKE 'DECIMAL(%')", nil
	case "TypeDateTime":
		return col + " IS NOT NULL AND (typeof(" + col + ") IN " + datetimeTypes +
			" OR (" + col + "::TEXT ~ " + quote(isoUTCPattern) + "))", nil
	case "FormatNumeric":
		return col + " IS NOT NULL AND (TRIM(" + col + "::TEXT) ~ " + quote(numericPattern) + ")", nil
	case "FormatString":
		return col + " IS NOT NULL AND (" + col + "::TEXT ~ " + quote(asciiPattern) + ")", nil
	case "FormatDateTime":
		return col + " IS NOT NULL AND (typeof(" + col + ") IN " + datetimeTypes +
			" OR (typeof(" + col + ") = 'VARCHAR' AND " + col + "::TEXT ~ " + quote(isoUTCPatternZ) +
			" AND TRY_CAST(" + col + " AS TIMESTAMP) IS NOT NULL))", nil
	case "FormatCurrency":
		return col + " IS NOT NULL AND (TRIM(" + col + "::TEXT) ~ " + quote(currencyPattern) + ")", nil
	case "CheckNationalCurrency":
		return col + " IS NOT NULL AND TRIM(" + col + "::TEXT) IN " + cp.currencies, nil
	case "FormatUnit":
		return col + " IS NOT NULL AND regexp_matches(" + col + ", " + quote(unitPattern) + ")", nil
	case "FormatKeyValue":
		return col + " IS NOT NULL AND (TRY_CAST(" + col + " AS JSON) IS NOT NULL OR (typeof(" + col + ") = 'VARCHAR' AND json_valid(" + col + "::TEXT)))", nil
	}
	return "", &errUnported{Function: c.Function, Where: "in a Condition"}
}
