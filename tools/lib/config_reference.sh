#!/usr/bin/env bash
# Regenerates README.md's configuration reference from every binary's --help
# (the section between "### webhook-ingest" and "## Running against a real
# Kafka cluster"). Usage: tools/lib/config_reference.sh build/bin
set -euo pipefail
BIN="$1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binaries=(webhook-ingest validator reconciler inventory-velocity stockout-predictor postgres-sink
          cf-dev-broker cf-loadgen cf-ticker cf-tap cf-topics cf-events cf-recover cf-pipeline-report
          cf-bench cf-bench-sink)
out="$(mktemp)"
for b in "${binaries[@]}"; do
  printf '### %s\n```\n' "$b" >>"$out"
  "$BIN/$b" --help >>"$out" 2>&1 || true
  printf '```\n\n' >>"$out"
done
python3 - "$ROOT/README.md" "$out" <<'PY'
import sys
readme, generated = sys.argv[1], open(sys.argv[2]).read()
text = open(readme).read()
start = text.index("### webhook-ingest\n")
end = text.index("## Running against a real Kafka cluster")
open(readme, "w").write(text[:start] + generated + text[end:])
PY
rm -f "$out"
