# shellcheck shell=bash
# bench/proxy/lib.sh — shell functions shared by the proxy benchmarks (compare-nginx,
# compare-nginx-filtered, compare-quota, compare-floor). Sourced, never run. The caller sets `tmp`
# (its scratch directory) and the array `pids` (every process it started) and installs
# `trap bench_cleanup EXIT`.

# exportwall runs here as its image runs it (docker/Dockerfile's ENV): glibc keeps up to 64 freed
# blocks of a size in each thread's cache instead of 7 (docs/deployment.md, "The memory
# allocator"). EXPORTWALL_GLIBC_TUNABLES overrides it; set it empty for glibc's defaults.
# shellcheck disable=SC2034 # used by the sourcing scripts
exportwall_env=(env "GLIBC_TUNABLES=${EXPORTWALL_GLIBC_TUNABLES-glibc.malloc.tcache_count=64}")

# Stops every process in `pids` and removes `tmp`.
# shellcheck disable=SC2154 # tmp and pids belong to the sourcing script
bench_cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}

# A free loopback port: bound to port 0, then released (nginx cannot listen on port 0).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_file FILE PID: bounded poll until FILE exists (or PID died).
wait_for_file() {
    for _ in $(seq 1 400); do
        [[ -s $1 ]] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# wait_for_port PORT: bounded poll until something accepts on 127.0.0.1:PORT.
wait_for_port() {
    for _ in $(seq 1 400); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# The PIDs of a process and its direct children (nginx: master and workers).
family() {
    echo "$1"
    ps -o pid= --ppid "$1" || true
}

# CPU seconds (utime+stime) of a process and its direct children.
cpu_seconds() {
    local ticks=0 pid rest
    local hz
    hz=$(getconf CLK_TCK)
    for pid in $(family "$1"); do
        rest=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        # After ')': state is field 1, utime field 12, stime field 13.
        ticks=$((ticks + $(awk '{print $12 + $13}' <<<"$rest")))
    done
    awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }'
}

# Resident memory in KiB of a process and its direct children: KEY is VmRSS or VmHWM.
memory_kib() {
    local total=0 pid v
    for pid in $(family "$1"); do
        v=$(awk -v k="$2:" '$1 == k { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# Bytes a process (all its threads) caused to be written to storage: /proc/PID/io write_bytes.
# Counted when a page of a file is first dirtied, so a small append shows as 0 or 4096.
write_bytes() {
    awk '$1 == "write_bytes:" { print $2 }' "/proc/$1/io"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0) ? "%.2f×" : "n/a", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# start_nginx NAME KEEPALIVE(0|1) UPSTREAM_PORT LOCATION: nginx (the Debian package, as a user
# process with its own configuration under $tmp/NAME) proxying LOCATION to 127.0.0.1:UPSTREAM_PORT
# with its default proxy settings (HTTP/1.0 upstream, a new upstream connection per request,
# response buffering on) or with upstream keep-alive (HTTP/1.1, `keepalive 32`). Sets nginx_port
# and nginx_pid and adds the master to `pids`.
start_nginx() {
    local name=$1 keepalive=$2 upstream_port=$3 location=$4 dir="$tmp/$1"
    mkdir -p "$dir/logs" "$dir/tmp"
    nginx_port=$(free_port)
    local user_line="" upstream_extra="" location_extra=""
    [[ $(id -u) -eq 0 ]] && user_line="user root;"
    if [[ $keepalive -eq 1 ]]; then
        upstream_extra="keepalive 32;"
        location_extra='proxy_http_version 1.1; proxy_set_header Connection "";'
    fi
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes auto;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream crm { server 127.0.0.1:$upstream_port; $upstream_extra }
    server {
        listen 127.0.0.1:$nginx_port;
        location $location { proxy_pass http://crm; $location_extra }
    }
}
EOF
    "$(command -v nginx)" -p "$dir" -c "$dir/nginx.conf" >"$dir/logs/stdout.log" 2>&1 &
    nginx_pid=$!
    pids+=("$nginx_pid")
    wait_for_port "$nginx_port" || { echo "nginx ($name) did not start" >&2; cat "$dir/logs/"* >&2; exit 1; }
}

# start_exportwall NAME SYNC [BINARY]: exportwall (BINARY, default $exportwall_bin) with the bench
# policy ($policy) rewritten for this run's upstream ($crm_port), audit path and sync policy,
# access log and stderr under $tmp/NAME. Sets ew_port and ew_pid. Used by compare-nginx-filtered
# and compare-floor, which define `fail`.
# shellcheck disable=SC2154 # crm_port, policy and exportwall_bin belong to the sourcing script
start_exportwall() {
    local name=$1 sync=$2 dir="$tmp/$1" bin=${3:-$exportwall_bin}
    mkdir -p "$dir"
    sed -e "s#url=\"http://127.0.0.1:8081\"#url=\"http://127.0.0.1:$crm_port\"#" \
        -e "s#<audit path=\"audit.jsonl\" sync=\"blocked\"/>#<audit path=\"$dir/audit.jsonl\" sync=\"$sync\"/>#" \
        -e "s#access-log=\"access.log\"#access-log=\"$dir/access.log\"#" \
        "$policy" >"$dir/exportwall.xml"
    if ! grep -q "127.0.0.1:$crm_port" "$dir/exportwall.xml" ||
        ! grep -q "sync=\"$sync\"" "$dir/exportwall.xml" || ! grep -q "$dir/access.log" "$dir/exportwall.xml"; then
        fail "$policy no longer has the upstream, audit or log line this script rewrites"
    fi
    "${exportwall_env[@]}" "$bin" serve --config "$dir/exportwall.xml" --ports-file "$dir/ports.json" \
        >"$dir/stderr.log" 2>&1 &
    ew_pid=$!
    pids+=("$ew_pid")
    wait_for_file "$dir/ports.json" "$ew_pid" || { cat "$dir/stderr.log" >&2; fail "exportwall ($name) did not start"; }
    ew_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listeners"][0])' "$dir/ports.json")
    wait_for_port "$ew_port"
}
