"""jina3 from Python: embed a query and some passages, rank the passages by cosine similarity.

    python3 example.py PACKAGE_DIR [QUERY PASSAGE...]

Output: the ranking ("rank R: SCORE passage[I] TEXT"), then every embedding on one line
("vector query 0 v1 v2 ..." / "vector passage I v1 v2 ...").
"""
import sys

import numpy as np

import jina3


def main(argv):
    if len(argv) < 2 or len(argv) == 3:
        print(f"usage: {argv[0]} PACKAGE_DIR [QUERY PASSAGE...]", file=sys.stderr)
        return 2
    query = "What is the capital of France?"
    passages = [
        "Paris is the capital and largest city of France.",
        "Berlin is the capital of Germany.",
        "The Eiffel Tower was completed in 1889.",
    ]
    if len(argv) > 3:
        query, passages = argv[2], argv[3:]

    try:
        encoder = jina3.Encoder(argv[1])
        # Queries and passages use different adapters: that is what makes asymmetric retrieval work.
        q = encoder.encode([query], "retrieval.query")  # float32 array, shape (1, dims)
        p = encoder.encode(passages, "retrieval.passage")  # shape (len(passages), dims)
    except jina3.Error as error:
        print(f"jina3 error: {error}", file=sys.stderr)
        return 1

    q64, p64 = q.astype(np.float64), p.astype(np.float64)
    scores = (p64 @ q64[0]) / (np.linalg.norm(p64, axis=1) * np.linalg.norm(q64[0]))
    order = sorted(range(len(passages)), key=lambda i: -scores[i])  # stable: ties keep input order

    print(f"query: {query}")
    for rank, i in enumerate(order, start=1):
        print(f"rank {rank}: {scores[i]:.6f} passage[{i}] {passages[i]}")
    print_vector("query", 0, q[0])
    for i, row in enumerate(p):
        print_vector("passage", i, row)
    return 0


def print_vector(kind, index, values):
    print(f"vector {kind} {index} " + " ".join(f"{float(v):.9g}" for v in values))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
