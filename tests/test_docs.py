"""The README is a front page whose links resolve, and its Quickstart is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "benchmarks" / "README.md",
         *sorted((REPO / "docs").glob("*.md"))]
# The Quickstart's main job, as the brief gives it: it must not change.
MAIN_JOB = ("pip install torch==2.13.0 -e . && fashionlab demo --data-dir "
            "../shared/data/fashion-mnist --air-quality-dir ../shared/data/air-quality")

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text without fenced blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "code", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+?)\s*$", text, flags=re.M)}


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text()))
            if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_at_an_existing_file(page):
    links = relative_links(page)
    broken = []
    for target in links:
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(target)
    assert page.is_file() and not broken, f"{page.name}: broken links {broken}"


def test_the_pages_link_to_each_other():
    # the README reaches every docs page through docs/results.md or directly
    readme = relative_links(REPO / "README.md")
    assert "docs/results.md" in readme and "benchmarks/README.md" in readme
    results = {link.partition("#")[0] for link in relative_links(REPO / "docs" / "results.md")}
    others = {p.name for p in PAGES if p.parent == REPO / "docs" and p.name != "results.md"}
    assert others and others <= results


def test_the_readme_is_a_front_page_of_at_most_200_lines():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines"


def test_the_quickstart_holds_the_main_job_and_the_test_command_ci_runs():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    test_command = ci[ci.index("# The README's test command:") + 1].strip()
    assert test_command.startswith("pip install torch==2.13.0 -e")
    readme = (REPO / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)\n```", quickstart, flags=re.M | re.S)
    assert blocks == [MAIN_JOB, test_command]
