package twiliotest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
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

type commandsJSON struct {
	BillingUnits string      `json:"billing_units"`
	Billed       json.Number `json:"billed"`
	Total        int64       `json:"total"`
	FromSIM      int64       `json:"from_sim"`
	ToSIM        int64       `json:"to_sim"`
	Country      string      `json:"country,omitempty"`
}

type commandsUsageJSON struct {
	commandsJSON
	Home                 commandsJSON   `json:"home"`
	NationalRoaming      commandsJSON   `json:"national_roaming"`
	InternationalRoaming []commandsJSON `json:"international_roaming"`
}

type dataJSON struct {
	BillingUnits string      `json:"billing_units"`
	Billed       json.Number `json:"billed"`
	Total        int64       `json:"total"`
	Upload       int64       `json:"upload"`
	Download     int64       `json:"download"`
	Units        string      `json:"units"`
	Country      string      `json:"country,omitempty"`
}

type dataUsageJSON struct {
	dataJSON
	Home                 dataJSON   `json:"home"`
	NationalRoaming      dataJSON   `json:"national_roaming"`
	InternationalRoaming []dataJSON `json:"international_roaming"`
}

func commandsOf(p commandsPart, country string) commandsJSON {
	return commandsJSON{"USD", json.Number(formatBilled(p.billed)), p.fromSIM + p.toSIM, p.fromSIM, p.toSIM, country}
}

func dataOf(p dataPart, country string) dataJSON {
	return dataJSON{"USD", json.Number(formatBilled(p.billed)), p.upload + p.download, p.upload, p.download, "bytes", country}
}

// The reflection-based encoders the emulator used before its append-style
// encoders (encode.go); the tests hold the two to the same bytes.

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

// writeList writes a 2010-04-01 list page.
func refWriteList(w http.ResponseWriter, key string, items []json.RawMessage, pr pageRequest, l pageLinks) {
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

// usageRowJSON encodes a usage record as Twilio does: count, usage and
// price are decimal strings; totalprice has a null count.
func refUsageRowJSON(row usageRow, endpoint, asOf string) json.RawMessage {
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

// writeV1List writes a v1 list page: the items then meta, with absolute
// URLs.
func refWriteV1List(w http.ResponseWriter, key string, items []json.RawMessage, pr pageRequest, l pageLinks) {
	type meta struct {
		FirstPageURL    string  `json:"first_page_url"`
		Key             string  `json:"key"`
		NextPageURL     *string `json:"next_page_url"`
		Page            int     `json:"page"`
		PageSize        int     `json:"page_size"`
		PreviousPageURL *string `json:"previous_page_url"`
		URL             string  `json:"url"`
	}
	writeJSON(w, http.StatusOK, marshalObject(
		field{key, items},
		field{"meta", meta{l.first, key, l.next, pr.page, pr.size, l.prev, l.self}},
	))
}

// simUsageJSON encodes a SIM usage record. Totals are the sum of home,
// national roaming and every international roaming country.
func refSIMUsageJSON(sm *sim, u simDay) json.RawMessage {
	cmdTotal := u.cmdHome.add(u.cmdNational)
	dataTotal := u.dataHome.add(u.dataNational)
	cmdIntl, dataIntl := []commandsJSON{}, []dataJSON{}
	for _, p := range u.international {
		cmdTotal = cmdTotal.add(p.cmd)
		dataTotal = dataTotal.add(p.data)
		cmdIntl = append(cmdIntl, commandsOf(p.cmd, p.country))
		dataIntl = append(dataIntl, dataOf(p.data, p.country))
	}
	type period struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	// The roaming country's key varies by SIM (sim.countryKey).
	b := marshal(struct {
		AccountSID string            `json:"account_sid"`
		Commands   commandsUsageJSON `json:"commands"`
		Data       dataUsageJSON     `json:"data"`
		SIMSID     string            `json:"sim_sid"`
		Period     period            `json:"period"`
	}{
		AccountSID: sm.AccountSID,
		Commands: commandsUsageJSON{
			commandsJSON:         commandsOf(cmdTotal, ""),
			Home:                 commandsOf(u.cmdHome, ""),
			NationalRoaming:      commandsOf(u.cmdNational, ""),
			InternationalRoaming: cmdIntl,
		},
		Data: dataUsageJSON{
			dataJSON:             dataOf(dataTotal, ""),
			Home:                 dataOf(u.dataHome, ""),
			NationalRoaming:      dataOf(u.dataNational, ""),
			InternationalRoaming: dataIntl,
		},
		SIMSID: sm.SID,
		Period: period{u.start.UTC().Format(isoLayout), u.end.UTC().Format(isoLayout)},
	})
	return bytes.ReplaceAll(b, []byte(`"country":`), []byte(`"`+sm.countryKey+`":`))
}
