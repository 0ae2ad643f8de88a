#!/usr/bin/env bash
# Run a command with a real Neo4j 5.26 running: starts the embedded server (Maven Central
# artifacts, Bolt on a free 127.0.0.1 port), exports NEO4J_URI, runs "$@", stops Neo4j.
#   graph/neo4j_server/with-neo4j.sh .venv/bin/pytest
# Set KHUB_NO_NEO4J=1 to run the command without starting Neo4j (Neo4j tests then skip).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "${KHUB_NO_NEO4J:-0}" = "1" ]; then
  exec "$@"
fi
state=${KHUB_NEO4J_STATE:-$here/../../.khub/neo4j-test}
stop() { "$here/neo4j-server.sh" stop "$state" || true; }
trap stop EXIT
echo "starting Neo4j 5.26 (embedded, Bolt) ..." >&2
start=$(date +%s)
NEO4J_URI=$("$here/neo4j-server.sh" start "$state")
export NEO4J_URI
echo "Neo4j answers at $NEO4J_URI after $(( $(date +%s) - start )) s" >&2
"$@"
