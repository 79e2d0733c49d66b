"""``meshals policy``: the AuthorizationPolicy commands, each in its own module.

A module listed in :data:`SUBCOMMANDS` registers its subcommand with ``add_parser`` (which
sets ``policy_run`` to its ``run``); ``policy suggest`` (``_policy_suggest``) joins the list.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from meshals.capture._detect import Container

from . import _policy_check, _policy_suggest

__all__: list[str] = []

SUBCOMMANDS = (_policy_check, _policy_suggest)


def add_policy_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``policy`` and its subcommands."""
    policy = commands.add_parser(
        "policy",
        help="Istio AuthorizationPolicies and the observed traffic",
        description="Istio AuthorizationPolicies held against the traffic the captures saw.",
    )
    subcommands = policy.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subcommands)
    for parser in subcommands.choices.values():
        parser.add_argument(
            "-o",
            "--output",
            metavar="PATH",
            help="write the output to PATH instead of stdout ('-': stdout): to a temporary"
            " file beside it, then renamed. Without --format, PATH's extension names the format",
        )
        parser.add_argument(
            "--container",
            choices=[container.value for container in Container],
            help="the container of every FILE, instead of detecting it",
        )
        parser.add_argument(
            "--strict", action="store_true", help="fail on anything lenient decoding tolerates"
        )
        parser.add_argument("--quiet", action="store_true", help="no note on stderr after -o")
        parser.set_defaults(command_parser=parser)


def run_policy(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """Run the ``policy`` subcommand the arguments name."""
    status: int = args.policy_run(args, container=container, out=out)
    return status
