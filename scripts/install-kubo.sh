#!/usr/bin/env bash
# Finds or builds the pinned Kubo and prints the path of its binary on stdout.
# Order: $KUBO_BINARY, the project's own copy in .kubo/bin, `ipfs` on PATH (if it is the pinned
# version), the `kubo` npm package (its postinstall downloads the release binary; where that works),
# else `go install github.com/ipfs/kubo/cmd/ipfs@$KUBO_VERSION` into .kubo/bin.
set -euo pipefail
KUBO_VERSION="${KUBO_VERSION:-v0.42.0}"
want="${KUBO_VERSION#v}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.kubo/bin"

is_pinned() { # $1 = binary
  [ -x "$1" ] || return 1
  local v; v="$("$1" version --number 2>/dev/null || true)"
  [ "$v" = "$want" ]
}

if [ -n "${KUBO_BINARY:-}" ]; then
  if [ -x "$KUBO_BINARY" ]; then echo "$KUBO_BINARY"; exit 0; fi
  echo "install-kubo: KUBO_BINARY=$KUBO_BINARY is not an executable file" >&2; exit 1
fi
if is_pinned "$dest/ipfs"; then echo "$dest/ipfs"; exit 0; fi
if command -v ipfs >/dev/null 2>&1 && is_pinned "$(command -v ipfs)"; then command -v ipfs; exit 0; fi

# KUBO_SKIP_NPM=1 skips the npm package (its download fails in about 10 s where it cannot work).
if [ "${KUBO_SKIP_NPM:-}" != 1 ] && command -v npm >/dev/null 2>&1; then
  npmdir="$root/.kubo/npm"
  mkdir -p "$npmdir"
  echo "install-kubo: trying the kubo npm package $want..." >&2
  if npm install --prefix "$npmdir" --no-save --no-audit --no-fund --foreground-scripts "kubo@$want" >"$npmdir/install.log" 2>&1 \
    && is_pinned "$npmdir/node_modules/kubo/bin/ipfs"; then
    mkdir -p "$dest"
    cp "$npmdir/node_modules/kubo/bin/ipfs" "$dest/ipfs"
    echo "$dest/ipfs"; exit 0
  fi
  echo "install-kubo: the kubo npm package gave no working binary (its download failed; see $npmdir/install.log)" >&2
fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
install-kubo: no Kubo $KUBO_VERSION found and Go is not installed.
  The kubo npm package could not download its binary either (or KUBO_SKIP_NPM=1 skipped it).
  Either install Go (>= 1.21) and run this again, which runs:
    GOBIN=$dest go install github.com/ipfs/kubo/cmd/ipfs@$KUBO_VERSION
  or point KUBO_BINARY at an ipfs $want binary.
MSG
  exit 1
fi
mkdir -p "$dest"
echo "install-kubo: building Kubo $KUBO_VERSION with go (takes several minutes on 2 cores)..." >&2
# GOTOOLCHAIN=auto lets an older Go fetch the toolchain Kubo's go.mod asks for.
export GOTOOLCHAIN="${GOTOOLCHAIN_KUBO:-auto}" GOFLAGS=-buildvcs=false
if ! GOBIN="$dest" go install "github.com/ipfs/kubo/cmd/ipfs@$KUBO_VERSION" >&2; then
  # Some module proxies refuse the version list that `go install pkg@version` reads for its
  # deprecation check ("reading .../@v/list: 403 Forbidden") while serving the module itself;
  # building inside the downloaded module gives the same binary.
  echo "install-kubo: go install failed; building from the downloaded module instead" >&2
  moddir="$(go mod download -json "github.com/ipfs/kubo@$KUBO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  if [ -z "$moddir" ] || ! (cd "$moddir" && go build -trimpath -o "$dest/ipfs" ./cmd/ipfs) >&2; then
    echo "install-kubo: 'go mod download github.com/ipfs/kubo@$KUBO_VERSION' + 'go build ./cmd/ipfs' failed (see above)." >&2
    exit 1
  fi
fi
if ! is_pinned "$dest/ipfs"; then
  echo "install-kubo: built $dest/ipfs but 'ipfs version --number' does not print $want" >&2; exit 1
fi
echo "$dest/ipfs"
