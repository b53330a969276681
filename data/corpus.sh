# Sourced by the data scripts: corpus_path REL SHA256 [URL] sets $corpus to a
# checked copy of corpora/REL: from $MINITRAIN_DATA (default ../shared/data),
# else data/<basename> made by an earlier download, else downloaded from URL.
# Whatever fails ends the script with one line saying what is missing and
# where to put it.
corpus_path() {
    local rel=$1 sha=$2 url=${3:-} me dir local
    me=$(basename "$0")
    dir=${MINITRAIN_DATA:-../shared/data}/corpora
    local=data/$(basename "$rel")
    if [ -f "$dir/$rel" ]; then
        corpus=$dir/$rel
    elif [ -f "$local" ]; then
        corpus=$local
    elif [ -n "$url" ] && echo "downloading $url" && curl -fsSL --max-time 120 "$url" -o "$local.tmp" 2>/dev/null; then
        mv "$local.tmp" "$local"
        corpus=$local
    else
        rm -f "$local.tmp"
        echo "$me: $rel is missing: put it at $dir/$rel (or point MINITRAIN_DATA at a folder with corpora/$rel)${url:+; downloading $url failed}" >&2
        exit 1
    fi
    if ! echo "$sha  $corpus" | sha256sum -c --quiet - >/dev/null 2>&1; then
        echo "$me: $corpus is not the expected $rel (its sha256 differs from $sha)" >&2
        exit 1
    fi
}
