package connector

import (
	"context"
	"slices"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/internal/warehouse"
	"github.com/twilio-elt/twilio-elt/transforms"
)

// Stream is one stream of the source, whole, as one value: what it is to
// Airbyte and Singer (its catalog entry), how an incremental read moves
// (its cursor policy), how it is read (its partitions and requests), and
// where its records land (its tables, the normalizer that turns a record
// into their rows, and how a re-read replaces what it covers). `read`,
// `discover`, the loader and the catalog loop over the registry; nothing
// switches on a stream's name.
//
// The registry is here, and not above the connector and the loader, so
// that a stream stays in one file: this package imports transforms for
// its tables' definitions (a bend of DESIGN.md's import order, which puts
// the two side by side).
type Stream struct {
	catalog.Stream
	// Cursor is the incremental read's policy; nil for a stream read in
	// full only.
	Cursor *CursorPolicy
	// read reads the stream: its partitions, their requests, and the
	// checkpoints after each window.
	read func(c *Connector, ctx context.Context, r *run, cs catalog.Configured) error
	// Tables are the warehouse tables its records land in.
	Tables []warehouse.Table
	// Normalize turns one record into rows of Tables and returns the
	// record's replace group. A record that does not fit is a
	// *transforms.RecordError and adds nothing.
	Normalize func(n *transforms.Normalizer, data []byte) (transforms.GroupKey, error)
	// Replace is how a re-read replaces the rows it covers.
	Replace Replace
	// Costed: the stream's days are the cost model's input; the loader
	// attributes each one it loads (transforms/costmodel).
	Costed bool
}

// Replace is how a stream's re-read replaces what it covers.
type Replace int

const (
	// ReplaceSnapshot: the stream is a full list of one main account's
	// (accounts, SIMs). Its tables have a MainAccountColumn. The first
	// batch of a read replaces the rows of the read's main account
	// (SnapshotGroups), and every record replaces its own key, so a
	// record two connections list (a subaccount connected on its own
	// too) is stored once.
	ReplaceSnapshot Replace = iota
	// ReplaceDay: a group is a partition's UTC day, and one record (a
	// SIM's day): every record replaces its group.
	ReplaceDay
	// ReplaceDayOfMany: a group is a partition's UTC day of many records
	// (an account's usage, a category per record). The first batch of a
	// read to see the day replaces it; a later batch replaces it again
	// with the rows committed before that its records do not supersede.
	// The loader reads those rows back through the cost model, so only a
	// Costed stream may use it.
	ReplaceDayOfMany
)

// MainAccountColumn is the column of a snapshot stream's tables that
// holds the main account of the connection that loaded the row: a
// snapshot is replaced per main account.
const MainAccountColumn = "main_account_sid"

// SnapshotGroups returns what the first batch of a read of snapshot
// stream s by main account main replaces: main's rows, and the unscoped
// rows (main_account_sid NULL: loaded by an older version, or by a run
// that knew no main account). Without a main account, its tables whole.
func (s *Stream) SnapshotGroups(main string) []warehouse.Group {
	var out []warehouse.Group
	for _, t := range s.Tables {
		if main == "" {
			out = append(out, warehouse.Group{Table: t.Name})
			continue
		}
		cols := []string{MainAccountColumn}
		out = append(out,
			warehouse.Group{Table: t.Name, Columns: cols, Values: []any{main}},
			warehouse.Group{Table: t.Name, Columns: cols, Values: []any{nil}})
	}
	return out
}

// Groups returns the warehouse groups of k: a day's rows, a snapshot's
// record (k.SID), or, for a snapshot key without a SID, its tables whole.
func (s *Stream) Groups(k transforms.GroupKey) []warehouse.Group {
	var values []any
	switch {
	case s.Replace != ReplaceSnapshot:
		values = []any{k.SID, k.Day.ToTime().UTC()}
	case k.SID != "":
		values = []any{k.SID}
	}
	out := make([]warehouse.Group, len(s.Tables))
	for i, t := range s.Tables {
		out[i] = warehouse.Group{Table: t.Name, Values: values}
	}
	return out
}

// registry is every stream, in the order a read reads them: accounts
// before the usage partitioned by them, SIMs before their usage.
var registry = []*Stream{
	&accountsStream,
	&usageRecordsStream,
	&simsStream,
	&simUsageRecordsStream,
	&superSIMsStream,
	&superSIMUsageStream,
}

// Streams returns the registry.
func Streams() []*Stream { return slices.Clone(registry) }

// Lookup returns the stream called name.
func Lookup(name string) (*Stream, bool) {
	for _, s := range registry {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// Catalog returns every stream's catalog entry.
func Catalog() catalog.Catalog {
	out := make(catalog.Catalog, len(registry))
	for i, s := range registry {
		out[i] = s.Stream
	}
	return out
}

// Tables returns the tables of every stream, each once.
func Tables() []warehouse.Table {
	var out []warehouse.Table
	seen := map[string]bool{}
	for _, s := range registry {
		for _, t := range s.Tables {
			if !seen[t.Name] {
				seen[t.Name] = true
				out = append(out, t)
			}
		}
	}
	return out
}
