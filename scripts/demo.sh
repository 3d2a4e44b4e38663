#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install dependencies, build, generate a random
# checkpoint in the Hugging Face layout of jina-embeddings-v3, export it to a jina3 package, embed
# sample sentences with every task and print a similarity table.
#   JINA3_DEMO_SIZE=tiny|full   (default full: the real architecture, random weights)
#   JINA3_DEMO_DTYPE=float32|bfloat16|float16|int8   (default bfloat16)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${JINA3_BUILD_DIR:-$root/build}"
size="${JINA3_DEMO_SIZE:-full}"
dtype="${JINA3_DEMO_DTYPE:-bfloat16}"
work="${JINA3_DEMO_DIR:-$build/demo-$size}"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
export PYTHONPATH="$build/python"
py=/usr/bin/python3
if [ ! -f "$work/checkpoint/model.safetensors" ]; then
  echo "== generating a random $size checkpoint in $work/checkpoint"
  $py -m jina3.testing.make_checkpoint --size "$size" --seed 0 "$work/checkpoint"
fi
echo "== exporting it as a $dtype jina3 package"
rm -rf "$work/package-$dtype"
$py -m jina3.export "$work/checkpoint" "$work/package-$dtype" --dtype "$dtype"
echo "== embedding"
$py "$root/scripts/demo.py" "$work/package-$dtype"
