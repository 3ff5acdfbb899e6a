package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/twilio-elt/twilio-elt/transforms"
)

// echartsVersion is the vendored chart library's version.
const echartsVersion = "6.1.0"

var (
	//go:embed assets/echarts/echarts.common.min.js
	echartsJS string
	//go:embed assets/report.js
	reportJS string
	//go:embed assets/report.css
	reportCSS string
	//go:embed assets/report.html
	reportHTML string
)

// Chart list lengths.
const (
	topAccounts   = 15
	topCategories = 20
)

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"money": FormatMoney,
	"bytes": FormatBytes,
	"day":   func(t time.Time) string { return t.Format(time.DateOnly) },
	"instant": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"share": func(part, whole decimal128.Num) string { return share(part, whole) },
	"shareBytes": func(part, whole int64) string {
		if whole == 0 {
			return "–"
		}
		return new(big.Rat).SetFrac64(part*100, whole).FloatString(1) + "%"
	},
	"add": func(a, b int) int { return a + b },
}).Parse(reportHTML))

// share is part as a percentage of whole, to one decimal.
func share(part, whole decimal128.Num) string {
	if whole.Sign() == 0 {
		return "–"
	}
	r := new(big.Rat).Quo(ratOf(part, 1), ratOf(whole, 1))
	return r.Mul(r, big.NewRat(100, 1)).FloatString(1) + "%"
}

// view is what the template renders.
type view struct {
	*Report
	EChartsJS  template.JS
	ReportJS   template.JS
	CSS        template.CSS
	Version    string
	Accounts   []Spend // top accounts + the rest
	Categories []Spend // top categories + the rest
	Others     []Money // totals in currencies other than the report's
	Charts     charts
}

// Render writes r as one self-contained HTML page.
func Render(w io.Writer, r *Report) error {
	v := view{
		Report:     r,
		EChartsJS:  template.JS(echartsJS),
		ReportJS:   template.JS(reportJS),
		CSS:        template.CSS(reportCSS),
		Version:    echartsVersion,
		Accounts:   topN(r.Accounts, topAccounts, "accounts"),
		Categories: topN(r.Categories, topCategories, "categories"),
	}
	for _, m := range r.Totals {
		if m.Currency != r.Currency {
			v.Others = append(v.Others, m)
		}
	}
	v.Charts = chartsOf(r, v.Accounts, v.Categories)
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}

// topN keeps the n largest and sums the rest into one line.
func topN(s []Spend, n int, what string) []Spend {
	if len(s) <= n {
		return s
	}
	out := append([]Spend(nil), s[:n]...)
	rest := Spend{Name: fmt.Sprintf("%d other %s", len(s)-n, what)}
	for _, x := range s[n:] {
		rest.Amount = rest.Amount.Add(x.Amount)
	}
	return append(out, rest)
}

// FormatMoney writes an exact amount with thousands separators and at
// least two decimals: 1234.5 → "1,234.50", 0.00750 → "0.0075".
func FormatMoney(n decimal128.Num) string {
	s := transforms.FormatDecimal(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) < 2 {
		frac += "0"
	}
	out := group(whole) + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}

func group(digits string) string {
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// FormatBytes writes a byte count exactly, in the largest decimal unit
// it reaches: 1234567 → "1.234567 MB".
func FormatBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	u := min((len(s)-1)/3, len(units)-1)
	whole, frac := s[:len(s)-3*u], strings.TrimRight(s[len(s)-3*u:], "0")
	out := group(whole)
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out + " " + units[u]
}
