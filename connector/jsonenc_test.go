package connector

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/transforms"
)

func FuzzUsageRecordJSONMatchesMarshal(f *testing.F) {
	f.Add("AC1", "sms", "SMS <all> & \"more\"", "2026-11-01", "12", "-0.00750", "usd", true)
	f.Add("AC\u00e9", "calls\n", "", "", "", "498.84515", "", false)
	f.Add("AC1", "/2010-04-01/x.json?Category=sms&StartDate=2026-11-01", "a<b>&c", "2026-11-01", "0", "0", "usd", false)
	f.Fuzz(func(t *testing.T, sid, category, desc, date, count, price, unit string, withTimes bool) {
		rec := usageRecord{AccountSID: sid, Category: category, StartDate: date}
		if desc != "" {
			rec.Description, rec.EndDate, rec.PriceUnit = &desc, &date, &unit
		}
		if d, err := twilio.DecimalOf(count); err == nil {
			rec.Count, rec.Usage = transforms.Number(d.String()), transforms.Number(d.String())
		}
		if d, err := twilio.DecimalOf(price); err == nil {
			rec.Price = transforms.Number(d.String())
		}
		if withTimes {
			at := time.Date(2026, 11, 24, 3, 0, 0, 123, time.UTC)
			rec.AsOf = &at
		}
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.appendJSON(nil); string(got) != string(want) {
			t.Errorf("appendJSON:\n got %s\nwant %s", got, want)
		}
	})
}
