package report_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/twilio-elt/twilio-elt/internal/report"
	"github.com/twilio-elt/twilio-elt/transforms"
)

var screenshot = flag.String("screenshot", "", "write a PNG of the report the browser test renders to this `file` (docs/report.png)")

// chromium finds Debian's chromium; without it the test skips, or fails
// in CI, where scripts/test.sh installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := osexec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but chromium is not installed: apt-get install -y chromium (scripts/test.sh does it when run as root)")
	}
	t.Skip("chromium is not installed: apt-get install -y chromium")
	return ""
}

// chart is what the page shows of one chart.
type chart struct {
	ID     string  `json:"id"`
	Kind   string  `json:"kind"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	Shapes int     `json:"shapes"`
}

// The report opens in a real browser with the network cut off: every
// chart draws, the console stays free of errors, nothing is fetched,
// and the headline total is verify's.
func TestReportInBrowser(t *testing.T) {
	exe := chromium(t)
	d := brokenWarehouse(t)
	ctx := context.Background()
	r, err := report.Build(ctx, d, report.Options{Days: 60, Warehouse: "twilio.duckdb", Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "twilio-report.html")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Render(f, r); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	alloc, cancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// Nothing answers there: a request that slipped past Fetch fails.
		chromedp.ProxyServer("127.0.0.1:9"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	defer cancel()
	bctx, cancel := chromedp.NewContext(alloc)
	defer cancel()

	var (
		mu       sync.Mutex
		messages []chromedp.ConsoleMessage
		fetched  []string
	)
	console := chromedp.Console(bctx)
	paused := chromedp.Events(bctx, fetch.RequestPaused)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			mu.Lock()
			messages = append(messages, m)
			mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			mu.Lock()
			fetched = append(fetched, ev.Request.URL)
			mu.Unlock()
			chromedp.Call(bctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonInternetDisconnected})
		}
	}()
	// Every request but the file itself is paused, and failed.
	if _, err := chromedp.Call(bctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "http*"}, {URLPattern: "ws*"}, {URLPattern: "data*"}}}); err != nil {
		t.Fatal(err)
	}
	var charts []chart
	var total, amount, rendered string
	err = chromedp.Do(bctx,
		chromedp.Navigate("file://"+file),
		chromedp.WaitReady("body[data-charts]"),
	)
	if err != nil {
		t.Fatal(err)
	}
	charts, err = chromedp.Run(bctx, chromedp.Evaluate[[]chart](`Array.from(document.querySelectorAll('.chart')).map((el) => {
		const s = el.querySelector('svg, canvas');
		const r = s ? s.getBoundingClientRect() : { width: 0, height: 0 };
		return { id: el.id, kind: s ? s.tagName.toLowerCase() : '', width: r.width, height: r.height,
			shapes: s ? s.querySelectorAll('path, rect, circle, text').length : 0 };
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if total, err = chromedp.Run(bctx, chromedp.Text("#total-spend")); err != nil {
		t.Fatal(err)
	}
	if amount, err = chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('total-spend').dataset.amount`)); err != nil {
		t.Fatal(err)
	}
	if rendered, err = chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.dataset.charts`)); err != nil {
		t.Fatal(err)
	}
	if *screenshot != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Every chart the page has drew, at a size a person sees.
	wantIDs := []string{"chart-daily", "chart-accounts", "chart-mtd", "chart-categories", "chart-sim-daily-0", "chart-sim-top-0", "chart-sim-roaming-0",
		"chart-sim-daily-1", "chart-sim-top-1", "chart-anomaly-0", "chart-anomaly-1"}
	var ids []string
	for _, c := range charts {
		ids = append(ids, c.ID)
		if c.Kind != "svg" && c.Kind != "canvas" || c.Width < 100 || c.Height < 100 || c.Shapes < 5 {
			t.Errorf("chart %s did not render: %+v", c.ID, c)
		}
	}
	for _, id := range wantIDs {
		if !strings.Contains(strings.Join(ids, " "), id) {
			t.Errorf("chart %s is missing; the page has %v", id, ids)
		}
	}
	if rendered != fmt.Sprint(len(charts)) {
		t.Errorf("the script drew %s charts, the page has %d", rendered, len(charts))
	}

	// The headline total is verify's: Σ totalprice in twilio_reconciliation.
	sum := one(t, d, fmt.Sprintf(`SELECT SUM(totalprice) FROM twilio_reconciliation WHERE usage_date BETWEEN DATE '%s' AND DATE '%s'`,
		r.From.Format(time.DateOnly), r.To.Format(time.DateOnly)))
	n, err := transforms.ParseDecimal(sum)
	if err != nil {
		t.Fatal(err)
	}
	if want := report.FormatMoney(n); amount != want || total != want+" USD" {
		t.Errorf("headline total %q (%s), verify's Σ totalprice %s USD", total, amount, want)
	}

	chromedp.Run(bctx, chromedp.Sleep(200*time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	for _, m := range messages {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
			t.Errorf("console %s", m)
		}
	}
	if len(fetched) > 0 {
		t.Errorf("the page fetched %v; it must need no network", fetched)
	}
}
