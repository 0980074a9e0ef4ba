#!/usr/bin/env bash
# Assembles bench/RESULTS.md from every bench/results/*.md, in name order.
# bench/run.sh calls it last; run it alone after adding a results file:
#
#	bench/assemble.sh [RESULTS_DIR [OUT]]
#
# Each results file starts with one "# Title" and may hold lines beginning
# "**Verdict:**"; those lines are also gathered into the summary at the top.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-bench/results}
OUT=${2:-bench/RESULTS.md}
DIR=$(realpath --relative-to=. "$DIR")
OUTDIR=$(dirname "$(realpath "$OUT")")

shopt -s nullglob
files=("$DIR"/*.md)
[ ${#files[@]} -gt 0 ] || {
	echo "assemble: no $DIR/*.md" >&2
	exit 1
}
mapfile -t files < <(printf '%s\n' "${files[@]}" | LC_ALL=C sort)

# demote turns "# x" into "## x" and so on, outside code fences, so that
# every file becomes a section of RESULTS.md.
demote() { awk '/^```/ { fence = !fence } !fence && /^#+ / { $0 = "#" $0 } { print }' "$1"; }

{
	echo "# Wasmesh benchmark results"
	echo
	echo "Assembled by \`bench/assemble.sh\` from ${#files[@]} file(s) in \`$DIR/\`, in name order."
	echo "\`make bench\` regenerates \`http.md\` (meshd beside nginx, HAProxy and Caddy) and \`micro.md\`"
	echo "(the dataplane's Go micro-benchmarks); the other files come from their own benchmarks."
	echo "Every section says when, on what machine and under what background load it was measured."
	echo
	echo "## Where meshd stands"
	echo
	n=0
	for f in "${files[@]}"; do
		while IFS= read -r line; do
			echo "- $(basename "$f" .md): ${line#"**Verdict:** "}"
			n=$((n + 1))
		done < <(grep '^\*\*Verdict:\*\* ' "$f" || true)
	done
	[ "$n" -gt 0 ] || echo "No verdict recorded yet."
	echo
	echo "Sections: $(for f in "${files[@]}"; do printf '[%s](%s) ' "$(basename "$f")" "$(realpath --relative-to="$OUTDIR" "$f")"; done)"
	charts=("$OUTDIR"/http-*.png)
	if [ -e "${charts[0]}" ]; then
		echo
		echo "Charts (drawn by \`go run ./bench/charts\` from http.md):"
		echo
		for c in "${charts[@]}"; do printf '![%s](%s)\n' "$(basename "$c" .png)" "$(basename "$c")"; done
	fi
	for f in "${files[@]}"; do
		echo
		demote "$f"
	done
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "assemble: wrote $OUT from ${#files[@]} file(s)" >&2
