package report

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// The chart library is the pinned npm release, unchanged, with its
// licenses beside it.
func TestVendoredEChartsIsPinned(t *testing.T) {
	const want = "61f13280aba3161f77fc801bf5f9c786f55f10432153a0683fc5cc0700b013d5"
	sum := sha256.Sum256([]byte(echartsJS))
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("assets/echarts/echarts.common.min.js has sha256 %s, want %s (echarts@%s from npm)", got, want, echartsVersion)
	}
	if strings.Contains(strings.ToLower(echartsJS), "</script") {
		t.Error("the chart library contains </script and cannot be inlined")
	}
	for file, mention := range map[string]string{
		"LICENSE": "Apache License", "NOTICE": "Apache ECharts", "LICENSE-zrender": "BSD 3-Clause",
		"LICENSE-d3": "Mike Bostock", "LICENSE-tslib": "Microsoft", "README.md": "echarts@" + echartsVersion,
	} {
		b, err := os.ReadFile("assets/echarts/" + file)
		if err != nil || !strings.Contains(string(b), mention) {
			t.Errorf("assets/echarts/%s: %v; want it to mention %q", file, err, mention)
		}
	}
}
