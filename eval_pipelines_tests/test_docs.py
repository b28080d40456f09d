"""The documentation: the site builds strictly (no broken link, no missing page), the commands it shows exist
with the flags it gives them, and it describes the project as it is, not how it came to be."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from eval_pipelines.cli import build_parser
from eval_pipelines.configuration import SETTINGS
from eval_pipelines.judge.rubrics import Rubric

PROJECT = Path(__file__).resolve().parents[1]
DOCUMENTS = [PROJECT / "README.md", PROJECT / "deploy" / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
# How a development log talks; documents say how the project works now.
NARRATION = re.compile(r"\b(?:stop \d+|this stop|earlier stops?|since stop|previous sessions?|measured when|"
                       r"used to be|before this change|no longer does)\b", re.IGNORECASE)
OUTSIDE = re.compile(r"\.\./shared|DESIGN\.md|FIELD-NOTES|\]\(\.\./\.\./")
COMMAND = re.compile(r"(?<!-n )(?<![\w/.-])(?:\.venv/bin/)?eval-pipelines ([^#|&;`\n]*)")


def test_the_site_builds_strictly_with_its_generated_reference(tmp_path):
    site = tmp_path / "site"
    built = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(site)],
                           cwd=PROJECT, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    tables = (site / "reference" / "tables" / "index.html").read_text()
    assert "judge_calibration_scores" in tables and "partitioned by" in tables.lower()
    definitions = (site / "reference" / "definitions" / "index.html").read_text()
    assert "hourly_evaluation_job" in definitions and "landing_sensor" in definitions
    assert "max_future_skew_hours" in (site / "reference" / "configuration" / "index.html").read_text()
    assert "export-evaluations" in (site / "reference" / "cli" / "index.html").read_text()


def test_every_settings_field_says_what_it_does():
    sys.path.insert(0, str(PROJECT / "docs" / "hooks"))
    try:
        from reference import models_within
    finally:
        sys.path.remove(str(PROJECT / "docs" / "hooks"))
    undocumented = [f"{model.__name__}.{name}" for root in [*(entry.model for entry in SETTINGS), Rubric]
                    for model in models_within(root)
                    for name, field in model.model_fields.items() if not field.description]
    assert not undocumented


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(PROJECT)))
def test_documents_describe_the_project_as_it_is(document):
    text = document.read_text()
    assert not NARRATION.findall(text), NARRATION.findall(text)
    assert not OUTSIDE.findall(text), OUTSIDE.findall(text)


def shown_commands() -> list[tuple[str, str]]:
    """``eval-pipelines …`` as the documents show it in shell code blocks, with the document's name."""
    found = []
    for document in DOCUMENTS:
        blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", document.read_text(), re.DOTALL)
        found += [(document.name, match.strip()) for block in blocks
                  for match in COMMAND.findall(block.replace("\\\n", " "))]
    return found


def test_the_commands_shown_exist_with_their_flags():
    commands = shown_commands()
    assert len(commands) >= 10
    for document, command in commands:
        try:
            build_parser().parse_args(shlex.split(command))
        except SystemExit as exit:  # --help exits 0
            assert exit.code == 0, f"{document}: eval-pipelines {command} is not a valid command line"


def test_the_readmes_links_lead_to_files_of_the_repository():
    links = re.findall(r"\]\(([^)#]+)\)", (PROJECT / "README.md").read_text())
    local = [link for link in links if not link.startswith("https://")]
    assert local and all((PROJECT / link).is_file() for link in local), local
