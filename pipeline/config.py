"""One typed configuration, loaded and validated in one place.

The bundled ``default.toml`` is read first; a user file is merged over it key by
key. Every error names the file and the dotted key, so that an operator can fix
the file without reading code.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")
SPLIT_MODE = re.compile(r"^(separator|none|pages:[1-9][0-9]*)$")
RUNNER_BACKENDS = {"local", "celery"}
CATEGORY_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


from .errors import ConfigError  # noqa: E402  (re-exported: a configuration value is wrong, the message names it)


@dataclass(frozen=True)
class WatchConfig:
    settle_seconds: float = 2.0
    rescan_seconds: float = 30.0
    poll_seconds: float = 1.0
    invalid_grace_seconds: float = 30.0


@dataclass(frozen=True)
class InboxConfig:
    path: Path
    polling: bool = False
    split: str = ""  # empty = [split].mode


@dataclass(frozen=True)
class RunnerConfig:
    workers: int = 0
    backend: str = "local"                      # "local" (process pool) | "celery" (workers on other machines)
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = ""                    # empty = the broker's URL
    password_env: str = "MAILROOM_REDIS_PASSWORD"  # Redis password, put into both URLs when they have none
    queue: str = "mailroom"
    visibility_timeout: float = 3600            # seconds before a page taken by a lost worker is given again
    max_message_mb: float = 64                  # one page (or one page's result) per message, at most this
    page_attempts: int = 3                      # workers lost on one page before it is declared poison

    @property
    def worker_count(self) -> int:
        return self.workers or (os.cpu_count() or 1)


@dataclass(frozen=True)
class IngestConfig:
    max_pages: int = 2000
    max_pixels: int = 180_000_000
    min_side_pixels: int = 100
    raster_dpi: int = 300


@dataclass(frozen=True)
class SplitConfig:
    mode: str = "separator"
    drop_blank_pages: bool = True
    barcode_dpi: int = 200


@dataclass(frozen=True)
class OcrConfig:
    languages: str = "fra+eng"
    timeout_seconds: float = 180
    retries: int = 1
    confidence_floor: float = 55.0
    blank_ink_ratio: float = 0.002
    output: str = "color"
    jpeg_quality: int = 75
    pdfa: bool = False


@dataclass(frozen=True)
class ClassifyConfig:
    threshold: float = 0.80
    model: str = ""


@dataclass(frozen=True)
class PublishConfig:
    backend: str = "local"
    library_dir: str = ""
    file_name: str = "{date} {label} - {sender}"


@dataclass(frozen=True)
class SharePointConfig:
    site_url: str = ""
    auth: str = "token"
    token_env: str = "MAILROOM_SHAREPOINT_TOKEN"
    token_command: str = ""
    tenant: str = ""
    client_id: str = ""
    thumbprint: str = ""
    key_file: str = ""
    username: str = ""
    password_env: str = "MAILROOM_SHAREPOINT_PASSWORD"
    verify_tls: bool = True
    timeout_seconds: float = 60
    max_attempts: int = 6
    chunk_size: int = 4 * 1024 * 1024
    authority: str = "https://login.microsoftonline.com"
    key_passphrase_env: str = "MAILROOM_SHAREPOINT_KEY_PASSPHRASE"
    ca_file: str = ""
    organisation: str = "Mailroom"
    max_wait_seconds: float = 5
    redirect_poll_seconds: float = 60
    redirect_column: str = "Réorienter vers"
    redirect_note_column: str = "Remarque mailroom"
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReviewConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key_file: str = ""
    public_url: str = ""                      # e.g. https://courrier.departement.fr behind a proxy
    trusted_proxies: tuple[str, ...] = ()     # addresses/networks whose X-Forwarded-* headers are believed
    session_idle_minutes: int = 480
    session_hours: int = 12


@dataclass(frozen=True)
class TraceConfig:
    """The reliable copy (« copie fiable »): timestamps, proofs, seals, nightly checks, retention."""

    enabled: bool = False
    tsa_url: str = ""
    tsa_ca_file: str = ""
    tsa_user: str = ""
    tsa_password_env: str = "MAILROOM_TSA_PASSWORD"
    tsa_timeout_seconds: float = 30
    tsa_retry_seconds: float = 60
    retention_years: int = 10
    work_retention_hours: float = 24
    verify_hour: int = 2
    archival_agency: str = ""       # SEDA: identifier of the Archives départementales
    transferring_agency: str = ""   # SEDA: identifier of the service that transfers (the mailroom)
    originating_agency: str = ""    # SEDA: producer of the records; empty = transferring_agency
    archival_agreement: str = ""    # SEDA: the agreement (convention de versement) identifier, if any

    @property
    def timestamps(self) -> bool:
        return self.enabled and bool(self.tsa_url)


@dataclass(frozen=True)
class RegistrationConfig:
    number_format: str = "{year}-A-{seq:06d}"
    stamp: bool = True
    stamp_text: str = "Reçu le {date} à {time} — N° {number} — {organisation}"
    organisation: str = "Département"
    extra_closed_days: tuple[str, ...] = ()  # ISO dates of local closures


@dataclass(frozen=True)
class AcknowledgementConfig:
    delay_minutes: float = 0
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 30
    sender: str = ""          # the From: address ("from" in the file)
    user_env: str = "MAILROOM_SMTP_USER"
    password_env: str = "MAILROOM_SMTP_PASSWORD"
    own_domains: tuple[str, ...] = ()  # e-mail domains of the département itself: never an addressee
    max_attempts: int = 8


@dataclass(frozen=True)
class TransmissionBody:
    """A competent body mail for another administration is passed on to (CRPA L114-2)."""

    id: str
    name: str
    address: str
    email: str = ""


ACKNOWLEDGE_KINDS = ("sva", "svr", "simple", "none")
DEADLINE_KINDS = ("working", "calendar")


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    library: str
    folder: str = "Courrier entrant/{year}/{month}"
    always_review: bool = False
    deadline_days: int = 30
    deadline_kind: str = "working"
    urgent_deadline_days: int = 8
    acknowledge: str = "none"
    implicit_decision_days: int = 60
    service_name: str = ""
    service_address: str = ""
    service_phone: str = ""
    service_email: str = ""
    transmit: bool = False    # mail for another administration: the supervisor picks a [transmission.bodies] entry
    retention_years: int = 0  # local copies (archive/ originals); 0 = [trace] retention_years


@dataclass(frozen=True)
class Config:
    home: Path
    source: str  # where the configuration came from, for messages
    watch: WatchConfig
    inboxes: tuple[InboxConfig, ...]
    runner: RunnerConfig
    ingest: IngestConfig
    split: SplitConfig
    ocr: OcrConfig
    classify: ClassifyConfig
    publish: PublishConfig
    sharepoint: SharePointConfig
    review: ReviewConfig
    trace: TraceConfig
    categories: dict[str, Category]
    registration: RegistrationConfig = RegistrationConfig()
    acknowledgement: AcknowledgementConfig = AcknowledgementConfig()
    transmission_bodies: dict[str, TransmissionBody] = field(default_factory=dict)

    # Places under the home folder. One definition, used by every module.
    @property
    def inbox_dir(self) -> Path:
        return self.home / "inbox"

    @property
    def spool_dir(self) -> Path:
        return self.home / "spool"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def proofs_dir(self) -> Path:
        return self.home / "proofs"

    def retention_years_for(self, category_id: str | None) -> int:
        category = self.categories.get(category_id or "")
        return (category.retention_years if category and category.retention_years else self.trace.retention_years)

    @property
    def database_path(self) -> Path:
        return self.home / "mailroom.sqlite3"

    @property
    def library_dir(self) -> Path:
        return Path(self.publish.library_dir) if self.publish.library_dir else self.home / "library"

    @property
    def model_dir(self) -> Path:
        if self.classify.model:
            return Path(self.classify.model)
        return Path(__file__).resolve().parent.parent / "models" / "classifier"

    def all_inboxes(self) -> tuple[InboxConfig, ...]:
        home_inbox = InboxConfig(path=self.inbox_dir)
        return (home_inbox, *[i for i in self.inboxes if i.path != self.inbox_dir])

    def split_mode_for(self, inbox: Path | None) -> str:
        for configured in self.inboxes:
            if inbox is not None and configured.path == inbox and configured.split:
                return configured.split
        return self.split.mode


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def _coerce(value, expected, where: str):
    """Check one value against a dataclass field type; ints are accepted for floats."""
    origin = typing.get_origin(expected)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is Path and isinstance(value, str):
        return Path(value).expanduser()
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings")
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where}: expected a table of strings")
        return dict(value)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings")
        return tuple(value)
    if expected in (str, int, float, bool):
        if type(value) is not expected:
            raise ConfigError(f"{where}: expected {expected.__name__}, got {type(value).__name__} {value!r}")
        return value
    return value


def _build(cls, table: dict, where: str, source: str, **extra):
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{where}] must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)} - set(extra)
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key {where}.{unknown[0]} (known: {', '.join(sorted(known))})")
    values = {name: _coerce(value, hints[name], f"{source}: {where}.{name}") for name, value in table.items()}
    return cls(**values, **extra)


def _validate(config: Config) -> None:
    source = config.source

    def fail(key: str, message: str) -> None:
        raise ConfigError(f"{source}: {key}: {message}")

    if not 0.0 < config.classify.threshold <= 1.0:
        fail("classify.threshold", "must be in (0, 1]")
    if not SPLIT_MODE.match(config.split.mode):
        fail("split.mode", 'must be "separator", "none" or "pages:N"')
    for index, inbox in enumerate(config.inboxes):
        if inbox.split and not SPLIT_MODE.match(inbox.split):
            fail(f"inboxes[{index}].split", 'must be "separator", "none" or "pages:N"')
    if config.ocr.output not in ("color", "bw"):
        fail("ocr.output", 'must be "color" or "bw"')
    if not 1 <= config.ocr.jpeg_quality <= 100:
        fail("ocr.jpeg_quality", "must be between 1 and 100")
    if not 0 <= config.ocr.confidence_floor <= 100:
        fail("ocr.confidence_floor", "must be between 0 and 100")
    if config.runner.workers < 0:
        fail("runner.workers", "must be 0 (one per core) or more")
    if config.runner.backend not in RUNNER_BACKENDS:
        fail("runner.backend", f"must be one of {', '.join(sorted(RUNNER_BACKENDS))}")
    for key in ("broker_url", "result_backend"):
        url = getattr(config.runner, key)
        if (url or key == "broker_url") and not url.startswith(("redis://", "rediss://", "unix://")):
            fail(f"runner.{key}", "must be a redis://, rediss:// (TLS) or unix:// URL")
    if config.runner.visibility_timeout <= config.ocr.timeout_seconds:
        fail("runner.visibility_timeout", f"must be longer than the slowest page (ocr.timeout_seconds = "
             f"{config.ocr.timeout_seconds:g}), or pages still being read would be given to a second worker")
    if config.runner.max_message_mb <= 0:
        fail("runner.max_message_mb", "must be positive")
    if config.runner.page_attempts < 1:
        fail("runner.page_attempts", "must be 1 or more")
    if not re.match(r"^[A-Za-z0-9_.-]+$", config.runner.queue):
        fail("runner.queue", "letters, digits, '.', '_' and '-' only")
    if config.publish.backend not in ("local", "sharepoint"):
        fail("publish.backend", 'must be "local" or "sharepoint"')
    if config.sharepoint.auth not in ("certificate", "ntlm", "token"):
        fail("sharepoint.auth", 'must be "certificate", "ntlm" or "token"')
    if config.publish.backend == "sharepoint" and not config.sharepoint.site_url.startswith(("http://", "https://")):
        fail("sharepoint.site_url", "must be the site's http(s) URL when publish.backend is \"sharepoint\"")
    if config.review.public_url and not config.review.public_url.startswith(("http://", "https://")):
        fail("review.public_url", "must start with http:// or https://")
    for proxy in config.review.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            fail("review.trusted_proxies", f"{proxy!r} is not an IP address or network")
    if config.review.session_idle_minutes < 1 or config.review.session_hours < 1:
        fail("review.session_idle_minutes", "session durations must be at least 1")
    if not config.sharepoint.authority.startswith("https://"):
        fail("sharepoint.authority", "must be an https URL, e.g. https://login.microsoftonline.com")
    if "|" in config.sharepoint.organisation or not config.sharepoint.organisation.strip():
        fail("sharepoint.organisation", "must be a name without '|' (it goes into the User-Agent)")
    if config.sharepoint.max_wait_seconds < 0:
        fail("sharepoint.max_wait_seconds", "must be 0 or more")
    if config.sharepoint.redirect_poll_seconds <= 0:
        fail("sharepoint.redirect_poll_seconds", "must be more than 0")
    if config.sharepoint.ca_file and not Path(config.sharepoint.ca_file).is_file():
        fail("sharepoint.ca_file", f"{config.sharepoint.ca_file} is not a file")
    if not config.categories:
        fail("categories", "at least one category is needed")
    if "autre" not in config.categories:
        fail("categories.autre", "the fallback category 'autre' must exist")
    trace = config.trace
    if trace.tsa_url and not trace.tsa_url.startswith(("http://", "https://")):
        fail("trace.tsa_url", "must be the time-stamping authority's http(s) URL")
    if trace.tsa_ca_file and not Path(trace.tsa_ca_file).expanduser().is_file():
        fail("trace.tsa_ca_file", f"no such file: {trace.tsa_ca_file}")
    if trace.tsa_timeout_seconds <= 0:
        fail("trace.tsa_timeout_seconds", "must be more than 0")
    if trace.tsa_retry_seconds <= 0:
        fail("trace.tsa_retry_seconds", "must be more than 0")
    if trace.retention_years < 1:
        fail("trace.retention_years", "must be at least 1")
    if trace.work_retention_hours < 0:
        fail("trace.work_retention_hours", "must be 0 or more")
    if not 0 <= trace.verify_hour <= 23:
        fail("trace.verify_hour", "must be an hour between 0 and 23")
    for category in config.categories.values():
        if category.retention_years < 0:
            fail(f"categories.{category.id}.retention_years", "must be 0 (the [trace] default) or more")
        if not CATEGORY_ID.match(category.id):
            fail(f"categories.{category.id}", "ids are lower-case letters, digits and dashes")
        if not category.library.strip():
            fail(f"categories.{category.id}.library", "must not be empty")
        key = f"categories.{category.id}"
        if category.deadline_kind not in DEADLINE_KINDS:
            fail(f"{key}.deadline_kind", 'must be "working" or "calendar"')
        for name in ("deadline_days", "urgent_deadline_days", "implicit_decision_days"):
            if getattr(category, name) < 1:
                fail(f"{key}.{name}", "must be 1 or more")
        if category.acknowledge not in ACKNOWLEDGE_KINDS:
            fail(f"{key}.acknowledge", 'must be "sva", "svr", "simple" or "none"')
        if category.transmit and category.acknowledge != "none":
            fail(f"{key}.acknowledge", "must be \"none\" for a category that transmits (L114-2: the competent "
                                       "body acknowledges)")
        if category.acknowledge != "none":
            for name in ("service_name", "service_address"):
                if not getattr(category, name).strip():
                    fail(f"{key}.{name}", f"is required when acknowledge = \"{category.acknowledge}\" "
                                          "(R112-5: the acknowledgement names the service and its postal address)")
    _validate_registration(config, fail)


def _validate_registration(config: Config, fail) -> None:
    from datetime import date

    try:
        config.registration.number_format.format(year=2026, seq=1)
    except (KeyError, IndexError, ValueError) as error:
        fail("registration.number_format", f"must use only {{year}} and {{seq}} ({error})")
    try:
        config.registration.stamp_text.format(date="", time="", number="", organisation="")
    except (KeyError, IndexError, ValueError) as error:
        fail("registration.stamp_text", f"may use {{date}}, {{time}}, {{number}}, {{organisation}} ({error})")
    for index, day in enumerate(config.registration.extra_closed_days):
        try:
            date.fromisoformat(day)
        except ValueError:
            fail(f"registration.extra_closed_days[{index}]", f"not an ISO date (YYYY-MM-DD): {day!r}")
    ack = config.acknowledgement
    if ack.delay_minutes < 0:
        fail("acknowledgement.delay_minutes", "must be 0 or more")
    if not 1 <= ack.smtp_port <= 65535:
        fail("acknowledgement.smtp_port", "must be a TCP port")
    if ack.max_attempts < 1:
        fail("acknowledgement.max_attempts", "must be 1 or more")
    if ack.smtp_host and "@" not in ack.sender:
        fail("acknowledgement.from", "must be an e-mail address when acknowledgement.smtp_host is set")


def _renamed(table, old: str, new: str):
    """TOML keys that are Python keywords ("from") live under another attribute name."""
    if isinstance(table, dict) and old in table:
        table = dict(table)
        table[new] = table.pop(old)
    return table


def load_config(home: Path, config_file: Path | None = None) -> Config:
    """Default + (config_file, or HOME/mailroom.toml when present) → validated Config."""
    home = Path(home).expanduser().resolve()
    raw = _read_toml(DEFAULT_CONFIG)
    source = str(DEFAULT_CONFIG)
    if config_file is None and (home / "mailroom.toml").is_file():
        config_file = home / "mailroom.toml"
    if config_file is not None:
        source = str(config_file)
        user = _read_toml(Path(config_file))
        if "categories" in user:  # categories are replaced as a whole, never merged
            raw["categories"] = {}
        raw = _merge(raw, user)

    return build_config(raw, home, source)


def build_config(raw: dict, home: Path, source: str) -> Config:
    """Merged raw tables (defaults included) → validated Config; ``source`` names them in errors."""
    known_sections = {"watch", "inboxes", "runner", "ingest", "split", "ocr", "classify", "publish",
                      "sharepoint", "review", "trace", "categories", "registration", "acknowledgement",
                      "transmission"}
    unknown = sorted(set(raw) - known_sections)
    if unknown:
        raise ConfigError(f"{source}: unknown section [{unknown[0]}]")

    inbox_tables = raw.get("inboxes", [])
    if not isinstance(inbox_tables, list):
        raise ConfigError(f"{source}: inboxes must be an array of tables ([[inboxes]])")
    inboxes = []
    for index, table in enumerate(inbox_tables):
        if "path" not in (table or {}):
            raise ConfigError(f"{source}: inboxes[{index}].path is required")
        inboxes.append(_build(InboxConfig, table, f"inboxes[{index}]", source))

    categories = {}
    for category_id, table in raw.get("categories", {}).items():
        for required in ("label", "library"):
            if required not in table:
                raise ConfigError(f"{source}: categories.{category_id}.{required} is required")
        categories[category_id] = _build(Category, table, f"categories.{category_id}", source, id=category_id)

    transmission = raw.get("transmission", {})
    if not isinstance(transmission, dict) or set(transmission) - {"bodies"}:
        raise ConfigError(f"{source}: [transmission] holds only [transmission.bodies.ID] tables")
    bodies = {}
    for body_id, table in transmission.get("bodies", {}).items():
        for required in ("name", "address"):
            if not str((table or {}).get(required, "")).strip():
                raise ConfigError(f"{source}: transmission.bodies.{body_id}.{required} is required")
        bodies[body_id] = _build(TransmissionBody, table, f"transmission.bodies.{body_id}", source, id=body_id)

    config = Config(
        home=home,
        source=source,
        watch=_build(WatchConfig, raw.get("watch", {}), "watch", source),
        inboxes=tuple(inboxes),
        runner=_build(RunnerConfig, raw.get("runner", {}), "runner", source),
        ingest=_build(IngestConfig, raw.get("ingest", {}), "ingest", source),
        split=_build(SplitConfig, raw.get("split", {}), "split", source),
        ocr=_build(OcrConfig, raw.get("ocr", {}), "ocr", source),
        classify=_build(ClassifyConfig, raw.get("classify", {}), "classify", source),
        publish=_build(PublishConfig, raw.get("publish", {}), "publish", source),
        sharepoint=_build(SharePointConfig, raw.get("sharepoint", {}), "sharepoint", source),
        review=_build(ReviewConfig, raw.get("review", {}), "review", source),
        trace=_build(TraceConfig, raw.get("trace", {}), "trace", source),
        categories=categories,
        registration=_build(RegistrationConfig, raw.get("registration", {}), "registration", source),
        acknowledgement=_build(AcknowledgementConfig, _renamed(raw.get("acknowledgement", {}), "from", "sender"),
                               "acknowledgement", source),
        transmission_bodies=bodies,
    )
    ocr_table = raw.get("ocr", {})
    if config.trace.enabled and isinstance(ocr_table, dict) and "pdfa" not in ocr_table:
        # default.toml leaves pdfa unset: PDF/A-2b is the archival default of a reliable copy
        config = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, pdfa=True))
    _validate(config)
    return config


SECRET_KEYS = {"password", "token", "secret", "key_file", "thumbprint"}


def to_toml_dict(config: Config) -> dict:
    """The effective configuration as plain data, secrets masked, for `config show`."""

    def plain(obj):
        if dataclasses.is_dataclass(obj):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "id"}
        if isinstance(obj, Path):
            return str(obj)
        if isinstance(obj, (list, tuple)):
            return [plain(item) for item in obj]
        if isinstance(obj, dict):
            return {key: plain(value) for key, value in obj.items()}
        return obj

    data = {name: plain(getattr(config, name)) for name in
            ("watch", "runner", "ingest", "split", "ocr", "classify", "publish", "sharepoint", "review", "trace",
             "registration", "acknowledgement")}
    data["acknowledgement"]["from"] = data["acknowledgement"].pop("sender")
    data["transmission"] = {"bodies": plain(config.transmission_bodies)}
    data["inboxes"] = plain(config.inboxes)
    data["categories"] = plain(config.categories)
    for key in list(data["sharepoint"]):
        if any(secret in key for secret in SECRET_KEYS) and not key.endswith("_env") and data["sharepoint"][key]:
            data["sharepoint"][key] = "***"
    for key in list(data["trace"]):
        if "password" in key and not key.endswith("_env") and data["trace"][key]:
            data["trace"][key] = "***"
    for key in ("broker_url", "result_backend"):
        data["runner"][key] = redact_url(data["runner"][key])
    return data


def redact_url(url: str) -> str:
    """A URL with its password (if one was written in it) masked, for display."""
    return re.sub(r"^([a-z+]+://[^:/@]*:)[^@]+@", r"\1***@", url)
