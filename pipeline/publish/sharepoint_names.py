"""SharePoint's naming rules on top of the shared `safe_name`.

SharePoint Online refuses `" * : < > ? / \\ |`, leading or trailing spaces
and dots, reserved device names, `_vti_` anywhere and names starting with
`~$`; on-premises versions also refuse `~ # % & { }` and leaf names over 128
characters. The whole decoded path (site, library, folders, name) must stay
within 400 characters. `safe_name` already replaces every one of those
characters, so here we add the case-insensitive `_vti_` rule, the `forms`
folder at a library's root, and the length budgets.
"""
from __future__ import annotations

import re

from . import PublishError, safe_name

MAX_PATH = 400
MAX_LEAF = 128
EXTENSION = ".pdf"
SUFFIX_ROOM = len(" (999)")
VTI = re.compile("_vti_", re.I)


def clean(name: str, max_length: int = MAX_LEAF) -> str:
    cleaned = safe_name(VTI.sub("-vti-", name), max_length=max_length)
    return VTI.sub("-vti-", cleaned)


def folder_segments(folder: str) -> list[str]:
    """'Courrier entrant/2026/03' → cleaned segments; 'forms' is reserved at a library's root."""
    segments = [clean(part) for part in folder.split("/") if part.strip()]
    if segments and segments[0].lower() == "forms":
        segments[0] = "_forms"
    return segments


def base_name(title: str, folder_url: str) -> str:
    """A readable base name that leaves room for ' (n).pdf' inside both length limits."""
    budget = min(MAX_LEAF, MAX_PATH - len(folder_url) - 1) - len(EXTENSION) - SUFFIX_ROOM
    if budget < 16:
        raise PublishError("sharepoint-path-too-long", transient=False, folder=folder_url, limit=MAX_PATH)
    return clean(title, max_length=budget)


def candidate(base: str, index: int) -> str:
    """The index-th name to try on a clash: 'x.pdf', 'x (2).pdf', 'x (3).pdf'…"""
    return f"{base}{EXTENSION}" if index <= 1 else f"{base} ({index}){EXTENSION}"

