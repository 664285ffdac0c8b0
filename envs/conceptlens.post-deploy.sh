#!/usr/bin/env bash
# Run by Snakemake once after it creates envs/conceptlens.yaml (--sdm conda): WordNet 3.0
# for the WordNet concept sets and hierarchies (conceptlens.concept_sets), into the
# environment's own nltk_data folder, where NLTK looks (sys.prefix/nltk_data). A plain
# install takes it from Debian's wordnet-base instead.
set -euo pipefail
python -m nltk.downloader -q -d "$CONDA_PREFIX/nltk_data" wordnet
