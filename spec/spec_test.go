package spec

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const (
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testKey     = "SK0123456789abcdef0123456789abcdef"
	// secretValue is distinctive so that a leak into an error is obvious.
	secretValue = "Zq9SecretValueXq7"
)

// today is a fixed "now" for every test: 15 May 2026, mid-day UTC.
var today = time.Date(2026, time.May, 15, 13, 45, 0, 0, time.UTC)

func load(t *testing.T, doc string) (Config, error) {
	t.Helper()
	return Load([]byte(doc), today)
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Config
		// nullsGiven: the schema types do not allow null, though Parse
		// treats null as unset.
		nullsGiven bool
	}{
		{
			name: "auth_token with defaults",
			doc:  `{"account_sid": "` + testAccount + `", "auth_token": "` + secretValue + `"}`,
			want: Config{
				AccountSID:         testAccount,
				AuthToken:          secretValue,
				StartDate:          "2025-04-15",
				LookbackDays:       ptr(3),
				IncludeSubaccounts: ptr(true),
				MaxConcurrency:     ptr(8),
			},
		},
		{
			name: "api_key_sid and api_key_secret",
			doc:  `{"account_sid": "` + testAccount + `", "api_key_sid": "` + testKey + `", "api_key_secret": "` + secretValue + `"}`,
			want: Config{
				AccountSID:         testAccount,
				APIKeySID:          testKey,
				APIKeySecret:       secretValue,
				StartDate:          "2025-04-15",
				LookbackDays:       ptr(3),
				IncludeSubaccounts: ptr(true),
				MaxConcurrency:     ptr(8),
			},
		},
		{
			name: "api_credentials",
			doc:  `{"account_sid": "` + testAccount + `", "api_credentials": "` + testKey + `:` + secretValue + `"}`,
			want: Config{
				AccountSID:         testAccount,
				APICredentials:     testKey + ":" + secretValue,
				StartDate:          "2025-04-15",
				LookbackDays:       ptr(3),
				IncludeSubaccounts: ptr(true),
				MaxConcurrency:     ptr(8),
			},
		},
		{
			name: "every optional setting given",
			doc: `{"account_sid": "` + testAccount + `", "account_name": "Acme", "auth_token": "` + secretValue + `",
				"start_date": "2026-05-15", "lookback_days": 0, "include_subaccounts": false,
				"max_concurrency": 64, "base_url": "http://127.0.0.1:8080"}`,
			want: Config{
				AccountSID:         testAccount,
				AccountName:        "Acme",
				AuthToken:          secretValue,
				StartDate:          "2026-05-15",
				LookbackDays:       ptr(0),
				IncludeSubaccounts: ptr(false),
				MaxConcurrency:     ptr(64),
				BaseURL:            "http://127.0.0.1:8080",
			},
		},
		{
			name: "null values are unset",
			doc: `{"account_sid": "` + testAccount + `", "auth_token": "` + secretValue + `",
				"start_date": null, "lookback_days": null, "include_subaccounts": null, "max_concurrency": null, "base_url": null}`,
			want: Config{
				AccountSID:         testAccount,
				AuthToken:          secretValue,
				StartDate:          "2025-04-15",
				LookbackDays:       ptr(3),
				IncludeSubaccounts: ptr(true),
				MaxConcurrency:     ptr(8),
			},
			nullsGiven: true,
		},
		{
			name: "base_url with trailing slash",
			doc:  `{"account_sid": "` + testAccount + `", "auth_token": "` + secretValue + `", "base_url": "https://proxy.example.com:8443/"}`,
			want: Config{
				AccountSID:         testAccount,
				AuthToken:          secretValue,
				StartDate:          "2025-04-15",
				LookbackDays:       ptr(3),
				IncludeSubaccounts: ptr(true),
				MaxConcurrency:     ptr(8),
				BaseURL:            "https://proxy.example.com:8443/",
			},
		},
	}
	schema := compileConnectionSpecification(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := load(t, tt.doc)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
			if tt.nullsGiven {
				return
			}
			// A config Load accepts also passes the schema `spec` prints.
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(inst); err != nil {
				t.Errorf("config valid for Load fails connectionSpecification: %v", err)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		wantUser     string
		wantPassword string
		wantKind     CredentialKind
		wantSecrets  []string
	}{
		{
			name:         "auth_token",
			cfg:          Config{AccountSID: testAccount, AuthToken: secretValue},
			wantUser:     testAccount,
			wantPassword: secretValue,
			wantKind:     CredentialAuthToken,
			wantSecrets:  []string{secretValue},
		},
		{
			name:         "api key pair",
			cfg:          Config{AccountSID: testAccount, APIKeySID: testKey, APIKeySecret: secretValue},
			wantUser:     testKey,
			wantPassword: secretValue,
			wantKind:     CredentialAPIKey,
			wantSecrets:  []string{secretValue},
		},
		{
			name:         "api_credentials",
			cfg:          Config{AccountSID: testAccount, APICredentials: testKey + ":" + secretValue},
			wantUser:     testKey,
			wantPassword: secretValue,
			wantKind:     CredentialAPIKey,
			wantSecrets:  []string{testKey + ":" + secretValue, secretValue},
		},
		{
			name:        "no credentials",
			cfg:         Config{AccountSID: testAccount},
			wantSecrets: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantKind != "" {
				user, password, kind := tt.cfg.Credentials()
				if diff := cmp.Diff([]string{tt.wantUser, tt.wantPassword, string(tt.wantKind)}, []string{user, password, string(kind)}); diff != "" {
					t.Errorf("Credentials (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.wantSecrets, tt.cfg.Secrets()); diff != "" {
				t.Errorf("Secrets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	base := func(extra string) string {
		return `{"account_sid": "` + testAccount + `", ` + extra + `}`
	}
	tests := []struct {
		name string
		doc  string
		// want are substrings the error must contain, each naming a problem.
		want []string
	}{
		{"not JSON", `{"account_sid":`, []string{"not a JSON object"}},
		{"array", `[]`, []string{"not a JSON object"}},
		{"null", `null`, []string{"not a JSON object"}},
		{"unknown key", base(`"auth_token": "` + secretValue + `", "region": "ie1"`), []string{"region: unknown setting"}},
		{"lookback_days as string", base(`"auth_token": "` + secretValue + `", "lookback_days": "3"`), []string{"lookback_days: must be a JSON integer, not a string"}},
		{"lookback_days fractional", base(`"auth_token": "` + secretValue + `", "lookback_days": 1.5`), []string{"lookback_days: must be a JSON integer"}},
		{"include_subaccounts as string", base(`"auth_token": "` + secretValue + `", "include_subaccounts": "yes"`), []string{"include_subaccounts: must be a JSON boolean, not a string"}},
		{"max_concurrency as bool", base(`"auth_token": "` + secretValue + `", "max_concurrency": true`), []string{"max_concurrency: must be a JSON integer, not a bool"}},
		{"account_sid as number", `{"account_sid": 12, "auth_token": "` + secretValue + `"}`, []string{"account_sid: must be a JSON string, not a number"}},
		{
			"every type problem at once",
			`{"account_sid": 1, "lookback_days": "3", "include_subaccounts": 1, "bogus": true, "max_concurrency": [1]}`,
			[]string{"account_sid:", "lookback_days:", "include_subaccounts:", "bogus: unknown setting", "max_concurrency:"},
		},
		{"account_sid missing", `{"auth_token": "` + secretValue + `"}`, []string{"account_sid: is required"}},
		{"account_sid malformed", `{"account_sid": "AC123", "auth_token": "` + secretValue + `"}`, []string{"account_sid: must be AC followed by 32 hexadecimal digits"}},
		{"no credentials", base(`"start_date": "2026-01-01"`), []string{"credentials: give one of"}},
		{
			"auth_token and api_credentials",
			base(`"auth_token": "` + secretValue + `", "api_credentials": "` + testKey + `:` + secretValue + `"`),
			[]string{"credentials: give exactly one form of credentials, got api_credentials and auth_token"},
		},
		{
			"api key pair and auth_token",
			base(`"api_key_sid": "` + testKey + `", "api_key_secret": "` + secretValue + `", "auth_token": "` + secretValue + `"`),
			[]string{"got api_key_sid + api_key_secret and auth_token"},
		},
		{
			"all three forms",
			base(`"api_key_sid": "` + testKey + `", "api_key_secret": "` + secretValue + `", "auth_token": "` + secretValue + `", "api_credentials": "` + testKey + `:` + secretValue + `"`),
			[]string{"got api_key_sid + api_key_secret and api_credentials and auth_token"},
		},
		{"api_key_sid without secret", base(`"api_key_sid": "` + testKey + `"`), []string{"api_key_secret: is required with api_key_sid"}},
		{"api_key_secret without sid", base(`"api_key_secret": "` + secretValue + `"`), []string{"api_key_sid: is required with api_key_secret"}},
		{"api_key_sid malformed", base(`"api_key_sid": "AK123", "api_key_secret": "` + secretValue + `"`), []string{"api_key_sid: must be SK followed by 32 hexadecimal digits"}},
		{"api_key_secret with symbols", base(`"api_key_sid": "` + testKey + `", "api_key_secret": "` + secretValue + `!"`), []string{"api_key_secret: must contain only letters and digits"}},
		{"api_credentials without colon", base(`"api_credentials": "` + secretValue + `"`), []string{"api_credentials: must be SKxxxxxxxx:secret"}},
		{"api_credentials bad sid", base(`"api_credentials": "SK12:` + secretValue + `"`), []string{"api_credentials: must start with an API key SID"}},
		{"api_credentials empty secret", base(`"api_credentials": "` + testKey + `:"`), []string{"api_credentials: the secret after the colon"}},
		{"auth_token with symbols", base(`"auth_token": "` + secretValue + `/+"`), []string{"auth_token: must contain only letters and digits"}},
		{"lookback_days negative", base(`"auth_token": "` + secretValue + `", "lookback_days": -1`), []string{"lookback_days: must be between 0 and 90, got -1"}},
		{"lookback_days too big", base(`"auth_token": "` + secretValue + `", "lookback_days": 91`), []string{"lookback_days: must be between 0 and 90, got 91"}},
		{"max_concurrency zero", base(`"auth_token": "` + secretValue + `", "max_concurrency": 0`), []string{"max_concurrency: must be between 1 and 64, got 0"}},
		{"max_concurrency too big", base(`"auth_token": "` + secretValue + `", "max_concurrency": 65`), []string{"max_concurrency: must be between 1 and 64, got 65"}},
		{"start_date slashes", base(`"auth_token": "` + secretValue + `", "start_date": "2026/01/01"`), []string{`start_date: must be a date as YYYY-MM-DD, got "2026/01/01"`}},
		{"start_date not a day", base(`"auth_token": "` + secretValue + `", "start_date": "2026-02-30"`), []string{`start_date: must be a date as YYYY-MM-DD`}},
		{"start_date with time", base(`"auth_token": "` + secretValue + `", "start_date": "2026-01-01T00:00:00Z"`), []string{`start_date: must be a date as YYYY-MM-DD`}},
		{"start_date tomorrow", base(`"auth_token": "` + secretValue + `", "start_date": "2026-05-16"`), []string{"start_date: 2026-05-16 is in the future"}},
		{"base_url with path", base(`"auth_token": "` + secretValue + `", "base_url": "http://127.0.0.1:8080/2010-04-01"`), []string{"base_url: must be an origin without a path or query"}},
		{"base_url with query", base(`"auth_token": "` + secretValue + `", "base_url": "http://127.0.0.1:8080?x=1"`), []string{"base_url: must be an origin without a path or query"}},
		{"base_url with fragment", base(`"auth_token": "` + secretValue + `", "base_url": "http://127.0.0.1:8080#x"`), []string{"base_url: must be an origin without a path or query"}},
		{"base_url ftp", base(`"auth_token": "` + secretValue + `", "base_url": "ftp://example.com"`), []string{`base_url: scheme must be http or https, got "ftp"`}},
		{"base_url without scheme", base(`"auth_token": "` + secretValue + `", "base_url": "127.0.0.1:8080"`), []string{"base_url:"}},
		{"base_url without host", base(`"auth_token": "` + secretValue + `", "base_url": "http://"`), []string{"base_url: must be an origin such as"}},
		{"base_url with user info", base(`"auth_token": "` + secretValue + `", "base_url": "https://user:` + secretValue + `@proxy.example.com"`), []string{"base_url: must not contain credentials"}},
		{
			"type problems and value problems at once",
			`{"include_subaccounts": "yes", "region": "ie1", "lookback_days": 100, "start_date": "tomorrow"}`,
			[]string{"include_subaccounts: must be a JSON boolean", "region: unknown setting", "account_sid: is required",
				"credentials: give one of", "lookback_days: must be between", "start_date: must be a date"},
		},
		{
			"every value problem at once",
			`{"account_sid": "AC1", "auth_token": "` + secretValue + `", "api_credentials": "` + testKey + `:` + secretValue + `",
			  "start_date": "tomorrow", "lookback_days": 100, "max_concurrency": 0, "base_url": "ftp://x"}`,
			[]string{"account_sid:", "credentials: give exactly one", "start_date:", "lookback_days:", "max_concurrency:", "base_url:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.doc)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tt.want)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, secretValue) {
				t.Errorf("error %q contains the secret", msg)
			}
		})
	}
}

// TestValidateReportsEachProblemOnce checks that problems are reported
// one per line, each naming its field, and not more than once.
func TestValidateReportsEachProblemOnce(t *testing.T) {
	c := Config{
		AccountSID:     "",
		AuthToken:      secretValue + "!",
		StartDate:      "2099-01-01",
		LookbackDays:   ptr(-3),
		MaxConcurrency: ptr(100),
		BaseURL:        "http://h/p",
	}
	err := c.Validate(today)
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	var fields []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		field, _, _ := strings.Cut(line, ":")
		fields = append(fields, field)
	}
	want := []string{"account_sid", "auth_token", "start_date", "lookback_days", "max_concurrency", "base_url"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields named by the error (-want +got):\n%s\nerror: %v", diff, err)
	}
}

// TestLoadJudgesAFieldOnce: a setting of the wrong type is not also
// reported by Validate (as missing, or as a missing credential form).
func TestLoadJudgesAFieldOnce(t *testing.T) {
	tests := []struct {
		doc  string
		want []string
	}{
		{`{"account_sid": 12, "auth_token": "` + secretValue + `", "bogus": 1}`, []string{"account_sid", "bogus"}},
		{`{"account_sid": "` + testAccount + `", "auth_token": 5}`, []string{"auth_token"}},
		{`{"account_sid": "` + testAccount + `", "api_key_sid": 5, "api_key_secret": "` + secretValue + `"}`, []string{"api_key_sid"}},
		{`{"auth_token": "` + secretValue + `", "lookback_days": 1.5, "max_concurrency": 0}`, []string{"lookback_days", "account_sid", "max_concurrency"}},
	}
	for _, tt := range tests {
		_, err := load(t, tt.doc)
		if err == nil {
			t.Errorf("Load(%s) succeeded", tt.doc)
			continue
		}
		var fields []string
		for line := range strings.SplitSeq(err.Error(), "\n") {
			field, _, _ := strings.Cut(line, ":")
			fields = append(fields, field)
		}
		if diff := cmp.Diff(tt.want, fields); diff != "" {
			t.Errorf("Load(%s): fields named (-want +got):\n%s\nerror: %v", tt.doc, diff, err)
		}
	}
}

func TestParseTypeErrorsDoNotRepeatValues(t *testing.T) {
	// A secret given with the wrong type must not be echoed back.
	docs := []string{
		`{"auth_token": {"value": "` + secretValue + `"}}`,
		`{"api_key_secret": ["` + secretValue + `"]}`,
		`{"api_credentials": 12345678901234567890}`,
		`{"lookback_days": "` + secretValue + `"}`,
		`{"account_sid": "` + testAccount + `", "auth_token": ` + secretValue + `}`,
		`{"auth_token": "` + secretValue + `", "auth_token": 5}`,
	}
	for _, doc := range docs {
		_, err := Parse([]byte(doc))
		if err == nil {
			t.Errorf("Parse(%s) succeeded", doc)
			continue
		}
		for _, leak := range []string{secretValue, "12345678901234567890"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("Parse(%s) error %q repeats a value", doc, err)
			}
		}
	}
}

func TestStartDateRange(t *testing.T) {
	tests := []struct {
		start string
		now   time.Time
		ok    bool
	}{
		{"2026-05-15", today, true},
		{"2026-05-16", today, false},
		{"2010-01-01", today, true},
		// Late on 15 May in New York is already 16 May in UTC.
		{"2026-05-16", time.Date(2026, time.May, 15, 22, 0, 0, 0, time.FixedZone("EDT", -4*3600)), true},
		{"2026-05-16", time.Date(2026, time.May, 15, 23, 59, 59, 0, time.UTC), false},
	}
	for _, tt := range tests {
		c := Config{AccountSID: testAccount, AuthToken: secretValue, StartDate: tt.start}
		c.SetDefaults(tt.now)
		err := c.Validate(tt.now)
		if got := err == nil; got != tt.ok {
			t.Errorf("start_date %s at %s: valid = %v, want %v (err: %v)", tt.start, tt.now, got, tt.ok, err)
		}
	}
}

func TestSetDefaultsStartDate(t *testing.T) {
	tests := []struct {
		now time.Time
		// want lists the acceptable answers. When the day does not exist
		// 13 months back, "13 months before" may mean the last day of that
		// month or the same count of days rolled into the next month.
		want []string
	}{
		{time.Date(2026, time.May, 15, 13, 45, 0, 0, time.UTC), []string{"2025-04-15"}},
		{time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC), []string{"2024-12-01"}},
		{time.Date(2026, time.February, 28, 0, 0, 0, 0, time.UTC), []string{"2025-01-28"}},
		// The UTC date counts, not the local one.
		{time.Date(2026, time.May, 15, 22, 0, 0, 0, time.FixedZone("EDT", -4*3600)), []string{"2025-04-16"}},
		{time.Date(2026, time.December, 31, 23, 59, 59, 0, time.UTC), []string{"2025-11-30", "2025-12-01"}},
		{time.Date(2026, time.March, 31, 12, 0, 0, 0, time.UTC), []string{"2025-02-28", "2025-03-03"}},
		{time.Date(2025, time.March, 30, 12, 0, 0, 0, time.UTC), []string{"2024-02-29", "2024-03-01"}},
	}
	for _, tt := range tests {
		var c Config
		c.SetDefaults(tt.now)
		if !slices.Contains(tt.want, c.StartDate) {
			t.Errorf("SetDefaults(%s): start_date = %s, want one of %v", tt.now, c.StartDate, tt.want)
		}
		if err := c.Validate(tt.now); !strings.Contains(errString(err), "credentials") || strings.Contains(errString(err), "start_date") {
			t.Errorf("default start_date %s does not validate: %v", c.StartDate, err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSetDefaultsKeepsGivenValues(t *testing.T) {
	c := Config{StartDate: "2024-01-02", LookbackDays: ptr(0), IncludeSubaccounts: ptr(false), MaxConcurrency: ptr(1)}
	want := c
	want.LookbackDays, want.IncludeSubaccounts, want.MaxConcurrency = ptr(0), ptr(false), ptr(1)
	c.SetDefaults(today)
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("SetDefaults changed given values (-want +got):\n%s", diff)
	}
	if got := []int{c.Lookback(), c.Concurrency()}; !slices.Equal(got, []int{0, 1}) || c.Subaccounts() {
		t.Errorf("accessors = %v, subaccounts %v; want [0 1], false", got, c.Subaccounts())
	}
	if got, want := c.Start(), time.Date(2024, time.January, 2, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Start() = %s, want %s", got, want)
	}
}

func connectionSpecificationDoc(t *testing.T) map[string]any {
	t.Helper()
	raw := ConnectionSpecification()
	if !json.Valid(raw) {
		t.Fatal("ConnectionSpecification() is not valid JSON")
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func compileConnectionSpecification(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ConnectionSpecification()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("connection_specification.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("connection_specification.json")
	if err != nil {
		t.Fatalf("connectionSpecification is not a valid JSON Schema: %v", err)
	}
	return s
}

func TestConnectionSpecification(t *testing.T) {
	doc := connectionSpecificationDoc(t)
	compileConnectionSpecification(t)

	props, ok := doc["properties"].(map[string]any)
	if !ok {
		t.Fatalf("properties is %T, want an object", doc["properties"])
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(fields)), slices.Sorted(maps.Keys(props))); diff != "" {
		t.Errorf("keys Parse accepts vs schema properties (-parse +schema):\n%s", diff)
	}
	if doc["additionalProperties"] != false {
		t.Errorf("additionalProperties = %v, want false (Parse rejects unknown keys)", doc["additionalProperties"])
	}
	if diff := cmp.Diff([]any{"account_sid"}, doc["required"]); diff != "" {
		t.Errorf("required (-want +got):\n%s", diff)
	}

	secrets := []string{"api_key_secret", "api_credentials", "auth_token"}
	for name, p := range props {
		prop := p.(map[string]any)
		isSecret := prop["airbyte_secret"] == true
		if want := slices.Contains(secrets, name); isSecret != want {
			t.Errorf("%s: airbyte_secret = %v, want %v", name, isSecret, want)
		}
	}

	// Defaults and limits the schema shows agree with the code.
	num := func(prop, key string) any {
		return props[prop].(map[string]any)[key]
	}
	got := []any{
		num("lookback_days", "default"), num("lookback_days", "minimum"), num("lookback_days", "maximum"),
		num("max_concurrency", "default"), num("max_concurrency", "minimum"), num("max_concurrency", "maximum"),
		num("include_subaccounts", "default"),
	}
	want := []any{
		float64(DefaultLookbackDays), float64(0), float64(MaxLookbackDays),
		float64(DefaultMaxConcurrency), float64(1), float64(MaxMaxConcurrency),
		true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schema defaults and limits (-code +schema):\n%s", diff)
	}

	// Callers get their own copy.
	a := ConnectionSpecification()
	a[0] = 'X'
	if b := ConnectionSpecification(); b[0] == 'X' {
		t.Error("ConnectionSpecification returns shared bytes")
	}
}

// TestConnectionSpecificationRejectsInvalid checks that the schema agrees
// with Validate on the problems a schema can express.
func TestConnectionSpecificationRejectsInvalid(t *testing.T) {
	schema := compileConnectionSpecification(t)
	docs := []string{
		`{"auth_token": "x"}`,
		`{"account_sid": "AC1", "auth_token": "x"}`,
		`{"account_sid": "` + testAccount + `", "lookback_days": 91}`,
		`{"account_sid": "` + testAccount + `", "lookback_days": "3"}`,
		`{"account_sid": "` + testAccount + `", "max_concurrency": 0}`,
		`{"account_sid": "` + testAccount + `", "max_concurrency": 65}`,
		`{"account_sid": "` + testAccount + `", "api_key_sid": "AK1"}`,
		`{"account_sid": "` + testAccount + `", "api_credentials": "nocolon"}`,
		`{"account_sid": "` + testAccount + `", "start_date": "2026/01/01"}`,
		`{"account_sid": "` + testAccount + `", "base_url": "http://h/path"}`,
		`{"account_sid": "` + testAccount + `", "unknown": 1}`,
	}
	for _, doc := range docs {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if schema.Validate(inst) == nil {
			t.Errorf("schema accepts %s", doc)
		}
		if _, err := load(t, doc); err == nil {
			t.Errorf("Load accepts %s", doc)
		}
	}
}
