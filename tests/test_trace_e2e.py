"""The reliable copy through the whole chain: a real scan processed with [trace] enabled."""
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.ocr.pdfa import check_pdfa
from tests.support.service import REPO, mailroom, write_test_config
from tests.support.tsa import LocalTsa


@pytest.mark.slow
def test_a_processed_letter_is_pdfa_timestamped_verifiable_and_has_its_proof(home, tmp_path, capsys):
    tsa = LocalTsa(tmp_path / "tsa")
    try:
        path = write_test_config(home)
        text = path.read_text(encoding="utf-8")
        text = text.replace("enabled = false             # true:", "enabled = true             # true:")
        text = text.replace('tsa_url = ""', f'tsa_url = "{tsa.url}"').replace('tsa_ca_file = ""',
                                                                             f'tsa_ca_file = "{tsa.ca_file}"')
        path.write_text(text, encoding="utf-8")
        report = tmp_path / "report.jsonl"
        scan = REPO / "samples" / "scans" / "2026-02-12_routes_boscherville.pdf"
        result = mailroom(home, "process", str(scan), "--report", str(report))
        assert result.returncode == 0, result.stderr
        [line] = [json.loads(x) for x in report.read_text().splitlines()]
        assert line["status"] == "published"
        assert set(line["timestamp"]) == {"time", "serial", "token"}
        published = Path(line["destination"])
        assert check_pdfa(published) == []  # PDF/A-2b is the default with [trace]
        assert tsa.openssl_verify(home / line["timestamp"]["token"], published).returncode == 0

        capsys.readouterr()
        assert main(["--home", str(home), "verify"]) == 0 and capsys.readouterr().out == ""
        out = tmp_path / "preuve.zip"
        assert main(["--home", str(home), "proof", line["id"], "--out", str(out)]) == 0
        folder = tmp_path / "preuve"
        zipfile.ZipFile(out).extractall(folder)
        assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder).returncode == 0
        context = json.loads((folder / "contexte-numerisation.json").read_text())
        assert context["pdfa_2b"] is True and context["images"][0]["dpi"] >= 150
        assert context["ocr"]["confiance_moyenne"] and context["ocr"]["pages"]
    finally:
        tsa.stop()
