# twilio-elt as an Airbyte source image.
#
#   docker build -t twilio-elt/source-twilio-usage:0.1.0 .
#   docker run --rm twilio-elt/source-twilio-usage:0.1.0 spec
#
# The builder has a C toolchain (the golang image ships gcc and libc6-dev)
# because the warehouse links DuckDB through cgo; the final image is the
# same Debian release, so the binary finds the glibc and libstdc++ it was
# linked against. integration_tests/docker_test.go runs this file's
# `go build` lines directly and checks the labels, entrypoint and version.

FROM golang:1.26-trixie AS build
WORKDIR /src
ENV CGO_ENABLED=1
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/twilio-elt ./cmd/twilio-elt
RUN go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/tap-twilio-usage ./cmd/tap-twilio-usage

FROM debian:trixie-slim
# No package manager run: CA certificates come from the builder, which has
# them for `go mod download`.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/twilio-elt /usr/local/bin/twilio-elt
COPY --from=build /out/tap-twilio-usage /usr/local/bin/tap-twilio-usage
RUN useradd --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin airbyte \
 && mkdir -p /airbyte \
 && chown airbyte:airbyte /airbyte
WORKDIR /airbyte
USER 1000:1000
ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/twilio-elt"
ENTRYPOINT ["/usr/local/bin/twilio-elt"]
LABEL io.airbyte.name="twilio-elt/source-twilio-usage" \
      io.airbyte.version="0.1.0" \
      org.opencontainers.image.source="https://github.com/twilio-elt/twilio-elt" \
      org.opencontainers.image.description="Twilio usage and cost: an Airbyte source and a Singer tap"
