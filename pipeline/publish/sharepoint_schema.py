"""A library's columns as SharePoint knows them, and our metadata turned into form values.

Column titles come from configuration; internal names are read from the
library's /Fields (titles are XML-encoded into internal names when a column is
created, cut to 32 characters, and never follow a rename), so nothing is
guessed. Values go through ValidateUpdateListItem as strings in the site's
regional format, instants in the site's own time zone (RegionalSettings/TimeZone)
without `datesInUTC`, which SharePoint Server 2016 refuses and SharePoint Online
leaves undocumented (as PnP Core does). That gives one version per upload and a
per-field verdict.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

log = logging.getLogger("pipeline.publish.sharepoint")

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
    "uid": ("Text", ("Text",)),
}
OTHER_TEXT = ("Text", ("Text", "Note"))  # any other metadata field, e.g. "source" or "route_source"

# How an administrator finds each type in the SharePoint "Create a column" panel (French UI).
TYPE_WORDS = {
    "Text": "Une ligne de texte", "Note": "Plusieurs lignes de texte", "Number": "Nombre",
    "Integer": "Nombre", "DateTime": "Date et heure", "Boolean": "Oui/Non", "Choice": "Choix",
}
TEXT_LIMIT = 255
TITLE_FIELD = "Title"  # holds the human document id (L000012-01), for people; identity is the uid column

# SharePoint describes a site's zone in Windows words; the cities name the IANA zone.
ZONES_BY_CITY = {
    "Paris": "Europe/Paris", "Brussels": "Europe/Brussels", "Amsterdam": "Europe/Amsterdam",
    "Belgrade": "Europe/Belgrade", "Sarajevo": "Europe/Sarajevo", "London": "Europe/London",
    "Athens": "Europe/Athens", "Helsinki": "Europe/Helsinki", "Casablanca": "Africa/Casablanca",
    "Port Louis": "Indian/Reunion", "Nairobi": "Indian/Mayotte", "Cayenne": "America/Cayenne",
    "San Juan": "America/Martinique", "New Caledonia": "Pacific/Noumea", "Hawaii": "Pacific/Honolulu",
    "Coordinated Universal Time": "UTC", "Monrovia": "Atlantic/Reykjavik",
}


def site_zone(properties: dict) -> tuple[tzinfo, str]:
    """The site's zone from Web/RegionalSettings/TimeZone, and how sure we are of it (for check)."""
    description = str(properties.get("Description") or "")
    for city, name in ZONES_BY_CITY.items():
        if city in description:
            return ZoneInfo(name), f"{description} → {name}"
    info = properties.get("Information") or {}
    bias = int(info.get("Bias") or 0) if isinstance(info, dict) else 0
    zone = timezone(timedelta(minutes=-bias))
    log.warning("unknown SharePoint time zone %r: using a fixed offset of %d min, without summer time",
                description, -bias)
    return zone, f"{description} : fuseau inconnu de mailroom, décalage fixe {zone} sans heure d'été"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    internal: str
    type: str
    choices: tuple[str, ...] = ()
    fill_in: bool = False
    date_only: bool = False
    indexed: bool = False


@dataclass
class Library:
    title: str
    id: str
    root_url: str                       # server-relative URL of the library's root folder
    force_checkout: bool
    columns: dict[str, Column] = field(default_factory=dict)  # metadata key -> column
    problems: list[str] = field(default_factory=list)         # in words, for check and errors
    title_field: bool = True
    minor_versions: bool = False        # EnableMinorVersions: an upload is a 0.1 draft until published
    moderation: bool = False            # EnableModeration: content approval
    draft_visibility: int = 0           # DraftVersionVisibility: 0 readers, 1 authors, 2 approvers
    item_count: int = 0
    required: list[str] = field(default_factory=list)   # required columns mailroom does not fill
    warnings: list[str] = field(default_factory=list)   # not blocking, for check
    redirect: Column | None = None      # « Réorienter vers »
    redirect_note: Column | None = None  # « Remarque mailroom »
    fields: list[dict] = field(default_factory=list)

    @classmethod
    def from_properties(cls, title: str, p: dict, root_url: str) -> "Library":
        return cls(title, str(p.get("Id", "")), root_url.rstrip("/"), bool(p.get("ForceCheckout")),
                   minor_versions=bool(p.get("EnableMinorVersions")), moderation=bool(p.get("EnableModeration")),
                   draft_visibility=int(p.get("DraftVersionVisibility") or 0), item_count=int(p.get("ItemCount") or 0))

    def settings_for_agents(self) -> list[str]:
        """What the library's versioning and approval mean for read-only agents, in French."""
        said = []
        if self.force_checkout:
            said.append("extraction obligatoire : mailroom archive (check-in) chaque dépôt en version principale")
        if self.minor_versions:
            who = {0: "tous les lecteurs", 1: "les auteurs", 2: "les approbateurs"}.get(self.draft_visibility, "?")
            said.append(f"versions secondaires activées (brouillons visibles par {who}) : mailroom publie chaque "
                        "dépôt en version principale")
        if self.moderation:
            said.append("approbation du contenu activée : chaque courrier reste « en attente d'approbation », "
                        "invisible des agents en lecture seule, tant qu'un approbateur ne l'a pas approuvé")
        return said


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
    zone: tzinfo = timezone.utc        # the site's time zone: instants are sent as its wall time
    zone_note: str = ""

    @classmethod
    def from_properties(cls, p: dict, zone: tzinfo = timezone.utc, zone_note: str = "") -> "Regional":
        return cls(int(p.get("DateFormat") or 0), p.get("DateSeparator") or "/", p.get("DecimalSeparator") or ".",
                   bool(p.get("Time24")), p.get("TimeSeparator") or ":", p.get("AM") or "AM", p.get("PM") or "PM",
                   zone, zone_note)

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
    if "uid" not in mapping:
        library.problems.append("la configuration [sharepoint.columns] doit associer uid à une colonne (par défaut "
                                "« Identifiant ») : c'est par elle que mailroom retrouve ses fichiers")
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
        if key == "uid" and not (found.get("Indexed") and found.get("EnforceUniqueValues")):
            library.warnings.append(f"bibliothèque « {library.title} » : la colonne « {title} » doit être indexée et "
                                    "exiger des valeurs uniques (Paramètres de la colonne → « Appliquer des valeurs "
                                    "uniques » : Oui), sinon la recherche échoue au-delà de 5 000 éléments ; "
                                    "« mailroom sharepoint check --create-columns » le fait")
    mine = {c.internal for c in library.columns.values()} | {TITLE_FIELD, "FileLeafRef"}
    library.required = [f.get("Title", "") for f in usable if f.get("Required") and f.get("InternalName") not in mine]
    if library.required:
        library.warnings.append(f"bibliothèque « {library.title} » : colonnes obligatoires que mailroom ne remplit "
                                f"pas : {', '.join(library.required)} ; un fichier extrait ne pourra être archivé")


def find_column(fields: list[dict], title: str, key: str) -> Column | None:
    """A visible, writable column by title (exact, then case-insensitive)."""
    usable = [f for f in fields if not f.get("Hidden") and not f.get("ReadOnlyField")]
    found = next((f for f in usable if f.get("Title") == title), None) or \
        next((f for f in usable if str(f.get("Title", "")).casefold() == title.casefold()), None)
    if found is None:
        return None
    choices = found.get("Choices") or []
    if isinstance(choices, dict):
        choices = choices.get("results", list(choices.values()))
    return Column(key, title, found["InternalName"], found.get("TypeAsString", ""), tuple(choices),
                  bool(found.get("FillInChoice")), indexed=bool(found.get("Indexed")))


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
        if isinstance(value, date) and not isinstance(value, datetime) or \
                isinstance(value, str) and len(value.strip()) == 10:
            day = parse_instant(value)  # a bare date keeps its calendar day, in any zone
            return regional.date(day) if day else ""
        instant = parse_instant(value)
        if instant is None:
            return ""
        local = instant.astimezone(regional.zone)
        return regional.date(local) if column.date_only else regional.datetime(local)
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
