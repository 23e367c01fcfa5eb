import json
import tomllib

from tests.support.service import mailroom


def test_doctor_says_everything_is_ready(home):
    result = mailroom(home, "doctor", timeout=120)
    assert result.returncode == 0, result.stdout
    for what in ("tesseract language 'fra'", "tesseract language 'osd'", "pdftoppm", "classifier model",
                 "publish target (local)"):
        assert f"ok   {what}" in result.stdout


def test_doctor_names_what_is_missing(home, tmp_path):
    (home / "mailroom.toml").write_text(f"[classify]\nmodel = '{tmp_path / 'no-model'}'\n"
                                        "[ocr]\nlanguages = 'fra+xyz'\n", encoding="utf-8")
    result = mailroom(home, "doctor", timeout=120)
    assert result.returncode == 1
    assert "FAIL tesseract language 'xyz'  → sudo apt-get install tesseract-ocr-xyz" in result.stdout
    assert "FAIL classifier model" in result.stdout and "mailroom train" in result.stdout


def test_config_show_is_valid_toml_with_secrets_masked(home):
    (home / "mailroom.toml").write_text("[sharepoint]\nthumbprint = 'CAFE'\n", encoding="utf-8")
    result = mailroom(home, "config", "show")
    assert result.returncode == 0
    shown = tomllib.loads(result.stdout)
    assert shown["sharepoint"]["thumbprint"] == "***" and "CAFE" not in result.stdout
    assert shown["categories"]["routes"]["library"] == "Routes"


def test_configuration_errors_exit_2_and_name_the_key(home):
    (home / "mailroom.toml").write_text("[classify]\nthreshold = 2\n", encoding="utf-8")
    result = mailroom(home, "status")
    assert result.returncode == 2 and "classify.threshold" in result.stderr and "mailroom.toml" in result.stderr


def test_status_on_an_empty_home_and_unknown_retry(home):
    result = mailroom(home, "status", "--json")
    data = json.loads(result.stdout)
    assert data["documents"] == {} and data["oldest_waiting"] is None and data["quarantined"] == []
    assert "nothing is waiting" in mailroom(home, "status").stdout
    result = mailroom(home, "retry", "L999999")
    assert result.returncode == 2 and "unknown" in result.stderr  # ExitCode.USAGE


def test_process_a_missing_path_is_a_clear_error(home):
    result = mailroom(home, "process", "/nonexistent/scan.pdf")
    assert result.returncode == 2 and "no such file or folder" in result.stderr
