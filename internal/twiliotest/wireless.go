package twiliotest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	wirelessOrigin = "https://wireless.twilio.com"
	isoLayout      = "2006-01-02T15:04:05Z"
	bytesPerMB     = 1_000_000
)

// SIM is the ground truth for one SIM of the main account.
type SIM struct {
	SID, UniqueName, AccountSID, RatePlanSID, FriendlyName, ICCID, EID, Status string
	DateCreated, DateUpdated                                                   time.Time
}

type ratePlan struct{ sid, uniqueName string }

type sim struct {
	SIM
	callbackURL string
	ipAddress   string
	days        []simDay
	records     []byte // days, encoded, one after the other
	recordEnds  []int  // where each day's record ends in records
	// countryKey is the key its international roaming entries name their
	// country under. Twilio does not document it, so the emulator varies
	// it by SIM, seeded (RoamingCountryKeys).
	countryKey string
}

// RoamingCountryKeys are the keys an international roaming entry of the
// emulator names its country under, one per SIM, chosen by the seed:
// Twilio documents the entries' other keys, not this one.
var RoamingCountryKeys = []string{"country", "iso_country", "country_code"}

// record returns day i's encoded record.
func (sm *sim) record(i int) []byte {
	start := 0
	if i > 0 {
		start = sm.recordEnds[i-1]
	}
	return sm.records[start:sm.recordEnds[i]]
}

// commandsPart and dataPart are usage counters; billed is in 1e-5 USD.
type commandsPart struct{ fromSIM, toSIM, billed int64 }

type dataPart struct{ upload, download, billed int64 }

func (a commandsPart) add(b commandsPart) commandsPart {
	return commandsPart{a.fromSIM + b.fromSIM, a.toSIM + b.toSIM, a.billed + b.billed}
}

func (a dataPart) add(b dataPart) dataPart {
	return dataPart{a.upload + b.upload, a.download + b.download, a.billed + b.billed}
}

type roamingPart struct {
	country string
	cmd     commandsPart
	data    dataPart
}

// simDay is a SIM's usage over one period.
type simDay struct {
	start, end             time.Time
	cmdHome, cmdNational   commandsPart
	dataHome, dataNational dataPart
	international          []roamingPart // ordered by country
}

func (d simDay) add(e simDay) simDay {
	d.cmdHome = d.cmdHome.add(e.cmdHome)
	d.cmdNational = d.cmdNational.add(e.cmdNational)
	d.dataHome = d.dataHome.add(e.dataHome)
	d.dataNational = d.dataNational.add(e.dataNational)
	intl := slices.Clone(d.international)
	for _, p := range e.international {
		i := slices.IndexFunc(intl, func(q roamingPart) bool { return q.country == p.country })
		if i < 0 {
			intl = append(intl, p)
			continue
		}
		intl[i].cmd = intl[i].cmd.add(p.cmd)
		intl[i].data = intl[i].data.add(p.data)
	}
	slices.SortFunc(intl, func(a, b roamingPart) int { return strings.Compare(a.country, b.country) })
	d.international = intl
	return d
}

// roamingRates are data prices per MB, in 1e-5 USD, by ISO country code.
var roamingRates = []struct {
	country string
	rate    int64
}{
	{"BR", 70000}, {"CA", 25000}, {"DE", 50000}, {"FR", 50000}, {"GB", 50000}, {"JP", 90000}, {"MX", 25000},
}

const (
	homeDataRate    = 10000 // per MB
	homeCommandRate = 100   // per command
	roamCommandRate = 250
)

// simStatuses spreads statuses over the fleet; SIM i gets
// simStatuses[i%len(simStatuses)].
var simStatuses = []string{
	"active", "active", "canceled", "active", "deactivated", "ready", "active",
	"suspended", "active", "new", "scheduled", "active", "updating",
}

func (s *Server) generateSIMs(seed int64, n int) {
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	for i := range 3 {
		s.ratePlans = append(s.ratePlans, ratePlan{
			sid:        "WP" + hexString(rng, 32),
			uniqueName: []string{"iot-basic", "iot-roaming", "fleet-pooled"}[i],
		})
	}
	main := s.accounts[0]
	at := func(d time.Time) time.Time {
		return d.Add(time.Duration(rng.Int64N(int64(day))) / time.Second * time.Second)
	}
	var slab []byte // encoded records of SIMs are allocated from slabs
	keys := rand.New(rand.NewPCG(uint64(seed), 3))
	for i := range n {
		status := simStatuses[i%len(simStatuses)]
		var created time.Time
		if i%3 == 2 {
			created = at(s.dataStart.AddDate(0, 0, rng.IntN(max(1, s.numDays*2/3))))
		} else {
			created = at(s.dataStart.AddDate(0, 0, -10-rng.IntN(500)))
		}
		createdDay := created.Truncate(day)
		updated := at(earlier(createdDay.AddDate(0, 0, 1+rng.IntN(30)), s.today.AddDate(0, 0, -1)))
		last := s.today
		switch status {
		case "canceled", "deactivated", "suspended":
			lo := later(createdDay.AddDate(0, 0, 1), s.dataStart.AddDate(0, 0, s.numDays/4))
			if span := int(s.today.Sub(lo) / day); span > 0 {
				updated = at(lo.AddDate(0, 0, rng.IntN(span)))
			}
			last = updated.Truncate(day).AddDate(0, 0, -1)
		case "new", "ready":
			last = time.Time{} // never used
		}
		if updated.Before(created) {
			updated = created
		}
		sm := &sim{SIM: SIM{
			SID:         "DE" + hexString(rng, 32),
			UniqueName:  fmt.Sprintf("tracker-%04d", i+1),
			AccountSID:  main.SID,
			RatePlanSID: s.ratePlans[i%len(s.ratePlans)].sid,
			ICCID:       iccid(rng),
			Status:      status,
			DateCreated: created,
			DateUpdated: updated,
		}, countryKey: RoamingCountryKeys[keys.IntN(len(RoamingCountryKeys))]}
		if i%5 != 4 {
			sm.FriendlyName = fmt.Sprintf("Tracker %d", i+1)
		}
		if i%4 == 3 {
			sm.EID = "89049032" + digits(rng, 24)
		}
		if i%2 == 0 {
			sm.callbackURL = "https://iot.example.com/twilio/commands"
		}
		if status == "active" {
			sm.ipAddress = fmt.Sprintf("10.64.%d.%d", rng.IntN(256), 1+rng.IntN(254))
		}
		s.sims = append(s.sims, sm)
		s.simBySID[sm.SID] = sm

		first := later(s.dataStart, createdDay)
		r := rand.New(rand.NewPCG(uint64(seed)^0x51d, uint64(i)))
		traveller := r.Float64() < 0.3
		if nd := int(last.Sub(first)/day) + 1; nd > 0 {
			sm.days = make([]simDay, 0, nd)
			sm.recordEnds = make([]int, 0, nd)
		}
		if cap(slab)-len(slab) < simSlabReserve {
			// About 1 KB a record.
			slab = make([]byte, 0, min(simSlabSize, (n-i)*(s.numDays+1)<<10))
		}
		recs := slab[len(slab):len(slab):cap(slab)]
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			u := simUsageDay(r, traveller)
			u.start, u.end = d, d.Add(day)
			sm.days = append(sm.days, u)
			recs = appendSIMUsage(recs, sm, u)
			sm.recordEnds = append(sm.recordEnds, len(recs))
		}
		sm.records = recs[:len(recs):len(recs)]
		if len(recs) > 0 && &recs[0] == &slab[:cap(slab)][len(slab)] {
			slab = slab[:len(slab)+len(recs)] // still in the slab
		}
	}
}

// SIMs' encoded records are allocated together, up to simSlabSize bytes at
// a time. A SIM whose records outgrow the slab gets its own allocation; a new
// slab is started when less than simSlabReserve bytes remain.
const (
	simSlabSize    = 4 << 20
	simSlabReserve = 64 << 10
)

// simUsageDay draws one day of a SIM's usage.
func simUsageDay(r *rand.Rand, traveller bool) simDay {
	var u simDay
	if r.Float64() < 0.15 {
		return u // idle
	}
	download := int64(math.Exp(11.5 + 6.2*r.Float64()))
	upload := download * int64(10+r.IntN(30)) / 100
	u.dataHome = dataPart{upload: upload, download: download, billed: (upload + download) * homeDataRate / bytesPerMB}
	from, to := r.Int64N(11), r.Int64N(11)
	u.cmdHome = commandsPart{fromSIM: from, toSIM: to, billed: (from + to) * homeCommandRate}
	if r.Float64() < 0.05 {
		dl := download / int64(2+r.IntN(8))
		ul := dl / 4
		u.dataNational = dataPart{upload: ul, download: dl, billed: (ul + dl) * homeDataRate / bytesPerMB}
	}
	if traveller && r.Float64() < 0.15 {
		picked := r.Perm(len(roamingRates))[:1+r.IntN(3)]
		slices.Sort(picked) // roamingRates is ordered by country
		for _, k := range picked {
			dl := int64(math.Exp(10 + 5*r.Float64()))
			ul := dl * int64(10+r.IntN(30)) / 100
			f, t := r.Int64N(3), r.Int64N(3)
			u.international = append(u.international, roamingPart{
				country: roamingRates[k].country,
				cmd:     commandsPart{fromSIM: f, toSIM: t, billed: (f + t) * roamCommandRate},
				data:    dataPart{upload: ul, download: dl, billed: (ul + dl) * roamingRates[k].rate / bytesPerMB},
			})
		}
	}
	return u
}

// appendSIMUsage appends the encoded SIM usage record of u. Totals are the
// sum of home, national roaming and every international roaming country;
// billed amounts are JSON numbers in USD, counters integers, and the period
// ISO 8601 in UTC.
func appendSIMUsage(b []byte, sm *sim, u simDay) []byte {
	cmdTotal := u.cmdHome.add(u.cmdNational)
	dataTotal := u.dataHome.add(u.dataNational)
	for _, p := range u.international {
		cmdTotal = cmdTotal.add(p.cmd)
		dataTotal = dataTotal.add(p.data)
	}
	b = append(b, `{"account_sid":`...)
	b = appendJSONString(b, sm.AccountSID)
	b = append(b, `,"commands":`...)
	b = appendCommands(b, cmdTotal, "", "", false)
	b = append(b, `,"home":`...)
	b = appendCommands(b, u.cmdHome, "", "", true)
	b = append(b, `,"national_roaming":`...)
	b = appendCommands(b, u.cmdNational, "", "", true)
	b = append(b, `,"international_roaming":[`...)
	for i, p := range u.international {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCommands(b, p.cmd, sm.countryKey, p.country, true)
	}
	b = append(b, `]},"data":`...)
	b = appendData(b, dataTotal, "", "", false)
	b = append(b, `,"home":`...)
	b = appendData(b, u.dataHome, "", "", true)
	b = append(b, `,"national_roaming":`...)
	b = appendData(b, u.dataNational, "", "", true)
	b = append(b, `,"international_roaming":[`...)
	for i, p := range u.international {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendData(b, p.data, sm.countryKey, p.country, true)
	}
	b = append(b, `]},"sim_sid":`...)
	b = appendJSONString(b, sm.SID)
	b = append(b, `,"period":{"start":"`...)
	b = u.start.UTC().AppendFormat(b, isoLayout)
	b = append(b, `","end":"`...)
	b = u.end.UTC().AppendFormat(b, isoLayout)
	return append(b, `"}}`...)
}

// appendCommands appends the members of a commands counter (and its
// country, if any), closing the object if closed.
func appendCommands(b []byte, p commandsPart, key, country string, closed bool) []byte {
	b = append(b, `{"billing_units":"USD","billed":`...)
	b = appendBilled(b, p.billed)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, p.fromSIM+p.toSIM, 10)
	b = append(b, `,"from_sim":`...)
	b = strconv.AppendInt(b, p.fromSIM, 10)
	b = append(b, `,"to_sim":`...)
	b = strconv.AppendInt(b, p.toSIM, 10)
	return appendCountry(b, key, country, closed)
}

// appendData appends the members of a data counter (and its country, if
// any), closing the object if closed.
func appendData(b []byte, p dataPart, key, country string, closed bool) []byte {
	b = append(b, `{"billing_units":"USD","billed":`...)
	b = appendBilled(b, p.billed)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, p.upload+p.download, 10)
	b = append(b, `,"upload":`...)
	b = strconv.AppendInt(b, p.upload, 10)
	b = append(b, `,"download":`...)
	b = strconv.AppendInt(b, p.download, 10)
	b = append(b, `,"units":"bytes"`...)
	return appendCountry(b, key, country, closed)
}

func appendCountry(b []byte, key, country string, closed bool) []byte {
	if country != "" {
		b = append(b, `,"`...)
		b = append(b, key...)
		b = append(b, `":`...)
		b = appendJSONString(b, country)
	}
	if closed {
		b = append(b, '}')
	}
	return b
}

// SIMs returns the main account's SIMs in the order /v1/Sims lists them.
func (s *Server) SIMs() []SIM {
	out := make([]SIM, len(s.sims))
	for i, sm := range s.sims {
		out[i] = sm.SIM
	}
	return out
}

// SIMUsageJSON returns the exact JSON object served for each of a SIM's
// daily usage records, oldest first.
func (s *Server) SIMUsageJSON(simSID string) []json.RawMessage {
	sm := s.simBySID[simSID]
	if sm == nil {
		return nil
	}
	out := make([]json.RawMessage, len(sm.recordEnds))
	for i := range out {
		out[i] = slices.Clone(sm.record(i))
	}
	return out
}

func (s *Server) serveWireless(w http.ResponseWriter, r *http.Request, p principal) {
	path := r.URL.Path
	if path == "/v1/Sims" {
		s.listSIMs(w, r, p)
		return
	}
	rest, _ := strings.CutPrefix(path, "/v1/Sims/")
	id, sub, _ := strings.Cut(rest, "/")
	if rest == path || id == "" || (sub != "" && sub != "UsageRecords") {
		writeError(w, notFound(path))
		return
	}
	sm := s.findSIM(id)
	if sm == nil || !p.isMain {
		writeError(w, notFound(path))
		return
	}
	if sub == "" {
		writeJSON(w, http.StatusOK, s.simJSON(sm))
		return
	}
	s.listSIMUsage(w, r, sm)
}

// findSIM finds a SIM by SID or unique name.
func (s *Server) findSIM(id string) *sim {
	if sm := s.simBySID[id]; sm != nil {
		return sm
	}
	for _, sm := range s.sims {
		if sm.UniqueName == id {
			return sm
		}
	}
	return nil
}

var simStatusValues = []string{"new", "ready", "active", "suspended", "deactivated", "canceled", "scheduled", "updating"}

func (s *Server) listSIMs(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	pr, e := s.parsePage(q)
	if e != nil {
		writeError(w, e)
		return
	}
	status, iccid, plan := q.Get("Status"), q.Get("Iccid"), q.Get("RatePlan")
	if status != "" && !contains(simStatusValues, status) {
		writeError(w, invalidParam("Status", "%q is not a SIM status", status))
		return
	}
	var matched []*sim
	for _, sm := range s.sims {
		if !p.isMain ||
			(status != "" && sm.Status != status) ||
			(iccid != "" && sm.ICCID != iccid) ||
			(plan != "" && !s.ratePlanMatches(sm.RatePlanSID, plan)) {
			continue
		}
		matched = append(matched, sm)
	}
	lo, hi := pr.window(len(matched))
	items := []json.RawMessage{}
	for _, sm := range matched[lo:hi] {
		items = append(items, s.simJSON(sm))
	}
	l := s.links(wirelessOrigin+"/v1/Sims", presentParams(q, "Status", "Iccid", "RatePlan"), pr, len(matched))
	writeV1List(w, "sims", items, pr, l)
}

func (s *Server) ratePlanMatches(sid, plan string) bool {
	for _, rp := range s.ratePlans {
		if rp.sid == sid {
			return plan == rp.sid || plan == rp.uniqueName
		}
	}
	return false
}

// writeV1List writes a v1 list page: the items then meta, with absolute
// URLs.
func writeV1List(w http.ResponseWriter, key string, items []json.RawMessage, pr pageRequest, l pageLinks) {
	body := getBody()
	lw := listWriter{buf: *body, key: key, v1: true, pr: pr, l: l}
	lw.begin(len(items))
	for _, it := range items {
		lw.next()
		lw.buf = append(lw.buf, it...)
	}
	lw.end()
	*body = lw.buf
	writeBody(w, http.StatusOK, body)
}

func (s *Server) simJSON(sm *sim) json.RawMessage {
	url := wirelessOrigin + "/v1/Sims/" + sm.SID
	null := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	type links struct {
		DataSessions string `json:"data_sessions"`
		RatePlan     string `json:"rate_plan"`
		UsageRecords string `json:"usage_records"`
	}
	post := "POST"
	return marshal(struct {
		AccountSID             string  `json:"account_sid"`
		UniqueName             string  `json:"unique_name"`
		CommandsCallbackMethod string  `json:"commands_callback_method"`
		CommandsCallbackURL    *string `json:"commands_callback_url"`
		DateCreated            string  `json:"date_created"`
		DateUpdated            string  `json:"date_updated"`
		FriendlyName           *string `json:"friendly_name"`
		Links                  links   `json:"links"`
		RatePlanSID            string  `json:"rate_plan_sid"`
		SID                    string  `json:"sid"`
		ICCID                  string  `json:"iccid"`
		EID                    *string `json:"e_id"`
		Status                 string  `json:"status"`
		ResetStatus            *string `json:"reset_status"`
		SMSFallbackMethod      string  `json:"sms_fallback_method"`
		SMSFallbackURL         *string `json:"sms_fallback_url"`
		SMSMethod              string  `json:"sms_method"`
		SMSURL                 *string `json:"sms_url"`
		VoiceFallbackMethod    string  `json:"voice_fallback_method"`
		VoiceFallbackURL       *string `json:"voice_fallback_url"`
		VoiceMethod            string  `json:"voice_method"`
		VoiceURL               *string `json:"voice_url"`
		URL                    string  `json:"url"`
		IPAddress              *string `json:"ip_address"`
	}{
		AccountSID:             sm.AccountSID,
		UniqueName:             sm.UniqueName,
		CommandsCallbackMethod: post,
		CommandsCallbackURL:    null(sm.callbackURL),
		DateCreated:            sm.DateCreated.UTC().Format(isoLayout),
		DateUpdated:            sm.DateUpdated.UTC().Format(isoLayout),
		FriendlyName:           null(sm.FriendlyName),
		Links: links{
			DataSessions: url + "/DataSessions",
			RatePlan:     wirelessOrigin + "/v1/RatePlans/" + sm.RatePlanSID,
			UsageRecords: url + "/UsageRecords",
		},
		RatePlanSID:         sm.RatePlanSID,
		SID:                 sm.SID,
		ICCID:               sm.ICCID,
		EID:                 null(sm.EID),
		Status:              sm.Status,
		SMSFallbackMethod:   post,
		SMSMethod:           post,
		VoiceFallbackMethod: post,
		VoiceMethod:         post,
		URL:                 url,
		IPAddress:           null(sm.ipAddress),
	})
}

// simUsageRetentionMonths is how far back Twilio keeps SIM usage; an older Start
// is refused.
const simUsageRetentionMonths = 18

// listSIMUsage answers /v1/Sims/{Sid}/UsageRecords. A day is included when
// it overlaps [Start, End). End defaults to now, Start to one month before
// End, Granularity to "all" (one record for the whole period). Hourly
// granularity is not emulated.
func (s *Server) listSIMUsage(w http.ResponseWriter, r *http.Request, sm *sim) {
	q := r.URL.Query()
	pr, e := s.parsePage(q)
	if e != nil {
		writeError(w, e)
		return
	}
	now := s.now().UTC()
	start, end, e := periodParams(q, "Start", "End", now)
	if e != nil {
		writeError(w, e)
		return
	}
	if start.After(end) {
		writeError(w, invalidParam("Start", "Start %s is after End %s", start.Format(isoLayout), end.Format(isoLayout)))
		return
	}
	if oldest := now.AddDate(0, -simUsageRetentionMonths, 0); start.Before(oldest) {
		writeError(w, invalidParam("Start", "%s is more than %d months ago; usage is retained for %d months",
			start.Format(isoLayout), simUsageRetentionMonths, simUsageRetentionMonths))
		return
	}
	granularity := q.Get("Granularity")
	switch granularity {
	case "", "all", "daily":
	case "hourly":
		writeError(w, invalidParam("Granularity", "hourly is not supported by this emulator"))
		return
	default:
		writeError(w, invalidParam("Granularity", "%q is not one of hourly, daily, all", granularity))
		return
	}

	// The days overlapping [start, end).
	days := make([]int, 0, len(sm.days))
	var total simDay
	for i := range sm.days {
		u := &sm.days[i]
		if !u.start.Before(end) || !u.end.After(start) {
			continue
		}
		if granularity == "daily" {
			days = append(days, i)
		} else {
			total = total.add(*u)
			days = append(days[:0], i) // one record for the whole period
		}
	}
	lo, hi := pr.window(len(days))
	l := s.links(wirelessOrigin+"/v1/Sims/"+sm.SID+"/UsageRecords", presentParams(q, "Start", "End", "Granularity"), pr, len(days))
	body := getBody()
	lw := listWriter{key: usageKey, v1: true, pr: pr, l: l}
	if granularity == "daily" && hi > lo {
		from := 0
		if days[lo] > 0 {
			from = sm.recordEnds[days[lo]-1]
		}
		*body = slices.Grow(*body, sm.recordEnds[days[hi-1]]-from+hi-lo+1024)
	}
	lw.buf = *body
	lw.begin(hi - lo)
	for _, d := range days[lo:hi] {
		lw.next()
		if granularity == "daily" {
			lw.buf = append(lw.buf, sm.record(d)...)
		} else {
			total.start, total.end = start, end
			lw.buf = appendSIMUsage(lw.buf, sm, total)
		}
	}
	lw.end()
	*body = lw.buf
	writeBody(w, http.StatusOK, body)
}

func parseISO(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", dateLayout} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// iccid returns a 20-digit ICCID with a Luhn check digit.
func iccid(r *rand.Rand) string {
	body := "8901260" + digits(r, 12)
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + string(rune('0'+(10-sum%10)%10))
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// periodParams reads a v1 usage listing's period: its end from the
// parameter named end (default now), its start from the one named start
// (default a month before the end), each ISO 8601.
func periodParams(q url.Values, start, end string, now time.Time) (time.Time, time.Time, *apiError) {
	to := now
	if v := q.Get(end); v != "" {
		t, ok := parseISO(v)
		if !ok {
			return time.Time{}, time.Time{}, invalidParam(end, "%q is not an ISO 8601 date-time", v)
		}
		to = t
	}
	from := to.AddDate(0, -1, 0)
	if v := q.Get(start); v != "" {
		t, ok := parseISO(v)
		if !ok {
			return time.Time{}, time.Time{}, invalidParam(start, "%q is not an ISO 8601 date-time", v)
		}
		from = t
	}
	return from, to, nil
}
