"""HTTP helpers for the review app tests: log in like a browser, read the CSRF token of a page."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .review_data import PASSWORDS

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def log_in(client: TestClient, user: str, password: str | None = None) -> str:
    """Log in through the form; returns the CSRF token of the new session."""
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": token, "username": user,
                                           "password": password or PASSWORDS[user], "suivant": "/queue"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/queue").text)
