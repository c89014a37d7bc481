# The demo CRM (tools/demo_crm) for docker/compose.yaml: a CRM look-alike to put exportwall in
# front of. A demo, not part of the exportwall image (docker/Dockerfile).
#
#   docker build -f docker/demo-crm.Dockerfile -t exportwall-demo-crm:dev .   (repository root)

FROM debian:12 AS build
ARG DEBIAN_FRONTEND=noninteractive
ARG EXTRA_PACKAGES=""
ARG BUILD_JOBS=""
# The same build packages as docker/Dockerfile: the top-level CMakeLists.txt needs them all.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev \
      libssl-dev libexpat1-dev libpugixml-dev libspdlog-dev libfmt-dev libcli11-dev \
      zlib1g-dev libhiredis-dev ${EXTRA_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt CMakePresets.json ./
COPY cmake/ cmake/
COPY common/ common/
COPY filters/ filters/
COPY config/ config/
COPY audit/ audit/
COPY proxy/ proxy/
COPY cli/ cli/
COPY tools/generator/ tools/generator/
COPY tools/demo_crm/ tools/demo_crm/
RUN cmake --preset release -DEXPORTWALL_TESTS=OFF -DEXPORTWALL_BENCH=OFF \
 && cmake --build --preset release --target demo_crm ${BUILD_JOBS:+--parallel "$BUILD_JOBS"} \
 && install -D -m 0755 -s build/release/tools/demo_crm/demo_crm /out/demo_crm

FROM debian:12-slim AS demo-crm
ARG DEBIAN_FRONTEND=noninteractive
# demo_crm's libraries, and curl for compose's health check of this demo container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libboost-json1.81.0 libboost-url1.81.0 libssl3 curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/demo_crm /usr/local/bin/demo_crm
USER 10002:10002
EXPOSE 8081
STOPSIGNAL SIGTERM
ENTRYPOINT ["demo_crm"]
