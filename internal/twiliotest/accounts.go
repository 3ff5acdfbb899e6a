package twiliotest

import (
	"crypto/subtle"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"time"
)

// subaccountRole describes one kind of subaccount. Subaccount i gets role
// i%len(subaccountRoles), so five subaccounts cover every role once.
type subaccountRole struct {
	name           string
	status         string
	typ            string
	scale          float64
	activity       float64
	forbidden      bool
	createdInside  bool // created inside the history window
	stoppedDaysAgo int  // suspended or closed this many days ago
}

var subaccountRoles = []subaccountRole{
	{name: "Production", status: "active", typ: "Full", scale: 8, activity: 0.8},
	{name: "Staging", status: "suspended", typ: "Full", scale: 1, activity: 0.5, stoppedDaysAgo: 12},
	{name: "Legacy", status: "closed", typ: "Full", scale: 2, activity: 0.6, stoppedDaysAgo: 30},
	{name: "Partner Billing", status: "active", typ: "Full", scale: 0.5, activity: 0.5, forbidden: true},
	{name: "Sandbox", status: "active", typ: "Trial", scale: 0.05, activity: 0.3, createdInside: true},
}

func (s *Server) generateAccounts(rng *rand.Rand, subaccounts int) {
	at := func(d time.Time) time.Time {
		return d.Add(time.Duration(rng.Int64N(int64(day))) / time.Second * time.Second)
	}
	mainCreated := at(s.dataStart.AddDate(0, 0, -400-rng.IntN(1000)))
	main := &account{
		Account: Account{
			SID:          "AC" + hexString(rng, 32),
			FriendlyName: "Acme IoT",
			Status:       "active",
			Type:         "Full",
			AuthToken:    hexString(rng, 32),
			DateCreated:  mainCreated,
			DateUpdated:  at(mainCreated.Truncate(day).AddDate(0, 0, 1+rng.IntN(300))),
		},
		scale:    10,
		activity: 0.9,
	}
	main.OwnerAccountSID = main.SID
	s.accounts = append(s.accounts, main)

	for i := range subaccounts {
		role := subaccountRoles[i%len(subaccountRoles)]
		name := "Acme IoT " + role.name
		if n := i / len(subaccountRoles); n > 0 {
			name = fmt.Sprintf("%s %d", name, n+1)
		}
		created := at(s.dataStart.AddDate(0, 0, -30-rng.IntN(300)))
		if role.createdInside {
			created = at(s.today.AddDate(0, 0, -min(20, s.numDays/2)))
		}
		updated := at(created.Truncate(day).AddDate(0, 0, 1+rng.IntN(20)))
		if role.stoppedDaysAgo > 0 {
			updated = at(s.today.AddDate(0, 0, -role.stoppedDaysAgo))
		}
		if updated.After(s.now()) {
			updated = created
		}
		a := &account{
			Account: Account{
				SID:             "AC" + hexString(rng, 32),
				FriendlyName:    name,
				Status:          role.status,
				Type:            role.typ,
				OwnerAccountSID: main.SID,
				AuthToken:       hexString(rng, 32),
				DateCreated:     created,
				DateUpdated:     updated,
				UsageForbidden:  role.forbidden,
			},
			scale:    role.scale,
			activity: role.activity,
		}
		s.accounts = append(s.accounts, a)
	}

	for _, a := range s.accounts {
		s.accountBySID[a.SID] = a
		a.first = later(s.dataStart, a.DateCreated.Truncate(day))
		a.last = s.today
		if a.Status != "active" {
			// No usage from the day it was suspended or closed.
			a.last = a.DateUpdated.Truncate(day).AddDate(0, 0, -1)
		}
	}
}

// sumSubaccounts computes the main account's usage with its subaccounts'
// added, as Twilio reports it when IncludeSubaccounts is true (the default).
func (s *Server) sumSubaccounts() {
	main := s.accounts[0]
	main.inclusive = make([][]amount, s.numDays)
	for d, own := range main.days {
		if own == nil {
			continue
		}
		sum := append([]amount(nil), own...)
		for _, a := range s.accounts[1:] {
			for c, amt := range a.days[d] {
				sum[c] = sum[c].add(amt)
			}
		}
		main.inclusive[d] = sum
	}
}

// principal is who a request authenticated as.
type principal struct {
	account     *account // the account the credentials belong to
	isMain      bool     // the main account or one of its API keys
	standardKey bool     // a Standard API key: no Account resources
}

// canSee reports whether p may read account a's resources.
func (p principal) canSee(a *account) bool { return p.isMain || p.account == a }

// authenticate checks HTTP basic auth: an account SID with its auth token,
// or an API key SID with its secret. Suspended and closed subaccounts cannot
// authenticate.
func (s *Server) authenticate(r *http.Request) (principal, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return principal{}, false
	}
	main := s.accounts[0]
	for _, k := range s.keys {
		if user == k.sid && equal(pass, k.secret) {
			if k.account != nil {
				if k.account.Status != "active" {
					return principal{}, false
				}
				return principal{account: k.account, standardKey: k.standard}, true
			}
			return principal{account: main, isMain: true, standardKey: k.standard}, true
		}
	}
	a := s.accountBySID[user]
	if a == nil || !equal(pass, a.AuthToken) || a.Status != "active" {
		return principal{}, false
	}
	return principal{account: a, isMain: a == main}, true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// sortByName sorts category indexes by category name.
func sortByName(idx []int) {
	sort.Slice(idx, func(i, j int) bool { return categoryTable[idx[i]].Name < categoryTable[idx[j]].Name })
}
