#!/bin/sh
# netsift collector — writes a netsift bundle (format v1, see FORMAT.md) for offline analysis.
#
# Shell: POSIX sh (dash, busybox ash, bash). POSIX because the node part is streamed into
# `chroot /host sh -s` on nodes that may have no bash; it needs only sh, awk, sed, tar, gzip and
# the usual coreutils or their busybox versions.
#
# It only reads: `kubectl get/logs/version/api-resources` and read-only commands on nodes. The only
# objects it ever creates or deletes are its own node-debugger pods (`--node-data debug`). It never
# reads Secrets, and masks secret-looking values in what it does read.
#
#   collect.sh cluster [-o FILE] [--context C] [--kubeconfig F] [--nodes all|n1,n2]
#                      [--node-data debug|exec|none] [--image IMG] [--debug-namespace NS]
#                      [--since 24h] [--namespaces ns1,ns2] [--redact] [--timeout SECS]
#                      [--node-timeout SECS] [--log-bytes N] [--max-log-pods N] [--force]
#   collect.sh node    [-o FILE|-] [--root DIR|auto] [--node-name NAME] [--timeout SECS] [--redact] [--force]
#
# Environment: NETSIFT_TIMEOUT (seconds per command, default 60), NETSIFT_NODE_TIMEOUT (seconds
# for a whole node part, default 600), NETSIFT_TIMEOUT_IMPL=fallback (use the background-kill
# timeout even where `timeout` exists).

COLLECTOR_VERSION=1.0.0
FORMAT_VERSION=1

# ---------------------------------------------------------------------------------------------
# What is collected. One row per command: id, output path (relative to the bundle root, or to
# nodes/<node>/ for the node table; a trailing / means a directory), command. Commands are plain
# words (no quoting); the lower_case ones are functions defined below.
# `kubectl` here means kubectl with the user's --context/--kubeconfig and a request timeout; with
# --namespaces, `-A` becomes those namespaces merged into one List; `-n @system` means kube-system
# plus the CNI namespaces (ConfigMaps are read only there).
# ---------------------------------------------------------------------------------------------
CLUSTER_TABLE='
version              cluster/version.json              kubectl version -o json
nodes                cluster/nodes.yaml                kubectl get nodes -o yaml
namespaces           cluster/namespaces.yaml           kubectl get namespaces -o yaml
pods                 cluster/pods.yaml                 kubectl get pods -A -o yaml
services             cluster/services.yaml             kubectl get services -A -o yaml
endpoints            cluster/endpoints.yaml            kubectl get endpoints -A -o yaml
endpointslices       cluster/endpointslices.yaml       kubectl get endpointslices -A -o yaml
networkpolicies      cluster/networkpolicies.yaml      kubectl get networkpolicies -A -o yaml
ingresses            cluster/ingresses.yaml            kubectl get ingresses -A -o yaml
events               cluster/events.yaml               kubectl get events -A -o yaml
daemonsets           cluster/daemonsets.yaml           kubectl get daemonsets -A -o yaml
deployments          cluster/deployments.yaml          kubectl get deployments -A -o yaml
configmaps           cluster/configmaps.yaml           kubectl get configmaps -n @system -o yaml
serviceaccounts      cluster/serviceaccounts.yaml      kubectl get serviceaccounts -A -o yaml
clusterroles         cluster/clusterroles.yaml         kubectl get clusterroles -o yaml
clusterrolebindings  cluster/clusterrolebindings.yaml  kubectl get clusterrolebindings -o yaml
roles                cluster/roles.yaml                kubectl get roles -A -o yaml
rolebindings         cluster/rolebindings.yaml         kubectl get rolebindings -A -o yaml
'

NODE_TABLE='
iptables-save         iptables-save.txt          iptables-save -c
iptables-legacy-save  iptables-legacy-save.txt   iptables-legacy-save -c
iptables-nft-save     iptables-nft-save.txt      iptables-nft-save -c
ip6tables-save        ip6tables-save.txt         ip6tables-save -c
nft-ruleset           nft-ruleset.txt            nft list ruleset
ipvsadm               ipvsadm.txt                ipvsadm -Ln
ipset                 ipset.txt                  ipset list
ip-addr-json          ip-addr.json               ip -j addr show
ip-addr               ip-addr.txt                ip addr show
ip-link-json          ip-link.json               ip -j -d -s link show
ip-link               ip-link.txt                ip -d -s link show
ip-route-json         ip-route.json              ip -j route show table all
ip-route              ip-route.txt               ip route show table all
ip-rule-json          ip-rule.json               ip -j rule show
ip-rule               ip-rule.txt                ip rule show
ip-neigh              ip-neigh.txt               ip neigh show
bridge-fdb            bridge-fdb.txt             bridge fdb show
sysctl                sysctl.txt                 sysctl -a
conntrack-stats       conntrack-stats.txt        conntrack -S
lsmod                 lsmod.txt                  lsmod
uname                 uname.txt                  uname -a
cni                   cni/                       copy_dir /etc/cni/net.d
cni-bin               cni-bin.txt                list_dir /opt/cni/bin
resolv-conf           resolv.conf                read_file /etc/resolv.conf
kubelet-config        kubelet-config.yaml        kubelet_config
kubelet-cmdline       kubelet-cmdline.txt        kubelet_cmdline
hairpin               hairpin.txt                hairpin_modes
selinux               selinux.txt                selinux_state
dmesg                 dmesg.txt                  dmesg_tail 5000
kubelet-log           kubelet.log                kubelet_journal_tail 20000
'

# Namespaces where CNI agents live; their ConfigMaps are collected along with kube-system's.
CNI_NAMESPACES='kube-flannel calico-system tigera-operator cilium kube-ovn antrea-system kube-router'
# Pods whose logs are always collected (matched on pod name or k8s-app label).
LOG_PODS_RE='kube-proxy|coredns|kube-dns|node-local-dns|nodelocaldns|kube-controller-manager|calico|cilium|flannel|canal|weave|kube-ovn|ovnkube|antrea|kube-router|aws-node|azure-cni|multus'
# Pods whose containers carry the node tools, for --node-data exec (hostNetwork ones only).
EXEC_PODS_RE='kube-proxy|calico-node|cilium|kube-flannel|canal'

# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
# Progress goes to fd 9, the script's stderr saved in main: inside run_row, fd 2 is a row's file.
log() { printf '%s netsift-collect: %s\n' "$(date -u +%H:%M:%S)" "$*" >&9; }
die() { log "error: $*"; exit 2; }
have() { command -v "$1" >/dev/null 2>&1; }
now_iso() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# now_ms: monotonic-ish milliseconds from /proc/uptime (busybox date has no %N).
now_ms() {
	if [ -r /proc/uptime ]; then
		read -r nm_up nm_rest </proc/uptime
		: "$nm_rest"
		nm_s=${nm_up%.*}
		nm_f=${nm_up#*.}
		echo $((nm_s * 1000 + ${nm_f#0} * 10))
	else
		echo $(($(date +%s) * 1000))
	fi
}

# sanitize NAME: keep it usable as a file name component.
sanitize() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }

# safe_name NAME: true when NAME can be a Kubernetes object name (letters, digits, '.', '-', '_',
# starting with a letter or digit, at most 253 long). Names read from the cluster become words of
# command lines and parts of file paths. Command lines are split with globbing off and never
# eval'd, so "$(...)", "`...`" and ";" would be inert text anyway; what this refuses is what
# splitting and paths would still honour: white space, "/", "..", and a leading "-" (an option).
safe_name() {
	case $1 in
	'' | [!A-Za-z0-9]* | *[!A-Za-z0-9._-]*) return 1 ;;
	esac
	[ "${#1}" -le 253 ]
}

# check_out: refuse to overwrite an existing output file (or whatever a link there points to)
# unless --force; with --force, remove it first so tar never writes through a link.
check_out() {
	[ -n "$OUT" ] && [ "$OUT" != - ] || return 0
	[ -e "$OUT" ] || [ -L "$OUT" ] || return 0
	[ -d "$OUT" ] && die "$OUT is a directory"
	[ "$FORCE" = 1 ] || die "$OUT already exists; use --force to overwrite it"
	rm -f "$OUT" || die "cannot remove $OUT"
}

# file_bytes PATH: size of a file, or the sum over a directory's files.
file_bytes() {
	if [ -d "$1" ]; then
		find "$1" -type f -exec cat {} + 2>/dev/null | wc -c | tr -d ' '
	elif [ -f "$1" ]; then
		wc -c <"$1" | tr -d ' '
	else
		echo 0
	fi
}

detect_timeout() {
	TIMEOUT_STYLE=fallback
	[ "${NETSIFT_TIMEOUT_IMPL:-}" = fallback ] && return
	if timeout -k 1 5 true >/dev/null 2>&1; then
		TIMEOUT_STYLE=with-k # GNU coreutils and busybox >= 1.30
	elif timeout -t 5 true >/dev/null 2>&1; then
		TIMEOUT_STYLE=old-busybox
	fi
}

# limited SECS CMD ARGS...: run CMD with a time limit; stdin from $L_STDIN (default /dev/null).
# Binaries go through `timeout` when it exists; shell functions (and everything when there is no
# `timeout`) through a background watchdog. On a timeout it touches $ROW_TMO and returns 124.
# It waits with `wait`, which a trapped Ctrl-C interrupts at once.
limited() {
	l_secs=$1
	shift
	l_in=${L_STDIN:-/dev/null}
	l_t0=$(now_ms)
	case $(command -v "$1") in
	/*) l_bin=1 ;;
	*) l_bin=0 ;;
	esac
	if [ "$l_bin" = 1 ] && [ "$TIMEOUT_STYLE" = with-k ]; then
		timeout -k 5 "$l_secs" "$@" <"$l_in" 9>&- &
		l_pid=$!
		l_wd=
	elif [ "$l_bin" = 1 ] && [ "$TIMEOUT_STYLE" = old-busybox ]; then
		timeout -t "$l_secs" "$@" <"$l_in" 9>&- &
		l_pid=$!
		l_wd=
	else
		# A function runs in a subshell that passes TERM on to the command it is waiting for.
		(
			trap '[ -n "$CUR_PID" ] && kill -TERM "$CUR_PID" 2>/dev/null; exit 143' TERM
			CUR_PID=
			"$@"
		) <"$l_in" 9>&- &
		l_pid=$!
		# The watchdog polls instead of sleeping the whole time, so it ends by itself within a
		# second of the command and never outlives the collection.
		(
			l_i=0
			while [ "$l_i" -lt "$l_secs" ]; do
				sleep 1
				kill -0 "$l_pid" 2>/dev/null || exit 0
				l_i=$((l_i + 1))
			done
			[ -n "${ROW_TMO:-}" ] && : >"$ROW_TMO"
			kill -TERM "$l_pid" 2>/dev/null
			sleep 3
			kill -KILL "$l_pid" 2>/dev/null
		) </dev/null >/dev/null 2>&1 &
		l_wd=$!
	fi
	CUR_PID=$l_pid
	wait "$l_pid"
	l_rc=$?
	CUR_PID=
	[ -n "$l_wd" ] && kill "$l_wd" 2>/dev/null && wait "$l_wd" 2>/dev/null
	if [ "$l_rc" -eq 124 ] || { [ "$l_rc" -gt 128 ] && [ $(($(now_ms) - l_t0)) -ge $((l_secs * 1000)) ]; }; then
		[ -n "${ROW_TMO:-}" ] && : >"$ROW_TMO"
		l_rc=124
	fi
	[ -n "${ROW_TMO:-}" ] && [ -f "$ROW_TMO" ] && [ "$l_rc" -ne 0 ] && l_rc=124
	return "$l_rc"
}

# ---------------------------------------------------------------------------------------------
# JSON: strings are escaped by awk reading them from the environment (never from awk -v, which
# would interpret backslashes). Control characters become \n, \t, \r or \u00XX.
# ---------------------------------------------------------------------------------------------
AWK_JSON_ESC='
function esc(s,    out, i, n, c) {
	out = ""
	n = length(s)
	for (i = 1; i <= n; i++) {
		c = substr(s, i, 1)
		if (c == "\\") out = out "\\\\"
		else if (c == "\"") out = out "\\\""
		else if (c == "\n") out = out "\\n"
		else if (c == "\t") out = out "\\t"
		else if (c == "\r") out = out "\\r"
		else if (c in CTL) out = out sprintf("\\u%04x", CTL[c])
		else out = out c
	}
	return "\"" out "\""
}
BEGIN { for (i = 1; i < 32; i++) CTL[sprintf("%c", i)] = i }
'

# json_str VALUE: VALUE as a JSON string literal.
json_str() { J_S=$1 LC_ALL=C awk "$AWK_JSON_ESC"'BEGIN { printf "%s", esc(ENVIRON["J_S"]) }' </dev/null; }

# write_record ID NODE COMMAND PATH EXIT STARTED DURATION_MS TIMED_OUT STDERR_FILE BYTES
# appends one manifest command record (one line of JSON) to $RECORDS.
write_record() {
	R_ID=$1 R_NODE=$2 R_CMD=$3 R_PATH=$4 R_STARTED=$6 LC_ALL=C awk \
		-v rc="$5" -v dur="$7" -v tout="$8" -v bytes="${10}" "$AWK_JSON_ESC"'
		{ err = err (NR > 1 ? "\n" : "") $0 }
		END {
			printf "{\"id\":%s", esc(ENVIRON["R_ID"])
			if (ENVIRON["R_NODE"] != "") printf ",\"node\":%s", esc(ENVIRON["R_NODE"])
			printf ",\"command\":%s", esc(ENVIRON["R_CMD"])
			if (ENVIRON["R_PATH"] != "") printf ",\"path\":%s", esc(ENVIRON["R_PATH"])
			printf ",\"exit_code\":%d,\"started_at\":%s,\"duration_ms\":%d", rc, esc(ENVIRON["R_STARTED"]), dur
			printf ",\"timed_out\":%s", (tout == 1 ? "true" : "false")
			if (err != "") printf ",\"stderr\":%s", esc(err)
			printf ",\"bytes\":%d}\n", bytes
		}' "$9" >>"$RECORDS"
}

# run_row ID NODE RELPATH SECS COMMAND [OUTFILE]: run one table command into $BUNDLE/RELPATH,
# scrub the output, record it. With OUTFILE, stdout goes there instead, unscrubbed, and the record
# has no path (node-data transports: their captures come with their own records).
# Never fails the collection.
run_row() {
	rr_id=$1 rr_node=$2 rr_rel=$3 rr_secs=$4 rr_cmd=$5
	rr_outfile=${6:-}
	rr_out=$BUNDLE/$rr_rel
	[ -n "$rr_outfile" ] && rr_out=$rr_outfile
	rr_err=$WORK/stderr
	ROW_TMO=$WORK/timed-out
	rm -f "$ROW_TMO" "$rr_err"
	mkdir -p "$(dirname "$rr_out")"
	set -f
	# shellcheck disable=SC2086 # table commands are plain words, split on purpose
	set -- $rr_cmd
	set +f
	rr_bin=$1
	rr_need=$1
	shift
	# `kubectl` in a table is the kube function (user flags, namespace expansion).
	[ "$rr_bin" = kubectl ] && rr_bin=kube && KTIMEOUT=$rr_secs
	log "[$rr_node${rr_node:+ }$rr_id] $rr_cmd"
	rr_started=$(now_iso)
	rr_t0=$(now_ms)
	if ! have "$rr_need"; then
		printf '%s: command not found\n' "$rr_need" >"$rr_err"
		rr_rc=127
	else
		case $rr_rel in
		*/)
			mkdir -p "$rr_out"
			OUT_DIR=$rr_out
			limited "$((rr_secs * 2))" "$rr_bin" "$@" >/dev/null 2>"$rr_err"
			;;
		*)
			case $rr_bin in
			*_*) limited "$((rr_secs * 2))" "$rr_bin" "$@" >"$rr_out" 2>"$rr_err" ;;
			*) limited "$rr_secs" "$rr_bin" "$@" >"$rr_out" 2>"$rr_err" ;;
			esac
			;;
		esac
		rr_rc=$?
	fi
	KTIMEOUT=
	rr_ms=$(($(now_ms) - rr_t0))
	rr_tmo=0
	[ -f "$ROW_TMO" ] && rr_tmo=1
	[ "$rr_tmo" = 1 ] && log "[$rr_node${rr_node:+ }$rr_id] timed out after ${rr_secs}s"
	# A failed command that wrote nothing leaves no file: the manifest says what happened.
	if [ -f "$rr_out" ] && [ "$rr_rc" -ne 0 ] && [ ! -s "$rr_out" ]; then rm -f "$rr_out"; fi
	if [ -d "$rr_out" ] && [ "$rr_rc" -ne 0 ]; then rmdir "$rr_out" 2>/dev/null; fi
	[ -z "$rr_outfile" ] && scrub_path "$rr_rel" "$rr_out"
	[ -f "$rr_err" ] || : >"$rr_err"
	tail -c 2048 "$rr_err" >"$rr_err.tail" 2>/dev/null || cp "$rr_err" "$rr_err.tail"
	rr_path=$rr_rel
	[ "$MODE" = node ] && rr_path=nodes/$NODE_NAME/$rr_rel
	write_record "$rr_id" "$rr_node" "$rr_cmd" "$rr_path" "$rr_rc" "$rr_started" "$rr_ms" "$rr_tmo" \
		"$rr_err.tail" "$(file_bytes "$rr_out")"
	rm -f "$ROW_TMO"
	ROW_TMO=
	return 0
}

# run_table TABLE NODE PATHPREFIX SECS: run every row of a command table.
run_table() {
	rt_table=$1 rt_node=$2 rt_prefix=$3 rt_secs=$4
	while read -r rt_id rt_path rt_cmd; do
		case $rt_id in '' | '#'*) continue ;; esac
		row_applies "$rt_id" || continue
		run_row "$rt_id" "$rt_node" "$rt_prefix$rt_path" "$rt_secs" "$rt_cmd"
	done <<EOF
$rt_table
EOF
}

row_applies() {
	case $1 in
	# The backend-specific dumps only matter when both backends exist (rules may hide in either).
	iptables-legacy-save | iptables-nft-save) have iptables-legacy-save && have iptables-nft-save ;;
	*) return 0 ;;
	esac
}

# ---------------------------------------------------------------------------------------------
# Secret masking. Applied to every file by path (scrub_path), before anything is archived.
#   generic: a value whose key looks secret (password, token, secret, *key, credential, auth ...)
#            in `key: value`, `key = value`, `"key": "value"` lines; PEM private keys; JWTs;
#            user:password@ in URLs. For node files (CNI config, kubeconfigs there) and logs.
#   k8s:     Kubernetes object Lists. Key-based masking would break typed fields, so only the
#            type-safe parts: JWTs, PEM keys, inline JSON "key":"value", env `value:` of env vars
#            whose name looks secret, and kubectl's last-applied-configuration annotation (a copy
#            of the object, ConfigMap data included).
#   configmaps: k8s, plus every data/binaryData key that looks secret, plus generic masking
#            inside the (multi-line) values, where embedded kubeconfigs and config files live.
# ---------------------------------------------------------------------------------------------
# shellcheck disable=SC2016 # an awk program
AWK_SCRUB='
function secretkey(k,    l) {
	l = tolower(k)
	gsub(QUOTES, "", l)
	if (l ~ /(file|path|dir|name|names|ref|url|secs|seconds|ttl|period|enabled|mode|type|size|count|length|policy|expiration)$/) return 0
	return l ~ /(passw|pwd|secret|token|apikey|api[-_.]key|private|credential|bearer|cookie|session|(^|[-_.])auth$|(^|[-_.])key$|[-_.]key[-_.]|\.pem$|client-key-data)/
}
function indent(s) { match(s, /^ */); return RLENGTH }
function inline_json(s,    out, m, k, kv) {
	out = ""
	while (match(s, /"[A-Za-z0-9_.-]+"[ \t]*:[ \t]*"[^"]*"/)) {
		kv = substr(s, RSTART, RLENGTH)
		k = kv; sub(/"[ \t]*:.*/, "", k); sub(/^"/, "", k)
		if (secretkey(k)) { sub(/:[ \t]*"[^"]*"$/, ": \"" MASK "\"", kv) }
		out = out substr(s, 1, RSTART - 1) kv
		s = substr(s, RSTART + RLENGTH)
	}
	return out s
}
function common(s) {
	gsub(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/, MASK, s)
	gsub(/:\/\/[^\/@ :"]+:[^\/@ "]+@/, "://" MASK "@", s)
	if (s ~ /-----BEGIN[A-Z ]*PRIVATE KEY-----.*-----END/) {
		gsub(/PRIVATE KEY-----[^-]*-----END/, "PRIVATE KEY-----" MASK "-----END", s)
	}
	return inline_json(s)
}
# keyvalue(s): s with the value masked when it is a `key: value` / `key = value` line with a
# secret-looking key. Sets SKIP when the value is a block or continues on deeper lines.
function keyvalue(s,    pre, key, val, comma) {
	if (!match(s, KEYRE)) return s
	pre = substr(s, 1, RLENGTH)
	val = substr(s, RLENGTH + 1)
	key = pre
	sub(/^[ \t]*(- )?/, "", key)
	sub(/[ \t]*[:=]$/, "", key)
	if (!secretkey(key)) return s
	if (val ~ /^[ \t]*$/ || val ~ /^[ \t]*[{\[][ \t]*$/) return s
	comma = (val ~ /,[ \t]*$/) ? "," : ""
	SKIP = indent(s)
	return pre " \"" MASK "\"" comma
}
BEGIN {
	MASK = "***REDACTED***"; SKIP = -1; PEM = 0; ENVIND = -1
	Q = sprintf("%c", 39)
	QUOTES = "[\"" Q " ]"
	KEYRE = "^[ \t]*(- )?[\"" Q "]?[A-Za-z0-9_./-]+[\"" Q "]?[ \t]*[:=]"
}
{
	line = $0
	if (SKIP >= 0) {
		if (line ~ /^[ \t]*$/ || indent(line) > SKIP) next
		SKIP = -1
	}
	if (PEM) {
		if (line ~ /-----END[A-Z ]*PRIVATE KEY-----/) { PEM = 0; print line }
		next
	}
	if (line ~ /-----BEGIN[A-Z ]*PRIVATE KEY-----/ && line !~ /-----END/) {
		PEM = 1; match(line, /^[ \t]*/); print line; print substr(line, 1, RLENGTH) MASK; next
	}
	if (mode == "generic") { print keyvalue(common(line)); next }
	# Kubernetes object Lists (k8s and configmaps modes).
	if (line ~ /^[ \t]*kubectl\.kubernetes\.io\/last-applied-configuration:/) {
		SKIP = indent(line); sub(/:.*/, ": \"" MASK "\"", line); print line; next
	}
	if (match(line, /^[ \t]*- name: /)) {
		ENVNAME = substr(line, RLENGTH + 1); gsub(QUOTES, "", ENVNAME); ENVIND = RLENGTH - 6
	} else if (ENVIND >= 0 && indent(line) == ENVIND && line ~ /^[ \t]*value: / && secretkey(ENVNAME)) {
		SKIP = indent(line); sub(/value: .*/, "value: \"" MASK "\"", line); print line; next
	}
	if (mode == "configmaps") {
		if (line ~ /^  (data|binaryData):[ \t]*$/) { INDATA = 1; print line; next }
		if (INDATA && line !~ /^[ \t]*$/ && indent(line) <= 2) INDATA = 0
		if (INDATA && indent(line) == 4) { print keyvalue(common(line)); next }
		if (INDATA && indent(line) > 4) { print keyvalue(common(line)); next }
	}
	print common(line)
}
'

# scrub_file MODE PATH: mask secrets in PATH in place.
scrub_file() {
	[ -f "$2" ] || return 0
	LC_ALL=C awk -v mode="$1" "$AWK_SCRUB" "$2" >"$2.scrub" && mv "$2.scrub" "$2"
}

# scrub_path RELPATH PATH: choose the masking for a bundle file by where it lives.
scrub_path() {
	case $1 in
	cluster/configmaps.yaml) scrub_file configmaps "$2" ;;
	cluster/*.yaml) scrub_file k8s "$2" ;;
	logs/*) scrub_file generic "$2" ;;
	cni/ | */cni/)
		for sp_f in "$2"/* "$2"/*/*; do [ -f "$sp_f" ] && scrub_file generic "$sp_f"; done
		;;
	*kubelet-config.yaml | *kubelet.log | *dmesg.txt) scrub_file generic "$2" ;;
	esac
	return 0
}

# ---------------------------------------------------------------------------------------------
# Node captures that need more than one command. They run with $ROOT prefixed to host files so
# they also work in a container that mounts the host at /host instead of chrooting into it.
# ---------------------------------------------------------------------------------------------
copy_dir() {
	[ -d "$ROOT$1" ] || {
		echo "$1: no such directory" >&2
		return 1
	}
	for cd_f in "$ROOT$1"/*; do
		[ -e "$cd_f" ] || continue
		if [ -d "$cd_f" ]; then
			mkdir -p "$OUT_DIR/${cd_f##*/}" && cp "$cd_f"/* "$OUT_DIR/${cd_f##*/}/" 2>/dev/null
		else
			cp "$cd_f" "$OUT_DIR/" || return 1
		fi
	done
	return 0
}

list_dir() { ls -l "$ROOT$1"; }

read_file() { cat "$ROOT$1"; }

kubelet_pid() {
	for kp_d in /proc/[0-9]*; do
		[ -r "$kp_d/comm" ] || continue
		read -r kp_c <"$kp_d/comm" 2>/dev/null || continue
		[ "$kp_c" = kubelet ] && {
			echo "${kp_d#/proc/}"
			return 0
		}
	done
	return 1
}

kubelet_cmdline() {
	kc_pid=$(kubelet_pid) || {
		echo "no kubelet process found" >&2
		return 1
	}
	tr '\0' ' ' <"/proc/$kc_pid/cmdline"
	echo
}

# kubelet_config: the file named by the running kubelet's --config, else the usual places.
kubelet_config() {
	kf_cfg=
	if kf_pid=$(kubelet_pid); then
		kf_cfg=$(tr '\0' '\n' <"/proc/$kf_pid/cmdline" | awk '
			f { print; exit } /^--config=/ { sub(/^--config=/, ""); print; exit } /^--config$/ { f = 1 }')
	fi
	for kf_p in "$kf_cfg" /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet-config.yaml \
		/etc/kubernetes/kubelet/kubelet-config.json /etc/kubernetes/kubelet/config.yaml \
		/var/lib/kubelet/kubelet-config.yaml /etc/kubernetes/kubelet.yaml; do
		[ -n "$kf_p" ] && [ -f "$ROOT$kf_p" ] && {
			echo "# source: $kf_p"
			cat "$ROOT$kf_p"
			return
		}
	done
	echo "no kubelet config file found" >&2
	return 1
}

# hairpin_modes: one line per bridge port, /sys/class/net/<br>/brif/<port>/hairpin_mode:<v>.
hairpin_modes() {
	for hm_f in /sys/class/net/*/brif/*/hairpin_mode; do
		[ -r "$hm_f" ] || continue
		printf '%s:%s\n' "$hm_f" "$(cat "$hm_f")"
	done
	return 0
}

# selinux_state: "mode: enforcing|permissive|disabled", then the config file's SELINUX= line.
selinux_state() {
	if have getenforce; then
		echo "mode: $(getenforce | tr '[:upper:]' '[:lower:]')"
	elif [ -r /sys/fs/selinux/enforce ]; then
		case $(cat /sys/fs/selinux/enforce) in
		1) echo "mode: enforcing" ;;
		*) echo "mode: permissive" ;;
		esac
	else
		echo "mode: disabled"
	fi
	if [ -r "$ROOT/etc/selinux/config" ]; then
		grep -E '^SELINUX(TYPE)?=' "$ROOT/etc/selinux/config" | sed 's/^/config: /'
	fi
	return 0
}

dmesg_tail() {
	have dmesg || {
		echo "dmesg: command not found" >&2
		return 127
	}
	limited "$TIMEOUT" dmesg >"$WORK/dmesg.raw" || return $?
	tail -n "$1" "$WORK/dmesg.raw"
}

kubelet_journal_tail() {
	if have journalctl; then
		kj_dir=
		[ -n "$ROOT" ] && [ -d "$ROOT/var/log/journal" ] && kj_dir="--directory=$ROOT/var/log/journal"
		# shellcheck disable=SC2086 # optional flag, a single word
		limited "$TIMEOUT" journalctl $kj_dir -u kubelet --no-pager -n "$1" && return 0
	fi
	for kj_f in /var/log/kubelet.log /var/log/kubelet/kubelet.log /var/log/messages; do
		[ -r "$ROOT$kj_f" ] && {
			echo "# source: $kj_f"
			tail -n "$1" "$ROOT$kj_f"
			return 0
		}
	done
	have journalctl || {
		echo "journalctl: command not found; no kubelet log file found" >&2
		return 127
	}
	return 1
}

# ---------------------------------------------------------------------------------------------
# kubectl
# ---------------------------------------------------------------------------------------------

# kubectl_raw ARGS...: kubectl with the user's context/kubeconfig, limited to $KTIMEOUT (else
# $TIMEOUT) seconds. Plain requests also get --request-timeout; streams (logs, exec, debug) not,
# as it would cut them.
kubectl_raw() {
	kr_secs=${KTIMEOUT:-$TIMEOUT}
	case $1 in
	get | version | api-resources | delete)
		limited "$kr_secs" kubectl ${KCTX:+"--context=$KCTX"} ${KCFG:+"--kubeconfig=$KCFG"} \
			"--request-timeout=${kr_secs}s" "$@"
		;;
	*) limited "$kr_secs" kubectl ${KCTX:+"--context=$KCTX"} ${KCFG:+"--kubeconfig=$KCFG"} "$@" ;;
	esac
}

# kube ARGS...: the `kubectl` of the tables. Expands `-A` (under --namespaces) and `-n @system`
# into one call per namespace, merged into a single List.
kube() {
	kb_ns=
	kb_rest=
	kb_n=
	for kb_a in "$@"; do
		if [ -n "$kb_n" ]; then
			kb_n=
			if [ "$kb_a" = @system ]; then kb_ns="kube-system $CNI_NAMESPACES"; else kb_rest="$kb_rest -n $kb_a"; fi
			continue
		fi
		case $kb_a in
		-n) kb_n=1 ;;
		-A) if [ -n "$NAMESPACES" ]; then kb_ns=$SCOPED_NAMESPACES; else kb_rest="$kb_rest -A"; fi ;;
		*) kb_rest="$kb_rest $kb_a" ;;
		esac
	done
	set -f
	# shellcheck disable=SC2086 # plain words from the table
	set -- $kb_rest
	set +f
	if [ -z "$kb_ns" ]; then
		kubectl_raw "$@"
		return
	fi
	kb_rc=0
	kb_files=
	kb_i=0
	for kb_n in $kb_ns; do
		kb_i=$((kb_i + 1))
		kubectl_raw "$@" -n "$kb_n" >"$WORK/part.$kb_i" || kb_rc=$?
		kb_files="$kb_files $WORK/part.$kb_i"
	done
	# shellcheck disable=SC2086 # our own file names
	merge_lists $kb_files
	# shellcheck disable=SC2086
	rm -f $kb_files
	return "$kb_rc"
}

# merge_lists FILE...: the items of several `kubectl get -o yaml` Lists as one List.
merge_lists() {
	awk 'BEGIN { print "apiVersion: v1"; print "items:" }
		FNR == 1 { initems = 0 }
		/^items:/ { initems = ($0 !~ /\[\]/); next }
		initems && /^[^ -]/ { initems = 0 }
		initems { print }
		END { print "kind: List"; print "metadata:"; print "  resourceVersion: \"\"" }' "$@"
}

# ---------------------------------------------------------------------------------------------
# node mode
# ---------------------------------------------------------------------------------------------
node_main() {
	OUT=
	ROOT=/
	NODE_NAME=
	while [ $# -gt 0 ]; do
		case $1 in
		-o | --output) OUT=$2 && shift ;;
		--root) ROOT=$2 && shift ;;
		--node-name) NODE_NAME=$2 && shift ;;
		--timeout) TIMEOUT=$2 && shift ;;
		--run-id) shift ;; # marks the debug pod that carries us, for cleanup
		--redact) ;;       # node captures carry no names to pseudonymize here (see FORMAT.md)
		--force) FORCE=1 ;;
		-h | --help) usage 0 ;;
		*) die "node: unknown argument $1" ;;
		esac
		shift
	done
	check_out
	if [ "$ROOT" = auto ]; then
		ROOT=/
		[ -d /host/etc ] && ROOT=/host
	fi
	ROOT=${ROOT%/}
	[ -z "$ROOT" ] && ROOT=
	[ -n "$NODE_NAME" ] || NODE_NAME=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname 2>/dev/null || uname -n)
	NODE_NAME=$(sanitize "$NODE_NAME")
	start_bundle "$NODE_NAME"
	log "node $NODE_NAME: collecting into $ROOT_NAME (root ${ROOT:-/})"
	run_table "$NODE_TABLE" "$NODE_NAME" "" "$TIMEOUT"
	NODES_JSON=$(json_str "$NODE_NAME")
	finish_bundle
}

# ---------------------------------------------------------------------------------------------
# cluster mode
# ---------------------------------------------------------------------------------------------
cluster_main() {
	OUT='' KCTX='' KCFG='' NODES=all NODE_DATA=debug IMAGE=busybox:1.36 SINCE=24h NAMESPACES='' REDACT=0
	DEBUG_NS=default LOG_BYTES=5000000 MAX_LOG_PODS=300
	while [ $# -gt 0 ]; do
		case $1 in
		-o | --output) OUT=$2 && shift ;;
		--context) KCTX=$2 && shift ;;
		--kubeconfig) KCFG=$2 && shift ;;
		--nodes) NODES=$2 && shift ;;
		--node-data) NODE_DATA=$2 && shift ;;
		--image) IMAGE=$2 && shift ;;
		--debug-namespace) DEBUG_NS=$2 && shift ;;
		--since) SINCE=$2 && shift ;;
		--namespaces) NAMESPACES=$2 && shift ;;
		--redact) REDACT=1 ;;
		--force) FORCE=1 ;;
		--timeout) TIMEOUT=$2 && shift ;;
		--node-timeout) NODE_TIMEOUT=$2 && shift ;;
		--log-bytes) LOG_BYTES=$2 && shift ;;
		--max-log-pods) MAX_LOG_PODS=$2 && shift ;;
		-h | --help) usage 0 ;;
		*) die "cluster: unknown argument $1" ;;
		esac
		shift
	done
	case $NODE_DATA in debug | exec | none) ;; *) die "--node-data must be debug, exec or none" ;; esac
	# Flag values that become words of command lines: one word each, never an option.
	safe_name "$DEBUG_NS" || die "--debug-namespace: not a namespace name: $DEBUG_NS"
	case $IMAGE in '' | [!A-Za-z0-9]* | *[!A-Za-z0-9./:@_-]*) die "--image: not an image reference: $IMAGE" ;; esac
	case $SINCE in '' | *[!0-9smhd]*) die "--since: want a duration such as 24h, not $SINCE" ;; esac
	for cm_v in "$TIMEOUT" "$NODE_TIMEOUT" "$LOG_BYTES" "$MAX_LOG_PODS"; do
		case $cm_v in '' | *[!0-9]*) die "--timeout, --node-timeout, --log-bytes and --max-log-pods take a number, not $cm_v" ;; esac
	done
	check_out
	# The system namespaces stay in scope whatever --namespaces says: DNS, kube-proxy, the CNI and
	# the kubernetes Service live there.
	SCOPED_NAMESPACES="$(echo "$NAMESPACES" | tr ',' ' ') default kube-system $CNI_NAMESPACES"
	# shellcheck disable=SC2086 # split the word list on purpose
	SCOPED_NAMESPACES=$(printf '%s\n' $SCOPED_NAMESPACES | awk 'NF && !seen[$0]++' | tr '\n' ' ')
	have kubectl || log "warning: kubectl not found; every cluster command will be recorded as missing"

	WORK=$(mktemp -d 2>/dev/null || (mkdir -p "/tmp/netsift.$$" && echo "/tmp/netsift.$$"))
	CONTEXT=$KCTX
	[ -n "$CONTEXT" ] || CONTEXT=$(kubectl_raw config current-context 2>/dev/null)
	CLUSTER=$(kubectl_raw config view --minify -o 'jsonpath={.clusters[0].name}' 2>/dev/null)
	[ -n "$CLUSTER" ] || CLUSTER=${CONTEXT:-cluster}
	start_bundle "$(sanitize "$CLUSTER")"
	log "cluster $CLUSTER (context ${CONTEXT:-default}): collecting into $ROOT_NAME"

	run_table "$CLUSTER_TABLE" "" "" "$TIMEOUT"
	kubectl_versions "$BUNDLE/cluster/version.json"
	collect_cni_crds
	collect_logs
	NODE_LIST=$(kubectl_raw get nodes -o 'jsonpath={.items[*].metadata.name}' 2>/dev/null)
	[ "$NODES" = all ] || NODE_LIST=$(echo "$NODES" | tr ',' ' ')
	NODES_JSON=
	set -f
	# shellcheck disable=SC2086 # node names, split on purpose (globbing is off)
	set -- $NODE_LIST
	set +f
	NODE_LIST=
	for cm_n in "$@"; do
		safe_name "$cm_n" || {
			log "skipping a node whose name is not a Kubernetes name: $cm_n"
			continue
		}
		NODE_LIST="$NODE_LIST $cm_n"
		NODES_JSON="$NODES_JSON${NODES_JSON:+,}$(json_str "$cm_n")"
	done
	[ "$NODE_DATA" = none ] || collect_nodes
	[ "$REDACT" = 1 ] && redact_bundle
	finish_bundle
}

# kubectl_versions FILE: client and server gitVersion from `kubectl version -o json`.
kubectl_versions() {
	KCLIENT=
	KSERVER=
	[ -f "$1" ] || return 0
	KCLIENT=$(awk '/"clientVersion"/ { s = 1 } /"serverVersion"/ { s = 2 }
		s == 1 && /"gitVersion"/ { gsub(/.*: *"|".*/, ""); print; exit }' "$1")
	KSERVER=$(awk '/"serverVersion"/ { s = 2 }
		s == 2 && /"gitVersion"/ { gsub(/.*: *"|".*/, ""); print; exit }' "$1")
}

# collect_cni_crds: the CNI's own resources (Calico IPPools, Cilium policies ...), where present.
collect_cni_crds() {
	kubectl_raw api-resources --verbs=list -o name >"$WORK/api-resources" 2>/dev/null || return 0
	grep -E '\.(crd\.projectcalico\.org|projectcalico\.org|cilium\.io|kubeovn\.io|k8s\.ovn\.org|crd\.antrea\.io|k8s\.cni\.cncf\.io)$' \
		"$WORK/api-resources" | grep -viE 'secret|token|credential' | while read -r cc_r; do
		safe_name "$cc_r" || continue
		run_row "$cc_r" "" "cluster/$cc_r.yaml" "$TIMEOUT" "kubectl get $cc_r -A -o yaml"
	done
}

# collect_logs: current and previous logs of the networking pods and of unhealthy pods.
collect_logs() {
	kubectl_raw get pods -A -o 'jsonpath={range .items[*]}{.metadata.namespace}{"|"}{.metadata.name}{"|"}{.metadata.labels.k8s-app}{"|"}{.status.phase}{"|"}{range .status.conditions[?(@.type=="Ready")]}{.status}{end}{"|"}{range .status.initContainerStatuses[*]}{.name}{"="}{.restartCount}{" "}{end}{range .status.containerStatuses[*]}{.name}{"="}{.restartCount}{" "}{end}{"\n"}{end}' \
		>"$WORK/pods.psv" 2>"$WORK/pods.err" || {
		log "could not list pods for logs: $(tail -n 1 "$WORK/pods.err")"
		return 0
	}
	cl_count=0
	while IFS='|' read -r cl_ns cl_pod cl_app cl_phase cl_ready cl_ctrs; do
		[ -n "$cl_pod" ] || continue
		if ! safe_name "$cl_ns" || ! safe_name "$cl_pod"; then
			log "skipping logs of a pod whose namespace or name is not a Kubernetes name: $cl_ns/$cl_pod"
			continue
		fi
		in_scope "$cl_ns" || continue
		cl_want=0
		if printf '%s %s\n' "$cl_pod" "$cl_app" | grep -qE "$LOG_PODS_RE"; then cl_want=1; fi
		[ "$cl_phase" != Succeeded ] && [ "$cl_ready" != True ] && cl_want=1
		case " $cl_ctrs" in *=[1-9]*) cl_want=1 ;; esac
		[ "$cl_want" = 1 ] || continue
		cl_count=$((cl_count + 1))
		if [ "$cl_count" -gt "$MAX_LOG_PODS" ]; then
			log "more than $MAX_LOG_PODS pods want logs; the rest are skipped (--max-log-pods)"
			break
		fi
		set -f
		# shellcheck disable=SC2086 # "name=restarts" words, split on purpose (globbing is off)
		set -- $cl_ctrs
		set +f
		for cl_c in "$@"; do
			cl_name=${cl_c%=*}
			cl_restarts=${cl_c#*=}
			case $cl_restarts in '' | *[!0-9]*) cl_restarts=1 ;; esac
			if ! safe_name "$cl_name"; then
				log "skipping logs of a container whose name is not a Kubernetes name: $cl_ns/$cl_pod/$cl_name"
				continue
			fi
			run_row "logs.$cl_ns.$cl_pod.$cl_name" "" "logs/$cl_ns/$cl_pod/$cl_name.log" "$TIMEOUT" \
				"kubectl logs -n $cl_ns $cl_pod -c $cl_name --since=$SINCE --limit-bytes=$LOG_BYTES --timestamps"
			[ "$cl_restarts" = 0 ] && continue
			run_row "logs.$cl_ns.$cl_pod.$cl_name.previous" "" "logs/$cl_ns/$cl_pod/$cl_name.previous.log" "$TIMEOUT" \
				"kubectl logs -n $cl_ns $cl_pod -c $cl_name --previous --limit-bytes=$LOG_BYTES --timestamps"
		done
	done <"$WORK/pods.psv"
}

in_scope() {
	[ -z "$NAMESPACES" ] && return 0
	case " $SCOPED_NAMESPACES " in *" $1 "*) return 0 ;; esac
	return 1
}

# collect_nodes: each node's captures, through a debug pod or an exec into a hostNetwork pod,
# whichever works first (the preferred method first); every attempt is recorded.
collect_nodes() {
	SELF=
	[ -f "$0" ] && SELF=$0
	[ -n "$SELF" ] || {
		log "cannot stream the node part: run this script from a file (not from a pipe)"
		return 0
	}
	RUN_ID=netsift-$(date -u +%s)-$$
	set -f
	# shellcheck disable=SC2086 # node names, split on purpose (globbing is off)
	set -- $NODE_LIST
	set +f
	for cn_n in "$@"; do
		safe_name "$cn_n" || {
			log "skipping a node whose name is not a Kubernetes name: $cn_n"
			continue
		}
		cn_done=0
		for cn_m in $NODE_DATA $( [ "$NODE_DATA" = debug ] && echo exec || echo debug); do
			if node_via_"$cn_m" "$cn_n" && merge_node "$cn_n" "$cn_m"; then
				cn_done=1
				break
			fi
		done
		[ "$cn_done" = 1 ] || log "node $cn_n: no node data (see manifest records node-data.*)"
	done
}

# node_via_debug NODE: `kubectl debug node/NODE` running the node part in chroot /host.
node_via_debug() {
	for nd_p in --profile=sysadmin ""; do
		L_STDIN=$SELF
		run_row "node-data.debug" "$1" "" "$NODE_TIMEOUT" \
			"kubectl debug node/$1 -n $DEBUG_NS --image=$IMAGE $nd_p -i --quiet -- chroot /host sh -s node --node-name $1 --run-id $RUN_ID --timeout $TIMEOUT -o -" \
			"$WORK/node-part.tar.gz"
		L_STDIN=
		delete_debug_pods
		last_row_ok && return 0
		grep -q 'unknown flag' "$WORK/stderr" 2>/dev/null || return 1
	done
	return 1
}

# node_via_exec NODE: the node part inside a running hostNetwork agent pod on NODE.
node_via_exec() {
	kubectl_raw get pods -A --field-selector "spec.nodeName=$1" -o \
		'jsonpath={range .items[*]}{.metadata.namespace}{"|"}{.metadata.name}{"|"}{.spec.hostNetwork}{"|"}{.spec.containers[0].name}{"|"}{.status.phase}{"\n"}{end}' \
		>"$WORK/exec-pods" 2>/dev/null || return 1
	while IFS='|' read -r ne_ns ne_pod ne_hn ne_c ne_phase; do
		if [ "$ne_hn" != true ] || [ "$ne_phase" != Running ]; then continue; fi
		printf '%s\n' "$ne_pod" | grep -qE "$EXEC_PODS_RE" || continue
		if ! safe_name "$ne_ns" || ! safe_name "$ne_pod" || ! safe_name "$ne_c"; then continue; fi
		L_STDIN=$SELF
		run_row "node-data.exec" "$1" "" "$NODE_TIMEOUT" \
			"kubectl exec -i -n $ne_ns $ne_pod -c $ne_c -- sh -s node --root auto --node-name $1 --timeout $TIMEOUT -o -" \
			"$WORK/node-part.tar.gz"
		L_STDIN=
		last_row_ok && return 0
	done <"$WORK/exec-pods"
	return 1
}

last_row_ok() { tail -n 1 "$RECORDS" | grep -q '"exit_code":0,'; }

# merge_node NODE METHOD: unpack a node bundle streamed back, move its captures in, keep its records.
merge_node() {
	mn_dir=$WORK/node.$1
	rm -rf "$mn_dir"
	mkdir -p "$mn_dir"
	if ! tar -xzf "$WORK/node-part.tar.gz" -C "$mn_dir" 2>"$WORK/untar.err"; then
		log "node $1 ($2): the node part did not return a bundle: $(head -c 200 "$WORK/untar.err")"
		rm -f "$WORK/node-part.tar.gz"
		return 1
	fi
	rm -f "$WORK/node-part.tar.gz"
	for mn_root in "$mn_dir"/*/; do
		[ -d "$mn_root/nodes/$1" ] || continue
		mkdir -p "$BUNDLE/nodes"
		rm -rf "$BUNDLE/nodes/$1"
		mv "$mn_root/nodes/$1" "$BUNDLE/nodes/$1"
		grep '^ *{"id":' "$mn_root/manifest.json" | sed 's/^ *//; s/,$//' >>"$RECORDS"
		rm -rf "$mn_dir"
		log "node $1: collected via $2"
		return 0
	done
	log "node $1 ($2): bundle has no nodes/$1"
	return 1
}

# delete_debug_pods: delete the node-debugger pods this run created (they carry --run-id).
delete_debug_pods() {
	[ -n "${RUN_ID:-}" ] || return 0
	kubectl_raw get pods -n "$DEBUG_NS" -o \
		'jsonpath={range .items[*]}{.metadata.name}{"|"}{.spec.containers[*].command}{.spec.containers[*].args}{"\n"}{end}' \
		2>/dev/null | while IFS='|' read -r dp_name dp_cmd; do
		case $dp_name in node-debugger-*) ;; *) continue ;; esac
		safe_name "$dp_name" || continue
		case $dp_cmd in *"$RUN_ID"*) ;; *) continue ;; esac
		log "deleting debug pod $DEBUG_NS/$dp_name"
		kubectl_raw delete pod -n "$DEBUG_NS" "$dp_name" --wait=false --ignore-not-found >/dev/null 2>&1
	done
}

# ---------------------------------------------------------------------------------------------
# --redact: namespace, pod and service names become ns-N / pod-N / svc-N in every file and path.
# Names are replaced as whole tokens ([A-Za-z0-9_-]), so the same name maps the same everywhere
# (Service selectors, iptables comments, logs). System namespaces and their objects keep their
# names (the analysis looks for kube-system/kube-dns, default/kubernetes, kube-proxy ...), and so
# does any name that is also a YAML key or a common word. IPs are kept: they are the analysis.
# ---------------------------------------------------------------------------------------------
redact_bundle() {
	log "redacting names"
	rd_map=$WORK/redact.map
	kubectl_raw get services -A -o 'jsonpath={range .items[*]}{.metadata.namespace}{"|"}{.metadata.name}{"\n"}{end}' \
		>"$WORK/services.psv" 2>/dev/null
	kubectl_raw get namespaces -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}' \
		>"$WORK/namespaces.txt" 2>/dev/null
	cat "$BUNDLE"/cluster/*.yaml 2>/dev/null |
		sed -n 's/^[ -]*\([A-Za-z0-9_-]*\):.*/\1/p' | sort -u >"$WORK/yaml-keys"
	{
		sed 's/^/ns|/' "$WORK/namespaces.txt"
		awk -F'|' '{ print "pod|" $1 "|" $2 }' "$WORK/pods.psv" 2>/dev/null
		awk -F'|' '{ print "svc|" $1 "|" $2 }' "$WORK/services.psv"
	} | awk -F'|' -v sys="default kube-system kube-public kube-node-lease $CNI_NAMESPACES" '
		FILENAME != "-" { key[$0] = 1; next }
		BEGIN { n = split(sys, s, " "); for (i = 1; i <= n; i++) keep[s[i]] = 1
			split("true false null yes no on off tcp udp sctp http https grpc dns metrics web app api", w, " ")
			for (i in w) keep[w[i]] = 1 }
		{ name = ($1 == "ns") ? $2 : $3; ns = $2 }
		name == "" || length(name) < 3 || (name in keep) || (name in key) || (name in map) { next }
		$1 != "ns" && (ns in keep) { next }
		{ map[name] = $1 "-" (++count[$1]); print name, map[name] }' "$WORK/yaml-keys" - >"$rd_map"
	[ -s "$rd_map" ] || return 0
	find "$BUNDLE" -type f | while read -r rd_f; do
		LC_ALL=C awk 'NR == FNR { m[$1] = $2; next }
			{ out = ""; s = $0
			  while (match(s, /[A-Za-z0-9_-]+/)) {
				t = substr(s, RSTART, RLENGTH)
				out = out substr(s, 1, RSTART - 1) ((t in m) ? m[t] : t)
				s = substr(s, RSTART + RLENGTH) }
			  print out s }' "$rd_map" "$rd_f" >"$rd_f.redact" && mv "$rd_f.redact" "$rd_f"
	done
	LC_ALL=C awk 'NR == FNR { m[$1] = $2; next }
		{ out = ""; s = $0
		  while (match(s, /[A-Za-z0-9_-]+/)) {
			t = substr(s, RSTART, RLENGTH)
			out = out substr(s, 1, RSTART - 1) ((t in m) ? m[t] : t)
			s = substr(s, RSTART + RLENGTH) }
		  print out s }' "$rd_map" "$RECORDS" >"$RECORDS.redact" && mv "$RECORDS.redact" "$RECORDS"
	# Rename log folders logs/<ns>/<pod>/ to their pseudonyms.
	for rd_ns in "$BUNDLE"/logs/*/; do
		[ -d "$rd_ns" ] || continue
		for rd_pod in "$rd_ns"*/; do
			rd_new=$(awk -v n="$(basename "$rd_pod")" '$1 == n { print $2 }' "$rd_map")
			[ -n "$rd_new" ] && mv "$rd_pod" "$rd_ns$rd_new"
		done
		rd_new=$(awk -v n="$(basename "$rd_ns")" '$1 == n { print $2 }' "$rd_map")
		[ -n "$rd_new" ] && mv "$rd_ns" "$BUNDLE/logs/$rd_new"
	done
	return 0
}

# ---------------------------------------------------------------------------------------------
# Bundle assembly
# ---------------------------------------------------------------------------------------------

# start_bundle NAME: the work folder and netsift-NAME-<UTC time>/ inside it.
start_bundle() {
	[ -n "${WORK:-}" ] || WORK=$(mktemp -d 2>/dev/null || (mkdir -p "/tmp/netsift.$$" && echo "/tmp/netsift.$$"))
	COLLECTED_AT=$(now_iso)
	ROOT_NAME=netsift-$1-$(date -u +%Y%m%dT%H%M%SZ)
	BUNDLE_TOP=$WORK/$ROOT_NAME
	BUNDLE=$BUNDLE_TOP
	[ "$MODE" = node ] && BUNDLE=$BUNDLE_TOP/nodes/$NODE_NAME
	RECORDS=$WORK/records.jsonl
	: >"$RECORDS"
	mkdir -p "$BUNDLE"
}

# finish_bundle: manifest.json, then the tarball (to -o FILE, or stdout with -o -).
finish_bundle() {
	{
		printf '{\n'
		printf '  "format_version": %d,\n' "$FORMAT_VERSION"
		printf '  "collector_version": %s,\n' "$(json_str "$COLLECTOR_VERSION")"
		printf '  "collected_at": %s,\n' "$(json_str "$COLLECTED_AT")"
		[ "$MODE" = cluster ] && printf '  "cluster": %s,\n  "context": %s,\n' \
			"$(json_str "$CLUSTER")" "$(json_str "$CONTEXT")"
		[ "$MODE" = cluster ] && printf '  "kubectl": {"client_version": %s, "server_version": %s},\n' \
			"$(json_str "$KCLIENT")" "$(json_str "$KSERVER")"
		printf '  "mode": %s,\n' "$(json_str "$MODE")"
		printf '  "nodes": [%s],\n' "$NODES_JSON"
		printf '  "commands": [\n'
		awk 'NR > 1 { print "    " prev "," } { prev = $0 } END { if (NR) print "    " prev }' "$RECORDS"
		printf '  ]\n}\n'
	} >"$BUNDLE_TOP/manifest.json"
	if [ "$OUT" = - ]; then
		tar -czf - -C "$WORK" "$ROOT_NAME"
		log "bundle written to stdout"
	else
		[ -n "$OUT" ] || {
			OUT=./$ROOT_NAME.tar.gz
			check_out
		}
		tar -czf "$OUT" -C "$WORK" "$ROOT_NAME" || die "cannot write $OUT"
		log "bundle written: $OUT ($(file_bytes "$OUT") bytes)"
		log "send it to your support engineer, who runs: netsift analyze $(basename "$OUT")"
	fi
}

cleanup() {
	[ -n "${CUR_PID:-}" ] && kill -TERM "$CUR_PID" 2>/dev/null
	[ "$MODE" = cluster ] && delete_debug_pods
	[ -n "${WORK:-}" ] && [ -d "$WORK" ] && rm -rf "$WORK"
}

usage() {
	sed -n '12,17p' "$0" 2>/dev/null | sed 's/^# *//' >&2 ||
		echo "usage: collect.sh cluster|node [options]" >&2
	exit "$1"
}

main() {
	exec 9>&2
	MODE=${1:-}
	[ $# -gt 0 ] && shift
	TIMEOUT=${NETSIFT_TIMEOUT:-60}
	NODE_TIMEOUT=${NETSIFT_NODE_TIMEOUT:-600}
	WORK=
	CUR_PID=
	ROW_TMO=
	NODE_NAME=
	FORCE=0
	detect_timeout
	trap cleanup EXIT
	trap 'log "interrupted; cleaning up"; exit 130' INT TERM HUP
	case $MODE in
	node) node_main "$@" ;;
	cluster) cluster_main "$@" ;;
	-h | --help | help) usage 0 ;;
	*) usage 2 ;;
	esac
}

main "$@"
