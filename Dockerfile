# syntax=docker/dockerfile:1
# otpd container image: a cached dependency layer, an offline sqlx build, and a small
# non-root runtime with no shell (the binary is its own health probe).
#
#   docker build -t otpd:dev --build-arg VERSION=$(git describe --always) --build-arg REVISION=$(git rev-parse HEAD) .
#
# scripts/check-deploy validates this file offline (COPY sources, build flags).

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# sqlx checks queries against the committed .sqlx/ data: no database at build time.
ENV SQLX_OFFLINE=true CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0

# Dependencies only: build a stub crate with the real manifest and lock file, so this layer
# is reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin otpd \
    && rm -rf src target/release/otpd target/release/deps/otpd-* target/release/deps/libotpd-* \
              target/release/.fingerprint/otpd-*

# The application: everything the crate reads at compile time (queries, migrations, templates).
COPY .sqlx .sqlx
COPY migrations migrations
COPY locales locales
COPY build.rs build.rs
COPY src src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin otpd \
    && install -D -m 0755 target/release/otpd /out/otpd

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
# Where the sources live (e.g. https://github.com/<org>/otpd); empty unless given.
ARG SOURCE=
LABEL org.opencontainers.image.title="otpd" \
      org.opencontainers.image.description="Self-hosted one-time-passcode delivery with a Stytch-compatible API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=builder /out/otpd /usr/local/bin/otpd
# distroless's "nonroot" user, numeric so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# A container must listen beyond loopback; metrics go to the admin port.
ENV OTPD_LISTEN=0.0.0.0:8080 \
    OTPD_ADMIN_LISTEN=0.0.0.0:9090 \
    OTPD_LOG__FORMAT=json
EXPOSE 8080 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/otpd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/otpd"]
CMD ["serve"]
