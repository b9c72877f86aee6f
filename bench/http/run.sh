#!/usr/bin/env bash
# bench/http: HTTP throughput and tail latency of the server core, as ratios against nginx
# measured in the same run on the same machine (absolute numbers vary between runs).
#
#   nginx      GET /           fixed 200 from nginx (the reference), access log on
#   healthz    GET /healthz    Quarry, no authentication
#   me         GET /v1/me      Quarry, Bearer key (authentication served from the key cache)
#
# Each: wrk, 2 threads, 64 keep-alive connections, $BENCH_SECONDS seconds (default 10), after a
# short warm-up. Targets (issue 3): healthz >= 0.7 x nginx, me >= 0.8 x healthz.
# Writes build/bench/http.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${1:-build}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=64
THREADS=2
OUT_DIR=build/bench
mkdir -p "$OUT_DIR"

for tool in wrk nginx python3; do
  command -v "$tool" >/dev/null || { echo "bench/http: $tool is missing; run scripts/install-deps" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- nginx: the reference, configured like a small production front (2 workers, keep-alive).
nginx_port=$(free_port)
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
error_log $work/nginx/logs/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log $work/nginx/logs/access.log;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

# --- quarry: embedded mode on a fresh data dir, access log on (to a file). One key sends every
# request: its rate quota (quota.requests_per_second) is lifted, the core is what is measured.
"$BUILD_DIR/quarry" serve --data-dir "$work/data" --listen 127.0.0.1:0 --demo --set quota.requests_per_second=0 \
  >"$work/quarry.out" 2>"$work/quarry.log" &
pids+=($!)

wait_for() {  # wait_for <description> <command...>: up to 30 s
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench/http: $what did not come up" >&2; exit 1
}
wait_for quarry test -s "$work/data/server.addr"
quarry_addr=$(cat "$work/data/server.addr")
key=$(cat "$work/data/secrets/demo.key")
wait_for nginx curl -sf "http://127.0.0.1:$nginx_port/"
curl -sf -H "Authorization: Bearer $key" "http://$quarry_addr/v1/me" >/dev/null

run_wrk() {  # run_wrk <name> <url> [header]: prints "<rps> <p99_ms>"
  local name=$1 url=$2 header=${3:-}
  local args=(-t"$THREADS" -c"$CONNECTIONS" --latency)
  [ -n "$header" ] && args+=(-H "$header")
  wrk "${args[@]}" -d2s "$url" >/dev/null  # warm-up
  wrk "${args[@]}" -d"${SECONDS_PER_RUN}s" "$url" >"$work/$name.txt"
  python3 - "$work/$name.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
if non2xx:
    sys.exit(f"{sys.argv[1]}: {non2xx.group(1)} non-2xx responses")
print(f"{rps} {float(m.group(1)) * unit}")
PY
}

read -r nginx_rps nginx_p99 < <(run_wrk nginx "http://127.0.0.1:$nginx_port/")
read -r healthz_rps healthz_p99 < <(run_wrk healthz "http://$quarry_addr/healthz")
read -r me_rps me_p99 < <(run_wrk me "http://$quarry_addr/v1/me" "Authorization: Bearer $key")

python3 - "$OUT_DIR/http.json" "$nginx_rps" "$nginx_p99" "$healthz_rps" "$healthz_p99" "$me_rps" "$me_p99" <<'PY'
import json, sys
out, n_rps, n_p99, h_rps, h_p99, m_rps, m_p99 = sys.argv[1], *map(float, sys.argv[2:])
figures = {
    "nginx_rps": n_rps, "nginx_p99_ms": n_p99,
    "healthz_rps": h_rps, "healthz_p99_ms": h_p99,
    "me_rps": m_rps, "me_p99_ms": m_p99,
    "healthz_vs_nginx": round(h_rps / n_rps, 3),
    "me_vs_healthz": round(m_rps / h_rps, 3),
}
checks = [
    {"name": "healthz_vs_nginx", "value": figures["healthz_vs_nginx"], "op": ">=", "target": 0.7},
    {"name": "me_vs_healthz", "value": figures["me_vs_healthz"], "op": ">=", "target": 0.8},
]
json.dump({"bench": "http", "figures": figures, "checks": checks}, open(out, "w"), indent=2)
print(f"{'target':<10} {'req/s':>12} {'p99 ms':>10}")
for name, rps, p99 in (("nginx", n_rps, n_p99), ("healthz", h_rps, h_p99), ("me", m_rps, m_p99)):
    print(f"{name:<10} {rps:>12.0f} {p99:>10.2f}")
for c in checks:
    ok = c["value"] >= c["target"]
    print(f"{c['name']}: {c['value']:.3f} (target {c['op']} {c['target']}) {'ok' if ok else 'BELOW TARGET'}")
print(f"wrote {out}")
PY
