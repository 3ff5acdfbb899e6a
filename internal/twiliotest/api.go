package twiliotest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	apiPrefix   = "/2010-04-01"
	rfc2822     = "Mon, 02 Jan 2006 15:04:05 -0700"
	asOfLayout  = "2006-01-02T15:04:05+00:00"
	accountsKey = "accounts"
	usageKey    = "usage_records"
)

// writeList writes a 2010-04-01 list page of items, each already encoded.
func writeList(w http.ResponseWriter, key string, items []json.RawMessage, pr pageRequest, l pageLinks) {
	body := getBody()
	lw := listWriter{buf: *body, key: key, pr: pr, l: l}
	lw.begin(len(items))
	for _, it := range items {
		lw.next()
		lw.buf = append(lw.buf, it...)
	}
	lw.end()
	*body = lw.buf
	writeBody(w, http.StatusOK, body)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, p principal) {
	path := r.URL.Path
	if path == apiPrefix+"/Accounts.json" {
		s.listAccounts(w, r, p)
		return
	}
	rest, ok := strings.CutPrefix(path, apiPrefix+"/Accounts/")
	if !ok {
		writeError(w, notFound(path))
		return
	}
	sid, sub, _ := strings.Cut(rest, "/")
	if sub == "" {
		sid, ok = strings.CutSuffix(sid, ".json")
		if !ok {
			writeError(w, notFound(path))
			return
		}
	}
	var usage func(http.ResponseWriter, *http.Request, *account)
	switch sub {
	case "":
	case "Usage/Records/Daily.json":
		usage = s.listDaily
	case "Usage/Records/Today.json":
		usage = s.listToday
	case "Usage/Records.json":
		usage = s.listAllTime
	default:
		writeError(w, notFound(path))
		return
	}
	if sub == "" && p.standardKey {
		writeError(w, errAuthenticate)
		return
	}
	a := s.accountBySID[sid]
	if a == nil {
		writeError(w, notFound(path))
		return
	}
	if !p.canSee(a) {
		writeError(w, errAuthenticate)
		return
	}
	if sub == "" {
		writeJSON(w, http.StatusOK, s.accountJSON(a))
		return
	}
	if a.UsageForbidden {
		writeError(w, notFound(path))
		return
	}
	usage(w, r, a)
}

var accountStatuses = []string{"active", "suspended", "closed"}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request, p principal) {
	if p.standardKey {
		writeError(w, errAuthenticate)
		return
	}
	q := r.URL.Query()
	pr, e := s.parsePage(q)
	if e != nil {
		writeError(w, e)
		return
	}
	status := q.Get("Status")
	if status != "" && !contains(accountStatuses, status) {
		writeError(w, invalidParam("Status", "%q is not one of active, suspended, closed", status))
		return
	}
	var matched []*account
	for _, a := range s.accounts {
		if !p.canSee(a) ||
			(status != "" && a.Status != status) ||
			(q.Has("FriendlyName") && a.FriendlyName != q.Get("FriendlyName")) {
			continue
		}
		matched = append(matched, a)
	}
	lo, hi := pr.window(len(matched))
	var items []json.RawMessage
	for _, a := range matched[lo:hi] {
		items = append(items, s.accountJSON(a))
	}
	l := s.links(apiPrefix+"/Accounts.json", presentParams(q, "FriendlyName", "Status"), pr, len(matched))
	writeList(w, accountsKey, items, pr, l)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

type accountSubresources struct {
	AvailablePhoneNumbers string `json:"available_phone_numbers"`
	Calls                 string `json:"calls"`
	Conferences           string `json:"conferences"`
	IncomingPhoneNumbers  string `json:"incoming_phone_numbers"`
	Notifications         string `json:"notifications"`
	OutgoingCallerIDs     string `json:"outgoing_caller_ids"`
	Recordings            string `json:"recordings"`
	Transcriptions        string `json:"transcriptions"`
	Addresses             string `json:"addresses"`
	SigningKeys           string `json:"signing_keys"`
	ConnectApps           string `json:"connect_apps"`
	SIP                   string `json:"sip"`
	AuthorizedConnectApps string `json:"authorized_connect_apps"`
	Usage                 string `json:"usage"`
	Keys                  string `json:"keys"`
	Applications          string `json:"applications"`
	ShortCodes            string `json:"short_codes"`
	Queues                string `json:"queues"`
	Messages              string `json:"messages"`
	Balance               string `json:"balance"`
}

func (s *Server) accountJSON(a *account) json.RawMessage {
	base := apiPrefix + "/Accounts/" + a.SID
	return marshal(struct {
		AuthToken       string              `json:"auth_token"`
		DateCreated     string              `json:"date_created"`
		DateUpdated     string              `json:"date_updated"`
		FriendlyName    string              `json:"friendly_name"`
		OwnerAccountSID string              `json:"owner_account_sid"`
		SID             string              `json:"sid"`
		Status          string              `json:"status"`
		SubresourceURIs accountSubresources `json:"subresource_uris"`
		Type            string              `json:"type"`
		URI             string              `json:"uri"`
	}{
		AuthToken:       a.AuthToken,
		DateCreated:     a.DateCreated.UTC().Format(rfc2822),
		DateUpdated:     a.DateUpdated.UTC().Format(rfc2822),
		FriendlyName:    a.FriendlyName,
		OwnerAccountSID: a.OwnerAccountSID,
		SID:             a.SID,
		Status:          a.Status,
		SubresourceURIs: accountSubresources{
			AvailablePhoneNumbers: base + "/AvailablePhoneNumbers.json",
			Calls:                 base + "/Calls.json",
			Conferences:           base + "/Conferences.json",
			IncomingPhoneNumbers:  base + "/IncomingPhoneNumbers.json",
			Notifications:         base + "/Notifications.json",
			OutgoingCallerIDs:     base + "/OutgoingCallerIds.json",
			Recordings:            base + "/Recordings.json",
			Transcriptions:        base + "/Transcriptions.json",
			Addresses:             base + "/Addresses.json",
			SigningKeys:           base + "/SigningKeys.json",
			ConnectApps:           base + "/ConnectApps.json",
			SIP:                   base + "/SIP.json",
			AuthorizedConnectApps: base + "/AuthorizedConnectApps.json",
			Usage:                 base + "/Usage.json",
			Keys:                  base + "/Keys.json",
			Applications:          base + "/Applications.json",
			ShortCodes:            base + "/SMS/ShortCodes.json",
			Queues:                base + "/Queues.json",
			Messages:              base + "/Messages.json",
			Balance:               base + "/Balance.json",
		},
		Type: a.Type,
		URI:  base + ".json",
	})
}

// usageRow is one usage record: a category's usage over [start, end].
type usageRow struct {
	accountSID string
	category   int
	amt        amount
	start, end time.Time
}

// usageQuery is a parsed usage records request.
type usageQuery struct {
	page       pageRequest
	start, end time.Time
	category   string
	includeSub bool
}

func (s *Server) parseUsageQuery(q url.Values) (usageQuery, *apiError) {
	uq := usageQuery{start: s.dataStart, end: s.today, category: q.Get("Category"), includeSub: true}
	var e *apiError
	if uq.page, e = s.parsePage(q); e != nil {
		return uq, e
	}
	if v := q.Get("IncludeSubaccounts"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return uq, invalidParam("IncludeSubaccounts", "%q is not true or false", v)
		}
		uq.includeSub = b
	}
	for _, d := range []struct {
		name string
		t    *time.Time
	}{{"StartDate", &uq.start}, {"EndDate", &uq.end}} {
		v := q.Get(d.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(dateLayout, v)
		if err != nil {
			return uq, invalidParam(d.name, "%q is not a date in YYYY-MM-DD format", v)
		}
		*d.t = t
	}
	if uq.start.After(uq.end) {
		return uq, invalidParam("StartDate", "StartDate %s is after EndDate %s", uq.start.Format(dateLayout), uq.end.Format(dateLayout))
	}
	return uq, nil
}

// usageDays returns a's daily amounts, with its subaccounts' added if
// includeSub.
func usageDays(a *account, includeSub bool) [][]amount {
	if includeSub && a.inclusive != nil {
		return a.inclusive
	}
	return a.days
}

// dailyRows returns a's daily rows from start to end inclusive, ordered by
// date then category.
func (s *Server) dailyRows(a *account, includeSub bool, start, end time.Time, category string) []usageRow {
	var rows []usageRow
	sel := s.selectDaily(a, includeSub, start, end, category)
	for _, d := range sel.days {
		for _, c := range sel.cats {
			rows = append(rows, usageRow{accountSID: a.SID, category: c, amt: sel.amts[d][c], start: s.dayDates[d], end: s.dayDates[d]})
		}
	}
	return rows
}

// dailySelection is the rows of a daily usage request: for each day of days
// (indexes into amts, in order), one row per category of cats.
type dailySelection struct {
	amts [][]amount
	days []int
	cats []int // in name order
}

func (sel *dailySelection) len() int { return len(sel.days) * len(sel.cats) }

// selectDaily selects a's daily rows from start to end inclusive, ordered
// by date then category.
func (s *Server) selectDaily(a *account, includeSub bool, start, end time.Time, category string) dailySelection {
	sel := dailySelection{amts: usageDays(a, includeSub), cats: s.categoryByName}
	sel.days = make([]int, 0, len(sel.amts))
	if category != "" {
		sel.cats = nil
		if c, ok := categoryIndex[category]; ok {
			sel.cats = []int{c}
		}
	}
	for d, amts := range sel.amts {
		date := s.dayDates[d]
		if amts == nil || date.Before(start) || date.After(end) {
			continue
		}
		sel.days = append(sel.days, d)
	}
	return sel
}

func (s *Server) listDaily(w http.ResponseWriter, r *http.Request, a *account) {
	q := r.URL.Query()
	uq, e := s.parseUsageQuery(q)
	if e != nil {
		writeError(w, e)
		return
	}
	sel := s.selectDaily(a, uq.includeSub, uq.start, uq.end, uq.category)
	s.writeDaily(w, q, "/Usage/Records/Daily.json", a, &sel, uq.page)
}

func (s *Server) listToday(w http.ResponseWriter, r *http.Request, a *account) {
	q := r.URL.Query()
	uq, e := s.parseUsageQuery(q)
	if e != nil {
		writeError(w, e)
		return
	}
	today := s.now().UTC().Truncate(day)
	sel := s.selectDaily(a, uq.includeSub, today, today, uq.category)
	s.writeDaily(w, q, "/Usage/Records/Today.json", a, &sel, uq.page)
}

// listAllTime answers Usage/Records.json: one row per category summing the
// requested range (by default the whole history).
func (s *Server) listAllTime(w http.ResponseWriter, r *http.Request, a *account) {
	q := r.URL.Query()
	uq, e := s.parseUsageQuery(q)
	if e != nil {
		writeError(w, e)
		return
	}
	start, end := later(uq.start, a.first), earlier(uq.end, a.last)
	var cats []int
	var sums []amount
	if !start.After(end) {
		sums = make([]amount, len(categoryTable))
		sel := s.selectDaily(a, uq.includeSub, start, end, uq.category)
		for _, d := range sel.days {
			for _, c := range sel.cats {
				sums[c] = sums[c].add(sel.amts[d][c])
			}
		}
		cats = sel.cats
	}
	startText, endText := start.Format(dateLayout), end.Format(dateLayout)
	enc := s.newUsageEncoder(a, "/Usage/Records.json")
	s.writeUsage(w, q, enc, len(cats), uq.page, func(b []byte, i int) []byte {
		return enc.appendRow(b, cats[i], sums[cats[i]], startText, endText)
	})
}

// writeDaily writes the page pr of the daily rows sel.
func (s *Server) writeDaily(w http.ResponseWriter, q url.Values, endpoint string, a *account, sel *dailySelection, pr pageRequest) {
	enc := s.newUsageEncoder(a, endpoint)
	s.writeUsage(w, q, enc, sel.len(), pr, func(b []byte, i int) []byte {
		d, c := sel.days[i/len(sel.cats)], sel.cats[i%len(sel.cats)]
		date := s.dayStrings[d]
		return enc.appendRow(b, c, sel.amts[d][c], date, date)
	})
}

// writeUsage writes the page pr of a list of n usage rows; row appends the
// i-th.
func (s *Server) writeUsage(w http.ResponseWriter, q url.Values, enc *usageEncoder, n int, pr pageRequest, row func(b []byte, i int) []byte) {
	lo, hi := pr.window(n)
	filters := presentParams(q, "Category", "StartDate", "EndDate", "IncludeSubaccounts")
	l := s.links(enc.endpointURI, filters, pr, n)
	body := getBody()
	lw := listWriter{buf: slices.Grow(*body, (hi-lo)*usageRowSizeHint+4096), key: usageKey, pr: pr, l: l}
	lw.begin(hi - lo)
	for i := lo; i < hi; i++ {
		lw.next()
		lw.buf = row(lw.buf, i)
	}
	lw.end()
	*body = lw.buf
	writeBody(w, http.StatusOK, body)
}

// usageRowSizeHint is about the size of an encoded usage record.
const usageRowSizeHint = 1600

// usageCategoryJSON is the encoded constant parts of a category's usage
// records.
type usageCategoryJSON struct {
	name    []byte // the category, encoded
	units   []byte // from the count_unit key to the end_date key
	tail    []byte // usage_unit and the closing brace
	total   bool   // totalprice: a null count, and the price as usage
	escaped string // the name as a query parameter value
}

var usageCategoryJSONs = func() []usageCategoryJSON {
	out := make([]usageCategoryJSON, len(categoryTable))
	for i, c := range categoryTable {
		u := &out[i]
		u.name = appendJSONString(nil, c.Name)
		u.units = append(u.units, `,"count_unit":`...)
		u.units = appendJSONString(u.units, c.CountUnit)
		u.units = append(u.units, `,"description":`...)
		u.units = appendJSONString(u.units, c.Description)
		u.units = append(u.units, `,"end_date":`...)
		u.tail = append(u.tail, `,"usage_unit":`...)
		u.tail = appendJSONString(u.tail, c.UsageUnit)
		u.tail = append(u.tail, '}')
		u.total = c.q == qTotal
		u.escaped = url.QueryEscape(c.Name)
	}
	return out
}()

// usageSubresourceKeys are the members of a usage record's
// subresource_uris, in order, with the list each points to.
var usageSubresourceKeys = [8][2]string{
	{"all_time", "AllTime"}, {"daily", "Daily"}, {"last_month", "LastMonth"}, {"monthly", "Monthly"},
	{"this_month", "ThisMonth"}, {"today", "Today"}, {"yearly", "Yearly"}, {"yesterday", "Yesterday"},
}

// usageEncoder appends the usage records of one account for one request
// (one as_of), encoded as Twilio does: count, usage and price are decimal
// strings; totalprice has a null count and its price as usage. Its output
// is held by the tests to that of the reflection-based encoder it replaces.
type usageEncoder struct {
	head        []byte // from the opening brace to the category key
	endpointURI string // the list's path
	base        string // the account's Usage/Records path
	plain       bool   // endpointURI and base need no escaping in JSON
	subs        [][]byte
	scratch     []byte
}

func (s *Server) newUsageEncoder(a *account, endpoint string) *usageEncoder {
	asOf := s.now().UTC().Format(asOfLayout)
	e := &usageEncoder{
		endpointURI: apiPrefix + "/Accounts/" + a.SID + endpoint,
		base:        apiPrefix + "/Accounts/" + a.SID + "/Usage/Records",
		subs:        make([][]byte, len(categoryTable)),
	}
	e.plain = jsonPlain(e.endpointURI) && jsonPlain(e.base)
	e.head = append(e.head, `{"account_sid":`...)
	e.head = appendJSONString(e.head, a.SID)
	e.head = append(e.head, `,"api_version":"2010-04-01","as_of":`...)
	e.head = appendJSONString(e.head, asOf)
	e.head = append(e.head, `,"category":`...)
	return e
}

// subresources returns the subresource_uris object of category c's
// records.
func (e *usageEncoder) subresources(c int) []byte {
	if b := e.subs[c]; b != nil {
		return b
	}
	esc := usageCategoryJSONs[c].escaped
	b := make([]byte, 0, 8*(len(e.base)+len(esc)+40))
	for i, k := range usageSubresourceKeys {
		if i > 0 {
			b = append(b, ',')
		} else {
			b = append(b, '{')
		}
		b = appendJSONString(b, k[0])
		b = append(b, ':')
		if e.plain {
			// A query-escaped name is plain ASCII too.
			b = append(b, '"')
			b = append(b, e.base...)
			b = append(b, '/')
			b = append(b, k[1]...)
			b = append(b, ".json?Category="...)
			b = append(b, esc...)
			b = append(b, '"')
		} else {
			b = appendJSONString(b, e.base+"/"+k[1]+".json?Category="+esc)
		}
	}
	b = append(b, '}')
	e.subs[c] = b
	return b
}

// appendRow appends the record of category c with amounts amt from start
// to end (dates as served).
func (e *usageEncoder) appendRow(b []byte, c int, amt amount, start, end string) []byte {
	cj := &usageCategoryJSONs[c]
	b = append(b, e.head...)
	b = append(b, cj.name...)
	b = append(b, `,"count":`...)
	if cj.total {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = strconv.AppendInt(b, amt.count, 10)
		b = append(b, '"')
	}
	b = append(b, cj.units...)
	b = appendJSONString(b, end)
	b = append(b, `,"price":"`...)
	b = appendPrice(b, amt.price)
	b = append(b, `","price_unit":"usd","start_date":`...)
	b = appendJSONString(b, start)
	b = append(b, `,"subresource_uris":`...)
	b = append(b, e.subresources(c)...)
	b = append(b, `,"uri":`...)
	if e.plain && unreserved(start) && unreserved(end) {
		// Nothing to escape, in the query or in JSON.
		b = append(b, '"')
		b = append(b, e.endpointURI...)
		b = append(b, "?Category="...)
		b = append(b, cj.escaped...)
		b = append(b, "&StartDate="...)
		b = append(b, start...)
		b = append(b, "&EndDate="...)
		b = append(b, end...)
		b = append(b, '"')
	} else {
		u := append(e.scratch[:0], e.endpointURI...)
		u = append(u, "?Category="...)
		u = append(u, cj.escaped...)
		u = append(u, "&StartDate="...)
		u = append(u, url.QueryEscape(start)...)
		u = append(u, "&EndDate="...)
		u = append(u, url.QueryEscape(end)...)
		e.scratch = u
		b = appendJSONString(b, u)
	}
	b = append(b, `,"usage":"`...)
	if cj.total {
		b = appendPrice(b, amt.price)
	} else {
		b = appendUsage(b, amt.usage)
	}
	b = append(b, '"')
	return append(b, cj.tail...)
}

// UsageRecord is the ground truth for one daily usage record of one
// account, with the decimal text exactly as served.
type UsageRecord struct {
	AccountSID, Category, Description string
	Date                              time.Time
	Count                             string // "" means JSON null (totalprice)
	CountUnit                         string
	Usage, UsageUnit                  string
	Price, PriceUnit                  string
}

// UsageRecords returns an account's own daily usage records (as served with
// IncludeSubaccounts=false) for every day of its history and every
// category, zero rows included, ordered by date then category. It returns
// them even for an account whose usage endpoints answer 404.
func (s *Server) UsageRecords(accountSID string) []UsageRecord {
	a := s.accountBySID[accountSID]
	if a == nil {
		return nil
	}
	var out []UsageRecord
	for _, row := range s.dailyRows(a, false, s.dataStart, s.today, "") {
		c := categoryTable[row.category]
		rec := UsageRecord{
			AccountSID:  a.SID,
			Category:    c.Name,
			Description: c.Description,
			Date:        row.start,
			CountUnit:   c.CountUnit,
			Usage:       formatUsage(row.amt.usage),
			UsageUnit:   c.UsageUnit,
			Price:       formatPrice(row.amt.price),
			PriceUnit:   "usd",
		}
		if c.q == qTotal {
			rec.Usage = rec.Price
		} else {
			rec.Count = strconv.FormatInt(row.amt.count, 10)
		}
		out = append(out, rec)
	}
	return out
}
