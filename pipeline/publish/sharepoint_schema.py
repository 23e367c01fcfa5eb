"""A library's columns as SharePoint knows them, and our metadata turned into form values.

Column titles come from configuration; internal names are read from the
library's /Fields (titles are XML-encoded into internal names when a column is
created, cut to 32 characters, and never follow a rename), so nothing is
guessed. Values go through ValidateUpdateListItem as strings in the site's
regional format, dates in UTC, which gives one version per upload and a
per-field verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

# Metadata field -> (type to create, SharePoint types that can hold the value).
EXPECTED_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "category": ("Text", ("Text", "Choice", "Note")),
    "confidence": ("Number", ("Number", "Text")),
    "sender": ("Text", ("Text", "Note")),
    "letter_date": ("DateTime", ("DateTime", "Text")),
    "received_at": ("DateTime", ("DateTime", "Text")),
    "references": ("Note", ("Note", "Text")),
    "urgent": ("Boolean", ("Boolean",)),
    "pages": ("Number", ("Number", "Integer", "Text")),
    "source_sha256": ("Text", ("Text", "Note")),
    "batch": ("Text", ("Text", "Note")),
    "registration": ("Text", ("Text", "Note")), "deadline": ("DateTime", ("DateTime", "Text")),
}
OTHER_TEXT = ("Text", ("Text", "Note"))  # any other metadata field, e.g. "source" or "route_source"

# How an administrator finds each type in the SharePoint "Create a column" panel (French UI).
TYPE_WORDS = {
    "Text": "Une ligne de texte", "Note": "Plusieurs lignes de texte", "Number": "Nombre",
    "Integer": "Nombre", "DateTime": "Date et heure", "Boolean": "Oui/Non", "Choice": "Choix",
}
TEXT_LIMIT = 255
TITLE_FIELD = "Title"  # holds the mailroom document id: the identity used to find a file again


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    internal: str
    type: str
    choices: tuple[str, ...] = ()
    fill_in: bool = False
    date_only: bool = False


@dataclass
class Library:
    title: str
    id: str
    root_url: str                       # server-relative URL of the library's root folder
    force_checkout: bool
    columns: dict[str, Column] = field(default_factory=dict)  # metadata key -> column
    problems: list[str] = field(default_factory=list)         # in words, for check and errors
    title_field: bool = True


@dataclass(frozen=True)
class Regional:
    """The site's regional settings, which ValidateUpdateListItem uses to parse strings."""

    date_format: int = 0               # 0 = M/D/Y, 1 = D/M/Y, 2 = Y/M/D
    date_separator: str = "/"
    decimal_separator: str = "."
    time24: bool = False
    time_separator: str = ":"
    am: str = "AM"
    pm: str = "PM"

    @classmethod
    def from_properties(cls, p: dict) -> "Regional":
        return cls(int(p.get("DateFormat") or 0), p.get("DateSeparator") or "/", p.get("DecimalSeparator") or ".",
                   bool(p.get("Time24")), p.get("TimeSeparator") or ":", p.get("AM") or "AM", p.get("PM") or "PM")

    def date(self, value: date) -> str:
        s = self.date_separator
        parts = {0: (value.month, value.day), 1: (value.day, value.month)}.get(self.date_format)
        if parts is None:
            return f"{value.year:04d}{s}{value.month:02d}{s}{value.day:02d}"
        return f"{parts[0]:02d}{s}{parts[1]:02d}{s}{value.year:04d}"

    def datetime(self, value: datetime) -> str:
        t = self.time_separator
        if self.time24:
            clock = f"{value.hour:02d}{t}{value.minute:02d}"
        else:
            hour = value.hour % 12 or 12
            clock = f"{hour}{t}{value.minute:02d} {self.am if value.hour < 12 else self.pm}"
        return f"{self.date(value)} {clock}"

    def number(self, value: float) -> str:
        text = f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        return text.replace(".", self.decimal_separator)


def describe_type(kind: str) -> str:
    return f"« {TYPE_WORDS.get(kind, kind)} » ({kind})"


def resolve_columns(library: Library, fields: list[dict], mapping: dict[str, str], known_keys: set[str]) -> None:
    """Match configured titles to visible, writable fields; record what is missing or of the wrong type."""
    usable = [f for f in fields if not f.get("Hidden") and not f.get("ReadOnlyField")]
    library.title_field = any(f.get("InternalName") == TITLE_FIELD for f in usable)
    if not library.title_field:
        library.problems.append(f"bibliothèque « {library.title} » : la colonne Titre (Title) manque ou n'est "
                                "pas modifiable ; mailroom y range l'identifiant du document")
    if "source_sha256" not in mapping:
        library.problems.append("la configuration [sharepoint.columns] doit associer source_sha256 à une colonne : "
                                "sans empreinte, un document republié après une panne serait déposé deux fois")
    for key, title in mapping.items():
        if key not in known_keys:
            library.problems.append(f"[sharepoint.columns] {key} n'est pas un champ de métadonnées connu "
                                    f"(connus : {', '.join(sorted(known_keys))})")
            continue
        create, accepted = EXPECTED_TYPES.get(key, OTHER_TEXT)
        matches = [f for f in usable if f.get("Title") == title] or \
                  [f for f in usable if str(f.get("Title", "")).casefold() == title.casefold()]
        if not matches:
            library.problems.append(f"bibliothèque « {library.title} » : créez la colonne « {title} » de type "
                                    f"{describe_type(create)}")
            continue
        found = matches[0]
        kind = found.get("TypeAsString", "")
        if kind not in accepted:
            wanted = " ou ".join(describe_type(k) for k in accepted)
            library.problems.append(f"bibliothèque « {library.title} » : la colonne « {title} » est de type "
                                    f"{describe_type(kind)} ; attendu {wanted}")
            continue
        choices = found.get("Choices") or []
        if isinstance(choices, dict):  # verbose {"results": [...]}, or the client's {0: …, 1: …}
            choices = choices.get("results", list(choices.values()))
        library.columns[key] = Column(key, title, found["InternalName"], kind, tuple(choices),
                                      bool(found.get("FillInChoice")), found.get("DisplayFormat") == 0)


def check_choices(library: Library, labels: list[str]) -> None:
    """A Choice column for the category must offer every label, unless it accepts fill-in values."""
    column = library.columns.get("category")
    if column and column.type == "Choice" and not column.fill_in:
        missing = [label for label in labels if label not in column.choices]
        if missing:
            library.problems.append(f"bibliothèque « {library.title} » : ajoutez à la colonne de choix "
                                    f"« {column.title} » les valeurs : {', '.join(missing)}")


def parse_instant(value) -> datetime | None:
    """An aware UTC datetime from an ISO string or date; naive values are taken as local time."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
        if len(str(value).strip()) == 10:  # a bare date: keep the calendar day
            return moment.replace(tzinfo=timezone.utc)
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(timezone.utc)


def form_value(column: Column, value, regional: Regional) -> str:
    """The string SharePoint parses back into `value` for this column ('' clears it)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    kind = column.type
    if kind == "Boolean":
        return "1" if value else "0"
    if kind in ("Number", "Integer"):
        return regional.number(value) if isinstance(value, (int, float)) else ""
    if kind == "DateTime":
        instant = parse_instant(value)
        if instant is None:
            return ""
        return regional.date(instant) if column.date_only else regional.datetime(instant)
    text = str(value)
    if isinstance(value, float):
        text = regional.number(value)
    if kind in ("Text", "Choice"):
        text = " ".join(text.split())
        if len(text) > TEXT_LIMIT:
            text = text[:TEXT_LIMIT - 1] + "…"
    return text


def form_values(library: Library, metadata: dict, regional: Regional) -> dict[str, str]:
    values = {TITLE_FIELD: str(metadata["document_id"])}
    for key, column in library.columns.items():
        values[column.internal] = form_value(column, metadata.get(key), regional)
    return values
