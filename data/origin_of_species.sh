#!/usr/bin/env bash
# Prepares Darwin's On the Origin of Species (Project Gutenberg #1228) as
# byte-level token files, the out-of-domain text for the LoRA domain-adaptation
# example (README): the Gutenberg header and footer (everything up to the
# "*** START OF" line and from the "*** END OF" line) are cut off, then
#   data/origin_train.bin   the first 90% of the book
#   data/origin_val.bin     the last 10%
# The text comes from ../shared/data (or $MINITRAIN_DATA); its sha256 is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
source data/corpus.sh
corpus_path domain/origin_of_species.txt 7692603a23fe244cbf07c08053e9c345c6f5d89b794d78305fa3b7f2ebe04f9d
src=$corpus
[ -x bin/tokenize ] || make bin/tokenize >/dev/null
body=data/origin_of_species.txt
awk '/^\*\*\* END OF/ { exit } started { print } /^\*\*\* START OF/ { started = 1 }' "$src" > "$body.tmp"
mv "$body.tmp" "$body"
bin/tokenize --tokenizer byte --input "$body" --output data/origin_train.bin --val-fraction 0.1 --val-output data/origin_val.bin
