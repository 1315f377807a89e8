"""What the `polyasr` command checks before it loads a model: option values and output paths.

Argument types refuse out-of-range values with argparse's own one-line error (`--top 0`), checks
across options (`add_check`) do the same once a command's arguments are parsed, and the path checks
make an unwritable or invalid output fail at once, not after the model loaded and the first file ran.
Nothing here prints: checks raise OptionsError, which the CLI prints as one line.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from .extras import with_install_hints
from ..decoding.options import check_hotword_weight, parse_hotwords
from ..errors import LanguageError, OptionsError
from ..language.choice import LanguageChoice
from ..output.writers import get_writers


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _number(text, int, "an integer", lambda value: value >= 1, "at least 1")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _number(text, float, "a number", lambda value: 0 < value < float("inf"), "greater than 0")


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    return _number(text, float, "a number", lambda value: 0 <= value < float("inf"), "at least 0")


def unit_float(text: str) -> float:
    """argparse type: a number from 0 to 1 (a probability)."""
    return _number(text, float, "a number", lambda value: 0 <= value <= 1, "from 0 to 1")


def port_number(text: str) -> int:
    """argparse type of a TCP port: an integer from 0 to 65535 (0: the system picks a free one)."""
    return _number(text, int, "an integer", lambda value: 0 <= value <= 65535, "from 0 to 65535")


def resource_amount(text: str) -> tuple[str, float]:
    """argparse type of a custom Ray resource: NAME=AMOUNT with a name other than CPU or GPU and an amount > 0."""
    name, equals, amount = text.partition("=")
    if not equals or not name.strip() or name.strip() in ("CPU", "GPU"):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=AMOUNT with a custom resource name (not CPU or GPU)")
    return name.strip(), positive_float(amount)


def _number(text: str, kind: Callable[[str], int | float], noun: str, ok: Callable, bound: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text} is out of range: it must be {bound}")
    return value


def hotword_list(value: str) -> str:
    """argparse type of --hotwords: "Müller,Zwickau:8", each weight finite and within range (parsed again later)."""
    try:
        parse_hotwords(value)
    except OptionsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def hotword_weight(text: str) -> float:
    """argparse type of --hotword-weight: a finite number within the hotword weight range."""
    try:
        value = float(text)
        check_hotword_weight(value, "--hotword-weight")
    except OptionsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    return value


def output_formats(value: str) -> str:
    """argparse type of --output-format: a format or a comma-separated list of them, checked against the writers."""
    try:
        get_writers(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def language_choice(value: str) -> LanguageChoice:
    """argparse type of --language: 'auto', 'detect', 'multi' or a language, parsed once here."""
    try:
        return LanguageChoice.parse(value)
    except LanguageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def language_codes(value: str) -> tuple[str, ...]:
    """argparse type of --candidates: comma-separated languages, e.g. de,fr,it, as a tuple of their spellings
    (each is resolved against the model's languages when it loads)."""
    codes = split_codes(value)
    if not codes:
        raise argparse.ArgumentTypeError(f"{value!r} names no language; give codes such as de,fr,it")
    return codes


def split_codes(codes: str | None) -> tuple[str, ...] | None:
    """A comma-separated list (--languages de,fr,ja) as a tuple; None for None or an empty list."""
    return tuple(c.strip() for c in codes.split(",") if c.strip()) if codes else None


Check = Callable[[argparse.Namespace], "str | None"]  # parsed arguments -> an error message, or None


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that, after parsing, runs the checks across options added with `add_check`.

    A failed check is an error like a bad value of a single option: one line naming the option, exit
    status 2, before any command runs. Subparsers made with `add_subparsers` are Parsers too.
    """

    checks: list[Check]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.checks = []

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        """One line, not argparse's usage block: '<prog>: error: <message>'; exit 2."""
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        for check in self.checks:
            problem = check(parsed)
            if problem:
                self.error(problem)
        return parsed, extras


def add_check(parser: argparse.ArgumentParser, check: Check) -> None:
    """Run `check` on `parser`'s parsed arguments (a Parser; a plain ArgumentParser runs no checks, so
    the functions that turn arguments into options check again)."""
    if isinstance(parser, Parser):
        parser.checks.append(check)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` shows each option's default, except where there is none to show (None, False)
    or the help text already says it; "pip install 'polyasr[x]'" is the command that installs x here."""

    def _expand_help(self, action: argparse.Action) -> str:
        return with_install_hints(super()._expand_help(action))

    def _format_text(self, text: str) -> str:
        return super()._format_text(with_install_hints(text))

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text or "%(default)" in text:
            return text
        return super()._get_help_string(action)


def _nearest_existing(path: Path) -> Path:
    """`path` itself, or its closest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _check_writable_folder(folder: Path, option: str, shown: str) -> None:
    """Raise unless a file can be created in `folder` (an existing directory)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise OptionsError(f"{option} {shown}: cannot write into '{folder}' ({reason})") from None


def check_output_folder(path: str | os.PathLike[str], option: str) -> Path:
    """An output folder that exists or can be created, and is writable; OptionsError otherwise.

    Nothing is created: the folder is made when the first file is written.
    """
    target = Path(path).expanduser()
    shown = os.fspath(path)
    existing = _nearest_existing(target.absolute())
    if not existing.is_dir():
        where = "is" if existing == target.absolute() else f"lies under '{existing}', which is"
        raise OptionsError(f"{option} {shown}: the folder {where} a file, not a folder")
    _check_writable_folder(existing, option, shown)
    return target


def check_output_file(path: str | os.PathLike[str], option: str) -> Path:
    """An output file whose folder exists and is writable, and which is not a folder itself."""
    target = Path(path).expanduser()
    shown = os.fspath(path)
    if target.is_dir():
        raise OptionsError(f"{option} {shown}: is a folder; name the file to write")
    folder = target.absolute().parent
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise OptionsError(f"{option} {shown}: its folder '{folder}' {what}")
    _check_writable_folder(folder, option, shown)
    return target
