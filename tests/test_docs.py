"""The documentation names only what exists: every command in README.md and docs/*.md names a
script, subcommand and options that are there, every results file it cites is committed, and
every ``ddc_tf.…`` name it mentions resolves. A renamed flag or a deleted results file would
otherwise leave the README pointing at a command nobody can re-run."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RESULTS = ROOT / "benchmarks" / "results"
# ``ddc_tf.json`` (a SavedModel's metadata file) is a file name, not a Python name.
FILE_SUFFIXES = {"json", "py", "md", "keras", "txt", "csv", "npz"}


def _inline_code(path: Path) -> list[str]:
    """The `inline code` spans of a Markdown file, fenced blocks left out (their triple
    backticks would pair the wrong single ones)."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"`([^`\n]+)`", text)


def _commands(prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(document name, command) for every inline code span that starts with one of ``prefixes``."""
    return [(path.name, span) for path in DOCUMENTS for span in _inline_code(path) if span.startswith(prefixes)]


def _words(command: str) -> list[str]:
    """The command's words, with the documents' elisions (``...``, ``…``) dropped."""
    return command.replace("...", " ").replace("…", " ").split()


class _ParserCaptured(Exception):
    """Raised in place of ``parse_args`` to hand back the parser a script's ``main`` built."""


def _script_parser(script: Path) -> argparse.ArgumentParser:
    """The ``argparse`` parser a benchmark script's ``main()`` builds, taken at its
    ``parse_args`` call, before the script does any work. A script that never parses
    arguments gets an empty parser: it takes no options."""
    if "parse_args" not in script.read_text(encoding="utf-8"):
        return argparse.ArgumentParser()
    original = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):
        raise _ParserCaptured(self)

    sys.path.insert(0, str(script.parent))
    argparse.ArgumentParser.parse_args = capture
    try:
        namespace = runpy.run_path(str(script), run_name="documented_script")
        namespace["main"]()
    except _ParserCaptured as captured:
        return captured.args[0]
    finally:
        argparse.ArgumentParser.parse_args = original
        sys.path.remove(str(script.parent))
    raise AssertionError(f"{script.name}: main() returned without parsing its arguments")


def _unknown_options(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """The ``--options`` among ``words`` that ``parser`` does not define; words after a bare
    ``--`` belong to another command and are not checked."""
    if "--" in words:
        words = words[: words.index("--")]
    known = set(parser._option_string_actions)
    return [word for word in words if word.startswith("--") and word.split("=")[0] not in known]


def test_the_documents_are_found():
    assert (ROOT / "README.md") in DOCUMENTS
    # The extraction finds the commands at all: otherwise every check below passes vacuously.
    assert len(_commands(("python benchmarks/",))) > 50
    assert len(_commands(("ddc-tf ",))) > 50


def test_documented_benchmark_commands_exist_with_their_options():
    parsers: dict[Path, argparse.ArgumentParser] = {}
    problems = []
    for document, command in _commands(("python benchmarks/",)):
        words = _words(command)
        script = ROOT / words[1]
        if not script.is_file():
            problems.append(f"{document}: `{command}`: no {words[1]}")
            continue
        if script not in parsers:
            parsers[script] = _script_parser(script)
        for option in _unknown_options(parsers[script], words[2:]):
            problems.append(f"{document}: `{command[:120]}`: {words[1]} has no {option}")
    assert not problems, "\n".join(problems)


def test_documented_cli_commands_exist_with_their_options():
    from ddc_tf.cli import build_parser

    subcommands = next(
        action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)
    ).choices
    problems = []
    for document, command in _commands(("ddc-tf ",)):
        words = _words(command)
        if len(words) < 2 or words[1].startswith("-"):
            continue  # `ddc-tf --help`, `ddc-tf --version`: the top-level parser's own
        if words[1].endswith(":"):
            continue  # a quoted message, `ddc-tf fit: warning: …`, not a command
        if words[1] not in subcommands:
            problems.append(f"{document}: `{command}`: no subcommand {words[1]!r}")
            continue
        for option in _unknown_options(subcommands[words[1]], words[2:]):
            problems.append(f"{document}: `{command[:120]}`: ddc-tf {words[1]} has no {option}")
    assert not problems, "\n".join(problems)


def test_documented_modules_can_be_run():
    missing = []
    for document, command in _commands(("python -m ",)):
        module = _words(command)[2]
        if module != "pytest" and importlib.util.find_spec(module) is None:
            missing.append(f"{document}: `{command}`: no module {module}")
    assert not missing, "\n".join(missing)


def test_cited_results_files_are_committed():
    cited = {
        (path.name, name)
        for path in DOCUMENTS
        for name in re.findall(r"benchmarks/results/([\w.\-]+\.\w+)", path.read_text(encoding="utf-8"))
    }
    assert cited
    missing = [f"{document}: benchmarks/results/{name}" for document, name in sorted(cited) if not (RESULTS / name).is_file()]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_named_ddc_tf_objects_exist(document):
    names = {
        name
        for name in re.findall(r"\bddc_tf(?:\.\w+)+", document.read_text(encoding="utf-8"))
        if name.rsplit(".", 1)[1] not in FILE_SUFFIXES and "__main__" not in name
    }
    unresolved = []
    for name in sorted(names):
        parts = name.split(".")
        for length in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:length]))
                break
            except ImportError:
                continue
        for attribute in parts[length:]:
            if not hasattr(obj, attribute):
                unresolved.append(name)
                break
            obj = getattr(obj, attribute)
    assert not unresolved, f"{document.name} names what does not exist: {unresolved}"
