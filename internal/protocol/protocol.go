// Package protocol is the neutral model of what a connector says while it
// runs: records, state checkpoints, stream statuses, estimates, logs and
// errors. The encodings live in subpackages: protocol/airbyte writes
// Airbyte JSON lines, protocol/singer writes Singer messages. The connector
// speaks only this model, so one read serves both protocols.
package protocol

import (
	"encoding/json"
	"log/slog"
	"time"
)

// Message is one of the types below.
type Message interface{ message() }

// Record is one row of a stream, as a JSON object.
type Record struct {
	Stream    string
	Data      json.RawMessage
	EmittedAt time.Time
}

// State is a checkpoint of one stream: Data is the stream's whole state
// blob, and RecordCount the records of that stream emitted since its
// previous State.
type State struct {
	Stream      string
	Data        json.RawMessage
	RecordCount int64
}

// Status is a stream's lifecycle state within a read.
type Status string

const (
	StatusStarted    Status = "STARTED"
	StatusRunning    Status = "RUNNING"
	StatusComplete   Status = "COMPLETE"
	StatusIncomplete Status = "INCOMPLETE"
)

// StreamStatus reports that a stream entered Status.
type StreamStatus struct {
	Stream string
	Status Status
}

// Estimate is the number of rows a stream is expected to emit in this read.
type Estimate struct {
	Stream string
	Rows   int64
}

// Log is a log line.
type Log struct {
	Level   slog.Level
	Message string
}

// FailureType classifies an Error the way Airbyte does.
type FailureType string

const (
	// ConfigError: the user must change the config, catalog or state.
	ConfigError FailureType = "config_error"
	// SystemError: a defect or an unexpected answer; retrying will not help.
	SystemError FailureType = "system_error"
	// TransientError: retrying later may succeed.
	TransientError FailureType = "transient_error"
)

// Error ends a run that failed. Message is for people; Internal is the
// underlying error text.
type Error struct {
	Message  string
	Internal string
	Failure  FailureType
	Stream   string
}

// ConnectionStatus is the answer to `check`.
type ConnectionStatus struct {
	Succeeded bool
	Message   string
}

// Spec is the answer to `spec`.
type Spec struct {
	DocumentationURL        string
	ConnectionSpecification json.RawMessage
	SupportsIncremental     bool
}

// Catalog is the answer to `discover`: the streams as Airbyte JSON objects.
type Catalog struct {
	Streams []json.RawMessage
}

func (Record) message()           {}
func (State) message()            {}
func (StreamStatus) message()     {}
func (Estimate) message()         {}
func (Log) message()              {}
func (Error) message()            {}
func (ConnectionStatus) message() {}
func (Spec) message()             {}
func (Catalog) message()          {}

// Writer receives messages. Implementations are safe for concurrent use
// and write each message whole. Write must not keep a Record's Data after
// it returns: the connector reuses that memory for later records.
type Writer interface {
	Write(Message) error
}
