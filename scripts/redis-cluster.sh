#!/usr/bin/env bash
# Starts a real local Redis Cluster for the tests: 6 `redis-server --cluster-enabled yes` on free
# loopback ports (each with its bus port, +10000, free too), joined by
# `redis-cli --cluster create … --cluster-replicas 1` into 3 masters with one replica each.
#
#   scripts/redis-cluster.sh DIR          # start; prints the store URL on its last line
#   scripts/redis-cluster.sh DIR stop     # stop every node started in DIR
#
# DIR keeps each node's config, log and pid (`DIR/PORT/`) and `DIR/ports`. The node timeout is
# 2 s (the default is 15 s) so that a failover test settles in seconds.
set -euo pipefail
dir=${1:?usage: redis-cluster.sh DIR [stop]}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ "${2:-}" = stop ]; then
  for p in $(cat "$dir/ports" 2>/dev/null); do
    [ -f "$dir/$p/pid" ] && kill "$(cat "$dir/$p/pid")" 2>/dev/null || true
  done
  exit 0
fi

# Six ports whose bus ports (+10000) are free as well.
ports=$(python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
picked = []
while len(picked) < 6:
    p = random.randrange(20000, 30000)
    if p not in picked and free(p) and free(p + 10000):
        picked.append(p)
print(" ".join(map(str, picked)))
PY
)
echo "$ports" > "$dir/ports"
for p in $ports; do
  mkdir -p "$dir/$p"
  redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "$dir/$p/nodes.conf" --cluster-node-timeout 2000 \
    --save '' --appendonly no --dir "$dir/$p" --daemonize yes \
    --pidfile "$dir/$p/pid" --logfile "$dir/$p/redis.log"
done
for p in $ports; do
  for _ in $(seq 1 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
nodes=""
for p in $ports; do nodes="$nodes 127.0.0.1:$p"; done
# shellcheck disable=SC2086
redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
  || { cat "$dir/create.log" >&2; exit 1; }
# Every node must agree before the first client arrives, replicas included.
for p in $ports; do
  ok=""
  for _ in $(seq 1 100); do
    if redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "node $p never reached cluster_state:ok" >&2; exit 1; }
done
# …and the replicas must be known as such everywhere and in sync, or a failover has no one to
# promote.
for p in $ports; do
  ok=""
  for _ in $(seq 1 100); do
    replicas=$(redis-cli -p "$p" cluster nodes 2>/dev/null | grep -cE '[ ,]slave ' || true)
    role=$(redis-cli -p "$p" info replication 2>/dev/null | tr -d '\r')
    if [ "$replicas" = 3 ] && { echo "$role" | grep -q 'role:master' \
        || echo "$role" | grep -q 'master_link_status:up'; }; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "node $p: replicas not in sync" >&2; exit 1; }
done
echo "redis+cluster://$(echo $nodes | tr ' ' ',')"
