#!/usr/bin/env bash
# Tokenizer throughput (one core: pic-tok is single-threaded) on the math
# datasets' text, for Qwen2.5 and Llama 3, and the time of the pathological
# pre-split inputs (a megabyte of spaces, digits, one word). The time
# excludes loading tokenizer.json. Target: >= 5 MB/s, and each megabyte
# well under a second.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tok="$root/bin/pic-tok"
fix="$root/tests/fixtures/tokenizers"
data="${PIC_DATASETS:-$root/../shared/data/datasets}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for t in qwen2.5 llama3; do
    mkdir -p "$tmp/$t"
    xz -dc "$fix/$t/tokenizer.json.xz" > "$tmp/$t/tokenizer.json"
done

# every string of every record, one text per record
if compgen -G "$data/*.jsonl" > /dev/null; then
    cat "$data"/*.jsonl | jq -c '{text: ([.. | strings] | join("\n"))}' > "$tmp/corpus.jsonl"
    what="$data/*.jsonl"
else
    xz -dc "$fix/qwen2.5/hf_vectors.jsonl.xz" | jq -c '{text}' > "$tmp/corpus.jsonl"
    what="the golden vectors (no datasets at $data)"
fi

# rate TOKENIZER FILE [OPTION]...: MB/s from pic-tok's summary line (text
# bytes / encode time)
rate() {
    local line
    line=$("$tok" -t "$1" "${@:3}" count "$2" 2>&1 >/dev/null | tail -n 1)
    case "$line" in *" MB of text in "*) ;; *) echo "bench: pic-tok failed: $line" >&2; return 1 ;; esac
    awk -v l="$line" 'BEGIN { n = split(l, w, " ");
        for (i = 1; i <= n; i++) { if (w[i] == "MB") mb = w[i-1]; if (w[i] == "s" || w[i] == "s,") s = w[i-1] }
        printf "%.2f MB in %.3f s = %.1f MB/s", mb, s, mb / (s > 0 ? s : 1e-9) }'
}

echo "corpus: $what"
for t in qwen2.5 llama3; do
    echo "  $t encode: $(rate "$tmp/$t" "$tmp/corpus.jsonl")"
done
for kind in "spaces: " "digits:7" "word:   q"; do
    ch="${kind:7:1}"; [ -n "$ch" ] || ch=" "
    head -c 1048576 /dev/zero | tr '\0' "$ch" > "$tmp/big.txt"
    echo "  qwen2.5 1 MiB of ${kind%%:*}: $(rate "$tmp/qwen2.5" "$tmp/big.txt" --raw)"
done
