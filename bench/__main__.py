"""Run every benchmark and print its table (copy the output into docs/benchmarks.md)."""

from __future__ import annotations

import platform
import sys

from bench import (
    bench_anonymise,
    bench_batch,
    bench_containment,
    bench_demo,
    bench_facemask,
    bench_journal_edge,
    bench_plugins,
    bench_probes,
    bench_ray,
)

BENCHMARKS = [
    bench_journal_edge.run,
    bench_plugins.run,
    bench_probes.run,
    bench_batch.run,
    bench_anonymise.run,
    bench_facemask.run,
    bench_ray.run,
    bench_containment.run,
    bench_demo.run,
]


def main() -> int:
    print(f"python {sys.version.split()[0]} on {platform.machine()}, {platform.processor() or 'cpu'}\n")
    for run in BENCHMARKS:
        print(run())
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
