"""The one long-lived service that the CLI, the watcher and the review app share.

It owns the store, the stage context (with the publisher and its caches, made
once and kept between decisions), the supervisors' decisions and, when work is
submitted, the coordinator with its executor.
"""
from __future__ import annotations

from .config import Config
from .coordinator import Coordinator
from .decisions import Decisions
from .executor import make_executor
from .records import Document
from .stages import StageContext
from .store import Store


class MailroomService:
    def __init__(self, config: Config, store: Store | None = None, workers: int | None = None):
        self.config = config
        if store is None:
            config.home.mkdir(parents=True, exist_ok=True)
            store = Store(config.database_path)
        self.store = store
        self.context = StageContext(config, store)
        self.decisions = Decisions(self.context)
        self._workers = workers
        self._coordinator: Coordinator | None = None

    @property
    def coordinator(self) -> Coordinator:
        if self._coordinator is None:
            self._coordinator = Coordinator(self.context, make_executor(self.config, self._workers))
        return self._coordinator

    @property
    def publisher(self):
        return self.context.publisher

    def decide(self, document_id: str, category: str, fields: dict, actor: str) -> Document:
        return self.decisions.decide(document_id, category, fields, actor)

    def reject(self, document_id: str, reason: str, actor: str) -> Document:
        return self.decisions.reject(document_id, reason, actor)

    def close(self, wait: bool = True) -> None:
        if self._coordinator is not None:
            self._coordinator.shutdown(wait_for_running=wait)
