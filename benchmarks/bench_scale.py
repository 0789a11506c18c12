"""Scale: cost per batch as the batches grow, and peak memory per row as the rows grow.

Two axes, one command each (both compare against a checkout of the code before with
``--code-root`` where they support it):

* ``--batches 200 500 1000 2000``: ``bench_scale_batches.py``: the client's time, CPU, job-store
  time and bytes written per batch, for submit, wait, collect and ``status(refresh=False)``;
* ``--rows 1000000 3000000 [--lazy]``: ``bench_scale_rows.py``: peak RSS after each step
  (build, submit, wait, collect, join, write) as a multiple of the input frame, each size in
  a fresh process, and time per row.

Usage::

    python benchmarks/bench_scale.py --batches 200 1000 2000
    python benchmarks/bench_scale.py --rows 1000000 3000000
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    if "--rows" in sys.argv or "--child" in sys.argv:
        import bench_scale_rows as axis
    else:
        import bench_scale_batches as axis
    axis.main()


if __name__ == "__main__":
    main()
