# syntax=docker/dockerfile:1
# Firebreak: a static binary on a distroless, non-root base.
#   docker build -t firebreak .
#   docker run --rm -p 8080:8080 firebreak serve
# Build stage: the module cache and build cache are kept between builds.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/firebreak ./cmd/firebreak \
 && mkdir -p /out/data

# Run stage: no shell, no package manager, uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/firebreak /usr/local/bin/firebreak
# The data directory (keyring, admin token, embedded JetStream when no
# nats.url is set) belongs to the non-root user, so a named volume mounted
# here inherits that ownership.
COPY --from=build --chown=65532:65532 /out/data /var/lib/firebreak
USER 65532:65532
WORKDIR /var/lib/firebreak
ENV FIREBREAK_DATA_DIR=/var/lib/firebreak \
    FIREBREAK_HTTP_LISTEN=0.0.0.0:8080 \
    FIREBREAK_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/firebreak"]
CMD ["serve"]
