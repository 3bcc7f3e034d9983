"""The `albert` command: `main` (the parser and the subcommands), `compare` (`albert compare` / `albert backends`),
`streams` (reading pipeline inputs from arguments, stdin or JSON lines, and printing results)."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
