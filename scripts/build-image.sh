#!/usr/bin/env bash
# Builds the okra-bridge image on a machine without a container registry (docs/deploy.md):
# the binary is built here with the Swift runtime linked in, the Debian base is made from
# Debian's own packages with debootstrap, and deploy/Containerfile's runtime stage is built from
# both; the Containerfile is the one a registry-backed `podman build` or `docker build` uses.
#
# Usage: scripts/build-image.sh [TAG]   (default localhost/okra-bridge:dev). Prints the tag.
# Idempotent: the base image and the binary are reused when present and current.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OKRA_ROOT"

TAG="${1:-localhost/okra-bridge:dev}"
BASE="localhost/okra-bridge-base:bookworm"
ensure_apt podman debootstrap runc librdkafka-dev pkg-config

say "building the binary (swift build -c release --static-swift-stdlib, in .build/static)"
swift build -c release --static-swift-stdlib --product okra-bridge --scratch-path .build/static >&2
binary="$(swift build -c release --static-swift-stdlib --scratch-path .build/static --show-bin-path)/okra-bridge"

if ! podman_here image exists "$BASE"; then
  mirror="$(debian_mirror)"
  rootfs="$(mktemp -d "${TMPDIR:-/tmp}/okra-rootfs.XXXXXX")"
  say "making the Debian base image $BASE with debootstrap from $mirror"
  as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >&2
  as_root tar -C "$rootfs" -c . | podman_here import - "$BASE" >&2
  as_root rm -rf "$rootfs"
fi

# The build stage is replaced by a folder holding the host's binary where it would have put it.
context="$(mktemp -d "${TMPDIR:-/tmp}/okra-image-build.XXXXXX")"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/staging"
cp "$binary" "$context/staging/okra-bridge"
strip --strip-debug "$context/staging/okra-bridge"   # as the Containerfile's build stage does
say "building $TAG from deploy/Containerfile (runtime stage, base $BASE)"
podman_here build --network host --pull=never \
  --ulimit nofile=4096:4096 --ulimit nproc=1024:1024 \
  --build-arg RUNTIME_IMAGE="$BASE" --build-context build="$context" \
  --target runtime -f deploy/Containerfile -t "$TAG" . >&2
echo "$TAG"
