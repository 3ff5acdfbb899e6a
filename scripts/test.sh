#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then
# runs every test. In CI (CI=true) a missing dependency is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "test: $1 is required but not installed" >&2
		exit 1
	fi
}
need go

go_version=$(go env GOVERSION)
case "$go_version" in
go1.2[6-9]* | go1.[3-9]*) ;;
*) echo "test: Go 1.26 or newer is required, found $go_version" >&2; exit 1 ;;
esac

# The BigQuery destination's tests run against the goccy bigquery-emulator
# (scripts/bigquery-emulator.sh). Its build is cached; a cold one takes about
# 11 minutes, so it starts now, in the background, while vet and gofmt run.
bq_dir=$(mktemp -d)
trap 'scripts/bigquery-emulator.sh stop "$bq_dir" >/dev/null 2>&1 || true; rm -rf "$bq_dir"' EXIT
scripts/bigquery-emulator.sh build >"$bq_dir/bin" 2>"$bq_dir/build.log" &
bq_build=$!

# The report's browser test drives Debian's chromium (headless, offline).
if ! command -v chromium >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		echo "== installing chromium (the report's browser test)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	elif [ "${CI:-}" = true ]; then
		echo "test: chromium is required for the report's browser test: run sudo apt-get install -y chromium" >&2
		exit 1
	else
		echo "test: no chromium here (sudo apt-get install -y chromium): the report's browser test will skip" >&2
	fi
fi

echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "test: gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "== bigquery emulator"
bq_rc=0
wait "$bq_build" || bq_rc=$?
cat "$bq_dir/build.log" >&2
if [ "$bq_rc" = 0 ]; then
	BIGQUERY_EMULATOR_HOST=$(scripts/bigquery-emulator.sh start "$bq_dir")
	export BIGQUERY_EMULATOR_HOST
	echo "bigquery emulator at $BIGQUERY_EMULATOR_HOST"
elif [ "$bq_rc" = 3 ] && [ "${CI:-}" != true ]; then
	echo "test: no bigquery emulator here: its tests will skip" >&2
else
	echo "test: the bigquery emulator is required (CI=${CI:-})" >&2
	exit 1
fi
echo "== go test"
# The BigQuery destination's suite runs after the rest, on an emulator of
# its own: one emulator serving it and integration_tests (the BigQuery sync
# and dbt tests) at once drops requests ("EOF").
go test -count=1 -timeout 30m $(go list ./... | grep -v '/internal/warehouse/bigquery$') 2>&1 | tee /tmp/twilio-elt-test.log
if [ -n "${BIGQUERY_EMULATOR_HOST:-}" ]; then
	scripts/bigquery-emulator.sh stop "$bq_dir"
	BIGQUERY_EMULATOR_HOST=$(scripts/bigquery-emulator.sh start "$bq_dir")
	echo "bigquery emulator restarted at $BIGQUERY_EMULATOR_HOST"
fi
go test -count=1 -timeout 30m ./internal/warehouse/bigquery 2>&1 | tee -a /tmp/twilio-elt-test.log
