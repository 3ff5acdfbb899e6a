package integration_tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testScript runs body in bash with scripts/test.sh's functions defined,
// PATH starting at stubs, stderr and the stubs' log in one file (so their
// order shows), and returns that file's text.
func testScript(t *testing.T, stubs string, env []string, body string) (string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command("bash", "-c", `source scripts/test.sh; logs=$(mktemp -d); { `+body+`; } 2>>"$STUB_LOG"`)
	cmd.Dir = ".."
	cmd.Env = append([]string{"PATH=" + stubs + ":/usr/bin:/bin", "STUB_LOG=" + out, "STUBS=" + stubs, "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}, env...)
	err := cmd.Run()
	b, _ := os.ReadFile(out)
	return string(b), err
}

func stub(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestTestScriptSaysBeforeInstalling: scripts/test.sh says it is about to
// install a package with apt-get before it does, and without root it
// names the command to run instead; in CI that is a failure.
func TestTestScriptSaysBeforeInstalling(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is required")
	}
	const cmdName = "twilio-elt-test-fake-clang" // on no real machine
	tests := []struct {
		name string
		uid  string
		env  []string
		want []string // in order
		rc   string
		fail bool
	}{
		{"as root", "0", nil, []string{
			"test: installing clang with apt-get (needs root), for building the emulator",
			"apt-get update -qq",
			"apt-get install -y -qq clang",
			"test: installed clang",
		}, "rc=0", false},
		{"not root", "1000", nil, []string{
			"test: " + cmdName + " is missing, needed for building the emulator. Install it with: sudo apt-get install -y clang",
		}, "rc=1", false},
		{"not root, in CI", "1000", []string{"CI=true"}, []string{
			"Install it with: sudo apt-get install -y clang",
			"test: CI=true: a missing dependency is a failure",
		}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stubs := t.TempDir()
			stub(t, stubs, "id", `[ "$1" = -u ] && echo `+tt.uid+"\n")
			stub(t, stubs, "apt-get", `echo "apt-get $*" >>"$STUB_LOG"
[ "$1" = install ] && printf '#!/bin/sh\n' >"$STUBS/`+cmdName+`" && chmod +x "$STUBS/`+cmdName+`"
exit 0
`)
			out, err := testScript(t, stubs, tt.env, `rc=0; need_apt_package `+cmdName+` clang "building the emulator" || rc=$?; echo "rc=$rc" >>"$STUB_LOG"`)
			if (err != nil) != tt.fail {
				t.Fatalf("bash: %v, want failure %v\n%s", err, tt.fail, out)
			}
			rest := out
			for _, w := range append(tt.want, tt.rc) {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q after what came before:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if tt.uid != "0" && strings.Contains(out, "apt-get install") && !strings.Contains(out, "sudo apt-get install") {
				t.Errorf("apt-get ran without root:\n%s", out)
			}
		})
	}
}

// TestTestScriptShowsProgress: while it waits for a long build, the
// script says how long it has taken, at every interval.
func TestTestScriptShowsProgress(t *testing.T) {
	out, err := testScript(t, t.TempDir(), []string{"PROGRESS_EVERY=1"},
		`sleep 3.5 & start=$SECONDS; wait_with_progress $! $start "building the thing"; echo "rc=$?" >>"$STUB_LOG"`)
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	if n := strings.Count(out, "test: still building the thing: 0 min "); n < 2 || !strings.Contains(out, "rc=0") {
		t.Errorf("%d progress lines, want one a second:\n%s", n, out)
	}
}

// TestTestScriptChecksTidy: the test command fails, naming the module and
// showing the difference, when a go.mod is not what `go mod tidy` would
// write. The untidy module requires a local module it does not use, so
// the check needs no network.
func TestTestScriptChecksTidy(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go is required")
	}
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	write(filepath.Join(dir, "dep", "go.mod"), "module example.com/dep\n\ngo 1.26\n")
	write(filepath.Join(dir, "dep", "dep.go"), "package dep\n")
	write(filepath.Join(dir, "mod", "main.go"), "package main\n\nfunc main() {}\n")
	tidy := "module example.com/mod\n\ngo 1.26\n"
	untidy := tidy + "\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ../dep\n"
	env := []string{"PATH=" + filepath.Dir(goBin) + ":/usr/bin:/bin", "GOPROXY=off", "GOTOOLCHAIN=local"}
	for _, tt := range []struct {
		name, gomod string
		fail        bool
	}{
		{"tidy", tidy, false},
		{"untidy", untidy, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			write(filepath.Join(dir, "mod", "go.mod"), tt.gomod)
			out, err := testScript(t, t.TempDir(), env, `check_tidy `+filepath.Join(dir, "mod"))
			if (err != nil) != tt.fail {
				t.Fatalf("check_tidy: %v, want failure %v\n%s", err, tt.fail, out)
			}
			if tt.fail && (!strings.Contains(out, "go.mod or go.sum is not tidy; run: (cd "+filepath.Join(dir, "mod")+" && go mod tidy)") ||
				!strings.Contains(out, "-require example.com/dep v0.0.0")) {
				t.Errorf("check_tidy does not say what is wrong:\n%s", out)
			}
		})
	}
}
