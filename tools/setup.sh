#!/usr/bin/env bash
# Idempotent set-up: the project's virtualenv, and the Pulumi CLI with its
# Python plugins, built once from the Go module proxy into a cache outside the
# repo (keyed by the pinned versions) and linked into .venv/bin.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
# Every pinned version stands in one place: Python packages in pyproject.toml,
# the Pulumi CLI (and its sdk module) in tools/pulumi-cli/go.mod.
PULUMI_VERSION="$(sed -n 's|^require github.com/pulumi/pulumi/pkg/v3 v||p; s|^[[:space:]]*github.com/pulumi/pulumi/pkg/v3 v\([0-9.]*\).*|\1|p' tools/pulumi-cli/go.mod | head -1)"
[ -n "$PULUMI_VERSION" ] || { echo "[setup] cannot read the pinned Pulumi version from tools/pulumi-cli/go.mod" >&2; exit 1; }
GO_MIN_VERSION="$(sed -n 's/^go //p' tools/pulumi-cli/go.mod)"

export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
VENV="$REPO/.venv"
PY="${PYTHON:-python3}"
log() { printf '[setup] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- Python
stamp="$VENV/.formance-pulumi-stamp"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the project and its pinned dependencies into .venv"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
  echo "$want" > "$stamp"
fi

# ---------------------------------------------------------------- Pulumi CLI
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/formance-pulumi"
gosum="$(cat tools/pulumi-cli/go.mod tools/pulumi-cli/go.sum 2>/dev/null | sha256sum | cut -c1-12)"
CACHE="$CACHE_ROOT/pulumi-v${PULUMI_VERSION}-${gosum}"
BIN="$CACHE/bin"

system_pulumi=""
if [ -z "${FORMANCE_PULUMI_BUILD:-}" ]; then
  # A pulumi already on PATH (outside this venv) with its own Python language host is used as is.
  while IFS= read -r cand; do
    case "$cand" in "$VENV"/*) continue;; esac
    if [ -x "$(dirname "$(readlink -f "$cand")")/pulumi-language-python" ]; then system_pulumi="$cand"; break; fi
  done < <(type -ap pulumi 2>/dev/null || true)
fi

if [ -n "$system_pulumi" ]; then
  log "using the pulumi already installed at $system_pulumi ($("$system_pulumi" version))"
  ln -sfn "$system_pulumi" "$VENV/bin/pulumi"
else
  if [ ! -x "$BIN/pulumi" ] || [ "$("$BIN/pulumi" version 2>/dev/null)" != "v$PULUMI_VERSION" ]; then
    command -v go >/dev/null || { log "Go is needed to build the Pulumi CLI (go $GO_MIN_VERSION or newer)"; exit 1; }
    log "building the Pulumi CLI v$PULUMI_VERSION with Go into $BIN (first time only: about 5-8 minutes on 2 cores)"
    mkdir -p "$BIN"
    (cd tools/pulumi-cli && go build -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
        -o "$BIN/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
    mv "$BIN/pulumi.tmp" "$BIN/pulumi"
  fi
  # The dynamic-provider plugin script ships in the pinned sdk module: take it from the module cache.
  sdkdir="$(cd tools/pulumi-cli && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3 2>/dev/null || true)"
  if [ -z "$sdkdir" ] || [ ! -d "$sdkdir" ]; then
    (cd tools/pulumi-cli && go mod download github.com/pulumi/pulumi/sdk/v3)
    sdkdir="$(cd tools/pulumi-cli && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
  fi
  for f in python/dist/pulumi-resource-pulumi-python python/cmd/pulumi-language-python-exec; do
    name="$(basename "$f")"
    if ! cmp -s "$sdkdir/$f" "$BIN/$name"; then install -m 0755 "$sdkdir/$f" "$BIN/$name"; fi
  done
  # A hard link (not a symlink): the engine looks for plugins next to the resolved
  # binary, and the language host is per checkout, in .venv/bin.
  if ! cmp -s "$BIN/pulumi" "$VENV/bin/pulumi" 2>/dev/null || [ -L "$VENV/bin/pulumi" ]; then
    rm -f "$VENV/bin/pulumi"
    ln "$BIN/pulumi" "$VENV/bin/pulumi" 2>/dev/null || cp "$BIN/pulumi" "$VENV/bin/pulumi"
  fi
  # The official Python language host is not served by the module proxy: use the project's own (tools/langhost).
  PULUMI_VERSION="$PULUMI_VERSION" sh tools/langhost/install.sh "$VENV" "$REPO" >/dev/null
fi
log "ready: $("$VENV/bin/pulumi" version) at $VENV/bin/pulumi (activate with: source .venv/bin/activate)"
