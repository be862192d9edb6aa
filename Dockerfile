# identityd in a container: built on Debian 12 with the -dev packages, run on Debian 12 with
# only the runtime libraries, as an unprivileged user.
#
#   docker build -t identityd .
#   docker run -p 8092:8092 -v identityd-conf:/etc/identityd -v identityd-data:/var/lib/identityd identityd
#
# /etc/identityd holds identityd.yaml, the pepper and the signing keys; /var/lib/identityd
# holds the database. On first start with empty volumes the entrypoint creates a pepper, an
# ES256 key and a configuration listening on 0.0.0.0:8092 (see docker-entrypoint below).

FROM debian:12-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc make cmake pkg-config libc6-dev libh2o-evloop-dev libjwt-dev libssl-dev \
        libsqlite3-dev libjansson-dev libyaml-dev libcurl4-openssl-dev \
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
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/identityd --shell /usr/sbin/nologin identityd \
    && mkdir -p /etc/identityd /var/lib/identityd \
    && chown identityd:identityd /etc/identityd /var/lib/identityd \
    && chmod 0700 /etc/identityd /var/lib/identityd
COPY --from=build /opt/identityd/bin/ /usr/local/bin/
COPY --from=build /opt/identityd/etc/identityd/identityd.example.yaml /usr/share/identityd/
COPY scripts/docker-entrypoint /usr/local/bin/docker-entrypoint
USER identityd
ENV IDENTITYD_CONFIG=/etc/identityd/identityd.yaml
VOLUME ["/etc/identityd", "/var/lib/identityd"]
EXPOSE 8092
ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]
CMD ["identityd"]
