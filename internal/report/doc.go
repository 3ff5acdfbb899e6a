// Package report shows where Twilio money goes and says when it runs
// away: a self-contained HTML cost report (Build reads every figure,
// Render writes the page) and cost anomalies (Refresh stores them in
// twilio_cost_anomalies, Read selects them for `twilio-elt alerts`).
//
// Everything is read from the cost tables — twilio_cost_daily,
// twilio_reconciliation, twilio_usage_daily (freshness), the SIM tables
// and twilio_accounts — through Querier, the two methods DuckDB and
// BigQuery both offer, so the report and alerts work on either. Money
// stays exact: sums come from the warehouse as decimal text, are added
// as decimal128 at scale 9, and every number a person reads is printed
// from them; charts get floats only to draw bars and lines.
//
// # The page
//
// One HTML file that opens from disk with no network: its CSS, its
// script and the chart library are inlined, and html/template escapes
// every name that comes from the data. The chart library is Apache
// ECharts, vendored from npm at a pinned version with its licenses
// (assets/echarts). ECharts because one file of ~700 kB (its "common"
// build) has everything the report draws — stacked bars, horizontal
// bars, lines, a pie, pins marking anomalies, tooltips, a zoomable time
// axis — with no dependencies and an SVG renderer; Vega-Lite needs
// three libraries and a compiler at run time, Observable Plot needs d3
// and draws static charts, and uPlot draws time series only.
//
// # Anomalies
//
// Per account, service group and currency, the usage-based cost of a
// day (twilio_cost_daily rows with charge_frequency Usage-Based, so
// monthly rentals and one-time fees, which land on one day by design,
// do not count; and without unattributed cost, which has no service) is
// compared with the 28 days before it, a missing day counting as 0:
//
//	baseline = median of the 28 days
//	MAD      = median of |day − baseline| over them
//	spread   = max(1.4826 × MAD, 10% of baseline, 1 currency unit)
//	excess   = cost − baseline
//	score    = excess ÷ spread
//
// A day is an anomaly when its score is at least 10 and its excess at
// least 10 currency units (the floor: cent-level noise never alerts).
// Severity is the lower of what the score earns (10 low, 20 medium, 40
// high) and what the money earns (10 low, 100 medium, 1000 high). Only
// rises are anomalies. The median and MAD resist the outliers they look
// for (a spike does not raise its own baseline, nor the next days'
// much); 1.4826 × MAD estimates the standard deviation of normal noise,
// so a score reads like a z-score. The threshold is 10 rather than the
// 3.5 usual for normal data because daily cost is heavy-tailed (volume
// times mix): on quiet emulator data (20 subaccounts × 120 days, three
// seeds) no score exceeded 7, while bursts such as SMS pumping score in
// the tens to hundreds. A day needs 14 days of history before it is
// scored. The anomaly names the category behind at least half of the
// excess, when one is. All of it is exact: medians of scale-9 decimals
// are sums of two of them, halved, and comparisons use big.Rat.
package report
