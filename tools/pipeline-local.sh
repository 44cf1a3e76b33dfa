#!/usr/bin/env bash
# The CI pipeline of .github/workflows/formance-auth.yml, run locally against the local stack
# (tools/local-stack.sh up), on a temporary file backend and a temporary stack:
#
#   for each stack file given (one "pull request" each; default: a built-in example):
#     pulumi preview --json  ->  formance-pulumi review  ->  approval gate  ->  pulumi up
#   then: pulumi refresh --preview-only --expect-no-changes   (the scheduled drift check)
#   finally: pulumi destroy and stack rm (unless PIPELINE_KEEP=1), temp dir removed.
#
# Usage: tools/pipeline-local.sh [clients-config.yaml ...]
#   Each file holds the value of `formance-auth:clients` (YAML map), like stacks/Pulumi.dev.yaml.
# Environment:
#   PIPELINE_APPROVE=1   approve destructive changes (review exit 3); otherwise the run stops with 3,
#                        like the workflow waiting for its required reviewers
#   PIPELINE_OUT=<dir>   keep preview-<n>.json and review-<n>.md there (default: the temp dir, removed)
#   PIPELINE_KEEP=1      keep the stack's clients and the temp dir (printed) instead of destroying them
# Exit codes: 0 all steps passed; 3 destructive change not approved; 2 review rejected its input;
#             other non-zero: a pulumi step failed (e.g. drift found by the refresh check).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_JSON="${FORMANCE_LOCAL_JSON:-$REPO/.local/formance.json}"
export PATH="$REPO/.venv/bin:$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-test}"

if [ ! -f "$LOCAL_JSON" ]; then
  echo "pipeline-local: $LOCAL_JSON not found; start the local stack with: bash tools/local-stack.sh up" >&2
  exit 1
fi
# FORMANCE_ENDPOINT / FORMANCE_CLIENT_ID / FORMANCE_CLIENT_SECRET of the bootstrap admin client.
eval "$("$REPO/.venv/bin/python" -m formance_provider.localenv "$LOCAL_JSON")"

# Resolve the config files before leaving the caller's directory.
configs=()
for arg in "$@"; do
  [ -f "$arg" ] || { echo "pipeline-local: no such file: $arg" >&2; exit 2; }
  configs+=("$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")")
done
[ ${#configs[@]} -eq 0 ] && configs=("")

TMP="$(mktemp -d "${TMPDIR:-/tmp}/formance-pipeline.XXXXXX")"
STACK="pipeline-$(date +%s)-$$"
OUT="${PIPELINE_OUT:-$TMP/out}"
mkdir -p "$TMP/project/stacks" "$TMP/state" "$OUT"
export PULUMI_BACKEND_URL="file://$TMP/state"
# The committed project files, as CI checks them out (a scratch edit in the working tree does not leak in);
# the working-tree copies only outside a git checkout.
for f in Pulumi.yaml __main__.py; do
  git -C "$REPO" show "HEAD:$f" >"$TMP/project/$f" 2>/dev/null || cp "$REPO/$f" "$TMP/project/$f"
done
cd "$TMP/project"

cleanup() {
  local rc=$?
  if [ "${PIPELINE_KEEP:-}" = "1" ]; then
    echo "pipeline-local: kept stack $STACK, backend $PULUMI_BACKEND_URL, project $TMP/project" >&2
    exit "$rc"
  fi
  echo "== cleanup: destroy stack $STACK"
  pulumi destroy --yes --non-interactive --skip-preview --stack "$STACK" >"$TMP/destroy.log" 2>&1 \
    || { echo "pipeline-local: destroy failed (log follows)" >&2; cat "$TMP/destroy.log" >&2; rc=${rc:-1}; [ "$rc" = 0 ] && rc=1; }
  pulumi stack rm --yes --force --non-interactive --stack "$STACK" >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT

write_stack_file() {  # $1: clients config file, or empty for the built-in example
  {
    echo "config:"
    echo "  formance:endpoint: $FORMANCE_ENDPOINT"
    echo "  formance-auth:clients:"
    if [ -n "$1" ]; then
      sed 's/^/    /' "$1"
    else
      cat <<'EOF'
    pipeline-backend:
      description: Pipeline example backend
      scopes: ['ledger:read', 'ledger:write']
      metadata: {team: payments}
      secrets:
        default: {}
        job:
          keepers: {rotated: "2026-12"}
    pipeline-web:
      public: true
      redirectUris: ['https://pipeline.example.com/callback']
EOF
    fi
    # Keep the passphrase salt written by `pulumi stack init` across rounds.
    [ -f "stacks/Pulumi.$STACK.salt" ] && cat "stacks/Pulumi.$STACK.salt"
    true
  } >"stacks/Pulumi.$STACK.yaml.new"
  mv "stacks/Pulumi.$STACK.yaml.new" "stacks/Pulumi.$STACK.yaml"
}

echo "== stack $STACK on $PULUMI_BACKEND_URL (endpoint $FORMANCE_ENDPOINT)"
write_stack_file ""
pulumi stack init "$STACK" --non-interactive >/dev/null
grep '^encryptionsalt:' "stacks/Pulumi.$STACK.yaml" >"stacks/Pulumi.$STACK.salt" || : >"stacks/Pulumi.$STACK.salt"

round=0
for config in "${configs[@]}"; do
  round=$((round + 1))
  write_stack_file "$config"
  echo "== round $round: pulumi preview --json"
  # stdout is the JSON document; diagnostics go to stderr. A failed preview still writes JSON.
  set +e
  pulumi preview --json --non-interactive --stack "$STACK" >"$OUT/preview-$round.json" 2>"$OUT/preview-$round.err"
  preview_rc=$?
  echo "== round $round: formance-pulumi review"
  formance-pulumi review "$OUT/preview-$round.json" >"$OUT/review-$round.md"
  review_rc=$?
  set -e
  cat "$OUT/review-$round.md"
  echo "(review exit code $review_rc; preview exit code $preview_rc)"
  if [ "$review_rc" = 2 ] || [ "$preview_rc" != 0 ]; then
    echo "pipeline-local: preview failed or was not understood; see $OUT/preview-$round.err" >&2
    cat "$OUT/preview-$round.err" >&2
    exit 2
  fi
  if [ "$review_rc" = 3 ]; then
    if [ "${PIPELINE_APPROVE:-}" != "1" ]; then
      echo "pipeline-local: destructive changes need approval (set PIPELINE_APPROVE=1); stopping before pulumi up" >&2
      exit 3
    fi
    echo "== round $round: destructive changes approved (PIPELINE_APPROVE=1)"
  fi
  echo "== round $round: pulumi up"
  pulumi up --yes --non-interactive --skip-preview --stack "$STACK"
done

echo "== drift check: pulumi refresh --preview-only --expect-no-changes"
pulumi refresh --preview-only --expect-no-changes --non-interactive --stack "$STACK"
echo "== pipeline passed"
