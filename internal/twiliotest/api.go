package twiliotest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
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

// field is one member of a JSON object written in a fixed order.
type field struct {
	key   string
	value any
}

// marshalObject encodes fields as a JSON object in the order given.
func marshalObject(fields ...field) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshal(f.key))
		b.WriteByte(':')
		b.Write(marshal(f.value))
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeList writes a 2010-04-01 list page.
func writeList(w http.ResponseWriter, key string, items []json.RawMessage, pr pageRequest, l pageLinks) {
	if items == nil {
		items = []json.RawMessage{}
	}
	start := pr.offset
	end := start + max(len(items)-1, 0)
	writeJSON(w, http.StatusOK, marshalObject(
		field{"first_page_uri", l.first},
		field{"end", end},
		field{"previous_page_uri", l.prev},
		field{key, items},
		field{"uri", l.self},
		field{"page_size", pr.size},
		field{"start", start},
		field{"next_page_uri", l.next},
		field{"page", pr.page},
	))
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
	for d, amts := range usageDays(a, includeSub) {
		date := s.dataStart.AddDate(0, 0, d)
		if amts == nil || date.Before(start) || date.After(end) {
			continue
		}
		for _, c := range s.categoryByName {
			if category != "" && categoryTable[c].Name != category {
				continue
			}
			rows = append(rows, usageRow{accountSID: a.SID, category: c, amt: amts[c], start: date, end: date})
		}
	}
	return rows
}

func (s *Server) listDaily(w http.ResponseWriter, r *http.Request, a *account) {
	q := r.URL.Query()
	uq, e := s.parseUsageQuery(q)
	if e != nil {
		writeError(w, e)
		return
	}
	rows := s.dailyRows(a, uq.includeSub, uq.start, uq.end, uq.category)
	s.writeUsage(w, r, "/Usage/Records/Daily.json", a, rows, uq.page)
}

func (s *Server) listToday(w http.ResponseWriter, r *http.Request, a *account) {
	q := r.URL.Query()
	uq, e := s.parseUsageQuery(q)
	if e != nil {
		writeError(w, e)
		return
	}
	today := s.now().UTC().Truncate(day)
	rows := s.dailyRows(a, uq.includeSub, today, today, uq.category)
	s.writeUsage(w, r, "/Usage/Records/Today.json", a, rows, uq.page)
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
	var rows []usageRow
	if !start.After(end) {
		sums := make([]amount, len(categoryTable))
		for _, row := range s.dailyRows(a, uq.includeSub, start, end, uq.category) {
			sums[row.category] = sums[row.category].add(row.amt)
		}
		for _, c := range s.categoryByName {
			if uq.category == "" || categoryTable[c].Name == uq.category {
				rows = append(rows, usageRow{accountSID: a.SID, category: c, amt: sums[c], start: start, end: end})
			}
		}
	}
	s.writeUsage(w, r, "/Usage/Records.json", a, rows, uq.page)
}

func (s *Server) writeUsage(w http.ResponseWriter, r *http.Request, endpoint string, a *account, rows []usageRow, pr pageRequest) {
	asOf := s.now().UTC().Format(asOfLayout)
	lo, hi := pr.window(len(rows))
	var items []json.RawMessage
	for _, row := range rows[lo:hi] {
		items = append(items, usageRowJSON(row, endpoint, asOf))
	}
	filters := presentParams(r.URL.Query(), "Category", "StartDate", "EndDate", "IncludeSubaccounts")
	l := s.links(apiPrefix+"/Accounts/"+a.SID+endpoint, filters, pr, len(rows))
	writeList(w, usageKey, items, pr, l)
}

type usageSubresources struct {
	AllTime   string `json:"all_time"`
	Daily     string `json:"daily"`
	LastMonth string `json:"last_month"`
	Monthly   string `json:"monthly"`
	ThisMonth string `json:"this_month"`
	Today     string `json:"today"`
	Yearly    string `json:"yearly"`
	Yesterday string `json:"yesterday"`
}

// usageRowJSON encodes a usage record as Twilio does: count, usage and
// price are decimal strings; totalprice has a null count.
func usageRowJSON(row usageRow, endpoint, asOf string) json.RawMessage {
	c := categoryTable[row.category]
	base := apiPrefix + "/Accounts/" + row.accountSID + "/Usage/Records"
	sub := func(name string) string { return base + "/" + name + ".json?Category=" + url.QueryEscape(c.Name) }
	start, end := row.start.Format(dateLayout), row.end.Format(dateLayout)
	var count *string
	usage := formatUsage(row.amt.usage)
	if c.q == qTotal {
		usage = formatPrice(row.amt.price)
	} else {
		n := strconv.FormatInt(row.amt.count, 10)
		count = &n
	}
	return marshal(struct {
		AccountSID      string            `json:"account_sid"`
		APIVersion      string            `json:"api_version"`
		AsOf            string            `json:"as_of"`
		Category        string            `json:"category"`
		Count           *string           `json:"count"`
		CountUnit       string            `json:"count_unit"`
		Description     string            `json:"description"`
		EndDate         string            `json:"end_date"`
		Price           string            `json:"price"`
		PriceUnit       string            `json:"price_unit"`
		StartDate       string            `json:"start_date"`
		SubresourceURIs usageSubresources `json:"subresource_uris"`
		URI             string            `json:"uri"`
		Usage           string            `json:"usage"`
		UsageUnit       string            `json:"usage_unit"`
	}{
		AccountSID:  row.accountSID,
		APIVersion:  "2010-04-01",
		AsOf:        asOf,
		Category:    c.Name,
		Count:       count,
		CountUnit:   c.CountUnit,
		Description: c.Description,
		EndDate:     end,
		Price:       formatPrice(row.amt.price),
		PriceUnit:   "usd",
		StartDate:   start,
		SubresourceURIs: usageSubresources{
			AllTime:   sub("AllTime"),
			Daily:     sub("Daily"),
			LastMonth: sub("LastMonth"),
			Monthly:   sub("Monthly"),
			ThisMonth: sub("ThisMonth"),
			Today:     sub("Today"),
			Yearly:    sub("Yearly"),
			Yesterday: sub("Yesterday"),
		},
		URI: apiPrefix + "/Accounts/" + row.accountSID + endpoint + "?" + encodeParams([]param{
			{"Category", c.Name}, {"StartDate", start}, {"EndDate", end},
		}),
		Usage:     usage,
		UsageUnit: c.UsageUnit,
	})
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
