"""Registration through the real chain: `mailroom process` on scans, then `mailroom register`."""
from __future__ import annotations

import csv
import json
import subprocess
from datetime import date, datetime

import pytest

from tests.support.letters import write_letter_pdf
from tests.support.service import library_pdfs, mailroom, write_test_config

pytestmark = pytest.mark.slow


def test_process_registers_stamps_sets_deadlines_and_acknowledges(home, tmp_path):
    write_test_config(home)  # the bundled categories: RSA and routes acknowledge (svr)
    scans = [write_letter_pdf(tmp_path / f"scan{n}.pdf", index=n) for n in range(2)]
    report = tmp_path / "report.jsonl"
    result = mailroom(home, "process", *map(str, scans), "--report", str(report))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    year = date.today().year
    assert [line["registration"] for line in lines] == [f"{year}-A-000001", f"{year}-A-000002"]
    for line in lines:
        assert line["status"] == "published"
        assert date.fromisoformat(line["deadline"]) > datetime.fromisoformat(line["received_at"]).date()
        ack = line["acknowledgement"]
        assert ack["channel"] == "paper" and ack["state"] == "batched" and ack["sent_at"]
    batch = home / "acknowledgements" / f"{date.today().isoformat()}.pdf"
    text = subprocess.run(["pdftotext", str(batch), "-"], capture_output=True, text=True, check=True).stdout
    assert f"{year}-A-000001" in text and f"{year}-A-000002" in text and "réputée rejetée" in text
    stamped = [subprocess.run(["pdftotext", str(p), "-"], capture_output=True, text=True).stdout
               for p in library_pdfs(home)]
    assert sorted(s.split("N° ")[1][:13] for s in stamped) == [f"{year}-A-000001", f"{year}-A-000002"]
    sidecars = [json.loads(p.with_name(p.name + ".json").read_text()) for p in library_pdfs(home)]
    assert {s["registration"] for s in sidecars} == {f"{year}-A-000001", f"{year}-A-000002"}

    register = tmp_path / "registre.csv"
    result = mailroom(home, "register", "--out", str(register))
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(register.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert [row[0] for row in rows[1:]] == [f"{year}-A-000001", f"{year}-A-000002"]
    assert all(row[7] == "classé" and row[9].startswith("à poster") for row in rows[1:])
    assert mailroom(home, "register", "--out", str(tmp_path / "x.txt")).returncode == 2
