package spec

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// MarkdownReference renders the connection specification as a Markdown
// table, one row per setting in the schema's order: the README's config
// reference is this text, and a test keeps the two equal.
func MarkdownReference() string {
	var doc struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Title       string          `json:"title"`
			Description string          `json:"description"`
			Type        json.RawMessage `json:"type"`
			Default     json.RawMessage `json:"default"`
			Minimum     *int            `json:"minimum"`
			Maximum     *int            `json:"maximum"`
			Secret      bool            `json:"airbyte_secret"`
			Order       int             `json:"order"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(connectionSpecification, &doc); err != nil {
		panic(fmt.Sprintf("spec: connection specification: %v", err))
	}
	keys := make([]string, 0, len(doc.Properties))
	for k := range doc.Properties {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return doc.Properties[keys[i]].Order < doc.Properties[keys[j]].Order })

	var b strings.Builder
	b.WriteString("| setting | type | required | default | description |\n|---|---|---|---|---|\n")
	for _, k := range keys {
		p := doc.Properties[k]
		var types []string
		if json.Unmarshal(p.Type, &types) != nil {
			var t string
			json.Unmarshal(p.Type, &t)
			types = []string{t}
		}
		typ := strings.Join(withoutNull(types), " ")
		if p.Minimum != nil && p.Maximum != nil {
			typ += fmt.Sprintf(" (%d–%d)", *p.Minimum, *p.Maximum)
		}
		if p.Secret {
			typ += ", secret"
		}
		required := ""
		for _, r := range doc.Required {
			if r == k {
				required = "yes"
			}
		}
		def := ""
		if len(p.Default) > 0 {
			def = "`" + string(p.Default) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k, typ, required, def, p.Description)
	}
	return b.String()
}

func withoutNull(types []string) []string {
	var out []string
	for _, t := range types {
		if t != "null" {
			out = append(out, t)
		}
	}
	return out
}
