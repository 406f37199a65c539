#!/usr/bin/env bash
# Build the image without a container daemon or registry access: the binary is built on the host,
# then `buildah bud` of Containerfile.prebuilt (FROM scratch) with vfs storage (works unprivileged
# in containers without overlayfs).
#
#   deploy/image/build.sh [TAG]          # release: static musl binary, `dist` profile (fat LTO, for size); needs musl-tools, buildah, rustup
#   SESAME_IMAGE_ARCHIVE=out.tar deploy/image/build.sh    # also write an OCI archive
#   SESAME_CARGO_ARGS="--no-default-features --features fake,aws" deploy/image/build.sh   # fewer SDKs
#   SESAME_BINARY=target/debug/sesame deploy/image/build.sh   # package a binary built elsewhere
#   SESAME_BUILDAH_ROOT=/tmp/b deploy/image/build.sh   # keep buildah's storage there (CI, tests)
#
# A dynamically linked SESAME_BINARY (glibc) is packaged with the shared objects `ldd` names, at
# the paths the loader expects: what distroless/cc images do. That is how CI packages the binary it
# has just tested without a second (musl, release) build; releases use the static binary.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAG=${1:-sesame:dev}
TARGET=x86_64-unknown-linux-musl
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
die() { echo "build.sh: $*" >&2; exit 1; }

command -v buildah >/dev/null || die "buildah missing (apt-get install buildah)"
if [ -n "${SESAME_BINARY:-}" ]; then
  BIN=$SESAME_BINARY
  [ -x "$BIN" ] || die "SESAME_BINARY=$BIN is not an executable file"
else
  command -v musl-gcc >/dev/null || die "musl-gcc missing (apt-get install musl-tools)"
  rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
  cd "$REPO"
  # shellcheck disable=SC2086
  cargo build --profile dist --locked --target "$TARGET" --bin sesame ${SESAME_CARGO_ARGS:-}
  BIN="$CARGO_TARGET_DIR/$TARGET/dist/sesame"
  file "$BIN" | grep -q "statically linked\|static-pie linked" || die "$BIN is not static"
fi

CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
ROOTFS=$CTX/rootfs
mkdir -p "$ROOTFS/etc/ssl/certs"
cp "$BIN" "$ROOTFS/sesame"
# The dist profile (as release) keeps line tables for backtraces; the image does not need them.
if command -v strip >/dev/null; then strip --strip-debug "$ROOTFS/sesame"; fi
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
# Shared objects of a dynamic binary: lines "name => /path (addr)" and "/lib64/ld-linux… (addr)".
if ldd "$BIN" >/dev/null 2>&1; then
  ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
    while read -r lib; do
      mkdir -p "$ROOTFS$(dirname "$lib")"
      cp -L "$lib" "$ROOTFS$lib"
    done
fi

BUILDAH=(buildah --storage-driver vfs)
if [ -n "${SESAME_BUILDAH_ROOT:-}" ]; then
  BUILDAH+=(--root "$SESAME_BUILDAH_ROOT/storage" --runroot "$SESAME_BUILDAH_ROOT/run")
fi
"${BUILDAH[@]}" bud --isolation chroot -f "$REPO/deploy/image/Containerfile.prebuilt" -t "$TAG" "$CTX"
"${BUILDAH[@]}" inspect --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}}' "$TAG"
if [ -n "${SESAME_IMAGE_ARCHIVE:-}" ]; then
  "${BUILDAH[@]}" push "$TAG" "oci-archive:$SESAME_IMAGE_ARCHIVE:$TAG"
fi
