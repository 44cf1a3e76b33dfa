#!/usr/bin/env bash
# The main job on the local stack: `pulumi up` of the dev stack, its outputs
# (secrets hidden), and proof that one credential obtains a token.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
: "${PULUMI_BACKEND_URL:?set by the Makefile}" "${PULUMI_CONFIG_PASSPHRASE:?set by the Makefile}"
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
mkdir -p .local/demo-state

# The bootstrap admin client of the local stack, from the one file that holds it.
eval "$(.venv/bin/python -m formance_provider.localenv .local/formance.json)"

pulumi stack select --create dev --non-interactive >/dev/null
# The committed stack file names the local stack's default port; follow a
# FORMANCE_LOCAL_GATEWAY_PORT override rather than talk to another stack.
if [ "$(pulumi config get formance:endpoint 2>/dev/null || true)" != "$FORMANCE_ENDPOINT" ]; then
  echo "note: pointing the dev stack at this checkout's local stack, $FORMANCE_ENDPOINT"
  pulumi config set formance:endpoint "$FORMANCE_ENDPOINT"
fi
if [ "${1:-}" = "destroy" ]; then
  exec pulumi destroy --yes --non-interactive --skip-preview
fi
pulumi up --yes --non-interactive --skip-preview
echo
echo "== Stack outputs (secrets hidden) =="
pulumi stack output
echo
echo "== Proof: one declared credential obtains a token (claims only, never the token or the secret) =="
pulumi stack output --json --show-secrets credentials | .venv/bin/python -m formance_provider.cli token-check --endpoint "$FORMANCE_ENDPOINT" --credential my-backend/default-secret --scope "ledger:read ledger:write"
