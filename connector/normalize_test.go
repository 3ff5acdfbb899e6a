package connector_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/transforms"
)

const (
	mainSID = "AC00000000000000000000000000000001"
	subSID  = "AC00000000000000000000000000000002"
	simSID  = "DE00000000000000000000000000000001"
)

// rows renders a batch as text, one row per slice, _loaded_at left out.
func rows(t *testing.T, rec arrow.RecordBatch) [][]string {
	t.Helper()
	var out [][]string
	if rec == nil {
		return nil
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		var row []string
		for c := 0; c < int(rec.NumCols())-1; c++ {
			col := rec.Column(c)
			if col.IsNull(i) {
				row = append(row, "NULL")
				continue
			}
			if d, ok := col.(*array.Decimal128); ok {
				row = append(row, transforms.FormatDecimal(d.Value(i)))
				continue
			}
			row = append(row, col.ValueStr(i))
		}
		out = append(out, row)
	}
	return out
}

var loadedAt = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

func TestUsageRows(t *testing.T) {
	n := transforms.NewNormalizer(transforms.Options{})
	defer n.Release()
	add := func(stream, data string) transforms.GroupKey {
		t.Helper()
		k, err := normalize(n, stream, []byte(data))
		if err != nil {
			t.Fatalf("Add(%s): %v", data, err)
		}
		return k
	}
	add(connector.Accounts, `{"sid":"`+mainSID+`","friendly_name":"Main","display_name":"Main Co","status":"active","type":"Full","owner_account_sid":"`+mainSID+`","date_created":"2020-01-02T03:04:05Z","date_updated":null,"is_main":true}`)
	add(connector.Accounts, `{"sid":"`+subSID+`","friendly_name":"Sub","status":"active","owner_account_sid":"`+mainSID+`","is_main":false}`)
	k := add(connector.UsageRecords, `{"account_sid":"`+subSID+`","category":"sms","description":"SMS","start_date":"2026-01-05","end_date":"2026-01-05","count":12,"count_unit":"messages","usage":12,"usage_unit":"messages","price":-0.00750,"price_unit":"usd","as_of":"2026-01-06T00:00:00Z"}`)
	zero := add(connector.UsageRecords, `{"account_sid":"`+subSID+`","category":"calls","start_date":"2026-01-05","count":"0","usage":0,"price":"0.00","price_unit":"USD"}`)
	add(connector.UsageRecords, `{"account_sid":"AC00000000000000000000000000000009","category":"totalprice","start_date":"2026-01-06","count":null,"usage":"","price":"123456789.123456789","price_unit":"EUR"}`)

	want := transforms.GroupKey{Stream: connector.UsageRecords, SID: subSID, Day: arrow.Date32FromTime(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)), Item: "sms"}
	wantZero := want
	wantZero.Item = "calls"
	if k != want || zero != wantZero {
		t.Errorf("group keys %v, %v; want %v, %v", k, zero, want, wantZero)
	}
	if n.Rows() != 4 {
		t.Errorf("Rows() = %d, want 4 (zero row dropped)", n.Rows())
	}
	got := flush(t, n)
	wantAccounts := [][]string{
		{mainSID, "NULL", "Main", "Main Co", "active", "Full", "true", "2020-01-02T03:04:05Z", "NULL", mainSID},
		{subSID, mainSID, "Sub", "NULL", "active", "NULL", "false", "NULL", "NULL", mainSID},
	}
	if diff := cmp.Diff(wantAccounts, rows(t, got["twilio_accounts"])); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	wantUsage := [][]string{
		{"2026-01-05", subSID, mainSID, "sms", "SMS", "12", "messages", "12", "messages", "-0.0075", "USD", "2026-01-06T00:00:00Z"},
		{"2026-01-06", "AC00000000000000000000000000000009", "NULL", "totalprice", "NULL", "NULL", "NULL", "NULL", "NULL", "123456789.123456789", "EUR", "NULL"},
	}
	if diff := cmp.Diff(wantUsage, rows(t, got[transforms.UsageDaily])); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
	for name, rec := range got {
		if !rec.Schema().Equal(mustTable(t, name).Schema) {
			t.Errorf("%s batch schema %s differs from the table's", name, rec.Schema())
		}
		loaded := rec.Column(int(rec.NumCols()) - 1).(interface{ Value(int) arrow.Timestamp })
		if loaded.Value(0) != arrow.Timestamp(loadedAt.UnixMicro()) {
			t.Errorf("%s _loaded_at = %v", name, loaded.Value(0))
		}
		rec.Release()
	}
	if n.Rows() != 0 || len(flush(t, n)) != 0 {
		t.Error("Flush did not empty the normalizer")
	}
}

func flush(t *testing.T, n *transforms.Normalizer) map[string]arrow.RecordBatch {
	t.Helper()
	got, err := n.Flush(loadedAt)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A record whose primary key an earlier record of the batch has
// supersedes it: the last one wins, a zero usage record removes the row,
// and a SIM's day takes its roaming rows with it.
func TestLaterRecordSupersedesEarlier(t *testing.T) {
	n := transforms.NewNormalizer(transforms.Options{})
	defer n.Release()
	usage := func(category, price string) string {
		return `{"account_sid":"` + subSID + `","category":"` + category + `","start_date":"2026-01-05","count":1,"usage":1,"price":` + price + `,"price_unit":"USD"}`
	}
	sim := func(country string, total int) string {
		return fmt.Sprintf(`{"sim_sid":"DE01","account_sid":"%s","period_start":"2026-01-05T00:00:00Z","data":{"total":%d,"billing_units":"USD","billed":"0.5","international_roaming":[{"country":%q,"total":%d,"billed":"0.5"}]}}`, subSID, total, country, total)
	}
	for _, r := range []struct{ stream, data string }{
		{connector.UsageRecords, usage("sms", "1")},
		{connector.UsageRecords, usage("calls", "2")},
		{connector.UsageRecords, usage("sms", "3")}, // supersedes sms 1
		{connector.UsageRecords, strings.Replace(strings.Replace(usage("calls", "0"), `"count":1`, `"count":0`, 1), `"usage":1`, `"usage":0`, 1)}, // a zero: calls is gone
		{connector.SIMUsageRecords, sim("FR", 10)},
		{connector.SIMUsageRecords, sim("DE", 20)}, // supersedes the FR day
		{connector.Accounts, `{"sid":"` + subSID + `","friendly_name":"Old"}`},
		{connector.Accounts, `{"sid":"` + subSID + `","friendly_name":"New"}`},
	} {
		if _, err := normalize(n, r.stream, []byte(r.data)); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Superseded(); got != 4 {
		t.Errorf("Superseded() = %d, want 4", got)
	}
	got := flush(t, n)
	for table, want := range map[string][]string{
		transforms.UsageDaily:      {"sms 3"},
		"twilio_sim_usage_daily":   {"DE01 20"},
		"twilio_sim_usage_roaming": {"DE01 DE"},
		"twilio_accounts":          {subSID + " New"},
	} {
		var have []string
		for _, r := range rows(t, got[table]) {
			switch table {
			case transforms.UsageDaily:
				have = append(have, r[3]+" "+r[9])
			case "twilio_sim_usage_daily":
				have = append(have, r[1]+" "+r[5])
			case "twilio_sim_usage_roaming":
				have = append(have, r[1]+" "+r[2])
			case "twilio_accounts":
				have = append(have, r[0]+" "+r[2])
			}
		}
		if diff := cmp.Diff(want, have); diff != "" {
			t.Errorf("%s rows (-want +got):\n%s", table, diff)
		}
	}
}

func mustTable(t *testing.T, name string) (tb struct{ Schema *arrow.Schema }) {
	t.Helper()
	for _, x := range connector.Tables() {
		if x.Name == name {
			tb.Schema = x.Schema
			return tb
		}
	}
	t.Fatalf("no table %s", name)
	return tb
}

// normalize normalizes one record of stream, as the loader does.
func normalize(n *transforms.Normalizer, stream string, data []byte) (transforms.GroupKey, error) {
	s, ok := connector.Lookup(stream)
	if !ok {
		return transforms.GroupKey{}, fmt.Errorf("no stream %s", stream)
	}
	return s.Normalize(n, data)
}

func TestKeepZeroRowsAndMainAccountFallback(t *testing.T) {
	n := transforms.NewNormalizer(transforms.Options{KeepZeroRows: true, MainAccountSID: mainSID})
	defer n.Release()
	if _, err := normalize(n, connector.UsageRecords, []byte(`{"account_sid":"`+subSID+`","category":"calls","start_date":"2026-01-05","count":0,"usage":0,"price":0,"price_unit":"USD"}`)); err != nil {
		t.Fatal(err)
	}
	got := rows(t, flush(t, n)[transforms.UsageDaily])
	want := [][]string{{"2026-01-05", subSID, mainSID, "calls", "NULL", "0", "NULL", "0", "NULL", "0", "USD", "NULL"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRecordsThatDoNotFit(t *testing.T) {
	for _, tc := range []struct {
		name, stream, data string
		mention            []string
	}{
		{"bad date", connector.UsageRecords, `{"account_sid":"` + subSID + `","category":"sms","start_date":"2026-13-45","price":1}`,
			[]string{"usage_records", "account_sid=" + subSID, "category=sms", "start_date=2026-13-45", "not a date"}},
		{"non-numeric price", connector.UsageRecords, `{"account_sid":"` + subSID + `","category":"sms","start_date":"2026-01-01","price":"abc"}`,
			[]string{"usage_records", "category=sms", "start_date=2026-01-01", "price", "not a decimal"}},
		{"price rounded", connector.UsageRecords, `{"account_sid":"` + subSID + `","category":"sms","start_date":"2026-01-01","price":0.0000000001}`,
			[]string{"category=sms", "refusing to round"}},
		{"price as object", connector.UsageRecords, `{"account_sid":"` + subSID + `","category":"sms","start_date":"2026-01-01","price":{}}`,
			[]string{"category=sms", "price"}},
		{"bad currency", connector.UsageRecords, `{"account_sid":"` + subSID + `","category":"sms","start_date":"2026-01-01","price":1,"price_unit":"dollars"}`,
			[]string{"category=sms", "ISO 4217"}},
		{"missing key", connector.UsageRecords, `{"account_sid":"` + subSID + `","start_date":"2026-01-01","price":1}`,
			[]string{"category", "missing"}},
		{"not JSON", connector.UsageRecords, `{"account_sid":`, []string{"usage_records", "decode"}},
		{"bad timestamp", connector.Accounts, `{"sid":"` + mainSID + `","date_created":"yesterday","is_main":true}`,
			[]string{"accounts", "sid=" + mainSID, "date_created"}},
		{"fractional bytes", connector.SIMUsageRecords, `{"sim_sid":"` + simSID + `","period_start":"2026-01-01T00:00:00Z","data":{"total":1.5}}`,
			[]string{"sim_usage_records", "sim_sid=" + simSID, "data.total", "whole number"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := transforms.NewNormalizer(transforms.Options{})
			defer n.Release()
			_, err := normalize(n, tc.stream, []byte(tc.data))
			var re *transforms.RecordError
			if !errors.As(err, &re) {
				t.Fatalf("Add: %v, want a *transforms.RecordError", err)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if n.Rows() != 0 {
				t.Errorf("a failed record added %d rows", n.Rows())
			}
		})
	}
}

func TestSIMUsageRows(t *testing.T) {
	n := transforms.NewNormalizer(transforms.Options{})
	defer n.Release()
	rec := `{"sim_sid":"` + simSID + `","account_sid":"` + mainSID + `","period_start":"2026-01-05T00:00:00Z","period_end":"2026-01-05T23:59:59Z",
	"commands":{"billing_units":"USD","billed":0.03,"total":3,"from_sim":1,"to_sim":2,
		"home":{"billing_units":"USD","billed":0.01,"total":1,"from_sim":1,"to_sim":0},
		"national_roaming":{"billing_units":"USD","billed":0,"total":0,"from_sim":0,"to_sim":0},
		"international_roaming":[{"billing_units":"USD","billed":0.02,"total":2,"from_sim":0,"to_sim":2,"country":"fr"}]},
	"data":{"billing_units":"USD","billed":"1.00010","total":3000,"upload":1000,"download":2000,"units":"bytes",
		"home":{"billed":0.5,"total":1000,"upload":400,"download":600},
		"national_roaming":null,
		"international_roaming":[{"billed":0.30005,"total":1500,"upload":500,"download":1000,"country":"FR"},
		                         {"billed":0.20005,"total":500,"upload":100,"download":400,"country":"DE"}]}}`
	k, err := normalize(n, connector.SIMUsageRecords, []byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := connector.Lookup(connector.SIMUsageRecords)
	groups := s.Groups(k)
	if len(groups) != 2 || groups[0].Table != "twilio_sim_usage_daily" || groups[1].Table != "twilio_sim_usage_roaming" {
		t.Errorf("groups %v, want both SIM usage tables", groups)
	}
	got := flush(t, n)
	wantDaily := [][]string{{"2026-01-05", simSID, mainSID, "USD", "bytes",
		"3000", "1000", "2000", "1.0001",
		"1000", "0.5", "NULL", "NULL", "2000", "0.5001",
		"3", "1", "2", "0.03",
		"1", "0.01", "0", "0", "2", "0.02"}}
	if diff := cmp.Diff(wantDaily, rows(t, got["twilio_sim_usage_daily"])); diff != "" {
		t.Errorf("daily (-want +got):\n%s", diff)
	}
	wantRoaming := [][]string{
		{"2026-01-05", simSID, "DE", mainSID, "USD", "500", "100", "400", "0.20005", "NULL", "NULL", "NULL", "NULL"},
		{"2026-01-05", simSID, "FR", mainSID, "USD", "1500", "500", "1000", "0.30005", "2", "0", "2", "0.02"},
	}
	if diff := cmp.Diff(wantRoaming, rows(t, got["twilio_sim_usage_roaming"])); diff != "" {
		t.Errorf("roaming (-want +got):\n%s", diff)
	}
}
