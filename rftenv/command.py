"""How every `rftenv` subcommand is declared, and how each one fails.

A subcommand is a `Command`: its name, one-line help, description, a function that adds
its arguments, and its handler. The handler returns the exit code, or raises
`CommandError`, which carries the exit code; `cli.main` prints every such error the same
way, once: `rftenv <command>[ <subject>]: <message>` on stderr. A `UsageError` (arguments
that parse one by one but not together) is printed by the subcommand's parser instead,
after its usage line, like any other usage error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class CommandError(Exception):
    """A failure reported in one message, with the exit code that goes with it (2: unusable
    input; 1: the command ran and failed). `subject` (a stack, say) follows the command's
    name in the printed prefix."""

    def __init__(self, message: str, exit_code: int = 1, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.subject = subject


class UsageError(CommandError):
    """Arguments the parser accepted one by one but that do not go together."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


@contextmanager
def about(subject: str) -> Iterator[None]:
    """Command errors raised inside name `subject` (unless they name one already): the
    lower layers (AWS calls, stack files) do not know which stack the command is about."""
    try:
        yield
    except CommandError as error:
        if error.subject is None:
            error.subject = subject
        raise


@dataclass(frozen=True)
class Command:
    """One subcommand, declared the same way as every other."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]

    def register(self, commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
        parser = commands.add_parser(self.name, help=self.help, description=self.description)
        self.add_arguments(parser)
        parser.set_defaults(handler=self.handler)
        return parser
