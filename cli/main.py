"""The root of the ``mlcycle`` command: logging, one-line errors, and the command groups.

Every user mistake ends in one line on stderr, ``error: <what> (hint: <how>)``, and a non-zero exit
(2 for bad input, 3 when the object store fails, 4 when another process changed the same stage index,
pointer or branch first and nothing was written); tracebacks are kept for bugs.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click

from cli import datasets, gc, init, models, monitor, promote, runs, s3, submit, train, validate
from components.common import openmp
from components.common.errors import UserError


@click.group(name="mlcycle", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log each step, retries included.")
def mlcycle(verbose: bool) -> None:
    """mlcycle: the whole model life cycle, on Kubernetes or on one machine.

    Endpoint and credentials of S3 come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY; without them, the embedded server of `mlcycle s3 up` is used.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


for group in (s3, init, datasets, validate, train, runs, models, gc, promote, monitor, submit):
    for command in group.COMMANDS:
        mlcycle.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mlcycle`` script.

    Args:
        argv: The arguments after the command's name (default: the process's).
    """
    # Before scikit-learn starts OpenMP; every task process inherits it (a cluster's tasks get it from
    # pipelines/cluster.py).
    openmp.limit_spinning()
    try:
        mlcycle.main(args=argv, prog_name="mlcycle", standalone_mode=False)
    except click.exceptions.Abort as abort:
        interruption = abort.__cause__ or abort.__context__
        if isinstance(interruption, KeyboardInterrupt):
            _interrupted(interruption)
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except UserError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt as interruption:
        _interrupted(interruption)


def _interrupted(interruption: KeyboardInterrupt) -> NoReturn:
    # A version is published by its manifest alone: what had none when interrupted stays invisible.
    done = f" ({interruption})" if str(interruption) else ""
    click.echo(f"interrupted{done}: nothing incomplete was published", err=True)
    sys.exit(130)
