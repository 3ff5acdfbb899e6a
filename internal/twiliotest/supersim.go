package twiliotest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Super SIM API (https://supersim.twilio.com): /v1/Sims and
// /v1/UsageRecords, as Twilio documents them, with the gaps filled the
// way a client must be ready for:
//
//   - UsageRecords aggregates the usage of every SIM in the filters into
//     one record per time bucket (Granularity: day or all; hour is not
//     emulated) and, with Group, per SIM, fleet, network or country. A
//     SIM without usage in a bucket has no record. Group=sim over more
//     than 31 days is refused (error 83603).
//   - The documentation says sim_sid, fleet_sid, network_sid and
//     iso_country are null unless grouped or filtered by them; the
//     emulator also fills network_sid and iso_country (and, more rarely,
//     fleet_sid) on about a quarter of Group=sim records, which the
//     documentation neither promises nor rules out.
//   - Usage arrives late: the bytes of today, yesterday and the day before
//     grow as the clock moves (half, 85% and 97% of the day's final
//     bytes), and about half the SIM-days of today and yesterday are not
//     billed yet: data_total_billed 0 and billed_unit null.
//   - Records come newest period first, then in the order of /v1/Sims.
//   - The main account's usage records show the same data, final, in
//     the categories wireless-super-sim-data-payg-north-america (US and
//     CA networks) and -europe (the others), rolled up to
//     wireless-super-sim and wireless; a server without Super SIMs serves
//     none of these categories.

const supersimOrigin = "https://supersim.twilio.com"

// SuperSIM is the ground truth for one Super SIM of the main account.
type SuperSIM struct {
	SID, UniqueName, AccountSID, Status, FleetSID, ICCID string
	DateCreated, DateUpdated                             time.Time
}

// SuperSIMDay is the final usage of one Super SIM on one UTC day, before
// any late arrival: what a read long after the day returns.
type SuperSIMDay struct {
	SIMSID               string
	Day                  time.Time
	Upload, Download     int64
	Billed               int64 // 1e-5 USD
	NetworkSID, Country  string
	extras               bool // the record shows network and country even grouped by SIM
	fleetExtra, unbilled bool // shows fleet_sid; unbilled while recent
}

type superSIM struct {
	SuperSIM
	days []SuperSIMDay // oldest first
}

type superNetwork struct {
	sid, country string
	rate         int64 // per MB, in 1e-5 USD
}

var superSIMStatuses = []string{"active", "active", "inactive", "active", "ready", "new", "active", "scheduled"}

func (s *Server) generateSuperSIMs(seed int64, n int) {
	if n == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5e5))
	fleets := []string{"HF" + hexString(rng, 32), "HF" + hexString(rng, 32), ""}
	for _, c := range []struct {
		country string
		rate    int64
	}{{"US", 10000}, {"US", 10000}, {"CA", 10000}, {"DE", 20000}, {"FR", 20000}, {"GB", 20000}, {"IT", 20000}} {
		s.superNetworks = append(s.superNetworks, superNetwork{sid: "HW" + hexString(rng, 32), country: c.country, rate: c.rate})
	}
	main := s.accounts[0]
	for i := range n {
		status := superSIMStatuses[i%len(superSIMStatuses)]
		created := s.dataStart.AddDate(0, 0, -rng.IntN(200)).Add(time.Duration(rng.IntN(86400)) * time.Second)
		if i%5 == 3 {
			created = s.dataStart.AddDate(0, 0, rng.IntN(s.numDays)).Add(time.Duration(rng.IntN(86400)) * time.Second)
		}
		updated := earlier(created.AddDate(0, 0, 1+rng.IntN(60)), s.now().UTC().Add(-time.Hour))
		if updated.Before(created) {
			updated = created
		}
		sm := &superSIM{SuperSIM: SuperSIM{
			SID:         "HS" + hexString(rng, 32),
			AccountSID:  main.SID,
			Status:      status,
			FleetSID:    fleets[i%len(fleets)],
			ICCID:       iccid(rng),
			DateCreated: created,
			DateUpdated: updated,
		}}
		if i%4 != 2 {
			sm.UniqueName = fmt.Sprintf("sensor-%05d", i+1)
		}
		first := later(s.dataStart, created.Truncate(day))
		last := s.today
		switch status {
		case "new", "ready", "scheduled":
			last = time.Time{}
		case "inactive":
			last = updated.Truncate(day)
		}
		r := rand.New(rand.NewPCG(uint64(seed)^0x5e51d, uint64(i)))
		home := r.IntN(3)
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			if r.Float64() < 0.2 {
				continue // no usage that day: no record
			}
			net := s.superNetworks[home]
			if r.Float64() < 0.1 {
				net = s.superNetworks[r.IntN(len(s.superNetworks))]
			}
			download := int64(math.Exp(9 + 7*r.Float64()))
			upload := download * int64(5+r.IntN(40)) / 100
			sm.days = append(sm.days, SuperSIMDay{
				SIMSID: sm.SID, Day: d, Upload: upload, Download: download,
				Billed:     (upload + download) * net.rate / bytesPerMB,
				NetworkSID: net.sid, Country: net.country,
				extras:     r.IntN(4) == 0,
				fleetExtra: r.IntN(10) == 0,
				unbilled:   r.IntN(2) == 0,
			})
		}
		s.superSIMs = append(s.superSIMs, sm)
	}
	// The account's usage records show the same data, final, as a
	// category per region: a session per SIM-day, megabytes, the billed
	// amounts added up.
	s.superSIMUsage = map[time.Time]map[string]amount{}
	for _, sm := range s.superSIMs {
		for _, d := range sm.days {
			cat := "wireless-super-sim-data-payg-europe"
			if d.Country == "US" || d.Country == "CA" {
				cat = "wireless-super-sim-data-payg-north-america"
			}
			if s.superSIMUsage[d.Day] == nil {
				s.superSIMUsage[d.Day] = map[string]amount{}
			}
			s.superSIMUsage[d.Day][cat] = s.superSIMUsage[d.Day][cat].add(amount{
				count: 1, usage: (d.Upload + d.Download) * usageScale / bytesPerMB, price: d.Billed})
		}
	}
}

// SuperSIMs returns the main account's Super SIMs in the order /v1/Sims
// lists them.
func (s *Server) SuperSIMs() []SuperSIM {
	out := make([]SuperSIM, len(s.superSIMs))
	for i, sm := range s.superSIMs {
		out[i] = sm.SuperSIM
	}
	return out
}

// SuperSIMDays returns every SIM-day of final Super SIM usage, by SIM in
// list order, oldest day first.
func (s *Server) SuperSIMDays() []SuperSIMDay {
	var out []SuperSIMDay
	for _, sm := range s.superSIMs {
		out = append(out, sm.days...)
	}
	return out
}

// SuperSIMDayAt returns the usage of d as a read at now sees it: late
// bytes not yet arrived, and billing not caught up (billed false).
func SuperSIMDayAt(d SuperSIMDay, now time.Time) (upload, download, billed int64, isBilled bool) {
	age := now.Sub(d.Day.Add(day)) // since the day ended
	num := int64(100)
	switch {
	case age < 0:
		num = 50
	case age < day:
		num = 85
	case age < 2*day:
		num = 97
	}
	upload, download = d.Upload*num/100, d.Download*num/100
	if d.unbilled && age < day {
		return upload, download, 0, false
	}
	if num == 100 {
		return upload, download, d.Billed, true
	}
	total := upload + download
	return upload, download, d.Billed * total / max(1, d.Upload+d.Download), true
}

func (s *Server) serveSuperSIM(w http.ResponseWriter, r *http.Request, p principal) {
	if s.noSuperSIM {
		writeError(w, notFound(r.URL.Path))
		return
	}
	switch r.URL.Path {
	case "/v1/Sims":
		s.listSuperSIMs(w, r, p)
	case "/v1/UsageRecords":
		s.listSuperSIMUsage(w, r, p)
	default:
		writeError(w, notFound(r.URL.Path))
	}
}

var superSIMStatusValues = []string{"new", "ready", "active", "inactive", "scheduled"}

func (s *Server) listSuperSIMs(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	pr, e := s.parsePage(q)
	if e != nil {
		writeError(w, e)
		return
	}
	status, fleet, iccid := q.Get("Status"), q.Get("Fleet"), q.Get("Iccid")
	if status != "" && !contains(superSIMStatusValues, status) {
		writeError(w, invalidParam("Status", "%q is not a Super SIM status", status))
		return
	}
	var matched []*superSIM
	for _, sm := range s.superSIMs {
		if !p.isMain || (status != "" && sm.Status != status) || (fleet != "" && sm.FleetSID != fleet) || (iccid != "" && sm.ICCID != iccid) {
			continue
		}
		matched = append(matched, sm)
	}
	lo, hi := pr.window(len(matched))
	items := []json.RawMessage{}
	for _, sm := range matched[lo:hi] {
		items = append(items, superSIMJSON(sm))
	}
	l := s.links(supersimOrigin+"/v1/Sims", presentParams(q, "Status", "Fleet", "Iccid"), pr, len(matched))
	writeV1List(w, "sims", items, pr, l)
}

func superSIMJSON(sm *superSIM) json.RawMessage {
	url := supersimOrigin + "/v1/Sims/" + sm.SID
	type links struct {
		BillingPeriods string `json:"billing_periods"`
		SIMIPAddresses string `json:"sim_ip_addresses"`
	}
	return marshal(struct {
		SID         string  `json:"sid"`
		AccountSID  string  `json:"account_sid"`
		UniqueName  *string `json:"unique_name"`
		Status      string  `json:"status"`
		FleetSID    *string `json:"fleet_sid"`
		ICCID       string  `json:"iccid"`
		DateCreated string  `json:"date_created"`
		DateUpdated string  `json:"date_updated"`
		URL         string  `json:"url"`
		Links       links   `json:"links"`
	}{
		SID: sm.SID, AccountSID: sm.AccountSID, UniqueName: nullString(sm.UniqueName), Status: sm.Status,
		FleetSID: nullString(sm.FleetSID), ICCID: sm.ICCID,
		DateCreated: sm.DateCreated.UTC().Format(isoLayout), DateUpdated: sm.DateUpdated.UTC().Format(isoLayout),
		URL: url, Links: links{BillingPeriods: url + "/BillingPeriods", SIMIPAddresses: url + "/IpAddresses"},
	})
}

func nullString(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

var superGroups = []string{"sim", "fleet", "network", "isoCountry"}

// superUsage is one record being summed.
type superUsage struct {
	start, end               time.Time
	sim, fleet, net, country string
	upload, download, billed int64
	billedUnit               bool
	order                    int // first contribution's place, for a stable order
}

// listSuperSIMUsage answers /v1/UsageRecords.
func (s *Server) listSuperSIMUsage(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	pr, e := s.parsePage(q)
	if e != nil {
		writeError(w, e)
		return
	}
	now := s.now().UTC()
	start, end, e := periodParams(q, "StartTime", "EndTime", now)
	if e != nil {
		writeError(w, e)
		return
	}
	if !start.Before(end) {
		writeError(w, invalidParam("StartTime", "StartTime %s is not before EndTime %s", start.Format(isoLayout), end.Format(isoLayout)))
		return
	}
	granularity := q.Get("Granularity")
	switch granularity {
	case "", "all", "day":
	case "hour":
		writeError(w, invalidParam("Granularity", "hour is not supported by this emulator"))
		return
	default:
		writeError(w, invalidParam("Granularity", "%q is not one of hour, day, all", granularity))
		return
	}
	group := q.Get("Group")
	if group != "" && !contains(superGroups, group) {
		writeError(w, invalidParam("Group", "%q is not one of sim, fleet, network, isoCountry", group))
		return
	}
	if group == "sim" && end.Sub(start) > 31*day {
		writeError(w, &apiError{status: http.StatusBadRequest, code: 83603, message: "The maximum allowed query period is 31 days for group by sim queries"})
		return
	}
	simFilter, fleetFilter, netFilter, countryFilter := q.Get("Sim"), q.Get("Fleet"), q.Get("Network"), q.Get("IsoCountry")

	var recs []*superUsage
	index := map[superUsage]*superUsage{} // by bucket and group
	n := 0
	for _, sm := range s.superSIMs {
		if !p.isMain || (simFilter != "" && simFilter != sm.SID && simFilter != sm.UniqueName) {
			continue
		}
		for i := len(sm.days) - 1; i >= 0; i-- {
			d := sm.days[i]
			if !d.Day.Before(end) || !d.Day.Add(day).After(start) || d.Day.After(now) ||
				(fleetFilter != "" && fleetFilter != sm.FleetSID) ||
				(netFilter != "" && netFilter != d.NetworkSID) ||
				(countryFilter != "" && !strings.EqualFold(countryFilter, d.Country)) {
				continue
			}
			k := superUsage{start: start, end: end}
			if granularity == "day" {
				k.start, k.end = d.Day, d.Day.Add(day)
			}
			// A group, or a filter, names its value on the record.
			if group == "sim" || simFilter != "" {
				k.sim = sm.SID
			}
			if group == "fleet" || fleetFilter != "" {
				k.fleet = sm.FleetSID
			}
			if group == "network" || netFilter != "" {
				k.net = d.NetworkSID
			}
			if group == "isoCountry" || countryFilter != "" {
				k.country = d.Country
			}
			rec := index[k]
			if rec == nil {
				rec = &superUsage{start: k.start, end: k.end, sim: k.sim, fleet: k.fleet, net: k.net, country: k.country, order: n}
				if group == "sim" && d.extras {
					rec.net, rec.country = d.NetworkSID, d.Country
				}
				if group == "sim" && d.fleetExtra {
					rec.fleet = sm.FleetSID
				}
				index[k] = rec
				recs = append(recs, rec)
			}
			n++
			up, down, billed, isBilled := SuperSIMDayAt(d, now)
			rec.upload += up
			rec.download += down
			rec.billed += billed
			rec.billedUnit = rec.billedUnit || isBilled
		}
	}
	slices.SortStableFunc(recs, func(a, b *superUsage) int {
		if c := b.start.Compare(a.start); c != 0 {
			return c // newest first
		}
		return a.order - b.order
	})
	lo, hi := pr.window(len(recs))
	items := make([]json.RawMessage, 0, hi-lo)
	for _, rec := range recs[lo:hi] {
		items = append(items, s.superUsageJSON(rec))
	}
	l := s.links(supersimOrigin+"/v1/UsageRecords",
		presentParams(q, "Sim", "Fleet", "Network", "IsoCountry", "Group", "Granularity", "StartTime", "EndTime"), pr, len(recs))
	writeV1List(w, "usage_records", items, pr, l)
}

func (s *Server) superUsageJSON(rec *superUsage) json.RawMessage {
	b := []byte(`{"period":{"start_time":"`)
	b = rec.start.UTC().AppendFormat(b, isoLayout)
	b = append(b, `","end_time":"`...)
	b = rec.end.UTC().AppendFormat(b, isoLayout)
	b = append(b, `"},"account_sid":`...)
	b = appendJSONString(b, s.accounts[0].SID)
	b = append(b, `,"data_upload":`...)
	b = strconv.AppendInt(b, rec.upload, 10)
	b = append(b, `,"data_download":`...)
	b = strconv.AppendInt(b, rec.download, 10)
	b = append(b, `,"data_total":`...)
	b = strconv.AppendInt(b, rec.upload+rec.download, 10)
	b = append(b, `,"data_total_billed":`...)
	b = appendJSONString(b, formatBilled(rec.billed))
	b = append(b, `,"billed_unit":`...)
	if rec.billedUnit {
		b = append(b, `"USD"`...)
	} else {
		b = append(b, "null"...)
	}
	for _, f := range []struct {
		key string
		v   *string
	}{
		{"sim_sid", nullString(rec.sim)},
		{"fleet_sid", nullString(rec.fleet)},
		{"network_sid", nullString(rec.net)},
		{"iso_country", nullString(rec.country)},
	} {
		b = append(b, ',')
		b = appendJSONString(b, f.key)
		b = append(b, ':')
		b = appendJSONStringPtr(b, f.v)
	}
	return append(b, '}')
}
