"""The README stays a short entry point: every page under docs/ is one link away, and the
links it and the pages give to files of this repository lead somewhere."""

from __future__ import annotations

import re

from workflow_helpers import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 250
# Markdown links to files of this repository: [text](path), not to the web or an anchor.
LOCAL_LINK = re.compile(r"\]\((?!https?://|#)([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: move sections whole to a page under docs/"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / link).resolve() for link in LOCAL_LINK.findall(README.read_text())}
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "no pages under docs/"
    assert [page.name for page in pages if page.resolve() not in linked] == []


def test_the_local_links_of_the_readme_and_the_pages_name_existing_files_or_pages():
    missing = []
    for document in [README, *sorted(DOCS.glob("*.md"))]:
        for link in LOCAL_LINK.findall(document.read_text()):
            target = (document.parent / link).resolve()
            if not target.exists():
                missing.append(f"{document.relative_to(REPO)} -> {link}")
    assert missing == [], missing
