#!/usr/bin/env bash
# Build the image without a container daemon or registry access: a static musl binary on the host,
# then `buildah bud` of Containerfile.prebuilt (FROM scratch) with vfs storage (works unprivileged
# in containers without overlayfs).
#
#   deploy/image/build.sh [TAG]          # default sesame:dev; needs musl-tools, buildah, rustup
#   SESAME_IMAGE_ARCHIVE=out.tar deploy/image/build.sh    # also write an OCI archive
#   SESAME_CARGO_ARGS="--no-default-features --features fake,aws" deploy/image/build.sh   # fewer SDKs
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAG=${1:-sesame:dev}
TARGET=x86_64-unknown-linux-musl
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

command -v musl-gcc >/dev/null || { echo "build.sh: musl-gcc missing (apt-get install musl-tools)" >&2; exit 1; }
command -v buildah >/dev/null || { echo "build.sh: buildah missing (apt-get install buildah)" >&2; exit 1; }
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

cd "$REPO"
# shellcheck disable=SC2086
cargo build --release --locked --target "$TARGET" --bin sesame ${SESAME_CARGO_ARGS:-}
BIN="$CARGO_TARGET_DIR/$TARGET/release/sesame"
file "$BIN" | grep -q "statically linked\|static-pie linked" || { echo "build.sh: $BIN is not static" >&2; exit 1; }

CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
cp "$BIN" "$CTX/sesame"
# The release profile keeps line tables for backtraces; the image does not need them.
if command -v strip >/dev/null; then strip --strip-debug "$CTX/sesame"; fi
cp /etc/ssl/certs/ca-certificates.crt "$CTX/ca-certificates.crt"
BUILDAH=(buildah --storage-driver vfs)
"${BUILDAH[@]}" bud --isolation chroot -f "$REPO/deploy/image/Containerfile.prebuilt" -t "$TAG" "$CTX"
"${BUILDAH[@]}" inspect --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}}' "$TAG"
if [ -n "${SESAME_IMAGE_ARCHIVE:-}" ]; then
  "${BUILDAH[@]}" push "$TAG" "oci-archive:$SESAME_IMAGE_ARCHIVE:$TAG"
fi
