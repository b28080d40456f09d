import subprocess
import sys
from pathlib import Path

from eval_pipelines.configuration import SETTINGS, check_settings


def test_every_packaged_default_passes_its_own_checks(monkeypatch):
    for entry in SETTINGS:
        monkeypatch.delenv(entry.file.env_var, raising=False)
    assert [(c.file.name, c.problem) for c in check_settings() if c.problem] == []
    assert {c.path for c in check_settings()} == {entry.file.packaged() for entry in SETTINGS}


def test_check_settings_names_each_broken_copy_with_its_line_and_fails(tmp_path):
    judge = tmp_path / "judge.yaml"
    judge.write_text("sampling:\n  per_hour: 120\nrubrics:\n  tone: ['*']\n")
    review = tmp_path / "review.yaml"
    review.write_text("per_day: 10\nreasons:\n  gut_feeling: 1\n")
    conversations = tmp_path / "conversations.yaml"
    conversations.write_text("idle_minutes: 20\nend_dimension: conversation_over\n")
    checked = subprocess.run([Path(sys.executable).parent / "eval-pipelines", "check-settings"], capture_output=True,
                             text=True, timeout=120, env={"EVAL_PIPELINES_JUDGE": str(judge),
                                                          "EVAL_PIPELINES_REVIEW": str(review),
                                                          "EVAL_PIPELINES_CONVERSATIONS": str(conversations),
                                                          "PATH": "/usr/bin:/bin"})
    assert checked.returncode == 1
    lines = checked.stdout.splitlines()
    assert f"{judge}:4: rubrics.tone: unknown rubric" in checked.stdout
    assert f"{review}:3: reasons: Value error, unknown reason(s) ['gut_feeling']" in checked.stdout
    assert f"{conversations}:2: end_dimension: 'conversation_over' is not a dimension ingestion.yaml reads" \
        in checked.stdout
    assert sum(line.startswith("ERROR") for line in lines) == 3
    assert sum(line.startswith("ok ") for line in lines) == len(SETTINGS) - 3
