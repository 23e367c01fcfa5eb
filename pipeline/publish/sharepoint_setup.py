"""What `mailroom sharepoint check` does beyond reading: create columns, warn about full folders, probe.

* `--create-columns` creates every missing column of every library (the
  identity column « Identifiant » indexed with unique values, « Réorienter
  vers » as an indexed choice of the category labels, « Remarque mailroom »),
  and indexes an identity column an administrator created by hand.
* Folders: a category whose folder has no {year}/{month} fills up; past 5,000
  items SharePoint refuses to show it. The current folder of each category is
  counted (one request) and a warning given from 4,000 items.
* `--probe` uploads a probe file to each library, sets every column through
  the same ValidateUpdateListItem call the publisher uses, reads the stored
  values back and deletes the file: an administrator sees on day one whether
  dates (time zone), numbers and booleans land right.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from xml.sax.saxutils import quoteattr

from ..records import Document
from . import folder_for
from .local import metadata_columns
from .sharepoint_client import SharePointFailure
from .sharepoint_schema import EXPECTED_TYPES, OTHER_TEXT, Library, form_values, parse_instant

FOLDER_WARNING = 4000
PROBE_INSTANT = "2026-07-14T10:30:00+02:00"  # summer time in Paris: an error of one or two hours shows


def field_schema(title: str, kind: str, choices: tuple[str, ...] = (), indexed: bool = False,
                 unique: bool = False) -> str:
    """CreateFieldAsXml schema of one column (Name = title: SharePoint derives the internal name)."""
    attributes = {"Type": kind, "DisplayName": title, "Name": title}
    if indexed:
        attributes["Indexed"] = "TRUE"
    if unique:
        attributes["EnforceUniqueValues"] = "TRUE"
    if kind == "DateTime":
        attributes["Format"] = "DateTime"
    text = " ".join(f"{key}={quoteattr(value)}" for key, value in attributes.items())
    if not choices:
        return f"<Field {text} />"
    inner = "".join(f"<CHOICE>{quoteattr(c)[1:-1]}</CHOICE>" for c in choices)
    return f"<Field {text}><CHOICES>{inner}</CHOICES></Field>"


def create_columns(publisher, title: str) -> list[str]:
    """Create what the library lacks; what was done, in French."""
    settings, run = publisher.settings, publisher.connection.run
    library = publisher.library(title)
    done = []
    wanted = [(key, column, *EXPECTED_TYPES.get(key, OTHER_TEXT)[:1]) for key, column in settings.columns.items()]
    labels = tuple(c.label for c in publisher.config.categories.values())
    extra = [("redirect", settings.redirect_column, "Choice"), ("redirect_note", settings.redirect_note_column, "Note")]
    present = {str(f.get("Title", "")).casefold() for f in library.fields if not f.get("Hidden")}
    for key, column, kind in wanted + extra:
        if column.casefold() in present:
            continue
        schema = field_schema(column, kind, choices=labels if key == "redirect" else (),
                              indexed=key in ("uid", "redirect"), unique=key == "uid")
        run(f"creating the column « {column} » in « {title} »",
            lambda ctx, s=schema: ctx.web.lists.get_by_title(title).fields.create_field_as_xml(s))
        done.append(f"colonne « {column} » créée" + (" (indexée, valeurs uniques)" if key == "uid" else
                                                      " (indexée)" if key == "redirect" else ""))
    identity = library.columns.get("uid")
    if identity is not None and any("Identifiant" in w or identity.title in w for w in library.warnings):
        def index(ctx):
            field = ctx.web.lists.get_by_title(title).fields.get_by_internal_name_or_title(identity.internal)
            return field.set_property("Indexed", True).set_property("EnforceUniqueValues", True).update()
        run(f"indexing the column « {identity.title} » in « {title} »", index)
        done.append(f"colonne « {identity.title} » indexée, valeurs uniques exigées")
    publisher._libraries.pop(title, None)  # read again with the new columns
    return done


def folder_warnings(publisher, library: Library, categories) -> list[str]:
    """Warn when a category's current folder approaches the 5,000-item list view threshold."""
    now = datetime.now().astimezone().isoformat()
    sample = Document(id="-", input_id="-", source="-", source_sha256="-", source_pages=[], received_at=now)
    warnings = []
    for category in categories:
        url = "/".join([library.root_url, *[p for p in folder_for(sample, category).split("/") if p]])
        try:
            folder = publisher.connection.run(f"counting {url}", lambda ctx, u=url: ctx.web.get_folder_by_server_relative_url(
                u).select(["ItemCount", "Exists"]).get())
        except SharePointFailure as error:
            if error.status == 404:
                continue
            raise
        count = int(folder.properties.get("ItemCount") or 0)
        if count >= FOLDER_WARNING:
            warnings.append(f"le dossier {url} contient {count} éléments : au-delà de 5 000, SharePoint refuse de "
                            f"l'afficher ; ajoutez {{year}}/{{month}} au dossier de la catégorie {category.id}")
    return warnings


def probe(publisher, library: Library, category) -> list[str]:
    """Upload a probe, set every column, read the values back, delete it; one line per column."""
    from .sharepoint import entity_name

    regional = publisher.regional()
    doc = Document(id="SONDE-MAILROOM", input_id="-", source="sonde.pdf", source_sha256="0" * 64, source_pages=[1],
                   received_at=PROBE_INSTANT, batch="sonde", category=category.id, confidence=0.875,
                   fields={"sender": "Sonde mailroom", "letter_date": "2026-07-13", "references": ["RD 12"],
                           "urgent": True})
    doc.uid = f"sonde-{uuid.uuid4()}"
    doc.registration, doc.deadline = "SONDE-000001", "2026-08-14"  # every column gets a value to read back
    metadata = metadata_columns(doc, category) | {"uid": doc.uid}
    values = form_values(library, metadata, regional)
    name = f"mailroom-sonde-{uuid.uuid4().hex[:8]}.pdf"
    remote = publisher.upload(library.root_url, name, b"%PDF-1.4\n% mailroom probe\n", overwrite=False)
    lines = []
    try:
        publisher.set_columns(remote, values, library)
        stored = publisher.file_at(remote.url).fields
        for key, column in library.columns.items():
            expected = metadata.get(key)
            got = stored.get(entity_name(column.internal))
            ok = same_value(column, expected, got, regional.zone)
            lines.append(f"{'OK' if ok else 'ÉCART'}  « {column.title} » : envoyé {values[column.internal]!r}, "
                         f"relu {got!r}")
    finally:
        publisher.connection.run(f"deleting the probe {name}",
                                 lambda ctx: ctx.web.get_file_by_id(remote.unique_id).recycle())
    return lines


def same_value(column, expected, got, zone) -> bool:
    """Whether SharePoint kept what was meant: instants in UTC, dates as that day in the site's zone."""
    if expected in (None, "", []):
        return got in (None, "")
    if column.type == "DateTime":
        stored = parse_instant(str(got).replace("Z", "+00:00")) if got else None
        meant = parse_instant(expected)
        if stored is None or meant is None:
            return stored is meant
        if column.date_only or len(str(expected)) == 10:
            return stored.astimezone(zone).date() == meant.date() or stored.date() == meant.date()
        return stored == meant
    if column.type in ("Number", "Integer"):
        try:
            return abs(float(got) - float(expected)) < 1e-6
        except (TypeError, ValueError):
            return False
    if column.type == "Boolean":
        return bool(got) == bool(expected)
    text = "; ".join(map(str, expected)) if isinstance(expected, (list, tuple)) else str(expected)
    return str(got or "") == " ".join(text.split())
