"""How the ``ecad`` command ends: an exit status and at most one error line, never a traceback.

Exit statuses:

* ``0``: done (also ``ecad cancel`` of a search that had already finished: nothing to stop).
* ``1``: a runtime error: the store or broker did not answer, a stored object is unreadable,
  the machine ran out of memory or disk, or anything unexpected.
* ``2``: a usage error: a bad command line (click's usage errors) or bad input given by the user
  (:class:`ConfigError`: a spec field, an override, a schedule or prompt file, an unknown id).
* ``130``: interrupted (Ctrl-C).

The error goes to stderr as ``error: <message>``; the message names the file, field or object.
With ``ecad -v`` an unexpected error's traceback is logged as well.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import click

from ecad.cli.printable import printable
from ecad.errors import ConfigError, EcadError
from ecad.masking import mask_credentials

__all__ = ["EXIT_INTERRUPTED", "EXIT_RUNTIME", "EXIT_USAGE", "run_cli"]

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("ecad.cli")


def _fail(message: str, code: int) -> int:
    # Whatever raised it, an error line never shows a password given inside a URL, nor a
    # control character read from the store.
    click.echo(f"error: {printable(mask_credentials(message), keep_newlines=True)}", err=True)
    return code


def run_cli(cli: click.Command, args: Sequence[str] | None = None) -> int:
    """Run ``cli`` on ``args`` (default: the process arguments); return the exit status."""
    try:
        result = cli.main(args=args, standalone_mode=False)
    except click.exceptions.Abort:
        return _fail("aborted", EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except EcadError as exc:
        return _fail(str(exc), EXIT_RUNTIME)
    except BrokenPipeError:  # output piped into a command that stopped reading (| head)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_RUNTIME
    except MemoryError:
        return _fail("out of memory", EXIT_RUNTIME)
    except OSError as exc:  # disk full, permission denied, ...: the message names the path
        return _fail(str(exc), EXIT_RUNTIME)
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        detail = " ".join(str(exc).split())
        return _fail(
            f"unexpected {type(exc).__name__}: {detail} (a bug: please report it with the "
            "output of `ecad -v ...`)",
            EXIT_RUNTIME,
        )
    return result if isinstance(result, int) else 0
