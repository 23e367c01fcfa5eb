"""One error hierarchy with stable codes, and the command's exit codes.

Stages raise these; the edges (the CLI, reason files, the review app) turn them
into words for people. ``code`` never changes once published: scripts, logs and
translations key on it.
"""
from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What `mailroom` returns to the shell (documented in the README)."""

    OK = 0             # everything ended published, waiting for review, or a duplicate
    FAILED = 1         # the command could not do its job (a check failed, a server did not start, a bug)
    USAGE = 2          # bad arguments, a missing file or folder, an invalid configuration
    INCOMPLETE = 3     # `process` / `retry`: something was quarantined or a publication failed
    INTERRUPTED = 130  # Ctrl-C (SIGINT)


class MailroomError(Exception):
    """Base of every error mailroom expects; ``code`` is stable, ``message`` is for people."""

    code = "mailroom-error"
    exit_code = ExitCode.FAILED

    def __init__(self, message: str = "", code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class BadInput(MailroomError):
    """The file cannot be processed. ``reason`` says what is wrong and what to do, in French."""

    code = "bad-input"
    exit_code = ExitCode.INCOMPLETE

    def __init__(self, reason: str, code: str | None = None):
        super().__init__(reason, code)
        self.reason = reason


class TesseractFailed(MailroomError):
    """Tesseract did not produce its output; ``reason`` is in French, for the review queue."""

    code = "tesseract-failed"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class PublishError(MailroomError):
    """Publication failed; ``transient`` says whether a later retry may succeed."""

    code = "publish-failed"
    exit_code = ExitCode.INCOMPLETE

    def __init__(self, message: str, transient: bool = True, code: str | None = None):
        super().__init__(message, code)
        self.transient = transient


class DecisionError(MailroomError):
    """A supervisor's decision cannot be applied; the message is for the supervisor (French).

    ``code`` is ``not-waiting`` (no such letter in review), ``already-decided`` (someone else acted
    first: ``by`` and ``at`` say who and when) or ``unknown-category``."""

    code = "decision-refused"

    def __init__(self, message: str, code: str | None = None, by: str | None = None, at: str | None = None):
        super().__init__(message, code)
        self.by, self.at = by, at


class ConfigError(MailroomError, ValueError):
    """The configuration is invalid; the message names the file and the key."""

    code = "config-invalid"
    exit_code = ExitCode.USAGE


class UsageError(MailroomError):
    """The command line asks for something that cannot be done (a missing file, an unknown id)."""

    code = "usage"
    exit_code = ExitCode.USAGE


class WorkerLost(MailroomError):
    """A worker process or node died under a task (killed, out of memory): the task must be submitted again."""

    code = "worker-lost"


class TimestampError(MailroomError):
    """No valid RFC 3161 token was had; ``transient`` says whether asking again later may work."""

    code = "timestamp-failed"

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient


class CannotCheck(MailroomError):
    """`mailroom verify` / `proof` could not make the check (unknown id, SharePoint unreachable): not a finding."""

    code = "cannot-check"
    exit_code = ExitCode.USAGE


class ExportError(MailroomError):
    """An archive transfer package cannot be made; the message says what to set or fix."""

    code = "export-refused"
    exit_code = ExitCode.USAGE
