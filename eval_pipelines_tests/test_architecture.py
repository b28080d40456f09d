import subprocess
import sys

DOMAIN_MODULES = [
    "eval_pipelines.parsing.records", "eval_pipelines.parsing.assemble", "eval_pipelines.ingestion",
    "eval_pipelines.landing", "eval_pipelines.lake", "eval_pipelines.validation.rules",
    "eval_pipelines.validation.suite", "eval_pipelines.settings", "eval_pipelines.demo.traffic",
    "eval_pipelines.inspection", "eval_pipelines.standin.server", "eval_pipelines.evaluators",
    "eval_pipelines.evaluators.summary", "eval_pipelines.feedback", "eval_pipelines.judge.sampling",
    "eval_pipelines.judge.run", "eval_pipelines.judge.summary", "eval_pipelines.standin.judge",
    "eval_pipelines.evaluation_export", "eval_pipelines.markdown", "eval_pipelines.calibration",
    "eval_pipelines.calibration.labels", "eval_pipelines.calibration.report", "eval_pipelines.monitoring.slis",
    "eval_pipelines.monitoring.drift", "eval_pipelines.monitoring.dashboard", "eval_pipelines.monitoring.rules",
    "eval_pipelines.review.queue", "eval_pipelines.review.golden", "eval_pipelines.review.export",
    "eval_pipelines.offline.files", "eval_pipelines.offline.evaluation", "eval_pipelines.offline.divergence",
    "eval_pipelines.demo.reviewers", "eval_pipelines.jsonl", "eval_pipelines.evidently_html",
    "eval_pipelines.receiver.server", "eval_pipelines.demo.app", "eval_pipelines.landing_stores",
    "eval_pipelines.shared_files", "eval_pipelines.conventions",
]


def test_domain_modules_import_no_dagster():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in DOMAIN_MODULES)
            + "print(sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
