package focusvalidator

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

func TestModel(t *testing.T) {
	m, err := loadModel()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.rules) != 621 || len(m.order) != 621 || len(m.criteria) != 18 || m.version != "1.2" {
		t.Errorf("model %s: %d rules, %d ordered, %d criteria", m.version, len(m.rules), len(m.order), len(m.criteria))
	}
	codes, err := currencyCodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) < 150 || codes[0] != "AED" {
		t.Errorf("currency codes: %d, first %q", len(codes), codes[0])
	}
}

func TestUnportedCheckFunction(t *testing.T) {
	const rules = `{
	"Details": {"ModelVersion": "test"},
	"ApplicabilityCriteria": {},
	"ModelRules": {
		"X-C-000-M": {"Function": "Validation", "EntityType": "Column", "Type": "Static", "ApplicabilityCriteria": [],
			"ValidationCriteria": {"MustSatisfy": "X MUST frobnicate.", "Keyword": "MUST",
				"Requirement": {"CheckFunction": "CheckFrobnicated", "ColumnName": "X"},
				"Condition": {}, "Dependencies": []}}
	}}`
	m, err := parseModel([]byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t AS SELECT 1 AS X`); err != nil {
		t.Fatal(err)
	}
	_, err = validate(context.Background(), m, db, "t", nil)
	if err == nil || !strings.Contains(err.Error(), "X-C-000-M") || !strings.Contains(err.Error(), "CheckFrobnicated") {
		t.Errorf("err = %v, want one naming X-C-000-M and CheckFrobnicated", err)
	}
}
