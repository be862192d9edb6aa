# identityd in a container: built on Debian 12 with the -dev packages, run on Debian 12 with
# only the runtime libraries, as an unprivileged user.
#
#   docker build -t identityd .
#   docker run -p 8092:8092 -v identityd-conf:/etc/identityd -v identityd-data:/var/lib/identityd identityd
#
# Without a Docker engine (podman and a chroot, as root): scripts/image-check builds it, starts
# it and checks the first start, a token, the health check and the unprivileged user.
#
# /etc/identityd holds identityd.yaml, the pepper and the signing keys; /var/lib/identityd
# holds the database. On first start with empty volumes the entrypoint creates a pepper, an
# ES256 key and a configuration listening on 0.0.0.0:8092 (see docker-entrypoint below).

FROM debian:12-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc make cmake pkg-config libc6-dev libh2o-evloop-dev libjwt-dev libssl-dev \
        libsqlite3-dev libjansson-dev libyaml-dev libcurl4-openssl-dev libqrencode-dev libpng-dev \
        libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY include include
COPY src src
COPY migrations migrations
COPY config config
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    && cmake --build build -j"$(nproc)" \
    && cmake --install build --prefix /opt/identityd

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libh2o-evloop0.13 libjwt0 libssl3 libsqlite3-0 libjansson4 libyaml-0-2 libcurl4 ca-certificates \
        libqrencode4 libpng16-16 libpq5 \
        curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/identityd --shell /usr/sbin/nologin identityd \
    && mkdir -p /etc/identityd /var/lib/identityd \
    && chown identityd:identityd /etc/identityd /var/lib/identityd \
    && chmod 0700 /etc/identityd /var/lib/identityd
COPY --from=build /opt/identityd/bin/ /usr/local/bin/
COPY --from=build /opt/identityd/share/identityd/ /usr/local/share/identityd/
COPY --from=build /opt/identityd/etc/identityd/identityd.example.yaml /usr/share/identityd/
COPY scripts/docker-entrypoint /usr/local/bin/docker-entrypoint
USER identityd
# IDENTITYD_PORT: the port the first start's configuration listens on, and the one the health
# check asks; change both together if identityd.yaml is edited to listen elsewhere.
ENV IDENTITYD_CONFIG=/etc/identityd/identityd.yaml IDENTITYD_PORT=8092
VOLUME ["/etc/identityd", "/var/lib/identityd"]
EXPOSE 8092
# Liveness: /healthz answers whenever the process does. curl comes with the runtime image for
# this (libcurl is there already, so it adds little). Built with podman, HEALTHCHECK needs
# --format docker (scripts/image-check).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS --max-time 3 -o /dev/null "http://127.0.0.1:${IDENTITYD_PORT}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]
CMD ["identityd"]
