"""Embeds sample sentences with every task of a jina3 package and prints similarity tables.

The weights are random unless the package was exported from the real checkpoint, so the
similarities show that tasks, prompts and dims take effect, not semantic quality.
"""
import sys
import time

import numpy as np

import jina3

SENTENCES = [
    "How do I bake sourdough bread?",
    "Sourdough needs a starter, flour, water and salt, and a long proof.",
    "Der Zug nach Berlin fährt um acht Uhr ab.",
    "東京は日本の首都です。",
    "The stock market fell sharply on Monday.",
]


def main(package_dir: str) -> None:
    t0 = time.perf_counter()
    enc = jina3.Encoder(package_dir)
    print(f"loaded {enc!r} in {time.perf_counter() - t0:.2f} s")
    print(f"tasks: {', '.join(enc.tasks)}; dims: {enc.dims}; max_length: {enc.max_length}\n")
    by_task = {}
    for task in [None] + list(enc.tasks):
        t0 = time.perf_counter()
        vectors = enc.encode(SENTENCES, task=task)
        ms = (time.perf_counter() - t0) * 1e3
        by_task[task] = vectors
        sims = vectors @ vectors.T
        print(f"task {task or 'none'}: {vectors.shape[0]} x {vectors.shape[1]} in {ms:.1f} ms; "
              f"tokens of text 0: {len(enc.tokenize(SENTENCES[:1], task=task)[0])}")
        for i, row in enumerate(sims):
            print(f"  [{i}] " + " ".join(f"{x:+.3f}" for x in row) + f"  {SENTENCES[i][:40]}")
        print()
    print("same text, different tasks: cosine of text 0 between task vectors")
    names = list(by_task)
    for a in names:
        print(f"  {str(a or 'none'):>18} " + " ".join(f"{float(by_task[a][0] @ by_task[b][0]):+.3f}" for b in names))
    small = enc.encode(SENTENCES, task="retrieval.passage", dims=enc.dims[0])
    print(f"\nMatryoshka: dims={enc.dims[0]} gives {small.shape}, row norms "
          f"{np.linalg.norm(small, axis=1).round(4).tolist()}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: demo.py PACKAGE_DIR")
    main(sys.argv[1])
