#!/usr/bin/env bash
# The scripted pilot of the user study (Tang et al. Table 2): results/tables/tang2021-table-2.md.
#
# Robots, not people: 30 scripted participants answer at random through the app's own pages
# (`bench study pilot`), on the published protocol's counts (55 + 55 images per method, 10 warm-up,
# 30 preference groups per dataset) and Tang et al.'s five methods. The images are those of the
# pipeline's commands on two synthetic datasets with 30 test identities (enough distinct targets
# for 55 real images), each method trained from scratch for a token budget (12 iterations on
# Market, 4 on DeepFashion: the cpu profile's schedule allows no more without raising it): the
# pilot checks the study end to end; its numbers say nothing about the methods.
# Resumable: each step is skipped when its output exists. About 10 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
B=.venv/bin/bench
W=runs/study-pilot
declare -A ITER=([market]=12 [fashion]=4)
for kind in market fashion; do
  [ -d data/study-$kind ] || $B data synth synth-$kind --out data/study-$kind --identities-test 30
  [ -f data/study-prepared/$kind/pairs-test.csv ] || \
    $B data prepare --dataset data/study-$kind --out data/study-prepared/$kind --images-for-test 120
  for m in vunet def-gan patn gfla partflow; do
    [ -f $W/runs/$m-$kind/checkpoint.pt ] || $B train $m --dataset data/study-$kind --pairs-dir data/study-prepared/$kind \
      --out $W/runs/$m-$kind --profile cpu --iterations ${ITER[$kind]} --quiet
    [ -f $W/generated/$m/$kind/generation.json ] || $B generate $m --dataset data/study-$kind \
      --pairs-dir data/study-prepared/$kind --checkpoint $W/runs/$m-$kind --out $W/generated/$m/$kind --quiet
  done
done
mkdir -p $W
{
  echo "seed: 0"
  echo "datasets:"
  for kind in market fashion; do
    echo "  - name: study-$kind"
    echo "    root: data/study-$kind"
    echo "    pairs_dir: data/study-prepared/$kind"
    echo "    methods:"
    for m in vunet def-gan patn gfla partflow; do echo "      $m: $W/generated/$m/$kind"; done
  done
} > $W/study.yaml
rm -f $W/pilot.sqlite $W/pilot.sqlite-wal $W/pilot.sqlite-shm
$B study pilot --config $W/study.yaml --db $W/pilot.sqlite --participants 30 --seed 0
$B study report --config $W/study.yaml --db $W/pilot.sqlite --out results/tables/tang2021-table-2.md
