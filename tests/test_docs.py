"""The documentation holds together: every relative link and `#anchor` in the repository's tracked Markdown resolves
(anchors as GitHub slugs its headings), and every study folder under results/ has a README naming the command that
made it, so a page moved or a heading renamed breaks a test, not a reader's path through the docs."""
import posixpath
import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
MADE_BY = ("python -m benchmark", "make ", "python examples/")


def tracked(pattern: str | None = None) -> list[str]:
    """Files git tracks (a .venv, run folders and anything else untracked stay out)."""
    args = ["git", "ls-files", "-z"] + ([pattern] if pattern else [])
    out = subprocess.run(args, cwd=ROOT, capture_output=True, check=True).stdout.decode()
    return [p for p in out.split("\0") if p]


def prose_lines(text: str):
    """The lines outside fenced code blocks, with inline code blanked (a link in code is an example, not a link)."""
    fenced = False
    for line in text.split("\n"):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield re.sub(r"`[^`]*`", lambda m: "`" + " " * (len(m.group()) - 2) + "`", line)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its rendered text lower-cased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading renders as its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (repeats numbered -1, -2, ...) and HTML anchors."""
    found, seen = set(), {}
    fenced = False
    for line in text.split("\n"):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def relative_links(text: str) -> list[str]:
    """The targets of a Markdown text's inline, image and reference links, less those with a scheme (http(s), mailto)."""
    targets = [t for line in prose_lines(text) for t in INLINE_LINK.findall(line) + REFERENCE_LINK.findall(line)]
    return [t for t in targets if t and not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def broken_links(root: Path, md_files: list[str], known: set[str]) -> list[str]:
    """`file: target (why)` for each relative link of `md_files` (paths under `root`) that does not resolve to a
    file in `known` (or a folder holding one), or whose `#anchor` its target Markdown file does not define."""
    folders = {str(parent) for f in known for parent in PurePosixPath(f).parents}
    broken = []
    for md in md_files:
        for target in relative_links((root / md).read_text(encoding="utf-8")):
            path, _, anchor = target.partition("#")
            if path:
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(md), path))
                if resolved not in known and resolved not in folders:  # outside the repository too
                    broken.append(f"{md}: {target} (no such tracked file)")
                    continue
                target_md = resolved
            else:
                target_md = md
            if anchor and target_md.endswith(".md"):
                if anchor not in anchors((root / target_md).read_text(encoding="utf-8")):
                    broken.append(f"{md}: {target} (no heading with anchor #{anchor} in {target_md})")
    return broken


def test_every_relative_link_and_anchor_in_the_docs_resolves():
    md_files = tracked("*.md")
    assert "README.md" in md_files and "docs/usage.md" in md_files  # the check reads the real docs
    checked = [t for md in md_files for t in relative_links((ROOT / md).read_text(encoding="utf-8"))]
    assert len(checked) >= 80 and sum("#" in t for t in checked) >= 20  # links and anchors were found to check
    assert broken_links(ROOT, md_files, set(tracked())) == []


def test_every_results_folder_has_a_readme_naming_the_command_that_made_it():
    files = tracked("results/*")
    studies = sorted({PurePosixPath(f).parts[1] for f in files if len(PurePosixPath(f).parts) > 2})
    assert len(studies) >= 10  # the committed studies are where this looks
    missing = [s for s in studies if f"results/{s}/README.md" not in files]
    assert missing == [], "results folders without a README.md"
    silent = [s for s in studies
              if not any(cmd in line for line in (ROOT / "results" / s / "README.md").read_text(encoding="utf-8")
                         .split("\n") for cmd in MADE_BY)]
    assert silent == [], f"results READMEs that name no command that made them (one of {MADE_BY})"


def test_the_link_check_finds_a_broken_link_and_a_broken_anchor(tmp_path):
    """The check can fail: a missing file, a missing heading, an untracked file and a link out of the repository are
    reported; a good link, a good anchor, a repeated heading's -1 anchor and links in code are not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Top\n## The `minilm` learner, and *precision*\n## Twice\n## Twice\n"
        "[ok](docs/page.md#a-heading) [ok](#the-minilm-learner-and-precision) [ok](#twice-1) [ok](docs/)\n"
        "[gone](docs/gone.md) [bad anchor](docs/page.md#no-such) [untracked](docs/scratch.md) [out](../x.md)\n"
        "[web](https://example.org/#x) `[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n", encoding="utf-8")
    (tmp_path / "docs" / "page.md").write_text("# A heading\n[back](../README.md#top)\n", encoding="utf-8")
    (tmp_path / "docs" / "scratch.md").write_text("# scratch\n", encoding="utf-8")
    known = {"README.md", "docs/page.md"}
    assert broken_links(tmp_path, ["README.md", "docs/page.md"], known) == [
        "README.md: docs/gone.md (no such tracked file)",
        "README.md: docs/page.md#no-such (no heading with anchor #no-such in docs/page.md)",
        "README.md: docs/scratch.md (no such tracked file)",
        "README.md: ../x.md (no such tracked file)",
    ]


@pytest.mark.parametrize("heading, expected", [
    ("The `minilm` learner and `precision`", "the-minilm-learner-and-precision"),
    ("Every run behind a table, and studies that span machines", "every-run-behind-a-table-and-studies-that-span-machines"),
    ("Imbalanced data: `class_weight`", "imbalanced-data-class_weight"),
    ("The demo's leaderboard", "the-demos-leaderboard"),
    ("1. The interface", "1-the-interface"),
])
def test_anchors_are_github_slugs(heading, expected):
    assert slug(heading) == expected
