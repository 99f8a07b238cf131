"""The root of the ``govsim`` command line: the click group every command module attaches to."""

from __future__ import annotations

import click

__all__ = ["UserError", "main"]


class UserError(click.ClickException):
    """A problem with the user's input: printed as one clear line, exit code 2, no traceback."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="govsim")
def main() -> None:
    """govsim: a governance-and-incentive protocol simulator for Bittensor-style networks."""
