#!/usr/bin/env bash
# Start or stop the embedded Neo4j 5.26 (Bolt on 127.0.0.1) that khub's tests use.
#   neo4j-server.sh start [STATE_DIR]   -> prints the bolt URI on stdout when it answers
#   neo4j-server.sh stop  [STATE_DIR]
# Artifacts come from Maven Central through the pom beside this file (cached in ~/.m2).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:-start}
state=${2:-${KHUB_NEO4J_STATE:-$here/../../.khub/neo4j-server}}
mkdir -p "$state"
state=$(cd "$state" && pwd)

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

case "$cmd" in
start)
  if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null && [ -f "$state/uri" ]; then
    cat "$state/uri"; exit 0
  fi
  rm -f "$state/uri" "$state/pid"
  (cd "$here" && mvn -B -q -Dstyle.color=never dependency:build-classpath -Dmdep.outputFile="$state/classpath.txt" >&2)
  mkdir -p "$state/classes"
  javac -nowarn -d "$state/classes" -cp "$(cat "$state/classpath.txt")" \
    "$here/src/main/java/khub/Launcher.java" >&2
  port=${KHUB_NEO4J_PORT:-$(free_port)}
  rm -rf "$state/db"
  nohup java -Xmx2g -cp "$state/classes:$(cat "$state/classpath.txt")" khub.Launcher \
    "$state/db" "$port" "$state/uri" >"$state/neo4j.log" 2>&1 &
  echo $! >"$state/pid"
  for _ in $(seq 1 180); do
    if [ -s "$state/uri" ]; then cat "$state/uri"; exit 0; fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      echo "Neo4j exited before it answered; its log:" >&2; tail -40 "$state/neo4j.log" >&2; exit 1
    fi
    sleep 1
  done
  echo "Neo4j did not answer within 180 s; its log: $state/neo4j.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$state/pid" ]; then
    pid=$(cat "$state/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$state/pid" "$state/uri"
  fi
  ;;
*) echo "usage: $0 start|stop [STATE_DIR]" >&2; exit 2 ;;
esac
