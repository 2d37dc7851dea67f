"""`rftenv`: the operator CLI."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence


def _synth(args: argparse.Namespace) -> int:
    import pulumi

    from rftenv import synth

    try:
        result = synth.synthesize(args.stack)
    except synth.StackNotFoundError as error:
        print(f"rftenv synth: {error}", file=sys.stderr)
        return 2
    except pulumi.RunError as error:
        # Invalid stack config: the message already lists every problem.
        print(f"rftenv synth {args.stack}: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(synth.render_table(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rftenv", description="Operate rft-env stacks (Bedrock RFT environments)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    synth_cmd = commands.add_parser(
        "synth",
        help="show what `pulumi up` would create for a stack, offline (mock runtime)",
        description="Run the real program for STACK under Pulumi's mock runtime, with the "
        "stack's config file, and print every resource it would create. Needs no Pulumi "
        "CLI, no AWS account and no network.",
    )
    synth_cmd.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    synth_cmd.add_argument("--format", choices=("table", "json"), default="table")
    synth_cmd.set_defaults(handler=_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


def run() -> None:
    """The console script. Importing pulumi and pulumi_aws allocates about a million
    long-lived objects, and the cyclic collector would scan them again and again for
    nothing in a process that lives a second: it is off while the command runs, and what
    is alive at the end is frozen so the interpreter's exit does not sweep it either.
    (Commands import their heavy modules lazily, after this point.)"""
    gc.disable()
    try:
        code = main()
    finally:
        gc.freeze()
        gc.enable()
    sys.exit(code)


if __name__ == "__main__":
    run()
