import json

from eval_pipelines.evidently_html import save_report_html


class Snapshot:
    """What save_report_html reads of an Evidently snapshot: its page."""

    def __init__(self, page: str) -> None:
        self.page = page

    def get_html_str(self, as_iframe: bool) -> str:
        assert not as_iframe
        return self.page


def test_data_is_escaped_script_code_is_not_and_the_banner_leads_the_body(tmp_path):
    data = {"x": ["gpt</script><script>alert(1)</script>", "a<b"], "y": [1, 2]}
    page = ("<html><body class='x'>\n<script>\nfunction f(a, b) { return a < b; }\n</script>\n<script>\n"
            f"    var metric_1 = {json.dumps(data)};\n    var additional_graphs_metric_1 = {{}};\n</script>\n</body>\n")
    path = save_report_html(Snapshot(page), tmp_path / "r" / "report.html", banner="<div>banner</div>")
    written = path.read_text()
    assert written.count("</script>") == 2 and "return a < b;" in written
    (line,) = [line for line in written.splitlines() if line.startswith("    var metric_1 = ")]
    assert "<" not in line and json.loads(line.removeprefix("    var metric_1 = ").removesuffix(";")) == data
    assert written.startswith("<html><body class='x'><div>banner</div>\n")
