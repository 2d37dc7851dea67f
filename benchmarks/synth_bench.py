"""Benchmark: `rftenv synth` of the largest stack against the import floor.

Targets (issue: foundation): synth of the largest stack file takes under 1 s of wall time
and no more than 2.5x a bare `python -c` that imports pulumi and the pulumi_aws modules
the program uses. Both are measured as fresh processes, the way a user runs them; the
median of N runs is compared. Exits 1 if a target is missed.

    .venv/bin/python benchmarks/synth_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rft_env.rftenv import stack_files, synth  # noqa: E402

WALL_LIMIT_S = 1.0
RATIO_LIMIT = 2.5


def floor_program(result: dict) -> str:
    """`import pulumi, pulumi_aws` plus every pulumi_aws class the program registers.

    pulumi_aws loads its submodules lazily, so the classes are touched to import them."""
    classes = sorted(
        {
            (r["type"].split(":")[1].split("/")[0], r["type"].rsplit(":", 1)[1])
            for r in result["resources"]
            if r["type"].startswith("aws:")
        }
    )
    touches = "; ".join(
        f"pulumi_aws.{'lambda_' if module == 'lambda' else module}.{cls}" for module, cls in classes
    )
    return f"import pulumi, pulumi_aws; pulumi_aws.Provider; {touches}"


def timed(command: list[str], runs: int) -> list[float]:
    durations = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        durations.append(time.perf_counter() - start)
    return durations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    sizes = {
        stack: len(synth.synthesize(stack)["resources"]) for stack in stack_files.available_stacks()
    }
    largest = max(sizes, key=lambda s: sizes[s])
    floor_code = floor_program(synth.synthesize(largest))

    # One warm-up each, so bytecode compilation is not measured.
    timed([sys.executable, "-c", floor_code], 1)
    synth_command = [
        sys.executable,
        "-m",
        "rft_env.rftenv.cli",
        "synth",
        largest,
        "--format",
        "json",
    ]
    timed(synth_command, 1)

    floor = statistics.median(timed([sys.executable, "-c", floor_code], args.runs))
    # The same imports with the CLI's collector settings (rftenv.cli.run): what the
    # program itself adds, with the GC saving taken out of the comparison.
    tuned_code = f"import gc; gc.disable(); {floor_code}; gc.freeze(); gc.enable()"
    tuned_floor = statistics.median(timed([sys.executable, "-c", tuned_code], args.runs))
    runs = timed(synth_command, args.runs)
    wall = statistics.median(runs)
    ratio = wall / floor

    print(f"largest stack: {largest} ({sizes[largest]} resources); {args.runs} runs each")
    print(f"import floor (median): {floor:.3f} s")
    print(f"import floor with the CLI's GC settings (median): {tuned_floor:.3f} s")
    print(
        f"rftenv synth {largest} (median): {wall:.3f} s  (min {min(runs):.3f}, max {max(runs):.3f})"
    )
    print(f"ratio to floor: {ratio:.2f}x (target <= {RATIO_LIMIT}x)")
    print(f"ratio to the GC-matched floor: {wall / tuned_floor:.2f}x")
    print(f"wall time: {wall:.3f} s (target < {WALL_LIMIT_S} s)")
    ok = wall < WALL_LIMIT_S and ratio <= RATIO_LIMIT
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
