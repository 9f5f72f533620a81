#!/usr/bin/env bash
# Regenerates docs/configuration.md's per-binary blocks from every binary's
# --help (everything from "### webhook-ingest" to the end of the file).
# Usage: tools/lib/config_reference.sh build/bin
set -euo pipefail
BIN="$1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binaries=(webhook-ingest channel-api validator reconciler inventory-velocity stockout-predictor order-saga saga-http postgres-sink
          realtime-push realtime-gateway cf-token
          cf-dev-broker cf-loadgen cf-participant-stub cf-ticker cf-tap cf-topics cf-events cf-recover cf-saga cf-channel-sync cf-pipeline-report
          cf-bench cf-bench-sink cf-bench-saga cf-bench-gateway)
out="$(mktemp)"
for b in "${binaries[@]}"; do
  printf '### %s\n```\n' "$b" >>"$out"
  "$BIN/$b" --help >>"$out" 2>&1 || true
  printf '```\n\n' >>"$out"
done
python3 - "$ROOT/docs/configuration.md" "$out" <<'PY'
import sys
doc, generated = sys.argv[1], open(sys.argv[2]).read()
text = open(doc).read()
start = text.index("### webhook-ingest\n")
open(doc, "w").write(text[:start] + generated.rstrip() + "\n")
PY
rm -f "$out"
