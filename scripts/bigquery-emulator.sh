#!/usr/bin/env bash
# The goccy bigquery-emulator, pinned in tools/bigquery-emulator/go.mod, for
# the BigQuery destination's tests (internal/warehouse/bigquery).
#
#   scripts/bigquery-emulator.sh path         print where the built binary is cached (it may not exist yet)
#   scripts/bigquery-emulator.sh build        build (once; cached) and print the binary's path
#   scripts/bigquery-emulator.sh start DIR    build if needed, start it on free loopback ports,
#                                             wait until it answers, print its endpoint
#                                             (http://127.0.0.1:PORT); DIR gets pid and log
#   scripts/bigquery-emulator.sh stop DIR     stop the emulator started with DIR
#
# Then: BIGQUERY_EMULATOR_HOST=<endpoint> go test ./internal/warehouse/bigquery/
#
# The build needs clang (go-zetasql): installed with apt-get when missing.
# A cold build takes about 11 minutes on 2 cores; the binary is cached in
# $TWILIO_ELT_CACHE (default ~/.cache/twilio-elt) under a name that changes
# with the tools module's go.mod/go.sum. Exit status 3 means "not
# available here" (outside CI only; in CI=true every failure is a failure).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/tools/bigquery-emulator"
cache="${TWILIO_ELT_CACHE:-${HOME:-/tmp}/.cache/twilio-elt}"
project=test

say() { echo "bigquery-emulator: $*" >&2; }

# unavailable exits 3 outside CI (the tests then skip, saying why) and 1 in CI.
unavailable() {
	say "$*"
	if [ "${CI:-}" = true ]; then exit 1; fi
	exit 3
}

binary_path() {
	local sum
	sum=$(cat "$tools/go.mod" "$tools/go.sum" | sha256sum | cut -c1-12)
	echo "$cache/bigquery-emulator-v0.6.6-$sum"
}

ensure_clang() {
	command -v clang >/dev/null 2>&1 && command -v clang++ >/dev/null 2>&1 && return 0
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		unavailable "clang is missing (go-zetasql needs it); install it with: sudo apt-get install -y clang"
	fi
	say "installing clang with apt-get (needs root; go-zetasql needs it)"
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; } >&2; then
		unavailable "apt-get install clang failed"
	fi
}

build() {
	local bin
	bin=$(binary_path)
	if [ -x "$bin" ]; then
		echo "$bin"
		return 0
	fi
	command -v go >/dev/null 2>&1 || unavailable "go is not installed"
	ensure_clang
	mkdir -p "$cache"
	say "building $(basename "$bin") (cold: about 11 minutes on 2 cores)"
	local start=$SECONDS
	if ! (cd "$tools" && CC=clang CXX=clang++ go build -o "$bin.tmp.$$" \
		github.com/goccy/bigquery-emulator/cmd/bigquery-emulator) >&2; then
		rm -f "$bin.tmp.$$"
		unavailable "building the emulator failed"
	fi
	mv "$bin.tmp.$$" "$bin"
	say "built in $((SECONDS - start))s"
	echo "$bin"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		if port_free "$p"; then echo "$p"; return 0; fi
	done
	return 1
}

start() {
	local dir=$1 bin port grpc endpoint
	bin=$(build)
	mkdir -p "$dir"
	for _ in 1 2 3; do
		port=$(free_port) && grpc=$(free_port) || unavailable "no free local port"
		[ "$port" != "$grpc" ] || continue
		"$bin" --project="$project" --host=127.0.0.1 --port="$port" --grpc-port="$grpc" \
			--log-level=warn >"$dir/log" 2>&1 &
		echo $! >"$dir/pid"
		endpoint="http://127.0.0.1:$port"
		for _ in $(seq 1 300); do
			if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
				break # exited (a port taken in between): try other ports
			fi
			if curl -fsS -o /dev/null "$endpoint/bigquery/v2/projects/$project/datasets" 2>/dev/null; then
				echo "$endpoint"
				return 0
			fi
			sleep 0.2
		done
		stop "$dir"
	done
	say "the emulator did not answer; its log:"
	cat "$dir/log" >&2 || true
	unavailable "could not start the emulator"
}

stop() {
	local dir=$1 pid
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$dir/pid"
}

case "${1:-}" in
path) binary_path ;;
build) build ;;
start) start "${2:?usage: $0 start DIR}" ;;
stop) stop "${2:?usage: $0 stop DIR}" ;;
*)
	echo "usage: $0 path | build | start DIR | stop DIR" >&2
	exit 2
	;;
esac
