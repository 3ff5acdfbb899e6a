package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The production binaries link neither package testing nor
// net/http/httptest: test code stays out of what users run (the Twilio
// emulator, served by the emulator and demo commands, included).
func TestBinariesDoNotLinkTestCode(t *testing.T) {
	forbidden := []string{"testing", "net/http/httptest"}
	for _, pkg := range []string{".", "../tap-twilio-usage"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		if !deps["github.com/twilio-elt/twilio-elt/internal/cli"] {
			t.Fatalf("go list -deps %s does not list internal/cli: the check would pass for nothing\n%s", pkg, out)
		}
		for _, f := range forbidden {
			if deps[f] {
				t.Errorf("%s links %s; to see who imports it: go list -deps -f '{{.ImportPath}}: {{.Imports}}' %s | grep -w %s", pkg, f, pkg, f)
			}
		}
	}
}
