package connector

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
)

// gatedWriter records messages; while its gate is closed, writes wait.
type gatedWriter struct {
	gate chan struct{}
	fail error
	mu   sync.Mutex
	got  []string
}

func (w *gatedWriter) Write(m protocol.Message) error {
	<-w.gate
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	switch m := m.(type) {
	case protocol.Record:
		w.got = append(w.got, "RECORD "+string(m.Data))
	case protocol.State:
		w.got = append(w.got, "STATE "+string(m.Data))
	case protocol.StreamStatus:
		w.got = append(w.got, "STATUS "+string(m.Status))
	}
	return nil
}

// A consumer that stops reading for a while holds up the writing, not the
// partitions: they hand over as many windows as the queue holds and go on.
func TestEmitterQueuesWhileTheConsumerWaits(t *testing.T) {
	w := &gatedWriter{gate: make(chan struct{})}
	const depth = 3
	e := newEmitter(w, time.Now, depth)
	cursor := 0
	var want []string
	// The writing goroutine takes one piece of work and waits on the gate
	// with it; depth more fit in the queue.
	for i := range depth + 1 {
		row := json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))
		done := make(chan error, 1)
		go func() {
			done <- e.checkpoint("s", []json.RawMessage{row}, nil, func() { cursor = i }, func() json.RawMessage {
				return json.RawMessage(fmt.Sprintf(`{"cursor":%d}`, cursor))
			}, false)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("checkpoint %d waited for the consumer", i)
		}
		if i == 0 {
			want = append(want, "STATUS RUNNING")
		}
		want = append(want, "RECORD "+string(row), fmt.Sprintf(`STATE {"cursor":%d}`, i))
	}
	close(w.gate)
	if err := e.close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, w.got); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
}

// A failure to write stops the read: the next hand-overs and close report it.
func TestEmitterFailureSticks(t *testing.T) {
	boom := errors.New("broken pipe")
	w := &gatedWriter{gate: make(chan struct{}), fail: boom}
	close(w.gate)
	e := newEmitter(w, time.Now, 4)
	if err := e.status("s", protocol.StatusStarted); err != nil {
		t.Fatalf("first status: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		err = e.estimate("s", 1)
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, boom) {
		t.Errorf("hand-over after the failure = %v, want %v", err, boom)
	}
	if err := e.close(); !errors.Is(err, boom) {
		t.Errorf("close = %v, want %v", err, boom)
	}
}
