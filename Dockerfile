# syntax=docker/dockerfile:1
# Every NovaPOS image, one pattern: the component's entry point bundled into one file by
# scripts/build-app.mjs (the same script the test harness runs, so both carry the same files: compare
# /app/manifest.json), on the official Node LTS image. Build from the repository root:
#   docker build --build-arg COMPONENT=operator            -t novapos/operator:0.1.0 .
#   docker build --build-arg COMPONENT=auth-service        -t novapos/auth-service:0.1.0 .
#   docker build --build-arg COMPONENT=integration-gateway -t novapos/integration-gateway:0.1.0 .
#   docker build --build-arg COMPONENT=audit-service       -t novapos/audit-service:0.1.0 .
#   docker build --build-arg COMPONENT=db-roles            -t novapos/db-roles:0.1.0 .
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
ARG COMPONENT
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: argon2 loads its prebuilt binary (linux x64/arm64, glibc) at run time.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY scripts/build-app.mjs scripts/db-roles.ts ./scripts/
COPY lib ./lib
COPY operator ./operator
COPY services ./services
RUN test -n "$COMPONENT" || { echo "--build-arg COMPONENT=operator|auth-service|integration-gateway|audit-service|db-roles is required" >&2; exit 1; } \
 && node scripts/build-app.mjs "$COMPONENT" /app

# Runtime: the bundle and the few packages that cannot be bundled, nothing else. Non-root (numeric, so
# runAsNonRoot can verify it); nothing writable but /tmp (the charts mount an emptyDir there and set
# readOnlyRootFilesystem).
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app ./
USER 10001:10001
# node is PID 1 and handles SIGTERM itself: each component drains and exits 0.
ENTRYPOINT ["node", "--enable-source-maps", "main.js"]
