from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config, to_toml_dict


def write(home: Path, text: str) -> Path:
    path = home / "mailroom.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_defaults_load(home):
    config = load_config(home)
    assert config.classify.threshold == pytest.approx(0.80)
    assert config.publish.backend == "local"
    assert "routes" in config.categories and config.categories["autre"].always_review
    assert config.library_dir == home.resolve() / "library"
    assert config.all_inboxes()[0].path == home.resolve() / "inbox"


def test_home_file_is_merged_over_defaults(home):
    write(home, '[classify]\nthreshold = 0.9\n[watch]\nsettle_seconds = 1\n')
    config = load_config(home)
    assert config.classify.threshold == 0.9
    assert config.watch.settle_seconds == 1.0 and isinstance(config.watch.settle_seconds, float)
    assert config.ocr.languages == "fra+eng"  # untouched keys keep their default


@pytest.mark.parametrize("text, key", [
    ("[classify]\nthreshold = 'high'\n", "classify.threshold"),
    ("[classify]\nthreshold = 1.5\n", "classify.threshold"),
    ("[classify]\nthreshhold = 0.5\n", "classify.threshhold"),
    ("[ocr]\noutput = 'sepia'\n", "ocr.output"),
    ("[split]\nmode = 'pages:0'\n", "split.mode"),
    ("[publish]\nbackend = 'ftp'\n", "publish.backend"),
    ("[publish]\nbackend = 'sharepoint'\n", "sharepoint.site_url"),
    ("[categories.routes]\nlabel = 'Routes'\n", "categories.routes.library"),
    ("[[inboxes]]\npolling = true\n", "inboxes[0].path"),
    ("[[inboxes]]\npath = '/x'\nsplit = 'sometimes'\n", "inboxes[0].split"),
    ("[nonsense]\nx = 1\n", "[nonsense]"),
])
def test_errors_name_the_file_and_key(home, text, key):
    path = write(home, text)
    with pytest.raises(ConfigError) as error:
        load_config(home)
    assert key in str(error.value) and str(path) in str(error.value)


def test_categories_are_data_and_replace_the_defaults(home):
    write(home, "[categories.courrier]\nlabel = 'Courrier'\nlibrary = 'Courrier'\n"
                "[categories.autre]\nlabel = 'Autre'\nlibrary = 'Autre'\nalways_review = true\n")
    config = load_config(home)
    assert set(config.categories) == {"courrier", "autre"}


def test_invalid_toml_is_reported(home):
    write(home, "[classify\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(home)


def test_explicit_config_file_and_secrets_masked(tmp_path, home):
    config_file = tmp_path / "other.toml"
    config_file.write_text("[sharepoint]\nsite_url = 'https://x.sharepoint.com/sites/c'\nthumbprint = 'ABCDEF'\n"
                           "key_file = '/etc/mailroom/key.pem'\n", encoding="utf-8")
    config = load_config(home, config_file)
    assert config.source == str(config_file)
    shown = to_toml_dict(config)
    assert shown["sharepoint"]["thumbprint"] == "***" and shown["sharepoint"]["key_file"] == "***"
    assert shown["sharepoint"]["site_url"] == "https://x.sharepoint.com/sites/c"
