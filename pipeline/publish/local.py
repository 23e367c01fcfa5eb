"""The embedded default target: one folder per library under $MAILROOM_HOME/library.

Files appear atomically (temporary name, fsync, rename) and a JSON sidecar
carries the columns an agent would see in SharePoint. A file is "ours" only
when its sidecar carries this document's ``uid`` (never by the human id, which
another installation reuses) and the checksum it records: then a second
publication is a no-op. Anything else in the folder is left untouched and the
new letter gets another name.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from ..config import Category, Config
from ..records import Document, PublishResult
from ..files import sha256_file, write_atomically
from . import PublishError, document_title, folder_for, safe_name

REDIRECT_SUFFIX = ".reorienter"


def owner(uid: int) -> str:
    """The account that wrote a file (who asked for a redirection)."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def metadata_columns(doc: Document, category: Category) -> dict:
    """The columns of the library entry, keyed by field name (titles live in configuration)."""
    references = doc.fields.get("references") or []
    return {
        "document_id": doc.id,
        "uid": doc.uid,
        "category": category.label,
        "category_id": category.id,
        "confidence": doc.confidence,
        "route_source": doc.route_source,
        "sender": doc.fields.get("sender"),
        "letter_date": doc.fields.get("letter_date"),
        "received_at": doc.received_at,
        "references": references,
        "urgent": bool(doc.fields.get("urgent")),
        "pages": doc.pages,
        "source_sha256": doc.source_sha256,
        "batch": doc.batch,
        "source": doc.source,
        "registration": doc.registration,
        "deadline": doc.deadline,
    }


class LocalPublisher:
    def __init__(self, config: Config):
        self.config = config
        self.root = config.library_dir

    def _sidecar(self, pdf_target: Path) -> Path:
        return pdf_target.with_name(pdf_target.name + ".json")

    def _find_existing(self, folder: Path, doc: Document) -> Path | None:
        """A file of this folder already published for this document (same uid) with the content recorded."""
        if not folder.is_dir():
            return None
        for sidecar in folder.glob("*.pdf.json"):
            try:
                meta = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if meta.get("uid") == doc.uid:
                pdf = sidecar.with_name(sidecar.name[:-5])
                if pdf.is_file() and sha256_file(pdf) == meta.get("pdf_sha256"):
                    return pdf
        return None

    def publish(self, doc: Document, pdf: Path, category: Category) -> PublishResult:
        library = self.root / safe_name(category.library)
        folder = library.joinpath(*[safe_name(part) for part in folder_for(doc, category).split("/") if part])
        existing = self._find_existing(folder, doc)
        if existing is not None:
            return PublishResult(destination=str(existing), already_there=True)
        try:
            data = Path(pdf).read_bytes()
        except OSError as error:
            raise PublishError("pdf-unreadable-for-publication", transient=False, error=str(error)) from error
        base = safe_name(document_title(doc, category, self.config.publish.file_name))
        target = folder / f"{base}.pdf"
        suffix = 2
        while target.exists() or self._sidecar(target).exists():
            target = folder / f"{base} ({suffix}).pdf"
            suffix += 1
        meta = metadata_columns(doc, category) | {"pdf_sha256": hashlib.sha256(data).hexdigest()}
        try:
            # Sidecar first: a PDF is never visible without its columns; a crash in between
            # leaves only a sidecar, which the next attempt ignores because its PDF is missing.
            write_atomically(self._sidecar(target), json.dumps(meta, ensure_ascii=False, indent=2).encode())
            write_atomically(target, data)
        except OSError as error:
            raise PublishError("library-folder-unwritable", folder=str(folder), error=str(error)) from error
        return PublishResult(destination=str(target))

    # -- an agent sends a letter on: `<file>.pdf.reorienter` holds a category id (see redirect.py)
    def redirect_requests(self) -> list:
        from .redirect import RedirectRequest

        found = []
        for note in sorted(self.root.rglob(f"*.pdf{REDIRECT_SUFFIX}")):
            pdf = note.with_name(note.name[:-len(REDIRECT_SUFFIX)])
            try:
                meta = json.loads(self._sidecar(pdf).read_text(encoding="utf-8"))
                value, stat = note.read_text(encoding="utf-8").strip(), note.stat()
            except (OSError, ValueError):
                continue
            found.append(RedirectRequest(str(meta.get("uid") or ""), value, owner(stat.st_uid),
                                         datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(), str(pdf),
                                         note))
        return found

    def refuse_redirect(self, request, note: str) -> None:
        sidecar = self._sidecar(Path(request.location))
        meta = json.loads(sidecar.read_text(encoding="utf-8")) | {"redirect_note": note}
        write_atomically(sidecar, json.dumps(meta, ensure_ascii=False, indent=2).encode())
        request.handle.unlink(missing_ok=True)

    def clear_redirect(self, request) -> None:
        request.handle.unlink(missing_ok=True)

    def drop_redirected(self, request) -> None:
        """The old copy, then its sidecar, then the request: a crash in between is finished next time."""
        pdf = Path(request.location)
        for path in (pdf, self._sidecar(pdf), request.handle):
            path.unlink(missing_ok=True)

    def fetch_content(self, destination: str) -> bytes:
        return Path(destination).read_bytes()

    def check(self) -> list[str]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as error:
            return [f"le dossier des bibliothèques {self.root} n'est pas accessible en écriture : {error}"]
        return []
