package integration_tests

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
)

var killRounds = flag.Int("killrounds", 20, "rounds of the kill-loop test (each kills 1–3 runs with SIGKILL, then completes one)")

// TestKillLoop kills `sync`, and `read | load`, with SIGKILL at seeded
// random points, one to three times a round, then lets a run complete:
// the tables are a clean sync's every round. A longer run:
// go test ./integration_tests -run KillLoop -killrounds 50.
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("the kill loop takes a minute")
	}
	_, cfg := emulatorConfig(t, twiliotest.Options{Seed: 21, Subaccounts: 3, Days: 70, SIMs: 6, Latency: 3 * time.Millisecond}, func(c map[string]any) {
		c["start_date"] = daysAgo(75)
	})
	dir := t.TempDir()
	catalogFile, err := filepath.Abs("configured_catalog.json") // every stream
	if err != nil {
		t.Fatal(err)
	}

	cleanDB := filepath.Join(dir, "clean.duckdb")
	start := time.Now()
	if r := runIn(t, dir, nil, "sync", "--config", cfg, "--path", cleanDB); r.code != 0 {
		t.Fatalf("clean sync: %s", r.stderr)
	}
	took := time.Since(start)
	clean := tableChecksums(t, cleanDB)

	shell := func(db string) []string {
		return []string{"sh", "-c", fmt.Sprintf("%q read --config %q --catalog %q | %q load --path %q", binary, cfg, catalogFile, binary, db)}
	}
	rng := rand.New(rand.NewPCG(21, 1))
	kills := 0
	for round := range *killRounds {
		mode := []string{"sync", "read | load"}[round%2]
		db := filepath.Join(dir, fmt.Sprintf("round%02d.duckdb", round))
		command := []string{binary, "sync", "--config", cfg, "--path", db}
		if mode != "sync" {
			command = shell(db)
		}
		for range 1 + rng.IntN(3) {
			at := time.Duration(rng.Float64() * float64(took))
			if killAt(t, dir, command, at) {
				kills++
			}
		}
		cmd := exec.Command(command[0], command[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("round %d (%s): the run after the kills failed: %v\n%s", round, mode, err, out)
		}
		if diff := cmp.Diff(clean, tableChecksums(t, db)); diff != "" {
			t.Fatalf("round %d (%s): tables differ from a clean sync's (-clean +killed):\n%s", round, mode, diff)
		}
		os.Remove(db)
	}
	if kills < *killRounds {
		t.Errorf("only %d of the runs were killed before they ended: the loop proves little", kills)
	}
	t.Logf("%d rounds, %d runs killed", *killRounds, kills)
}

// killAt starts command in its own process group, sends the group
// SIGKILL after d, and reports whether the kill came before the command
// ended.
func killAt(t *testing.T, dir string, command []string, d time.Duration) bool {
	t.Helper()
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return false
	case <-time.After(d):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		// The group's other processes (read and load of a pipe) are not
		// our children: kill again until none is left running (one
		// forked while the first kill was delivered escapes it), so
		// their locks are gone. A zombie left for init to reap holds
		// none.
		for deadline := time.Now().Add(30 * time.Second); groupRunning(cmd.Process.Pid); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("processes of group %d still run 30 s after SIGKILL", cmd.Process.Pid)
			}
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return true
	}
}

// groupRunning reports whether a process of group pgid has not exited
// yet: one whose /proc stat is in a state other than zombie or dead.
func groupRunning(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}
