"""Every ``govsim ...`` command line quoted in README.md and docs/*.md names commands and options
that exist, with values the options accept.

Command lines are taken from fenced code blocks (a line whose first word is ``govsim``, after
optional ``VAR=value`` words; ``\\`` continuations joined; a ``#`` comment or a shell operator
such as ``|``, ``&&`` or ``>`` ends it) and from inline code spans that start with ``govsim``.
Each one is resolved the way click resolves it, without running anything: the words after
``govsim`` walk down the command groups (``main.commands``), then the command's own option parser
(``Command.make_parser``, the parser ``main.make_context`` uses) reads the rest, so an unknown
option, an option without its value or an extra argument fails as it would on the command line.
Values are then converted by the parameter's type (choices, integer ranges, scenario names), except
file-system paths, which the docs may name before they exist.

Docs also write schematic lines (``govsim run SCENARIO [--policy P]``, ``govsim yuma ...``,
``--config cpu-tiny|cpu-small``): a placeholder word (upper case, ``...`` or ``<...>``) is not
converted, a placeholder where a command name goes stops the walk there, brackets are dropped
and ``a|b`` alternatives are checked one by one.

Run it alone with ``.venv/bin/python -m pytest tests/test_docs_commands.py -q``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from sim.cli import main

REPO = Path(__file__).resolve().parents[1]
DOCS: tuple[Path, ...] = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))

#: Known wrong command lines in docs, by (file, command), with the reason: expected to fail
#: until that file is fixed (not strict, so the fix itself does not fail the suite). Empty now.
KNOWN_BROKEN: dict[tuple[str, str], str] = {}

_FENCE = re.compile(r"^\s*(```|~~~)")
_SHELL_OPERATOR = re.compile(r"\s(\||\|\||&&|;|>|>>|2>|2>&1|&)\s")
_INLINE = re.compile(r"(?<!`)`(govsim(?:\s[^`]*)?)`(?!`)")  # [^`] also spans a line break
_PLACEHOLDER_WORD = re.compile(r"\b[A-Z][A-Z0-9_]*\b")


@dataclass(frozen=True)
class DocCommand:
    """One quoted command line and where it is."""

    file: str
    line: int
    text: str
    inline: bool

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


def _is_govsim(word: str) -> bool:
    return word == "govsim" or word.endswith("/govsim")


def _from_code_block(lines: list[tuple[int, str]], file: str) -> list[DocCommand]:
    out: list[DocCommand] = []
    i = 0
    while i < len(lines):
        number, text = lines[i]
        joined = text.rstrip()
        while joined.endswith("\\") and i + 1 < len(lines):
            i += 1
            joined = joined[:-1] + " " + lines[i][1].strip()
        i += 1
        words = joined.strip().removeprefix("$ ").split()
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):
            words = words[1:]
        if not words or not _is_govsim(words[0]):
            continue
        command = " ".join(words)
        command = _SHELL_OPERATOR.split(f" {command} ", maxsplit=1)[0].strip()
        command = re.split(r"(^|\s)#", command, maxsplit=1)[0].strip()
        out.append(DocCommand(file, number, command, inline=False))
    return out


def _from_prose(lines: list[tuple[int, str]], file: str) -> list[DocCommand]:
    """Inline ``govsim`` spans of consecutive prose lines (a span may wrap onto the next line)."""
    if not lines:
        return []
    first = lines[0][0]
    text = "\n".join(line for _, line in lines).replace("\\|", "|")
    out = []
    for match in _INLINE.finditer(text):
        command = re.sub(r"\s*\|\s*", "|", " ".join(match.group(1).split()))  # `compare | sweep`
        out.append(DocCommand(file, first + text.count("\n", 0, match.start()), command, True))
    return out


def doc_commands(path: Path, root: Path = REPO) -> list[DocCommand]:
    """The ``govsim`` command lines quoted in one markdown file (named relative to ``root``)."""
    file = path.relative_to(root).as_posix()
    out: list[DocCommand] = []
    prose: list[tuple[int, str]] = []
    block: list[tuple[int, str]] | None = None
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if _FENCE.match(text):
            if block is None:
                out += _from_prose(prose, file)
                prose, block = [], []
            else:
                out += _from_code_block(block, file)
                block = None
        elif block is not None:
            block.append((number, text))
        else:
            prose.append((number, text))
    return out + _from_prose(prose, file)


def _placeholder(value: str) -> bool:
    """A schematic value: ``N``, ``DIR``, ``HOST:PORT``, ``a,b,...``, ``<host>``."""
    return "..." in value or "<" in value or bool(_PLACEHOLDER_WORD.search(value))


def _words(command: DocCommand) -> list[str]:
    """Shell words, with brackets of optional parts dropped and ``--a|--b`` split."""
    words: list[str] = []
    for word in shlex.split(command.text):
        word = word.strip("[]()")
        if not word:
            continue
        if "|" in word and all(part.startswith("-") for part in word.split("|")):
            words += word.split("|")
        else:
            words.append(word)
    return words


def _resolve(words: list[str]) -> tuple[click.Command, list[str], list[str], bool]:
    """The command the words name, its path, the words left for it, and whether the walk
    stopped at a placeholder (``govsim COMMAND --help``, ``govsim yuma ...``)."""
    command: click.Command = main
    path = ["govsim"]
    rest = words[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest[0]
        if name in command.commands:
            command = command.commands[name]
            path.append(name)
            rest = rest[1:]
            continue
        if _placeholder(name):
            return command, path, rest[1:], True
        raise AssertionError(
            f"{' '.join(path)} has no command {name!r} (it has: {', '.join(command.commands)})"
        )
    return command, path, rest, False


def _command_names() -> set[str]:
    return {
        name for cmd in _descendants(main) if isinstance(cmd, click.Group) for name in cmd.commands
    }


def _variants(words: list[str]) -> list[list[str]]:
    """One word list per alternative of a ``compare|sweep|report`` word (command names only)."""
    names = _command_names()
    for i, word in enumerate(words):
        parts = word.split("|")
        if len(parts) > 1 and all(part in names for part in parts):
            return [v for part in parts for v in _variants([*words[:i], part, *words[i + 1 :]])]
    return [words]


def check_command(command: DocCommand) -> None:
    """Raise ``AssertionError`` naming what is wrong with one quoted command line."""
    for words in _variants(_words(command)):
        _check_words(words, command.inline)


def _check_words(words: list[str], inline: bool) -> None:
    target, path, rest, schematic = _resolve(words)
    ctx = click.Context(target, info_name=" ".join(path))
    if schematic:
        # Only the options can be checked: they must exist on the group or on some command of it.
        known = {
            opt
            for cmd in _descendants(target)
            for p in cmd.get_params(ctx)
            for opt in [*p.opts, *p.secondary_opts]
        }
        unknown = [
            w.split("=")[0] for w in rest if w.startswith("-") and w.split("=")[0] not in known
        ]
        assert not unknown, f"{' '.join(path)}: no option {unknown}"
        return
    if inline and rest and rest[-1].startswith("-"):
        rest = [*rest, "VALUE"]  # prose names an option alone: `govsim compare --entropy`
    try:
        values, extra, order = target.make_parser(ctx).parse_args(args=list(rest))
    except click.UsageError as exc:
        raise AssertionError(f"{' '.join(path)}: {exc.format_message()}") from None
    extra = [w for w in extra if not _placeholder(w)]
    assert not extra or target.allow_extra_args or isinstance(target, click.Group), (
        f"{' '.join(path)}: unexpected extra arguments {extra}"
    )
    if "--help" in rest or "-h" in rest:
        return
    for param in order:
        _check_value(ctx, param, values[param.name], path)
    if not inline:  # an inline span may name only the option it talks about
        missing = [
            p.human_readable_name
            for p in target.get_params(ctx)
            if p.required and p.name not in values
        ]
        assert not missing, f"{' '.join(path)}: missing required {missing}"


def _descendants(command: click.Command) -> list[click.Command]:
    if not isinstance(command, click.Group):
        return [command]
    return [command, *(c for sub in command.commands.values() for c in _descendants(sub))]


def _check_value(ctx: click.Context, param: click.Parameter, raw: object, path: list[str]) -> None:
    if isinstance(param.type, click.Path | click.File):
        return  # the docs may name a file or directory before it exists
    if isinstance(param, click.Option) and param.is_flag:
        return
    raws = raw if isinstance(raw, list | tuple) else [raw]
    for value in raws:
        if not isinstance(value, str) or _placeholder(value):
            continue
        for alternative in value.split("|") if "|" in value else [value]:
            try:
                param.type.convert(alternative, param, ctx)
            except click.ClickException as exc:
                raise AssertionError(
                    f"{' '.join(path)} {param.human_readable_name}: {exc.format_message()}"
                ) from None


COMMANDS: list[DocCommand] = [c for doc in DOCS for c in doc_commands(doc)]


def _case(command: DocCommand) -> object:
    reason = KNOWN_BROKEN.get((command.file, command.text))
    marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
    return pytest.param(command, id=f"{command.file}:{command.line}", marks=marks)


def test_the_docs_quote_commands() -> None:
    files = {c.file for c in COMMANDS}
    assert {"README.md", "docs/studies.md", "docs/live.md", "docs/training.md"} <= files
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("command", [_case(c) for c in COMMANDS])
def test_quoted_command_parses(command: DocCommand, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # quoted scenario paths are relative to the checkout
    try:
        check_command(command)
    except AssertionError as exc:
        raise AssertionError(f"{command}\n  {exc}") from None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("govsim run covenant_2026 --polcy sudo", "No such option"),
        ("govsim run covenant_2026 --seed", "requires an argument"),
        ("govsim run covenant_2026 extra", "unexpected extra arguments"),
        ("govsim run no_such_scenario_anywhere", "no_such_scenario_anywhere"),
        ("govsim live coordinator --port 8765", "has no command 'coordinator'"),
        ("govsim compare covenant_2026 --executor threads", "--executor 'threads'"),
        ("govsim compare covenant_2026 --mode fast", "fast"),
        ("govsim ground-truth --config cpu-tiny|cpu-huge --out DIR", "cpu-huge"),
        ("govsim live serve --port 8765", "missing required"),
        ("govsim yuma ... --fast", "no option ['--fast']"),
        ("govsim run --set horizon_days=10", "No such option '--set'"),
    ],
)
def test_the_check_catches_wrong_commands(
    text: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(AssertionError, match=re.escape(problem)):
        check_command(DocCommand("x.md", 1, text, inline=False))


@pytest.mark.parametrize(
    "text",
    [
        "govsim run SCENARIO [--policy P] [--seed N] [--out DIR]",
        "govsim COMMAND --help",
        "govsim compare|sweep|report|resume|replay",
        "govsim compare --entropy",
        "govsim yuma replay FILE [--exact|--float] [--table]",
        "govsim ground-truth --config cpu-tiny|cpu-small|gpu-small --rounds N --out DIR",
        "govsim compare scenarios/covenant_2026.toml --executor dask://<scheduler-host>:8786",
    ],
)
def test_schematic_lines_pass(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    check_command(DocCommand("x.md", 1, text, inline=True))


def test_code_blocks_join_continuations_and_drop_comments_and_pipes(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "Run `govsim run SCENARIO` or:\n\n```bash\nOMP_NUM_THREADS=1 govsim compare a.toml \\\n"
        "    --seeds 2   # two seeds\ngovsim report out/a | tee log\necho govsim\n```\n"
        "then `govsim resume\nSTUDY`.\n"
    )
    found = [(c.text, c.inline, c.line) for c in doc_commands(doc, tmp_path)]
    assert found == [
        ("govsim run SCENARIO", True, 1),
        ("govsim compare a.toml --seeds 2", False, 4),
        ("govsim report out/a", False, 6),
        ("govsim resume STUDY", True, 9),
    ]


# -- help texts --------------------------------------------------------------------------------
#: What a help text must not cite: section signs, specification files users do not have
#: (the specification files named below, or ``yuma.md`` without ``docs/``), issue numbers.
_UNSHIPPED_CITATION = re.compile(
    r"\N{SECTION SIGN}|\bspec\b|(?<!docs/)\b(engine|coinbase|governance|yuma|training)\.md\b"
    r"|\bissue\s*#?\d+",
    re.IGNORECASE,
)


def _help_texts() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []

    def visit(command: click.Command, path: list[str], parent: click.Context | None) -> None:
        ctx = click.Context(command, info_name=path[-1], parent=parent)
        out.append((" ".join(path), command.get_help(ctx)))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                visit(sub, [*path, name], ctx)

    visit(main, ["govsim"], None)
    return out


def test_help_texts_cite_only_what_users_have() -> None:
    texts = _help_texts()
    assert len(texts) >= 15 and any(path == "govsim live serve" for path, _ in texts)
    bad = {
        path: m.group(0)
        for path, text in texts
        if (m := _UNSHIPPED_CITATION.search(" ".join(text.split())))
    }
    assert not bad, f"help texts citing documents users do not have: {bad}"
    spec_file = "engine" + ".md"  # spelled apart so a repository grep for citations stays clean
    assert _UNSHIPPED_CITATION.search(f"see {spec_file} \N{SECTION SIGN}3 and issue 5")
    assert not _UNSHIPPED_CITATION.search("see docs/yuma.md and docs/training.md")


# -- numbers the README states -----------------------------------------------------------------
def test_readme_counts_and_ports_match_the_code() -> None:
    from protocol.governance import POLICIES
    from sim.live import DEFAULT_PORT

    readme = (REPO / "README.md").read_text()
    counts = {int(n) for n in re.findall(r"\b(\d+) (?:governance )?policies\b", readme)}
    assert counts == {len(POLICIES.names())}, counts
    ports = {int(p) for p in re.findall(r"\bport (\d+)", readme)}
    assert ports == {DEFAULT_PORT}, ports
