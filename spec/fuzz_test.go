package spec

import (
	"strings"
	"testing"
	"time"
)

// FuzzLoad: any input either loads into a valid config or is refused with
// an error; nothing panics, and an error never shows a secret the input
// held.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		`{"account_sid":"AC0123456789abcdef0123456789abcdef","auth_token":"0123456789abcdef0123456789abcdef"}`,
		`{"account_sid":"AC0123456789abcdef0123456789abcdef","api_credentials":"SK0123456789abcdef0123456789abcdef:s3cret-value"}`,
		`{"account_sid":1,"auth_token":"s3cret-value","lookback_days":"x","include_subaccounts":"yes","extra":[]}`,
		`[]`, `null`, `{"start_date":"2026-02-30"}`, ``,
	} {
		f.Add([]byte(s))
	}
	today := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(data, today)
		if err == nil {
			if verr := c.Validate(today); verr != nil {
				t.Fatalf("Load accepted a config Validate refuses: %v", verr)
			}
			return
		}
		p, _ := Parse(data)
		for _, s := range []string{p.AuthToken, p.APIKeySecret, p.APICredentials} {
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("the error shows a secret: %v", err)
			}
		}
	})
}
