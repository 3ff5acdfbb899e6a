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

echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "test: gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
echo "== go test"
go test -count=1 -timeout 30m ./... 2>&1 | tee /tmp/twilio-elt-test.log
