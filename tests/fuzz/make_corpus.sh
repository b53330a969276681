#!/usr/bin/env bash
# The seed corpus of the fuzz targets (tests/fuzz/README.md), made by the
# project's own programs from the project's own text:
#
#   tests/fuzz/make_corpus.sh OUT      # OUT/<target>/seed_*, one folder per target
#
# Run from the repository root after `make` (it runs ./train and bin/'s
# tools; FUZZ_TRAIN and FUZZ_BIN name others). Seeds are rewritten in place;
# what the fuzzers added to OUT stays. Slices of the shared tokenizer files
# and tables are added when the shared data is there (MINITRAIN_DATA, else
# ../shared/data), and skipped, saying so, when it is not.
set -euo pipefail
out=${1:?usage: tests/fuzz/make_corpus.sh OUT}
train=${FUZZ_TRAIN:-./train}
bin=${FUZZ_BIN:-bin}
data=${MINITRAIN_DATA:-../shared/data}
work=$out/.work
export OMP_NUM_THREADS=1
rm -rf "$work"
mkdir -p "$work"
for target in weights tokenfile examples checkpoint hf bpe wordpiece table run_file; do mkdir -p "$out/$target"; done

# seed TARGET NAME: standard input becomes the seed OUT/TARGET/seed_NAME.
seed() { cat > "$out/$1/seed_$2"; }
# le32 N: N as 4 little-endian bytes.
le32() { printf "$(printf '\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"; }
# pack A B: two files as one input, as split_input (fuzz_support.h) reads it: A's length, A, then B.
pack() { le32 "$(stat -c %s "$1")"; cat "$1" "$2"; }
# quietly: runs a program, showing its output only when it fails.
quietly() { "$@" > "$work/log" 2>&1 || { cat "$work/log" >&2; echo "make_corpus: failed: $*" >&2; exit 1; }; }
# shared PATH: true when the shared data holds PATH, else says what is skipped.
shared() { [ -e "$data/$1" ] || { echo "make_corpus: no $data/$1: its seeds are skipped"; return 1; }; }

# ---- tables, token files and examples files ---------------------------------------------------------
head -c 2000 README.md > "$work/text.txt"
printf '%s\t%s\n' 'a fine day' positive 'rain again' negative '"quoted" text' positive 'no, never' negative \
    > "$work/single.tsv"
printf '%s\t%s\t%s\n' 'the day' 'a fine day' 1 'rain' 'no rain again' 0 'text' 'the texts' 1 > "$work/pair.tsv"
printf '%s\n' 'sentence,label' '"a fine, ""quoted"" day",positive' 'plain text,negative' \
    '"two' 'lines",positive' > "$work/quoted.csv"
{ printf '\001'; cat "$work/single.tsv"; } | seed table single_tsv
{ printf '\007'; printf 'sentence\tpair\tlabel\n'; cat "$work/pair.tsv"; } | seed table pair_header_tsv
{ printf '\012'; cat "$work/quoted.csv"; } | seed table quoted_header_csv_named
if shared classification/sst2/train.tsv; then
    { printf '\003'; head -n 20 "$data/classification/sst2/train.tsv"; } | seed table sst2_header_tsv
fi
if shared classification/imdb/imdb_small.csv; then
    { printf '\002'; head -c 4000 "$data/classification/imdb/imdb_small.csv"; } | seed table imdb_header_csv
fi

quietly "$bin/tokenize" --input "$work/text.txt" --output "$work/tokens.bin" --val-output "$work/val.bin"
seed tokenfile bytes < "$work/tokens.bin"
seed tokenfile bytes_val < "$work/val.bin"

# A WordPiece vocabulary of our own: the specials, these tables' words, every letter.
mkdir -p "$work/wp"
{
    printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]' the a fine day rain again no never text quoted , . '!' '"'
    for c in {a..z}; do printf '%s\n##%s\n' "$c" "$c"; done
} > "$work/wp/vocab.txt"
printf '{"do_lower_case": true, "strip_accents": null}\n' > "$work/wp/tokenizer_config.json"
: > "$work/empty"
pack "$work/wp/vocab.txt" "$work/empty" | seed wordpiece own
pack "$work/wp/vocab.txt" "$work/wp/tokenizer_config.json" | seed wordpiece own_config
if shared tokenizers/bert-base-uncased/vocab.txt; then
    head -n 3000 "$data/tokenizers/bert-base-uncased/vocab.txt" > "$work/bert_vocab.txt"
    pack "$work/bert_vocab.txt" "$work/empty" | seed wordpiece bert_base_uncased_3000
fi

quietly "$bin/make_examples" --input "$work/single.tsv" --no-header --tokenizer byte --max-len 16 \
    --output "$work/single.ex"
quietly "$bin/make_examples" --input "$work/pair.tsv" --no-header --pair-column 1 --label-column 2 \
    --tokenizer "wordpiece:$work/wp" --max-len 16 --output "$work/pair.ex"
seed examples bytes < "$work/single.ex"
seed examples wordpiece_pairs < "$work/pair.ex"

# A slice of GPT-2's BPE: the 256 byte tokens and the first 500 merges, whose
# tokens are ids 256.. in merge order (so the ids stay 0..N-1).
if shared tokenizers/gpt2/encoder.json; then
    mkdir -p "$work/bpe"
    merges=500
    head -n $((merges + 1)) "$data/tokenizers/gpt2/vocab.bpe" > "$work/bpe/vocab.bpe"
    grep -oE '"([^"\\]|\\.)*": [0-9]+' "$data/tokenizers/gpt2/encoder.json" |
        awk -F': ' -v n=$((256 + merges)) '$NF < n' | paste -sd, | sed 's/^/{/; s/$/}/' > "$work/bpe/encoder.json"
    pack "$work/bpe/encoder.json" "$work/bpe/vocab.bpe" | seed bpe gpt2_500_merges
    quietly "$bin/tokenize" --tokenizer "$work/bpe" --input "$work/text.txt" --output "$work/bpe_tokens.bin"
    seed tokenfile gpt2_bpe < "$work/bpe_tokens.bin"
fi

# ---- weight files, adapters and checkpoints from tiny training runs -------------------------------------
# tiny DIR FLAGS...: 2 steps of a 1-layer, 8-channel model into DIR, checkpointing each step.
tiny() {
    local dir=$1
    shift
    quietly "$train" --layers 1 --channels 8 --heads 2 --batch 2 --steps 2 --checkpoint-every 1 \
        --val-data "" --checkpoint-dir "$work/$dir" "$@"
}
# The LM run's model is the one fuzz_checkpoint.cpp builds: its state files are that target's seeds.
tiny lm --max-seq-len 8 --seq-len 8 --sample-length 0 --train-data "$work/tokens.bin"
tiny lora --max-seq-len 8 --seq-len 8 --sample-length 0 --train-data "$work/tokens.bin" --lora-r 2
tiny prefix --max-seq-len 8 --seq-len 4 --sample-length 0 --train-data "$work/tokens.bin" \
    --prompt-method prefix --prompt-tokens 2
tiny ptuning --max-seq-len 8 --seq-len 4 --sample-length 0 --train-data "$work/tokens.bin" \
    --prompt-method ptuning --prompt-tokens 2 --prompt-hidden 4
tiny bert_cls --task classify --max-seq-len 16 --seq-len 16 --train-data "$work/single.ex"
tiny gpt2_cls --task classify --config tiny --max-seq-len 16 --seq-len 16 --train-data "$work/single.ex"
tiny bert_mlm --task mlm --max-seq-len 16 --seq-len 16 --train-data "$work/pair.ex" --tokenizer "wordpiece:$work/wp"
for run in lm lora prefix ptuning bert_cls gpt2_cls bert_mlm; do
    seed weights "$run" < "$work/$run/step_00000002/model.bin"
done
for run in lora prefix ptuning; do seed weights "${run}_adapter" < "$work/$run/adapter.bin"; done
for run in lm lora bert_mlm; do seed run_file "$run" < "$work/$run/run.json"; done
seed checkpoint step1 < "$work/lm/step_00000001/state.bin"
seed checkpoint step2 < "$work/lm/step_00000002/state.bin"

# An llm.c v3 checkpoint of the LM run's shape: its header, then zero weights
# (as many bytes as the minitrain file's tensors, which bin/inspect lists).
param_bytes=$("$bin/inspect" "$work/lm/step_00000002/model.bin" | awk '$1 ~ /\.(weight|bias)$/ { n += $NF } END { print n }')
{
    for v in 20240326 3 8 256 1 2 8 256; do le32 "$v"; done  # magic, version, max_T, V, L, NH, C, Vp
    head -c $((1024 - 32)) /dev/zero
    head -c "$param_bytes" /dev/zero
} | seed weights llmc_v3

# ---- Hugging Face folders ---------------------------------------------------------------------------
quietly "$bin/convert" --to-hf "$work/lm/step_00000002/model.bin" --output "$work/hf_lm"
quietly "$bin/convert" --to-hf "$work/bert_cls/step_00000002/model.bin" --output "$work/hf_bert_cls"
for dir in "$work/hf_lm" "$work/hf_bert_cls" tests/fixtures/hf_gpt2_tiny tests/fixtures/hf_bert_tiny/*/; do
    name=$(basename "$dir")
    pack "$dir/config.json" "$dir/model.safetensors" | seed hf "$name"
    quietly "$bin/convert" --from-hf "$dir" --output "$work/$name.bin"
    seed weights "from_$name" < "$work/$name.bin"
done

rm -rf "$work"
for target in "$out"/*/; do echo "make_corpus: $(basename "$target"): $(ls "$target" | wc -l) inputs"; done
