#!/usr/bin/env bash
# Prepares tinyshakespeare (Karpathy's char-rnn corpus, 1,115,394 bytes) as
# byte-level token files for the default ./train run:
#   data/tinyshakespeare_train.bin   the first 90% of the text
#   data/tinyshakespeare_val.bin     the last 10%
# The text comes from ../shared/data when present, else from its public source;
# either way its sha256 is checked (data/corpus.sh). Usage: data/tinyshakespeare.sh [bpe]
# ("bpe" tokenizes with GPT-2's BPE from ../shared/data/tokenizers/gpt2 instead,
# writing data/tinyshakespeare_bpe_{train,val}.bin).
set -euo pipefail
cd "$(dirname "$0")/.."
url=${MINITRAIN_TINYSHAKESPEARE_URL:-https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt}
source data/corpus.sh
corpus_path tinyshakespeare.txt 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed "$url"
text=$corpus
[ -x bin/tokenize ] || make bin/tokenize >/dev/null

if [ "${1:-byte}" = bpe ]; then
    bin/tokenize --tokenizer "${MINITRAIN_DATA:-../shared/data}/tokenizers/gpt2" --input "$text" \
        --output data/tinyshakespeare_bpe_train.bin --val-fraction 0.1 --val-output data/tinyshakespeare_bpe_val.bin
else
    bin/tokenize --tokenizer byte --input "$text" \
        --output data/tinyshakespeare_train.bin --val-fraction 0.1 --val-output data/tinyshakespeare_val.bin
fi
