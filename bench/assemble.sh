#!/usr/bin/env bash
# Assembles bench/RESULTS.md from every bench/results/*.md, in name order.
# bench/run.sh calls it last; run it alone after adding a results file:
#
#	bench/assemble.sh [RESULTS_DIR [OUT]]
#
# Each results file starts with one "# Title" and may hold lines beginning
# "**Verdict:**"; those lines are also gathered into the summary at the top.
#
# It first runs `go run ./bench/charts`, which draws the tables of the
# results files it knows as PNGs beside OUT (NAME-*.png for NAME.md), and
# links each NAME-*.png under NAME's section title. If the charts fail (a
# table it can no longer read), RESULTS.md is still assembled, linking the
# charts it did draw, and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
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

# The charts command lists what it drew, "NAME.md NAME-what.png" a line, in
# the order NAME's section shows them.
list=$(mktemp)
trap 'rm -f "$list"' EXIT
charts_rc=0
go run ./bench/charts -results "$DIR" -out "$OUTDIR" >"$list" || charts_rc=$?
declare -A charts=()
while read -r md png; do
	charts[$md]+="![${png%.png}]($png)"$'\n'
done <"$list"

# demote turns "# x" into "## x" and so on, outside code fences, so that
# every file becomes a section of RESULTS.md; the chart links in $2, if
# any, go right under the section title.
demote() {
	awk -v links="$2" '
		/^```/ { fence = !fence }
		!fence && /^#+ / { $0 = "#" $0 }
		after { after = 0; if ($0 != "") print "" }
		{ print }
		!fence && !done && /^#+ / && links != "" { done = 1; after = 1; print ""; printf "%s", links }
	' "$1"
}

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
	if [ ${#charts[@]} -gt 0 ]; then
		echo
		echo "Charts (PNG, drawn by \`go run ./bench/charts\` from the tables) open the sections they belong to."
	fi
	for f in "${files[@]}"; do
		echo
		demote "$f" "${charts[$(basename "$f")]:-}"
	done
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "assemble: wrote $OUT from ${#files[@]} file(s)" >&2
if [ "$charts_rc" -ne 0 ]; then
	echo "assemble: bench/charts failed (exit $charts_rc); RESULTS.md links only the charts it drew" >&2
	exit "$charts_rc"
fi
