# sluice container image: the scheduler, the worker, the `sluice` tool and the
# bundled plugins on Debian 12, running as an unprivileged user.
#
#   docker build -t sluice:0.1.0 .     (or: make image, with podman or docker)
#   docker run --rm sluice:0.1.0 sluice-worker --help
#
# Layout of the runtime image:
#   /opt/sluice/bin/{sluice,sluice-scheduler,sluice-worker}   (on PATH)
#   /plugins/*.so      the bundled plugins, root-owned and read-only (the
#                      worker refuses a plugin others could have written).
#                      SLUICE_PLUGIN_DIR=/plugins (the worker's --plugin-dir),
#                      so `--plugin /plugins/copy.so` and `--plugin copy` both
#                      work. A derived image adds its own plugin with
#                      `COPY myplugin.so /plugins/`.
#   /opt/sluice/plugins -> /plugins   (the build tree's layout, kept for
#                      scripts that used it; `sluice demo` finds /plugins)
#
# tests/deploy/test_dockerfile.py checks this file against the build tree: the
# stages, the user, and that every shared library the binaries and plugins
# load comes from a package the runtime stage installs (or from debian:12-slim
# itself).

# --- build: the same CMake build as `make build` ---------------------------
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libczmq-dev libzmq3-dev libprotobuf-c-dev protobuf-c-compiler \
        librdkafka-dev libjansson-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# `cmake --install` lays the runtime out under /out as it will be in the
# image: the binaries in /opt/sluice/bin, the plugins in /plugins (an
# absolute SLUICE_INSTALL_PLUGINDIR, which `sluice demo` then looks in too).
# Only the runtime component: no header, pkg-config or CMake package files.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSLUICE_BENCH=OFF \
        -DCMAKE_INSTALL_PREFIX=/opt/sluice -DSLUICE_INSTALL_PLUGINDIR=/plugins \
 && cmake --build build -j "$(nproc)" \
 && DESTDIR=/out cmake --install build --component runtime \
 && ln -s /plugins /out/opt/sluice/plugins

# --- runtime: Debian 12 slim with the runtime libraries only ---------------
FROM debian:12-slim AS runtime
# The six libraries sluice links against; apt brings their dependencies
# (libsodium, libssl, libsasl2, ...). ca-certificates: TLS to Kafka brokers
# with public certificates (librdkafka reads the system CA store). tini: a
# proper PID 1 for `docker run` (forwards signals, reaps orphans); the Helm
# chart runs the daemons directly (its `command` replaces the ENTRYPOINT).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libczmq4 libzmq5 librdkafka1 libprotobuf-c1 libjansson4 libmicrohttpd12 \
        ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin sluice
COPY --from=build /out/ /
ENV PATH=/opt/sluice/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SLUICE_PLUGIN_DIR=/plugins
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Drain Kafka backlogs with a fleet of stateless workers"
# 7400: the scheduler's ZeroMQ ROUTER (--bind); 9400: --metrics-addr as the
# Helm chart sets it (the daemons serve no metrics unless told to).
EXPOSE 7400 9400
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["sluice", "--help"]
