#!/usr/bin/env bash
# Cross-builds drillbook for the platforms WebSphere, MessageSight and
# RabbitMQ estates run on, as static binaries (CGO_ENABLED=0), and writes
# SHA256SUMS beside them.
#
#   scripts/dist.sh DIR     release binaries drillbook-OS-ARCH in DIR (make dist)
#   scripts/dist.sh -check  compile each platform and keep nothing (make cross,
#                           part of make test, so a platform break is caught)
#
# AIX needs one thing the others do not: github.com/atotto/clipboard (ctrl+v
# in the screen's text fields, through charmbracelet/bubbles) has no AIX
# code, so the AIX build replaces it, through a -modfile copy of go.mod,
# with scripts/dist/clipboard, where the clipboard is unsupported. Every
# other platform builds from go.mod as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
platforms=(linux/amd64 linux/arm64 linux/ppc64le linux/s390x aix/ppc64)

check=0
if [ "${1:-}" = -check ]; then
  check=1
  out=$(mktemp -d)
elif [ $# -eq 1 ]; then
  out=$1
  mkdir -p "$out"
else
  echo "usage: scripts/dist.sh DIR | -check" >&2
  exit 2
fi
tmp=$(mktemp -d)
cleanup() { rm -rf "$tmp"; [ $check = 1 ] && rm -rf "$out"; return 0; }
trap cleanup EXIT

cp go.mod "$tmp/aix.mod"
cp go.sum "$tmp/aix.sum"
printf '\nreplace github.com/atotto/clipboard => ./scripts/dist/clipboard\n' >> "$tmp/aix.mod"

names=()
for p in "${platforms[@]}"; do
  os=${p%/*} arch=${p#*/}
  name=drillbook-$os-$arch
  modfile=()
  [ "$os" = aix ] && modfile=(-modfile="$tmp/aix.mod")
  start=$(date +%s)
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath -buildvcs=auto "${modfile[@]}" \
    -ldflags='-s -w' -o "$out/$name" ./cmd/drillbook
  echo "built $name ($(( $(date +%s) - start ))s, $(du -k "$out/$name" | cut -f1) KiB)"
  names+=("$name")
done
if [ $check = 0 ]; then
  (cd "$out" && sha256sum "${names[@]}" > SHA256SUMS)
  echo "checksums in $out/SHA256SUMS"
fi
