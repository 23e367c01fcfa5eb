"""The words people read come from one catalogue, keyed by stable codes (pipeline/messages.py)."""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from pipeline.errors import BadInput, DecisionError, PublishError, TesseractFailed, WorkerLost
from pipeline.messages import TEXTS, reason, say, say_reason

PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"
RAISED = re.compile(r"\b(?:BadInput|TesseractFailed|DecisionError|PoisonPage|MessageTooLarge|PublishError"
                    r"|SharePointFailure|AuthenticationFailed)\(\s*\"([a-z-]+)\"")
RECORDED = re.compile(r"\breason\(\s*\"([a-z-]+)\"")


def codes_in_the_code() -> set[str]:
    found = set()
    for path in PIPELINE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= set(RAISED.findall(text)) | set(RECORDED.findall(text))
    return found


def test_every_code_raised_or_recorded_has_its_words():
    codes = codes_in_the_code()
    assert len(codes) > 50  # the scan itself works
    assert sorted(code for code in codes if code not in TEXTS) == []
    from pipeline.publish.sharepoint_auth import AADSTS
    assert all(f"aadsts-{code}" in TEXTS for code in AADSTS)


def test_every_text_renders_with_the_parameters_its_code_is_given():
    for code, template in TEXTS.items():
        params = {name: 1 for name in re.findall(r"{(\w+)", template)}
        assert "[" + code not in say(code, **params), code


def test_errors_carry_a_code_and_facts_and_are_said_when_asked():
    error = BadInput("pdf-pages-missing", declared=5, count=3)
    assert error.code == "pdf-pages-missing" and error.params == {"declared": 5, "count": 3}
    assert str(error) == error.reason == ("le PDF est endommagé : il annonce 5 pages mais 3 sont lisibles ; "
                                          "relancer la numérisation pour ne perdre aucune page")
    copy = pickle.loads(pickle.dumps(error))  # what a process pool sends back
    assert type(copy) is BadInput and copy.to_dict() == error.to_dict() and str(copy) == str(error)
    failed = pickle.loads(pickle.dumps(PublishError("sharepoint-not-ready", transient=False, problems="x")))
    assert failed.transient is False and failed.code == "sharepoint-not-ready"
    assert TesseractFailed("tesseract-missing").reason == "Tesseract n'est pas installé sur le serveur"
    assert str(WorkerLost("BrokenProcessPool")) == "un processus de traitement s'est arrêté brutalement (BrokenProcessPool)"
    refused = DecisionError("already-decided", by="claire", at="2026-05-13T09:05:00+02:00", state="routed")
    assert (refused.by, refused.at) == ("claire", "2026-05-13T09:05:00+02:00")
    assert str(refused) == "Ce courrier a déjà été traité par claire (état : routed)"


def test_review_reasons_are_codes_said_at_the_edge():
    recorded = reason("low-confidence", confidence=41.2, threshold=80.0)
    assert recorded == {"code": "low-confidence", "confidence": 41.2, "threshold": 80.0}
    assert say_reason(recorded) == "Confiance insuffisante : 41 % (seuil 80 %)"
    assert say_reason("raison écrite avant les codes") == "raison écrite avant les codes"  # an older database
    with pytest.raises(ValueError):
        reason("no-such-code")
