"""``ddc-tf``: the command line.

    ddc-tf fit --data SOURCE [--clusters K] [--steps N] [--runs R] [--out DIR] ...
    ddc-tf fit --preset NAME [any flag overrides the preset]
    ddc-tf ablation --data SOURCE [--repeats 5] [--runs 20] [--out DIR] ...
    ddc-tf table --results FILE_OR_DIR ... --out DIR
    ddc-tf presets
    ddc-tf demo [--out DIR]
    ddc-tf export --model PATH --name NAME ...
    ddc-tf predict --model PATH --data SOURCE --out FILE.{csv,npz}
    ddc-tf plot --model PATH --data SOURCE --out DIR

One module per command (``fit``, ``ablation``, ``tables``, ``demo``, ``serving``, ``plot``),
each with ``register(subparsers)``; shared flags and argument types in ``common``. One error
policy for all of them, in :func:`main`: a mistake the user can fix (``ValueError``,
``TypeError``, ``OSError``) is one line ``ddc-tf CMD: error: …`` and exit status 2; Ctrl-C
is one line and status 130; a warning is one line ``ddc-tf CMD: warning: …``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Sequence

from ddc_tf._version import __version__  # noqa: E402
from ddc_tf.cli import ablation, demo, fit, plot, serving, tables  # noqa: E402
from ddc_tf.cli.common import positive_int, vote_count  # noqa: E402,F401  (kept importable here)

__all__ = ["build_parser", "main"]

#: The command modules, in the order ``ddc-tf --help`` lists them.
COMMANDS = (fit, ablation, tables, demo, serving, plot)

#: Exit status of an interrupted command (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Exit status of a command stopped by a user error.
EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ddc-tf", description="Deep Divergence-based Clustering (Kampffmeyer et al. 2019) in Keras."
    )
    parser.add_argument("--version", action="version", version=f"ddc_tf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line's arguments; an unknown flag is the sub-command's error, with its usage
    (argparse's top-level parser would otherwise answer with the list of sub-commands)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _message(error: Exception) -> str:
    """An error as one line for the user: an operating-system error as ``path: reason`` (for
    example ``notes.txt: Not a directory``), without Python's ``[Errno N]``."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)  # before TensorFlow is imported: --help is instant
    from ddc_tf._quiet import import_tensorflow_quietly

    # a warning is one line, as an error is, not the library's source line that raised it
    format_warning = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *_, **__: (
        f"ddc-tf {args.command}: warning: {message} ({category.__name__})\n")
    try:
        if getattr(args, "precheck", None) is not None:
            args.precheck(args)  # flags that cannot go together: refused before TensorFlow loads
        import_tensorflow_quietly()  # the commands' TensorFlow, without its start-up notices
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"\nddc-tf {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError) as error:
        print(f"ddc-tf {args.command}: error: {_message(error)}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        warnings.formatwarning = format_warning


