"""Form values in a site's regional format, SharePoint names, and Retry-After parsing, without a server."""
from __future__ import annotations

import email.utils
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from pipeline.publish import PublishError
from pipeline.publish.sharepoint_client import retry_after_seconds
from pipeline.publish.sharepoint_names import base_name, candidate, clean, folder_segments
from pipeline.publish.sharepoint_schema import Column, Regional, form_value, parse_instant

FR = Regional(date_format=1, date_separator="/", decimal_separator=",", time24=True)
US = Regional()
ISO = Regional(date_format=2, date_separator="-", decimal_separator=".", time24=True)


def column(kind: str, date_only: bool = False) -> Column:
    return Column("k", "Titre", "K", kind, date_only=date_only)


def test_dates_follow_the_site_and_are_sent_in_utc():
    received = "2026-03-12T09:14:00+01:00"
    assert form_value(column("DateTime"), received, FR) == "12/03/2026 08:14"
    assert form_value(column("DateTime"), received, US) == "03/12/2026 8:14 AM"
    assert form_value(column("DateTime"), "2026-03-12T21:05:00+00:00", US) == "03/12/2026 9:05 PM"
    assert form_value(column("DateTime"), received, ISO) == "2026-03-12 08:14"
    assert form_value(column("DateTime", date_only=True), "2026-03-10", FR) == "10/03/2026"
    assert form_value(column("DateTime"), "not a date", FR) == ""
    assert form_value(column("Text"), "2026-03-10", FR) == "2026-03-10"


def test_bare_dates_keep_their_day_and_naive_times_are_local():
    assert parse_instant("2026-03-10") == datetime(2026, 3, 10, tzinfo=timezone.utc)
    naive = datetime(2026, 3, 12, 9, 14)
    assert parse_instant(naive.isoformat()) == naive.astimezone().astimezone(timezone.utc)
    assert parse_instant(None) is None


def test_numbers_booleans_lists_and_text():
    assert form_value(column("Number"), 0.873, FR) == "0,873"
    assert form_value(column("Number"), 0.873, US) == "0.873"
    assert form_value(column("Number"), 2, FR) == "2"
    assert form_value(column("Number"), None, FR) == ""
    assert form_value(column("Boolean"), True, FR) == "1" and form_value(column("Boolean"), False, FR) == "0"
    assert form_value(column("Note"), ["RD 12", "PR 4"], FR) == "RD 12; PR 4"
    long = form_value(column("Text"), "x" * 400, FR)
    assert len(long) == 255 and long.endswith("…")
    assert len(form_value(column("Note"), "x" * 400, FR)) == 400
    assert form_value(column("Text"), "a\n  b", FR) == "a b"


def test_names_follow_sharepoint_rules():
    assert clean(" a_VTI_b:c. ") == "a-vti-b-c"
    assert folder_segments("Forms/_vti_x/2026/") == ["_forms", "-vti-x", "2026"]
    assert candidate("Lettre", 1) == "Lettre.pdf" and candidate("Lettre", 3) == "Lettre (3).pdf"


def test_base_name_leaves_room_for_the_suffix_within_both_limits():
    folder = "/sites/courrier/" + "d" * 300
    name = base_name("x" * 300, folder)
    assert len(folder) + 1 + len(name) + len(" (999).pdf") <= 400
    assert len(base_name("y" * 300, "/sites/c")) + len(" (999).pdf") <= 128
    with pytest.raises(PublishError) as caught:
        base_name("z", "/sites/courrier/" + "d" * 380)
    assert not caught.value.transient


def test_retry_after_in_seconds_or_as_a_date():
    def answer(value):
        return SimpleNamespace(headers={"Retry-After": value} if value is not None else {})

    assert retry_after_seconds(answer("120")) == 120.0
    when = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds(answer(when)) <= 31
    assert retry_after_seconds(answer(None)) is None and retry_after_seconds(answer("soon")) is None
    assert retry_after_seconds(None) is None
