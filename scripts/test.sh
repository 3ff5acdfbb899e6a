#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then
# runs every test. In CI (CI=true) a missing dependency is a failure.
#
# Every step says what it is about to do before it does it. Logs go to a
# fresh temporary folder, named at the start and kept at the end.
#
# To add something the tests need from the system, add a line to
# system_packages: need_apt_package COMMAND PACKAGE "what needs it".
set -euo pipefail

say() { echo "test: $*" >&2; }

# need_apt_package CMD PKG WHY makes the command CMD available, installing
# the Debian package PKG with apt-get when it is missing (as root only; it
# says so first). It returns 1 when CMD stays missing: outside CI the
# tests that need it then skip; in CI that is a failure.
need_apt_package() {
	local cmd=$1 pkg=$2 why=$3
	command -v "$cmd" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing $pkg with apt-get (needs root), for $why; log: $logs/apt.log"
		if [ -z "${apt_updated:-}" ]; then
			apt-get update -qq >>"$logs/apt.log" 2>&1 || say "apt-get update failed (see $logs/apt.log); trying the install anyway"
			apt_updated=1
		fi
		if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >>"$logs/apt.log" 2>&1 && command -v "$cmd" >/dev/null 2>&1; then
			say "installed $pkg"
			return 0
		fi
		say "apt-get install $pkg failed; see $logs/apt.log"
	else
		say "$cmd is missing, needed for $why. Install it with: sudo apt-get install -y $pkg"
	fi
	if [ "${CI:-}" = true ]; then
		say "CI=true: a missing dependency is a failure"
		exit 1
	fi
	return 1
}

# system_packages installs what the tests need from the system. It sets
# bq_buildable=0 when the BigQuery emulator cannot be built here.
system_packages() {
	bq_buildable=1
	if [ ! -x "$(scripts/bigquery-emulator.sh path)" ]; then
		# go-zetasql, inside the BigQuery emulator, builds with clang.
		need_apt_package clang clang "building the BigQuery emulator (go-zetasql)" || bq_buildable=0
	fi
	# The report's browser test drives Debian's chromium, headless and
	# offline; without it (outside CI) that test skips.
	need_apt_package chromium chromium "the report's browser test" || true
}

# check_tidy DIR fails, showing the difference, when the go.mod and go.sum
# of the module in DIR are not what `go mod tidy` would write.
check_tidy() {
	local dir=$1 diff
	if ! diff=$(cd "$dir" && go mod tidy -diff 2>&1); then
		say "$dir: go.mod or go.sum is not tidy; run: (cd $dir && go mod tidy)"
		echo "$diff" >&2
		return 1
	fi
}

# wait_with_progress PID START WHAT waits for PID, saying every
# $PROGRESS_EVERY seconds (default 60) how long WHAT has taken since
# START (a $SECONDS value). It returns PID's exit status.
wait_with_progress() {
	local pid=$1 start=$2 what=$3 every=${PROGRESS_EVERY:-60}
	local next=$every
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if [ $((SECONDS - start)) -ge "$next" ]; then
			say "still $what: $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s so far"
			next=$((next + every))
		fi
	done
	wait "$pid"
}

main() {
	cd "$(dirname "$0")/.."
	logs=$(mktemp -d "${TMPDIR:-/tmp}/twilio-elt-test.XXXXXX")
	say "logs go to $logs"

	if ! command -v go >/dev/null 2>&1; then
		say "go is required but not installed: https://go.dev/dl/ (Go 1.26 or newer)"
		exit 1
	fi
	local go_version
	go_version=$(go env GOVERSION)
	case "$go_version" in
	go1.2[6-9]* | go1.[3-9]*) ;;
	*) say "Go 1.26 or newer is required, found $go_version"; exit 1 ;;
	esac

	echo "== system packages"
	system_packages

	# The BigQuery destination's tests run against the goccy
	# bigquery-emulator (scripts/bigquery-emulator.sh). Its build is cached;
	# a cold one takes about 11 minutes on 2 cores, so it starts now, in the
	# background, while vet and gofmt run.
	local bq_dir="$logs/bigquery-emulator" bq_build="" bq_start=$SECONDS
	mkdir -p "$bq_dir"
	trap 'scripts/bigquery-emulator.sh stop "'"$bq_dir"'" >/dev/null 2>&1 || true' EXIT
	if [ -x "$(scripts/bigquery-emulator.sh path)" ]; then
		say "BigQuery emulator: cached at $(scripts/bigquery-emulator.sh path)"
	elif [ "$bq_buildable" = 1 ]; then
		say "building the BigQuery emulator in the background (cold: about 11 min on 2 cores, then cached); log: $bq_dir/build.log"
	fi
	if [ "$bq_buildable" = 1 ]; then
		scripts/bigquery-emulator.sh build >"$bq_dir/bin" 2>"$bq_dir/build.log" &
		bq_build=$!
	fi

	echo "== go vet (a first run compiles DuckDB's bindings: a few silent minutes)"
	go vet ./...
	echo "== gofmt"
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
	if [ -n "$unformatted" ]; then
		say "gofmt needed on:"
		echo "$unformatted" >&2
		exit 1
	fi
	echo "== go mod tidy"
	check_tidy . || exit 1
	check_tidy tools/bigquery-emulator || exit 1

	echo "== bigquery emulator"
	local bq_rc=3
	if [ -n "$bq_build" ]; then
		bq_rc=0
		wait_with_progress "$bq_build" "$bq_start" "building the BigQuery emulator (log: $bq_dir/build.log)" || bq_rc=$?
	fi
	if [ "$bq_rc" = 0 ]; then
		BIGQUERY_EMULATOR_HOST=$(scripts/bigquery-emulator.sh start "$bq_dir")
		export BIGQUERY_EMULATOR_HOST
		say "BigQuery emulator at $BIGQUERY_EMULATOR_HOST"
	elif [ "$bq_rc" = 3 ] && [ "${CI:-}" != true ]; then
		[ -s "$bq_dir/build.log" ] && cat "$bq_dir/build.log" >&2
		say "no BigQuery emulator here: its tests will skip"
	else
		[ -s "$bq_dir/build.log" ] && cat "$bq_dir/build.log" >&2
		say "the BigQuery emulator is required (CI=${CI:-})"
		exit 1
	fi

	echo "== go test (log: $logs/go-test.log)"
	# The BigQuery destination's suite runs after the rest, on an emulator
	# of its own: one emulator serving it and integration_tests (the
	# BigQuery sync and dbt tests) at once drops requests ("EOF").
	go test -count=1 -timeout 30m $(go list ./... | grep -v '/internal/warehouse/bigquery$') 2>&1 | tee "$logs/go-test.log"
	if [ -n "${BIGQUERY_EMULATOR_HOST:-}" ]; then
		scripts/bigquery-emulator.sh stop "$bq_dir"
		BIGQUERY_EMULATOR_HOST=$(scripts/bigquery-emulator.sh start "$bq_dir")
		say "BigQuery emulator restarted at $BIGQUERY_EMULATOR_HOST"
	fi
	go test -count=1 -timeout 30m ./internal/warehouse/bigquery 2>&1 | tee -a "$logs/go-test.log"
	say "all tests passed; logs in $logs"
}

# Sourced (by its own test), it only defines the functions above.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
