"""Summaries of timing samples for the Python side of the benchmarks, computed as jina3_bench and
jina3_load_bench compute theirs (benchmarks/summary.hpp), so that the figures compare."""

import math


def percentile(values, p):
    """Nearest-rank percentile of an unsorted sample (p in (0, 100]); None for an empty one."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(p / 100.0 * len(ordered))
    return ordered[min(len(ordered), max(rank, 1)) - 1]
