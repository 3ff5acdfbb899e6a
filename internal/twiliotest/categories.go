package twiliotest

// A Category is one usage category the emulator serves, with its place in
// the emulator's category tree.
//
// Parent is the roll-up that contains the category; top-level categories
// have Parent "totalprice" and totalprice itself has Parent "". A Rollup's
// price is the exact sum of its summands plus, on some days, a positive
// remainder for usage Twilio does not break down. An Overlay repeats usage
// already counted elsewhere (authy-sms-outbound is also inside sms-outbound;
// channels repeats sms, mms and channels-whatsapp) and is never part of any
// sum. The summands of a roll-up are its non-overlay children and, through
// any overlay child, that overlay's non-overlay children: channels is an
// overlay roll-up whose child channels-whatsapp is real cost, so
// channels-whatsapp counts in totalprice as if it were a top-level category.
// totalprice is the sum of its summands plus, on some days, cost that falls
// in no category.
type Category struct {
	Name        string
	Parent      string
	Rollup      bool
	Overlay     bool
	Description string
	CountUnit   string
	UsageUnit   string
}

// quantity says how a leaf category's count, usage and price are generated.
type quantity int

const (
	qRollup    quantity = iota // sum of children (+ remainder)
	qTotal                     // totalprice
	qOverlay                   // derived from other categories, see categorySpec.derive
	qMinutes                   // count = calls, usage = whole minutes
	qEvents                    // count = usage = events (messages, lookups, commands)
	qMonthly                   // count = usage = items owned, charged once a month
	qMegabytes                 // count = sessions, usage = megabytes with 4 decimals
	qOnce                      // count = usage = 1, charged on the account's registration day only
)

// categorySpec is a Category plus how the emulator generates its amounts.
type categorySpec struct {
	Category
	q        quantity
	rate     int64   // price per usage unit, in 1e-5 USD
	base     float64 // typical daily volume at activity scale 1
	minScale float64 // only accounts at least this big use the category
	refunds  bool    // occasionally shows a small credit instead of usage
	idle     float64 // chance of a day without usage (0: the default, 10%)
	// needs names a category the account must use for this one to be in
	// use (A2P 10DLC fees only for accounts that send long-code SMS).
	needs string
	// rates, if set, replaces rate: each account draws one of them (a
	// campaign type's monthly fee).
	rates  []int64
	derive func(get func(name string) amount, r float64) amount
	// superSIM: served only by a server with Super SIMs, whose main
	// account's amounts are its Super SIMs' data (a leaf: the SIM-days of
	// its region; a roll-up: exactly its children, no remainder).
	superSIM bool
}

func rollup(name, parent, desc, countUnit, usageUnit string) categorySpec {
	return categorySpec{
		Category: Category{Name: name, Parent: parent, Rollup: true, Description: desc, CountUnit: countUnit, UsageUnit: usageUnit},
		q:        qRollup,
	}
}

func leaf(name, parent, desc, countUnit, usageUnit string, q quantity, rate int64, base float64) categorySpec {
	return categorySpec{
		Category: Category{Name: name, Parent: parent, Description: desc, CountUnit: countUnit, UsageUnit: usageUnit},
		q:        q,
		rate:     rate,
		base:     base,
	}
}

func overlay(name, parent, desc, countUnit, usageUnit string, derive func(get func(string) amount, r float64) amount) categorySpec {
	return categorySpec{
		Category: Category{Name: name, Parent: parent, Overlay: true, Description: desc, CountUnit: countUnit, UsageUnit: usageUnit},
		q:        qOverlay,
		derive:   derive,
	}
}

// overlayRollup is an overlay that other categories have as their parent.
// Its price is derive's, not the sum of its children; its non-overlay
// children are summed into its own parent.
func overlayRollup(name, parent, desc, countUnit, usageUnit string, derive func(get func(string) amount, r float64) amount) categorySpec {
	c := overlay(name, parent, desc, countUnit, usageUnit, derive)
	c.Rollup = true
	return c
}

func withRefunds(c categorySpec) categorySpec {
	c.refunds = true
	return c
}

func withMinScale(c categorySpec, s float64) categorySpec {
	c.minScale = s
	return c
}

func superSIMCategory(c categorySpec) categorySpec {
	c.superSIM = true
	return c
}

func withIdle(c categorySpec, p float64) categorySpec {
	c.idle = p
	return c
}

func withNeeds(c categorySpec, name string) categorySpec {
	c.needs = name
	return c
}

func withRates(c categorySpec, rates ...int64) categorySpec {
	c.rates = rates
	return c
}

// a2p returns an A2P 10DLC fee category: in use exactly when the account
// sends long-code SMS.
func a2p(c categorySpec) categorySpec { return withNeeds(c, "sms-outbound-longcode") }

// share returns a fraction (between 10% and 30%, drawn from r) of a
// category's events, priced at rate per usage unit: the Authy/Verify share of
// a message or call category.
func share(of string, rate int64) func(func(string) amount, float64) amount {
	return func(get func(string) amount, r float64) amount {
		b := get(of)
		if b.price <= 0 || b.count == 0 {
			return amount{}
		}
		pct := 10 + int64(r*20)
		a := amount{count: b.count * pct / 100, usage: b.usage * pct / 100}
		a.usage -= a.usage % usageScale // whole units, as in the base category
		a.price = a.usage / usageScale * rate
		return a
	}
}

// sum returns the sum of the named categories.
func sum(names ...string) func(func(string) amount, float64) amount {
	return func(get func(string) amount, _ float64) amount {
		var a amount
		for _, n := range names {
			a = a.add(get(n))
		}
		return a
	}
}

// categoryTable lists the categories the emulator serves, parents before
// children. Names and parents come from Twilio's published category list
// (shared/reference/twilio/usage_categories.tsv, copied to
// transforms/usage_categories.tsv; categories_test.go holds the two
// together), with these exceptions:
//
//   - Where the reference leaves a parent unknown (sms, mms,
//     sms-messages-carrierfees, a2p-registration-fees), the category is
//     top-level.
//   - A2P 10DLC fees: the reference says "unknown"; the project decided
//     a2p-registration-fees ⊃ a2p-10dlc-registrationfees-onetime ⊃
//     {brandregistration, campaignvetting} and a2p-registration-fees ⊃
//     a2p-10dlc-registrationfees-monthly ⊃ campaigncharges.
//   - channels is an overlay roll-up: it totals sms, mms and
//     channels-whatsapp (as third-party Usage Records show), so it is never
//     summed, while its child channels-whatsapp is real cost.
//   - wireless-usage-data-middleeast and voice-ai-agent-minutes are
//     deliberately not in Twilio's last published list (Twilio keeps adding
//     categories after it): they exercise a loader's handling of unknown
//     categories, one under a known prefix roll-up (wireless-usage-data)
//     and one with no known prefix roll-up at all.
//
// Rates are in 1e-5 USD per usage unit.
var categoryTable = []categorySpec{
	{Category: Category{Name: "totalprice", Rollup: true, Description: "Total Price", UsageUnit: "usd"}, q: qTotal},

	rollup("calls", "totalprice", "Voice Minutes", "calls", "minutes"),
	rollup("calls-inbound", "calls", "Inbound Voice Minutes", "calls", "minutes"),
	leaf("calls-inbound-local", "calls-inbound", "Inbound Local Calls", "calls", "minutes", qMinutes, 850, 60),
	leaf("calls-inbound-mobile", "calls-inbound", "Inbound Mobile Calls", "calls", "minutes", qMinutes, 850, 15),
	rollup("calls-inbound-tollfree", "calls-inbound", "Inbound Tollfree Calls", "calls", "minutes"),
	leaf("calls-inbound-tollfree-local", "calls-inbound-tollfree", "Inbound Tollfree Calls from Local Numbers", "calls", "minutes", qMinutes, 2200, 10),
	leaf("calls-inbound-tollfree-mobile", "calls-inbound-tollfree", "Inbound Tollfree Calls from Mobile Numbers", "calls", "minutes", qMinutes, 2200, 4),
	withRefunds(leaf("calls-outbound", "calls", "Outbound Voice Minutes", "calls", "minutes", qMinutes, 1400, 80)),
	overlay("authy-calls-outbound", "calls-outbound", "Authy Outbound Calls", "calls", "minutes", share("calls-outbound", 1400)),

	rollup("calls-sip", "totalprice", "SIP Minutes", "calls", "minutes"),
	leaf("calls-sip-inbound", "calls-sip", "Inbound SIP Minutes", "calls", "minutes", qMinutes, 400, 20),
	leaf("calls-sip-outbound", "calls-sip", "Outbound SIP Minutes", "calls", "minutes", qMinutes, 400, 20),

	leaf("calls-globalconference", "totalprice", "Global Conference Minutes", "calls", "minutes", qMinutes, 180, 5),

	rollup("sms", "totalprice", "SMS Messages", "messages", "messages"),
	rollup("sms-inbound", "sms", "Inbound SMS Messages", "messages", "messages"),
	leaf("sms-inbound-longcode", "sms-inbound", "Long Code Inbound SMS", "messages", "messages", qEvents, 790, 150),
	leaf("sms-inbound-shortcode", "sms-inbound", "Short Code Inbound SMS", "messages", "messages", qEvents, 790, 40),
	rollup("sms-outbound", "sms", "Outbound SMS Messages", "messages", "messages"),
	withRefunds(leaf("sms-outbound-longcode", "sms-outbound", "Long Code Outbound SMS", "messages", "messages", qEvents, 790, 300)),
	leaf("sms-outbound-shortcode", "sms-outbound", "Short Code Outbound SMS", "messages", "messages", qEvents, 700, 120),
	leaf("sms-outbound-tollfree", "sms-outbound", "Toll Free Outbound SMS", "messages", "messages", qEvents, 790, 50),
	overlay("authy-sms-outbound", "sms-outbound", "Authy and Verify Outbound SMS", "messages", "messages", share("sms-outbound-longcode", 790)),

	rollup("mms", "totalprice", "MMS Messages", "messages", "messages"),
	rollup("mms-inbound", "mms", "Inbound MMS Messages", "messages", "messages"),
	leaf("mms-inbound-longcode", "mms-inbound", "Long Code Inbound MMS", "messages", "messages", qEvents, 1000, 20),
	leaf("mms-inbound-shortcode", "mms-inbound", "Short Code Inbound MMS", "messages", "messages", qEvents, 1000, 5),
	rollup("mms-outbound", "mms", "Outbound MMS Messages", "messages", "messages"),
	leaf("mms-outbound-longcode", "mms-outbound", "Long Code Outbound MMS", "messages", "messages", qEvents, 2000, 30),
	leaf("mms-outbound-shortcode", "mms-outbound", "Short Code Outbound MMS", "messages", "messages", qEvents, 2000, 10),

	leaf("sms-messages-carrierfees", "totalprice", "Carrier Fees for SMS Messages", "messages", "messages", qEvents, 300, 250),
	a2p(rollup("a2p-registration-fees", "totalprice", "Messaging A2P Registration Fees", "fees", "fees")),
	a2p(rollup("a2p-10dlc-registrationfees-onetime", "a2p-registration-fees", "Registration Fees - One-time Fees", "fees", "fees")),
	a2p(leaf("a2p-10dlc-registrationfees-brandregistration", "a2p-10dlc-registrationfees-onetime", "Brand Registration", "fees", "fees", qOnce, 400000, 1)),
	a2p(leaf("a2p-10dlc-registrationfees-campaignvetting", "a2p-10dlc-registrationfees-onetime", "Campaign Vetting", "fees", "fees", qOnce, 1500000, 1)),
	a2p(rollup("a2p-10dlc-registrationfees-monthly", "a2p-registration-fees", "Registration Fees - Monthly Fees", "fees", "fees")),
	// One campaign per five units of activity scale (at least one), each
	// $1.50 (low-volume mixed), $2.00 (sole proprietor) or $10.00
	// (standard) a month, by account.
	a2p(withRates(leaf("a2p-10dlc-registrationfees-campaigncharges", "a2p-10dlc-registrationfees-monthly", "Campaign Charges", "fees", "fees", qMonthly, 0, 0.2),
		150000, 200000, 1000000)),

	overlayRollup("channels", "totalprice", "Channels", "messages", "messages", sum("sms", "mms", "channels-whatsapp")),
	rollup("channels-whatsapp", "channels", "WhatsApp", "messages", "messages"),
	leaf("channels-whatsapp-template-marketing", "channels-whatsapp", "Channels - WhatsApp - Template Marketing", "messages", "messages", qEvents, 2500, 25),
	leaf("channels-whatsapp-template-utility", "channels-whatsapp", "Channels - WhatsApp - Template Utility", "messages", "messages", qEvents, 400, 40),

	rollup("phonenumbers", "totalprice", "Phone Numbers", "numbers", "numbers"),
	leaf("phonenumbers-local", "phonenumbers", "Local Phone Numbers", "numbers", "numbers", qMonthly, 115000, 40),
	leaf("phonenumbers-mobile", "phonenumbers", "Mobile Phone Numbers", "numbers", "numbers", qMonthly, 100000, 5),
	leaf("phonenumbers-tollfree", "phonenumbers", "Toll Free Phone Numbers", "numbers", "numbers", qMonthly, 215000, 3),

	rollup("shortcodes", "totalprice", "Short Codes", "short-codes", "short-codes"),
	withMinScale(leaf("shortcodes-random", "shortcodes", "Random Short Codes", "short-codes", "short-codes", qMonthly, 100000000, 0.04), 10),
	withMinScale(leaf("shortcodes-vanity", "shortcodes", "Vanity Short Codes", "short-codes", "short-codes", qMonthly, 150000000, 0.02), 10),

	rollup("recordings", "totalprice", "Recordings", "recordings", "minutes"),
	leaf("calls-recordings", "recordings", "Call Recordings", "recordings", "minutes", qMinutes, 250, 20),
	leaf("trunking-recordings", "recordings", "Trunking Recordings", "recordings", "minutes", qMinutes, 250, 5),

	rollup("lookups", "totalprice", "Lookups", "lookups", "lookups"),
	rollup("calleridlookups", "lookups", "Caller Name Lookups", "lookups", "lookups"),
	leaf("calleridlookups-api", "calleridlookups", "Caller Name Lookups via API", "lookups", "lookups", qEvents, 1000, 30),
	leaf("carrier-lookups", "lookups", "Carrier Lookups", "lookups", "lookups", qEvents, 500, 40),
	leaf("enhanced-line-type-lookups", "lookups", "Line Type Intelligence Lookups", "lookups", "lookups", qEvents, 800, 20),

	rollup("wireless", "totalprice", "Wireless Usage", "", ""),
	rollup("wireless-usage", "wireless", "Wireless Usage", "", ""),
	rollup("wireless-usage-data", "wireless-usage", "Wireless Data Usage", "sessions", "megabytes"),
	leaf("wireless-usage-data-northamerica", "wireless-usage-data", "Wireless Data Usage in North America", "sessions", "megabytes", qMegabytes, 10000, 30),
	leaf("wireless-usage-data-europe", "wireless-usage-data", "Wireless Data Usage in Europe", "sessions", "megabytes", qMegabytes, 15000, 5),
	leaf("wireless-usage-data-asia", "wireless-usage-data", "Wireless Data Usage in Asia", "sessions", "megabytes", qMegabytes, 30000, 2),
	// Not in Twilio's published list (see categoryTable): a new, rarely used region.
	withIdle(leaf("wireless-usage-data-middleeast", "wireless-usage-data", "Wireless Data Usage in the Middle East", "sessions", "megabytes", qMegabytes, 40000, 1), 0.85),
	rollup("wireless-usage-commands", "wireless-usage", "Wireless Commands", "commands", "commands"),
	leaf("wireless-usage-commands-home", "wireless-usage-commands", "Wireless Commands on the Home Network", "commands", "commands", qEvents, 100, 50),
	leaf("wireless-usage-commands-roaming", "wireless-usage-commands", "Wireless Commands while Roaming", "commands", "commands", qEvents, 250, 5),
	rollup("wireless-usage-mrc", "wireless-usage", "Wireless Monthly Recurring Charges", "sims", "sims"),
	leaf("wireless-usage-mrc-individual", "wireless-usage-mrc", "Wireless Monthly Recurring Charges for Individual Plans", "sims", "sims", qMonthly, 200000, 20),

	leaf("verify-push", "totalprice", "Verify Push Verifications", "verifications", "verifications", qEvents, 500, 10),

	// Not in Twilio's published list (see categoryTable), and no listed
	// category is a prefix of it.
	leaf("voice-ai-agent-minutes", "totalprice", "Voice AI Agent Minutes", "calls", "minutes", qMinutes, 7000, 4),

	// Super SIM data, last so that a server without Super SIMs draws and
	// serves exactly what it did before they existed.
	superSIMCategory(rollup("wireless-super-sim", "wireless", "Super SIM", "", "")),
	superSIMCategory(rollup("wireless-super-sim-data", "wireless-super-sim", "Super SIM Data", "sessions", "megabytes")),
	superSIMCategory(rollup("wireless-super-sim-data-payg", "wireless-super-sim-data", "Super SIM Pay-as-you-go Data", "sessions", "megabytes")),
	superSIMCategory(leaf("wireless-super-sim-data-payg-europe", "wireless-super-sim-data-payg",
		"Super SIM Pay-as-you-go Data in Europe", "sessions", "megabytes", qMegabytes, 0, 0)),
	superSIMCategory(leaf("wireless-super-sim-data-payg-north-america", "wireless-super-sim-data-payg",
		"Super SIM Pay-as-you-go Data in North America", "sessions", "megabytes", qMegabytes, 0, 0)),
}

// Categories returns the categories the emulator serves, parents before
// children.
func (s *Server) Categories() []Category {
	out := make([]Category, 0, len(categoryTable))
	for _, c := range categoryTable {
		if !c.superSIM || len(s.superSIMs) > 0 {
			out = append(out, c.Category)
		}
	}
	return out
}

// summands lists, for each roll-up (and totalprice), the categories its
// price sums: its non-overlay children, and the non-overlay children of its
// overlay children, as if they were its own. Every summand comes after its
// roll-up in categoryTable.
var summands = func() [][]int {
	out := make([][]int, len(categoryTable))
	for j, c := range categoryTable {
		if c.Overlay || c.Parent == "" {
			continue
		}
		p := categoryIndex[c.Parent]
		for categoryTable[p].Overlay {
			p = categoryIndex[categoryTable[p].Parent]
		}
		if p >= j || !categoryTable[p].Rollup {
			panic("twiliotest: " + c.Name + " is summed into " + categoryTable[p].Name + ", which is not a roll-up listed before it")
		}
		out[p] = append(out[p], j)
	}
	return out
}()
