package bigquery

import (
	"testing"

	"github.com/twilio-elt/twilio-elt/internal/warehouse/conformance"
)

// TestConformance runs the suite every warehouse.Destination passes
// against the bigquery-emulator, one fresh dataset per subtest.
func TestConformance(t *testing.T) {
	endpoint := emulatorEndpoint(t)
	conformance.Run(t, func(t *testing.T) conformance.Destination {
		return emulatorDestAt(t, endpoint, testDataset(t))
	})
}
