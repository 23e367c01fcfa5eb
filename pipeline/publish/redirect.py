"""Agents send misrouted mail back: « Réorienter vers » in SharePoint, `<file>.reorienter` locally.

A remote agent who finds a letter that is not for their service sets the
library's « Réorienter vers » column (a choice of the category labels), or, with
the local backend, drops a `<file>.pdf.reorienter` text file holding a category
id or label next to it. `serve` calls `RedirectPoller.tick()`; every
`sharepoint.redirect_poll_seconds` it asks the publisher for pending requests
(an indexed CAML query on SharePoint, never a listing) and for each one:

1. finds the letter by its uid in this installation's store (another
   installation's letters are left to it);
2. refuses a value that is no known category: the column is cleared and
   « Réorientation impossible : … » written in the note column;
3. otherwise publishes the letter into the new category's library and folder
   (by uid, so a second attempt finds it there), with its columns recomputed
   and the PDF's metadata rewritten for the new category;
4. records the move in the store (one compare-and-set transition, journaled
   with who asked, the item's Editor, and when), stores the correction as a
   labelled example for `mailroom train`, and only then removes the old copy.

Each step is idempotent, in this order, so a crash anywhere is finished by the
next poll and the letter is moved exactly once.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import Category, Config
from ..errors import PublishError
from ..records import PUBLISHED, Document
from . import folder_for

log = logging.getLogger("pipeline.publish.redirect")
ROUTE_AGENT = "agent"  # route_source of a letter an agent sent on


@dataclass
class RedirectRequest:
    uid: str            # the letter's global identity, read from the file's columns or sidecar
    value: str          # what the agent chose: a category label (SharePoint) or id (local)
    editor: str         # who asked (the item's Editor, the sidecar's owner)
    asked_at: str       # when (ISO 8601)
    location: str       # where the letter is now: the URL or path publish() returned
    handle: Any = None  # the backend's own reference to the item


class RedirectPoller:
    def __init__(self, config: Config, store, publisher, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.interval = config.sharepoint.redirect_poll_seconds
        self._last: float | None = None

    def tick(self) -> int:
        """From the serve loop: poll when the interval has passed; never raises."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return 0
        self._last = now
        try:
            refresh = getattr(self.publisher, "refresh_approvals", None)
            if refresh is not None and self.publisher.approvals.all():
                refresh()  # `status` stops listing what an approver has approved
            return self.poll_once()
        except PublishError as error:  # SharePoint paused or unreachable: the next tick tries again
            log.warning("redirections not read: %s", error)
            return 0

    def poll_once(self) -> int:
        """Handle every pending request; the number of letters moved."""
        moved = 0
        for request in self.publisher.redirect_requests():
            try:
                moved += self.handle(request)
            except PublishError as error:
                log.warning("redirection of %s to « %s » asked by %s waits: %s", request.location, request.value,
                            request.editor, error)
        return moved

    def category(self, value: str) -> Category | None:
        wanted = " ".join(value.split()).casefold()
        for category in self.config.categories.values():
            if wanted in (category.id.casefold(), category.label.casefold()):
                return category
        return None

    def handle(self, request: RedirectRequest) -> int:
        doc = self.store.document_by_uid(request.uid) if request.uid else None
        if doc is None:
            return 0  # another installation's letter (same site), or not one of ours at all
        target = self.category(request.value)
        if target is None:
            known = ", ".join(c.label for c in self.config.categories.values())
            note = (f"Réorientation impossible : « {request.value} » n'est pas une catégorie connue "
                    f"(catégories : {known})")
            self.publisher.refuse_redirect(request, note)
            self.store.journal("redirect-refused", doc.input_id, doc.id, request.editor, value=request.value,
                               asked_at=request.asked_at, note=note)
            log.info("%s: redirection to « %s » asked by %s refused (unknown category)", doc.id, request.value,
                     request.editor)
            return 0
        if doc.state != PUBLISHED:
            return 0  # being published again right now: the next poll sees it settled
        old_category = doc.category
        if target.id != old_category:
            doc.category, doc.route_source = target.id, ROUTE_AGENT
            doc.library, doc.folder = target.library, folder_for(doc, target)
            pdf = self._local_pdf(doc)
            from ..stages import finish_pdf  # the PDF's subject and keywords say the new category
            doc.pdf_sha256 = finish_pdf(doc, self.config)
        else:
            pdf = self._local_pdf(doc)
        result = self.publisher.publish(doc, pdf, target)
        if target.id != old_category or result.destination != doc.destination:
            doc.destination = result.destination
            moved = self.store.transition(doc.id, PUBLISHED, PUBLISHED, "redirected", request.editor, document=doc,
                                          from_category=old_category, to_category=target.id,
                                          asked_at=request.asked_at, old=request.location, new=result.destination,
                                          example=(target.id, "redirection"))
            if moved.ok:
                if self.config.trace.enabled:
                    from ..trace.stamp import record_rewrite
                    record_rewrite(self.config, self.store, doc, "réorientation", request.editor)
                log.info("%s moved from %s to %s at the request of %s", doc.id, old_category, target.id,
                         request.editor)
        if result.destination != request.location:
            self.publisher.drop_redirected(request)
        else:
            self.publisher.clear_redirect(request)  # already where the agent wants it
        return int(target.id != old_category)

    def _local_pdf(self, doc: Document) -> Path:
        """The work copy of the PDF, fetched back from the library when it has been cleaned up."""
        if doc.pdf and Path(doc.pdf).is_file():
            return Path(doc.pdf)
        path = self.config.work_dir / doc.id / f"{doc.id}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.publisher.fetch_content(doc.destination))
        doc.pdf = str(path)
        return path
