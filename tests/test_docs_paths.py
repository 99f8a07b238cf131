"""Every file or folder docs/architecture.md names exists in the repository.

A newcomer follows that page to the file to touch, so a path there that a refactor moved is a
wrong turn. Checked: every inline code span that looks like a path (no spaces, and a ``/`` or a
file extension: `sim/desks/shocks.py`, `protocol/yuma/`, `app.py`), relative to the repository
root, and every relative markdown link target, relative to the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES: tuple[Path, ...] = (REPO / "docs" / "architecture.md",)

_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
_EXTENSIONS = (".py", ".md", ".toml", ".json", ".j2", ".sh", ".txt", ".cfg", ".html")
#: Characters that make a span code or a placeholder rather than a path.
_NOT_A_PATH = re.compile(r"[\s<>*{}=(),\"'|:]")


def _outside_fences(text: str) -> str:
    """The page without its fenced code blocks (examples may name files that do not exist)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def path_spans(text: str) -> list[str]:
    """Inline code spans of ``text`` that name a file or a folder."""
    out = []
    for span in _SPAN.findall(_outside_fences(text)):
        if _NOT_A_PATH.search(span) or span.startswith(("-", ".")):
            continue
        if "/" in span or span.endswith(_EXTENSIONS):
            out.append(span)
    return out


def link_targets(text: str) -> list[str]:
    """Relative link targets of ``text`` (web addresses left out)."""
    return [t for t in _LINK.findall(_outside_fences(text)) if "://" not in t]


def _cases() -> list[object]:
    cases = []
    for page in PAGES:
        text = page.read_text()
        name = page.relative_to(REPO).as_posix()
        cases += [pytest.param(REPO / span, id=f"{name}:{span}") for span in path_spans(text)]
        cases += [
            pytest.param((page.parent / t).resolve(), id=f"{name}:({t})")
            for t in link_targets(text)
        ]
    return cases


CASES = _cases()


def test_the_page_names_paths() -> None:
    assert len(CASES) > 60


@pytest.mark.parametrize("path", CASES)
def test_named_path_exists(path: Path) -> None:
    assert path.exists(), f"{path.relative_to(REPO)} does not exist"


def test_the_scan_finds_paths_and_skips_code() -> None:
    text = (
        "Add `sim/new_room.py` and `protocol/yuma/`, run `app.py`; not `sim.run`, "
        '`backend="auto"/"torch"`, `a -> b`, `<study>/`, `--out DIR` or `docs/*.md`; '
        "see [the model](model.md) and [web](https://example.org/x.md).\n"
        "```bash\ncat `not/a/span.py`\n```\n"
    )
    assert path_spans(text) == ["sim/new_room.py", "protocol/yuma/", "app.py"]
    assert link_targets(text) == ["model.md"]
