"""Registration numbers: one sequence per year in the store, allocated in the order scans were claimed."""
from __future__ import annotations

from ..config import Config
from ..store import Store
from .deadlines import arrival_date


def year_of(received_at: str) -> int:
    return arrival_date(received_at).year


def register_pending(config: Config, store: Store) -> list[str]:
    """The registration transition: number every letter whose turn has come (see Store.register_pending)."""
    return store.register_pending(config.registration.number_format, year_of)
