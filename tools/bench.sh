#!/bin/sh
# Model benchmarks for `make bench` (docs/benchmarks.md): nb-bench on the real
# models in models/cache (when fetched) and on synthetic llama models made on
# demand into models/cache/synth/ (nb-synth, then nb-quantize), printed as
# markdown tables; with LLAMA_BENCH, llama-bench on the same files with the
# same arguments, and the two side by side.
#
#   sh tools/bench.sh OUT_DIR
#
# Environment (the Makefile passes its variables of the same names):
#   NB_BIN        folder of nb-bench, nb-synth, nb-quantize (default build/bin)
#   BENCH_MODELS  the files to benchmark, space-separated (default: the real
#                 models present, then synth llama-110m Q4_K_M, Q8_0, Q4_0).
#                 A missing file named SYNTH_DIR/SHAPE-TYPE.gguf is made
#                 (SHAPE: nb-synth --list; TYPE: f16, bf16, f32 or a
#                 nb-quantize type/recipe in lower case, e.g. q4_k_m)
#   BENCH_ARGS    nb-bench / llama-bench arguments (default -p 512 -n 128 -t 1,2 -r 3)
#   BENCH_1B      1: the default list gets llama-1b Q4_K_M, Q8_0, Q4_0 too
#                 (its F16 source is 2.9 GB)
#   LLAMA_BENCH   path of llama-bench (never built here)
#   SYNTH_DIR     where synthetic models go (default models/cache/synth)
#   SYNTH_SEED    nb-synth seed (default 1)
# OUT_DIR receives nibble.csv, llama.csv and the tools' logs.
set -u

out=${1:-build/bench}
bin=${NB_BIN:-build/bin}
args=${BENCH_ARGS:--p 512 -n 128 -t 1,2 -r 3}
synth_dir=${SYNTH_DIR:-models/cache/synth}
seed=${SYNTH_SEED:-1}
llama_bench=${LLAMA_BENCH:-}
real_models="models/cache/SmolLM2-135M-Instruct.Q4_1.gguf models/cache/gemma-3-270m-q4_k_m.gguf"
synth_types="q4_k_m q8_0 q4_0"

die() { echo "bench.sh: $*" >&2; exit 1; }

for t in nb-bench nb-synth nb-quantize; do
    [ -x "$bin/$t" ] || die "$bin/$t not built (run make first)"
done
if [ -n "$llama_bench" ] && [ ! -x "$llama_bench" ]; then
    die "LLAMA_BENCH=$llama_bench is not an executable (build llama.cpp's llama-bench yourself)"
fi
mkdir -p "$out" || die "cannot create $out"

# Make SYNTH_DIR/SHAPE-TYPE.gguf if it is missing: nb-synth writes the F16
# (or BF16/F32) file, nb-quantize the others from the F16 one. Both write
# atomically, so an interrupted run leaves no partial model behind.
synth() { # PATH SHAPE TYPE
    [ -f "$1" ] && return 0
    echo "bench.sh: making $1 (nb-synth $2 --type $3 --seed $seed)" >&2
    "$bin/nb-synth" "$2" "$1" --type "$3" --seed "$seed" -q >>"$out/synth.log" 2>&1 ||
        { echo "bench.sh: nb-synth $2 failed (see $out/synth.log)" >&2; return 1; }
}
ensure() { # PATH
    [ -f "$1" ] && return 0
    case $1 in
    "$synth_dir"/*-*.gguf) ;;
    *) echo "bench.sh: $1: no such file, skipped" >&2; return 1 ;;
    esac
    name=$(basename "$1" .gguf)
    type=${name##*-}
    shape=${name%-*}
    mkdir -p "$synth_dir" || return 1
    case $type in
    f16|bf16|f32) synth "$1" "$shape" "$type" ;;
    *)
        src="$synth_dir/$shape-f16.gguf"
        synth "$src" "$shape" f16 || return 1
        echo "bench.sh: making $1 (nb-quantize $src $type)" >&2
        "$bin/nb-quantize" -q "$src" "$1" "$type" >>"$out/synth.log" 2>&1 ||
            { echo "bench.sh: nb-quantize $type failed (see $out/synth.log)" >&2; return 1; }
        ;;
    esac
}

if [ -n "${BENCH_MODELS:-}" ]; then
    want=$BENCH_MODELS
else
    want=""
    for f in $real_models; do
        if [ -f "$f" ]; then want="$want $f"
        else echo "bench.sh: $f absent (make models fetches it), skipped" >&2; fi
    done
    shapes="llama-110m"
    [ "${BENCH_1B:-0}" = 1 ] && shapes="$shapes llama-1b"
    for s in $shapes; do
        for t in $synth_types; do want="$want $synth_dir/$s-$t.gguf"; done
    done
fi

models=""
n=0
status=0
for f in $want; do
    if ensure "$f"; then
        models="$models $f"
        n=$((n + 1))
    else
        status=1
    fi
done
[ "$n" -gt 0 ] || die "no model to benchmark"
[ "$n" -le 16 ] || die "$n models; nb-bench takes at most 16 (set BENCH_MODELS)"

margs=""
for f in $models; do margs="$margs -m $f"; done

cpu=$(sed -n 's/^model name[^:]*: *//p' /proc/cpuinfo 2>/dev/null | head -1)
echo
echo "models: $n; arguments: $args"
echo "host: ${cpu:-$(uname -m)}, $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') cores;" \
     "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo
echo "running nb-bench ..." >&2
# shellcheck disable=SC2086  # word splitting of the argument lists is wanted
"$bin/nb-bench" $margs $args -o csv >"$out/nibble.csv" 2>"$out/nibble.log" || {
    status=1
    echo "bench.sh: nb-bench failed on some model (see $out/nibble.log)" >&2
}
have_llama=0
if [ -n "$llama_bench" ]; then
    echo "running llama-bench ..." >&2
    # shellcheck disable=SC2086
    if "$llama_bench" $margs $args -o csv >"$out/llama.csv" 2>"$out/llama.log"; then
        have_llama=1
    else
        status=1
        echo "bench.sh: llama-bench failed (see $out/llama.log)" >&2
        [ -s "$out/llama.csv" ] && have_llama=1
    fi
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo

# Tables from the CSV files (quoted fields, columns found by header name).
[ -s "$out/nibble.csv" ] || die "nb-bench wrote no results (see $out/nibble.log)"
llama_csv=/dev/null
[ "$have_llama" = 1 ] && llama_csv="$out/llama.csv"
awk -v have_llama="$have_llama" '
function csvsplit(line, f,    n, i, c, q, cur) {
    n = 0; cur = ""; q = 0
    for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (q) {
            if (c == "\"") {
                if (substr(line, i + 1, 1) == "\"") { cur = cur "\""; i++ } else q = 0
            } else cur = cur c
        } else if (c == "\"") q = 1
        else if (c == ",") { f[++n] = cur; cur = "" }
        else cur = cur c
    }
    f[++n] = cur
    return n
}
function base(p) { sub(/.*\//, "", p); return p }
function testname(np, ng) { return np + 0 > 0 ? "pp" np : "tg" ng }
FNR == 1 { file++; delete h; delete col; n = csvsplit($0, h); for (i = 1; i <= n; i++) col[h[i]] = i; next }
{
    csvsplit($0, f)
    key = f[col["model_filename"]] SUBSEP f[col["n_threads"]] SUBSEP \
          testname(f[col["n_prompt"]], f[col["n_gen"]])
    ts = sprintf("%.2f ± %.2f", f[col["avg_ts"]], f[col["stddev_ts"]])
    if (file == 1) {
        order[++nrows] = key
        nb[key] = ts; nb_avg[key] = f[col["avg_ts"]]
        size[key] = f[col["model_size"]]; load[key] = f[col["load_ms"]]
        rss[key] = f[col["peak_rss_mib"]]
    } else {
        ll[key] = ts; ll_avg[key] = f[col["avg_ts"]]
        if (!(key in seen_ll)) { seen_ll[key] = 1; llorder[++nll] = key }
    }
}
END {
    print "nibble (nb-bench):"
    print ""
    print "| model | size | threads | test | t/s | load ms | peak RSS |"
    print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for (i = 1; i <= nrows; i++) {
        k = order[i]; split(k, p, SUBSEP)
        printf "| %s | %.2f MiB | %s | %s | %s | %.1f | %.1f MiB |\n", base(p[1]),
               size[k] / 1048576, p[2], p[3], nb[k], load[k], rss[k]
    }
    if (!have_llama) exit
    print ""
    print "llama.cpp (llama-bench):"
    print ""
    print "| model | threads | test | t/s |"
    print "| --- | ---: | ---: | ---: |"
    for (i = 1; i <= nll; i++) {
        k = llorder[i]; split(k, p, SUBSEP)
        printf "| %s | %s | %s | %s |\n", base(p[1]), p[2], p[3], ll[k]
    }
    print ""
    print "side by side (t/s; ratio = nibble / llama.cpp):"
    print ""
    print "| model | threads | test | nibble | llama.cpp | ratio |"
    print "| --- | ---: | ---: | ---: | ---: | ---: |"
    for (i = 1; i <= nrows; i++) {
        k = order[i]; split(k, p, SUBSEP)
        if (!(k in ll)) continue
        ratio = ll_avg[k] + 0 > 0 ? nb_avg[k] / ll_avg[k] : 0
        printf "| %s | %s | %s | %s | %s | %.2f |\n", base(p[1]), p[2], p[3], nb[k], ll[k], ratio
    }
}' "$out/nibble.csv" "$llama_csv"
exit $status
