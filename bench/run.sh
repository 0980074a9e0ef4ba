#!/usr/bin/env bash
# Side-by-side HTTP benchmark: meshd against nginx, HAProxy, Caddy, a bare
# fasthttp proxy and no proxy at all, on the same core, against the same
# upstream. What `make bench` runs. See bench/README.md for the knobs.
#
# Layout on a 2-core machine: the proxy under test is pinned to CPU 0 with one
# worker; wrk and the upstream share CPU 1. Loopback only. Writes
# bench/results/http.md and bench/results/micro.md, then bench/RESULTS.md
# and the charts beside it (bench/assemble.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH

# ---- knobs ------------------------------------------------------------------
DURATION=${BENCH_DURATION:-10s}     # wrk -d for each measured run
WARMUP=${BENCH_WARMUP:-2s}          # wrk -d for the unrecorded warm-up run
CONNS=${BENCH_CONNS:-64}            # wrk -c
THREADS=${BENCH_THREADS:-2}         # wrk -t
RUNS=${BENCH_RUNS:-3}               # measured runs per cell, interleaved; the median (by req/s) is kept
NICE=${BENCH_NICE:--10}             # nice level of every process of the benchmark (0: none)
TARGETS=${BENCH_TARGETS:-"direct meshd nginx haproxy caddy bare"}
SIZES=${BENCH_SIZES:-"small large"}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
PORT_BASE=${BENCH_PORT_BASE:-18900}
MICRO=${BENCH_MICRO:-1}             # 0 skips the Go micro-benchmarks
RESULTS=${BENCH_RESULTS_DIR:-$ROOT/bench/results}
BENCH_BIN=$ROOT/bench/tmp/bin       # Caddy lands here (git-ignored)
CADDY_VERSIONS=${BENCH_CADDY_VERSIONS:-"v2.11.9 v2.11.8 v2.10.2"}

UP_PORT=$PORT_BASE
PRIO=
[ "$NICE" = 0 ] || PRIO="nice -n $NICE"
declare -A PORT=([direct]=$PORT_BASE [meshd]=$((PORT_BASE + 1)) [nginx]=$((PORT_BASE + 2))
	[haproxy]=$((PORT_BASE + 3)) [caddy]=$((PORT_BASE + 4)) [bare]=$((PORT_BASE + 6)))
ADMIN_PORT=$((PORT_BASE + 11))
declare -A TITLE=([direct]="direct (no proxy)" [meshd]="**meshd**" [nginx]="nginx"
	[haproxy]="HAProxy" [caddy]="Caddy" [bare]="bare fasthttp proxy")
declare -A TPID=()
declare -A PATHS=([small]=/small [large]=/large)
declare -A BYTES=([small]=100 [large]=16384)
declare -A SIZE_TITLE=([small]="0.1 KB" [large]="16 KB")

log() { printf '[bench %s] %s\n' "$(date -u +%T)" "$*" >&2; }
die() {
	log "FAILED: $*"
	exit 1
}

# ---- cleanup: every process this script starts, and its temp dir -----------
TMP=$(mktemp -d /tmp/wasmesh-bench.XXXXXX)
PIDS=()
cleanup() {
	local rc=$?
	[ -z "${BENCH_KEEP_TMP:-}" ] || cp -r "$TMP" "$BENCH_KEEP_TMP"
	if [ "$rc" -ne 0 ] && [ -d "$TMP" ]; then
		# keep what explains a failure: wrk outputs, configs, proxy logs
		rm -rf "$ROOT/bench/tmp/last-failure"
		mkdir -p "$ROOT/bench/tmp"
		cp -r "$TMP" "$ROOT/bench/tmp/last-failure" 2>/dev/null || true
		log "temp dir kept in bench/tmp/last-failure"
	fi
	local pid
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {
	local pid=$1 _
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# ---- 1. tools -----------------------------------------------------------------
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
apt_install() {
	log "installing Debian packages: $*"
	$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}
# stop_debian_service keeps the package's own daemon off port 80: we run our
# own instances with our own configs.
stop_debian_service() {
	local svc=$1
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
	elif command -v service >/dev/null; then
		$SUDO service "$svc" stop >/dev/null 2>&1 || true
	fi
}
ensure_tools() {
	local need=() p
	for p in nginx haproxy wrk curl; do command -v "$p" >/dev/null || need+=("$p"); done
	command -v taskset >/dev/null || need+=(util-linux)
	command -v ss >/dev/null || need+=(iproute2)
	command -v pgrep >/dev/null || need+=(procps)
	[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
	# Stop the packaged services whether we just installed them or they were
	# started earlier (their pid files are the packages' own).
	for p in nginx haproxy; do
		if [ -s "/run/$p.pid" ] && kill -0 "$(head -1 "/run/$p.pid")" 2>/dev/null; then stop_debian_service "$p"; fi
		case " ${need[*]} " in *" $p "*) stop_debian_service "$p" ;; esac
	done
	command -v go >/dev/null || die "Go is needed (expected at /usr/local/go/bin)"
	if [[ " $TARGETS " == *" caddy "* ]] && [ ! -x "$BENCH_BIN/caddy" ]; then
		mkdir -p "$BENCH_BIN"
		local v ok=
		for v in $CADDY_VERSIONS; do
			log "building Caddy $v (go install, once; into bench/tmp/bin)"
			if (cd "$TMP" && GOBIN=$BENCH_BIN GOFLAGS="" go install "github.com/caddyserver/caddy/v2/cmd/caddy@$v" >"$TMP/caddy-build.log" 2>&1); then
				ok=1
				break
			fi
			log "Caddy $v did not build: $(tail -3 "$TMP/caddy-build.log" | tr '\n' ' ')"
		done
		[ -n "$ok" ] || die "no Caddy version in '$CADDY_VERSIONS' builds with $(go version)"
	fi
}

# ---- 2. builds ------------------------------------------------------------------
build() {
	log "building meshd, the upstream and the bare proxy"
	mkdir -p bin
	go build -o bin/meshd ./cmd/meshd
	go build -o "$TMP/upstream" ./bench/upstream
	go build -o "$TMP/bareproxy" ./bench/bareproxy
}

# ---- helpers --------------------------------------------------------------------
port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }
wait_http() { # url: wait up to 10 s for a 200
	local _
	for _ in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}
# check_bodies proves the target answers both paths whole, with the right
# status and size, before any number is taken (wrk checks neither).
check_bodies() {
	local port=$1 s got
	for s in small large; do
		got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port${PATHS[$s]}")
		[ "$got" = "200 ${BYTES[$s]}" ] || die "127.0.0.1:$port${PATHS[$s]} answered '$got', want '200 ${BYTES[$s]}'"
	done
}
cpu_stat() { awk '/^cpu[0-9]+ /{t=0; for(i=2;i<=9;i++) t+=$i; print $1, t, $5+$6}' /proc/stat; }
cpu_busy() { # before after cpuN -> busy %
	awk -v c="cpu$3" 'NR==FNR{if($1==c){t0=$2;i0=$3}; next} $1==c{dt=$2-t0; di=$3-i0; printf "%.0f", (dt > 0 ? 100*(dt-di)/dt : 0)}' "$1" "$2"
}
# background_busy samples both CPUs for one second while nothing of ours is
# busy: what other users of the machine take.
background_busy() {
	cpu_stat >"$TMP/bg0"
	sleep 1
	cpu_stat >"$TMP/bg1"
	echo "$(cpu_busy "$TMP/bg0" "$TMP/bg1" 0)/$(cpu_busy "$TMP/bg0" "$TMP/bg1" 1)"
}
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# ---- 3. the targets ------------------------------------------------------------
write_configs() {
	mkdir -p "$TMP/nginx/logs" "$TMP/caddy"
	cat >"$TMP/meshd.yaml" <<EOF
admin: {address: 127.0.0.1:$ADMIN_PORT}
logging: {level: warn, access_log: false}
listeners:
  - name: bench
    address: 127.0.0.1:${PORT[meshd]}
    routes:
      - match: {prefix: /}
        cluster: upstream
clusters:
  - name: upstream
    endpoints:
      - {address: 127.0.0.1:$UP_PORT}
EOF
	cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 100000000;
    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive 128;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:${PORT[nginx]} backlog=4096;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
        }
    }
}
EOF
	cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8192
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:${PORT[haproxy]}
    default_backend be
backend be
    http-reuse always
    server up 127.0.0.1:$UP_PORT
EOF
	cat >"$TMP/caddy/Caddyfile" <<EOF
{
    admin off
    auto_https off
    persist_config off
    servers {
        protocols h1
    }
}
http://127.0.0.1:${PORT[caddy]} {
    reverse_proxy 127.0.0.1:$UP_PORT {
        transport http {
            keepalive 60s
            keepalive_idle_conns 256
            keepalive_idle_conns_per_host 256
        }
    }
}
EOF
}

# proxy_cmd prints the exact command that starts a target (after taskset).
proxy_cmd() {
	case $1 in
	meshd) echo "env GOMAXPROCS=1 $ROOT/bin/meshd -c $TMP/meshd.yaml" ;;
	nginx) echo "nginx -p $TMP/nginx -e $TMP/nginx/logs/error.log -c $TMP/nginx/nginx.conf" ;;
	haproxy) echo "haproxy -db -f $TMP/haproxy.cfg" ;;
	caddy) echo "env GOMAXPROCS=1 HOME=$TMP/caddy XDG_DATA_HOME=$TMP/caddy XDG_CONFIG_HOME=$TMP/caddy $BENCH_BIN/caddy run --adapter caddyfile --config $TMP/caddy/Caddyfile" ;;
	bare) echo "env GOMAXPROCS=1 $TMP/bareproxy -addr 127.0.0.1:${PORT[bare]} -upstream 127.0.0.1:$UP_PORT" ;;
	esac
}

start_target() { # name -> sets TARGET_PID
	local name=$1
	TARGET_PID=
	[ "$name" = direct ] && return 0
	port_free "${PORT[$name]}" || die "port ${PORT[$name]} for $name is taken (set BENCH_PORT_BASE)"
	# shellcheck disable=SC2046 # the command is ours and has no spaces in words
	$PRIO taskset -c "$PROXY_CPU" $(proxy_cmd "$name") >"$TMP/$name.log" 2>&1 &
	TARGET_PID=$!
	PIDS+=("$TARGET_PID")
	TPID[$name]=$TARGET_PID
	wait_http "http://127.0.0.1:${PORT[$name]}/small" || {
		tail -20 "$TMP/$name.log" >&2
		die "$name did not come up on 127.0.0.1:${PORT[$name]}"
	}
}

cat >"$TMP/report.lua" <<'EOF'
-- Printed after wrk's own report: exact percentiles in microseconds,
-- p99.9 included (wrk --latency stops at p99), and the error counts.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50=%d p99=%d p999=%d sockerr=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), e.connect + e.read + e.write + e.timeout, e.status))
end
EOF

# parse_wrk prints "rps p50_us p99_us p999_us errors" from one wrk output.
parse_wrk() {
	awk '
	function us(v, n) { n = v + 0
		if (v ~ /us$/) return n; if (v ~ /ms$/) return n * 1000
		if (v ~ /m$/) return n * 60e6; if (v ~ /s$/) return n * 1e6; return n }
	/^Requests\/sec:/ { rps = $2 }
	/^ +50%/ { p50 = us($2) }
	/^ +99%/ { p99 = us($2) }
	/^BENCH / { for (i = 2; i <= NF; i++) { split($i, kv, "="); b[kv[1]] = kv[2] } }
	END {
		if (rps == "" || b["p999"] == "") exit 1
		printf "%.0f %.0f %.0f %.0f %d\n", rps, p50, p99, b["p999"], b["sockerr"] + b["non2xx"] }' "$1"
}

# alive fails the run, with the end of its log, when a target has exited.
alive() {
	local pid=${TPID[$1]:-}
	kill -0 "${UP_PID:?}" 2>/dev/null || die "the upstream exited: $(tail -5 "$TMP/upstream.log")"
	[ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || {
		tail -30 "$TMP/$1.log" >&2
		die "$1 (pid $pid) exited during the benchmark; its log is above"
	}
}

upstream_conns() { curl -s "http://127.0.0.1:$UP_PORT/conns"; }
CLK_TCK=$(getconf CLK_TCK)
# proc_ticks prints the CPU time (user + system, in clock ticks) that a
# target's process and its children (nginx's worker) have used so far.
proc_ticks() {
	local t=0 c
	[ -n "${1:-}" ] || {
		echo 0
		return
	}
	for c in "$1" $(pgrep -P "$1"); do
		t=$((t + $(sed 's/^.*) //' "/proc/$c/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0)))
	done
	echo "$t"
}

# measure name size run: warm up, then one measured run, appended to the
# cell's runs file as "rps p50 p99 p999 errors cpuP cpuL load others newconns
# req-per-proxy-cpu-second".
measure() {
	local name=$1 size=$2 r=$3 url bg load line out c0 c1 t0 t1 eff
	url="http://127.0.0.1:${PORT[$name]}${PATHS[$size]}"
	out=$TMP/wrk-$name-$size-$r.txt
	alive "$name"
	$PRIO taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$url" >"$TMP/warmup.txt" 2>&1 || {
		alive "$name"
		die "wrk warm-up failed against $name: $(tail -3 "$TMP/warmup.txt")"
	}
	load=$(loadavg)
	bg=$(background_busy)
	c0=$(upstream_conns)
	t0=$(proc_ticks "${TPID[$name]:-}")
	cpu_stat >"$TMP/c0"
	(cd "$TMP" && $PRIO taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s report.lua "$url") >"$out" 2>&1 || {
		alive "$name"
		die "wrk failed against $name: $(tail -3 "$out")"
	}
	cpu_stat >"$TMP/c1"
	t1=$(proc_ticks "${TPID[$name]:-}")
	c1=$(upstream_conns)
	alive "$name"
	line=$(parse_wrk "$out") || {
		cat "$out" >&2
		die "could not parse wrk output for $name $size"
	}
	# the upstream counts the /conns query's own connection too
	# requests served per second of CPU the proxy itself used: its
	# efficiency, which other users' load cannot inflate or deflate much.
	eff=$(awk -v r="$(awk '/^BENCH /{for (i = 2; i <= NF; i++) if ($i ~ /^requests=/) {sub("requests=", "", $i); print $i}}' "$out")" \
		-v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN{ if (t > 0) printf "%.0f", r / (t / hz); else print "-" }')
	line="$line $(cpu_busy "$TMP/c0" "$TMP/c1" "$PROXY_CPU") $(cpu_busy "$TMP/c0" "$TMP/c1" "$LOAD_CPU") $load $bg $((c1 - c0 - 1)) $eff"
	echo "$line" >>"$TMP/runs-$name-$size"
	log "$name $size run $r: $(awk '{printf "%s req/s, p50 %s us, p99 %s us, p99.9 %s us, errors %s, CPUs busy %s%%/%s%%, load %s, others %s%%, new upstream conns %s, req per proxy CPU-s %s", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11}' <<<"$line")"
}

# keep_median keeps a cell's median run by req/s (the lower middle one for
# an even count); the other runs stay in the table's "all runs" column.
keep_median() {
	local f=$TMP/runs-$1-$2
	sort -n -k1,1 "$f" | sed -n "$(((RUNS + 1) / 2))p" >"$TMP/result-$1-$2"
	awk '{printf "%s%s", (NR > 1 ? " / " : ""), $1}' "$f" >"$TMP/all-$1-$2"
	# the proxy's efficiency is the median of its own, run by run
	awk '{print $11}' "$f" | sort -n | sed -n "$(((RUNS + 1) / 2))p" >"$TMP/eff-$1-$2"
}

# ---- 4. report -------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN{printf "%.2f", u/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else printf "n/a" }'; }
# standing word for a ratio where higher is better (hb=1) or lower is better.
standing() {
	awk -v r="$1" -v hb="$2" 'BEGIN{
		if (r == "n/a") { print "n/a"; exit }
		if (!hb) r = 1 / r
		if (r >= 1.03) print "beats"; else if (r >= 0.97) print "matches"; else print "trails" }'
}

# share name size prints the share of its core a proxy got in the cell's
# median run: req/s divided by requests per CPU-second.
share() {
	awk '{ if ($11 > 0) printf "%.0f %%", 100 * $1 / $11; else printf "n/a" }' "$TMP/result-$1-$2"
}

# spread size column compares every meshd run with every nginx run of a
# cell, so that a gap smaller than the noise between runs is called that.
spread() {
	if [ "$RUNS" -le 1 ]; then
		echo "one run each"
		return
	fi
	awk -v c="$2" -v n="$RUNS" '
		FNR == 1 { f++ }
		{ v = $c + 0; if (f == 1) { if (mmin == "" || v < mmin) mmin = v; if (v > mmax) mmax = v }
		  else { if (nmin == "" || v < nmin) nmin = v; if (v > nmax) nmax = v } }
		END {
			if (mmin > nmax) print "higher in all " n " runs"
			else if (mmax < nmin) print "lower in all " n " runs"
			else print "the " n " runs of each overlap" }' "$TMP/runs-meshd-$1" "$TMP/runs-nginx-$1"
}

write_http_md() {
	local out=$RESULTS/http.md name size f rps p50 p99 p999 err c0 c1 load bg nc nr np99 tr pr eff ne er sh
	local maxbg meanbg noisy=0 prionote="" ts ps tw pw me nme
	[ -z "$PRIO" ] || prionote=" Every process of the benchmark runs at \`$PRIO\` to hold its own against other users' builds."
	mkdir -p "$RESULTS"
	# What the rest of the machine used in the idle second before each run.
	read -r maxbg meanbg < <(cat "$TMP"/runs-* | awk '{split($9, x, "/"); for (i = 1; i <= 2; i++) { s += x[i]; n++; if (x[i] > m) m = x[i] } }
		END { printf "%d %.0f\n", m, (n ? s / n : 0) }')
	if awk -v m="$meanbg" -v l="$LOAD_AT_START" 'BEGIN{exit !(m >= 10 || l >= 1)}'; then
		noisy=1
	fi
	{
		echo "# HTTP proxying: meshd beside nginx, HAProxy and Caddy"
		echo
		for size in $SIZES; do
			if [ ! -f "$TMP/result-meshd-$size" ] || [ ! -f "$TMP/result-nginx-$size" ]; then continue; fi
			read -r rps _ p99 _ <"$TMP/result-meshd-$size"
			read -r nr _ np99 _ <"$TMP/result-nginx-$size"
			tr=$(ratio "$rps" "$nr")
			pr=$(ratio "$p99" "$np99")
			ts=$(spread "$size" 1)
			ps=$(spread "$size" 3)
			tw=$(standing "$tr" 1)
			pw=$(standing "$pr" 0)
			[[ $ts != *overlap* ]] || tw="is level (within the noise between runs) with"
			[[ $ps != *overlap* ]] || pw="is level (within the noise between runs) with"
			me=$(cat "$TMP/eff-meshd-$size")
			nme=$(cat "$TMP/eff-nginx-$size")
			er=$(ratio "$me" "$nme")
			if [ "$noisy" = 1 ]; then
				# On a crowded core req/s measures the scheduler as much as the
				# proxy; CPU time per request does not, so it leads.
				echo "**Verdict:** at ${SIZE_TITLE[$size]} meshd $(standing "$er" 1) nginx on cost per request: it served **${er}×** the requests per second of CPU that nginx did ($me vs $nme), so on a core to itself it would reach about ${er}× nginx's throughput. On this crowded machine raw req/s was **${tr}×** nginx's ($ts) and p99 **${pr}×** nginx's ($ps), but those are set as much by the scheduler and the load side as by the proxies: meshd used $(share meshd "$size") of CPU $PROXY_CPU and nginx $(share nginx "$size"), while CPU $LOAD_CPU (wrk, the upstream and other users) was $(awk '{print $7}' "$TMP/result-nginx-$size") % busy. Throughput and p99 on a quiet machine are still to be measured."
			else
				echo "**Verdict:** at ${SIZE_TITLE[$size]} meshd $tw nginx on throughput (**${tr}×** nginx's req/s: $rps vs $nr; $ts) and $pw it on p99 latency (**${pr}×** nginx's: $(ms "$p99") ms vs $(ms "$np99") ms; $ps), one core each. Per second of CPU it used, meshd served **${er}×** the requests nginx did ($me vs $nme)."
			fi
			echo
		done
		echo "The goal is to match or beat nginx's throughput and p99 on the same cores"
		echo "(\"matches\" means within 3 %). For scale: on this kind of machine a bare fasthttp"
		echo "HostClient proxy was expected at about 0.9× nginx's throughput and 2× its p99, and"
		echo "Caddy at about a quarter of nginx's throughput; the *bare fasthttp proxy* row"
		echo "measures the first of these in the same run, so the gap between it and meshd is"
		echo "what meshd's own routing, balancing, breakers and metrics cost."
		echo
		echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC'). Each proxy is pinned to CPU $PROXY_CPU with ONE worker"
		echo "(meshd, Caddy and the bare proxy GOMAXPROCS=1, nginx \`worker_processes 1\`, HAProxy"
		echo "\`nbthread 1\`) and keeps its upstream connections alive; wrk and the upstream share"
		echo "CPU $LOAD_CPU. Keep-alive GETs, $CONNS connections, $THREADS wrk threads, $DURATION per run after a"
		echo "$WARMUP warm-up. $RUNS rounds, interleaved (each round measures every cell once, so drifting"
		echo "background load hits all targets alike); the table shows the median run by req/s,"
		echo "and *all runs* lists every run's req/s. Latencies are wrk's, in ms.$prionote"
		echo
		echo "| target | body | req/s | p50 | p99 | p99.9 | errors | req/s vs nginx | p99 vs nginx | req per proxy CPU-s | CPU-s efficiency vs nginx | proxy's CPU share | all runs (req/s) | new upstream conns | CPU$PROXY_CPU busy | CPU$LOAD_CPU busy | load (1 min) before | others' CPU$PROXY_CPU/CPU$LOAD_CPU before |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
		for size in $SIZES; do
			for name in $TARGETS; do
				f=$TMP/result-$name-$size
				[ -f "$f" ] || continue
				read -r rps p50 p99 p999 err c0 c1 load bg nc _ <"$f"
				eff=$(cat "$TMP/eff-$name-$size")
				nr=n/a np99=n/a ne=n/a
				if [ -f "$TMP/result-nginx-$size" ]; then
					read -r nr _ np99 _ <"$TMP/result-nginx-$size"
					nr=$(ratio "$rps" "$nr")
					np99=$(ratio "$p99" "$np99")
					ne=$(ratio "$eff" "$(cat "$TMP/eff-nginx-$size")")
				fi
				sh=$(share "$name" "$size")
				if [ "$name" = direct ]; then nr="—" np99="—" ne="—" eff="—" sh="—"; fi
				echo "| ${TITLE[$name]} | ${SIZE_TITLE[$size]} | $rps | $(ms "$p50") | $(ms "$p99") | $(ms "$p999") | $err | $nr | $np99 | $eff | $ne | $sh | $(cat "$TMP/all-$name-$size") | $nc | $c0 % | $c1 % | $load | $bg % |"
			done
		done
		echo
		echo "How to read it: *direct* is wrk straight to the upstream, both on CPU $LOAD_CPU (no proxy,"
		echo "CPU $PROXY_CPU idle): a reference, not a ceiling for the proxies. *CPU busy* is the share of"
		echo "each core in use during the measured run, from /proc/stat, everyone's processes"
		echo "included: CPU $PROXY_CPU near 100 % with CPU $LOAD_CPU below it means the proxy was the bottleneck."
		echo "*Req per proxy CPU-s* is requests served per second of CPU time (user + system, from"
		echo "/proc/PID/stat, nginx's worker included) that the proxy itself used during the run,"
		echo "median of the runs: its efficiency, which others' load on the machine changes far"
		echo "less than req/s (a starved proxy serves fewer requests but also uses less CPU)."
		echo "*Proxy's CPU share* is how much of its core the proxy got in the median run (req/s ÷"
		echo "req per CPU-s); well under 100 % means other processes took the rest."
		echo "*New upstream conns* counts the connections the upstream accepted during the measured"
		echo "run: 0 for a proxy that kept its pool from the warm-up, $CONNS for *direct* (wrk's own)."
		echo "A few dozen (never more than wrk's $CONNS connections, against thousands of requests)"
		echo "means the pool works but some connections were replaced; nginx and Caddy drop the"
		echo "upstream connection of a request whose client left, which is what a wrk run that stops"
		echo "with requests in flight does, more of them on a loaded machine."
		echo "*Others' CPU before* is what the rest of the machine used in the idle second just"
		echo "before each run; the 1-minute load average also counts this script's previous run."
		echo
		if [ "$noisy" = 1 ]; then
			echo "**Background load was present:** the machine is shared with other engineers'"
			echo "builds and tests. Load average $LOAD_AT_START_FULL at the start; in the idle second"
			echo "before a run the others took $meanbg % of a core on average and up to $maxbg %. The"
			echo "proxies competed with them for CPU $PROXY_CPU, so absolute numbers are low and noisy, and"
			echo "even the ratios can shift: a single-process event loop (nginx, HAProxy) and a Go"
			echo "runtime are not hurt alike by a crowded core. Rerun \`make bench\` on a quiet machine"
			echo "before drawing a conclusion."
		else
			echo "The machine was quiet: load average $LOAD_AT_START_FULL at the start; in the idle second"
			echo "before a run the others took $meanbg % of a core on average and at most $maxbg %."
		fi
		echo
		echo "## Machine"
		echo
		echo "| fact | value |"
		echo "|---|---|"
		echo "| nproc | $(nproc) |"
		echo "| CPU | $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo) |"
		echo "| kernel | $(uname -sr) |"
		echo "| Go | $(go version | awk '{print $3, $4}') |"
		echo "| meshd | commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- cmd dataplane conf 2>/dev/null || echo ' (with local changes)') |"
		echo "| nginx | $(nginx -v 2>&1 | sed 's/.*version: //') |"
		echo "| HAProxy | $(haproxy -v | awk 'NR==1{print $3}') |"
		[ ! -x "$BENCH_BIN/caddy" ] || echo "| Caddy | $("$BENCH_BIN/caddy" build-info | awk '$1 == "mod" {print $3; exit}') (built with $("$BENCH_BIN/caddy" build-info | awk '$1 == "go" {print $2; exit}')) |"
		echo "| wrk | $(wrk -v 2>&1 | awk 'NR==1{print $2}') |"
		echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
		echo "| load average at start | $LOAD_AT_START_FULL |"
		echo
		echo "## Commands"
		echo
		echo "Run by \`make bench\` (\`bench/run.sh\`); \`\$T\` is the script's temp dir. Every target"
		echo "runs at once on its own port; the rounds go through them one at a time."
		echo
		echo '```sh'
		echo "GOMAXPROCS=1 ${PRIO:+$PRIO }taskset -c $LOAD_CPU \$T/upstream -addr 127.0.0.1:$UP_PORT   # go build ./bench/upstream"
		for name in $TARGETS; do
			[ "$name" = direct ] && continue
			echo "${PRIO:+$PRIO }taskset -c $PROXY_CPU $(proxy_cmd "$name" | sed "s#$TMP#\$T#g; s#$ROOT/##g")"
		done
		echo "# per cell and round:"
		echo "${PRIO:+$PRIO }taskset -c $LOAD_CPU wrk -t$THREADS -c$CONNS -d$WARMUP URL                               # warm-up, not recorded"
		echo "${PRIO:+$PRIO }taskset -c $LOAD_CPU wrk -t$THREADS -c$CONNS -d$DURATION --latency -s report.lua URL   # measured"
		echo '```'
		echo
		echo "URL is \`http://127.0.0.1:PORT/small\` (100-byte body) or \`/large\` (16 KiB). Ports:"
		local ports="" n
		for n in $TARGETS; do ports+="$n ${PORT[$n]}, "; done
		echo "${ports%, }; meshd's admin API $ADMIN_PORT."
		echo
		echo "<details><summary>Configs (report.lua, meshd, nginx, HAProxy, Caddy)</summary>"
		echo
		echo '```lua'
		cat "$TMP/report.lua"
		echo '```'
		echo
		echo '```yaml'
		cat "$TMP/meshd.yaml"
		echo '```'
		echo
		echo '```nginx'
		sed "s#$TMP#\$T#g" "$TMP/nginx/nginx.conf"
		echo '```'
		echo
		echo '```'
		cat "$TMP/haproxy.cfg"
		echo '```'
		echo
		echo '```'
		cat "$TMP/caddy/Caddyfile"
		echo '```'
		echo
		echo "</details>"
	} >"$out"
	log "wrote ${out#"$ROOT"/}"
}

# ---- 5. micro-benchmarks -----------------------------------------------------
run_micro() {
	local out=$RESULTS/micro.md load bg rc=0
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	bg=$(background_busy)
	log "running the dataplane micro-benchmarks"
	go test -run '^$' -bench . -benchmem ./dataplane/... >"$TMP/micro.txt" 2>&1 || rc=$?
	mkdir -p "$RESULTS"
	{
		echo "# Micro-benchmarks of the dataplane hot path"
		echo
		echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) × $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo),"
		echo "$(go version | awk '{print $3}'), meshd commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
		echo "Load average before: $load; others' CPU0/CPU1 busy in the second before: $bg %."
		[ "$rc" -eq 0 ] || echo "**The command failed (exit $rc); its output is below.**"
		echo
		echo '```sh'
		echo "go test -run '^\$' -bench . -benchmem ./dataplane/..."
		echo '```'
		echo
		echo '```'
		cat "$TMP/micro.txt"
		echo '```'
	} >"$out"
	log "wrote ${out#"$ROOT"/}"
	return "$rc"
}

# ---- main -------------------------------------------------------------------------
main() {
	local name size r rc=0 p
	LOAD_AT_START_FULL=$(cut -d' ' -f1-3 /proc/loadavg)
	LOAD_AT_START=${LOAD_AT_START_FULL%% *}
	log "load average at start: $LOAD_AT_START_FULL"
	[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (proxy on one, wrk and upstream on the other)"
	ensure_tools
	build
	write_configs
	for p in $UP_PORT $ADMIN_PORT; do port_free "$p" || die "port $p is taken (set BENCH_PORT_BASE)"; done

	GOMAXPROCS=1 $PRIO taskset -c "$LOAD_CPU" "$TMP/upstream" -addr "127.0.0.1:$UP_PORT" >"$TMP/upstream.log" 2>&1 &
	UP_PID=$!
	PIDS+=("$UP_PID")
	wait_http "http://127.0.0.1:$UP_PORT/small" || die "upstream did not come up"

	# Every target runs at once (idle ones cost nothing) so that the runs can
	# be interleaved: round r measures every cell once, and a change in the
	# machine's background load hits all targets alike.
	for name in $TARGETS; do
		[ -n "${PORT[$name]:-}" ] || die "unknown target $name (known: ${!PORT[*]})"
		start_target "$name"
		check_bodies "${PORT[$name]}"
	done
	log "all targets up: $TARGETS"
	for r in $(seq "$RUNS"); do
		for size in $SIZES; do
			for name in $TARGETS; do measure "$name" "$size" "$r"; done
		done
	done
	for size in $SIZES; do
		for name in $TARGETS; do keep_median "$name" "$size"; done
	done
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	log "all targets stopped"
	write_http_md
	if [ "$MICRO" = 1 ]; then run_micro || rc=$?; fi
	# assemble.sh also draws the charts of every results file beside
	# RESULTS.md. A trial run into another results dir assembles beside it,
	# not over the committed bench/RESULTS.md and its charts.
	if [ "$RESULTS" = "$ROOT/bench/results" ]; then
		"$ROOT/bench/assemble.sh" "$RESULTS" "$ROOT/bench/RESULTS.md" || rc=$?
	else
		"$ROOT/bench/assemble.sh" "$RESULTS" "${RESULTS%/}-RESULTS.md" || rc=$?
	fi
	return "$rc"
}

main "$@"
