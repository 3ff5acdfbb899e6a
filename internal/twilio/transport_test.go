package twilio

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// A body whose length was announced is read into one buffer of the right
// size, and a buffer given back is used again.
func TestReadAllAllocatesOnce(t *testing.T) {
	tr := &transport{bodies: make(chan []byte, 1)}
	for _, n := range []int{10, reusedBodySize - 1, 3 * reusedBodySize} {
		body := strings.Repeat("x", n)
		allocs := testing.AllocsPerRun(20, func() {
			got, err := tr.readAll(strings.NewReader(body), int64(n))
			if err != nil || len(got) != n {
				t.Fatalf("readAll of %d bytes = %d bytes, %v", n, len(got), err)
			}
		})
		// The buffer, and bytes.Buffer around it.
		if allocs > 2 {
			t.Errorf("readAll of %d bytes: %v allocations, want at most 2", n, allocs)
		}
	}

	body := bytes.Repeat([]byte("y"), 2*reusedBodySize)
	first, err := tr.readAll(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	tr.release(&http.Response{Body: &bufferedBody{Reader: bytes.NewReader(first), data: first}})
	again, err := tr.readAll(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if &again[0] != &first[0] || !bytes.Equal(again, body) {
		t.Errorf("a released buffer was not reused, or the body read into it is wrong")
	}
}
