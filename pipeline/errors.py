"""One error hierarchy with stable codes, and the command's exit codes.

Stages raise these with a code and its parameters; the edges (the CLI, reason
files, the review app) turn them into words for people through ``messages.say``.
``code`` never changes once published: scripts, logs and translations key on it.
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


class CodedError(MailroomError):
    """An error whose words come from the catalogue (``messages.TEXTS[code]``) and its parameters, said
    when someone asks (``str(error)``, ``error.reason``), not when it is raised."""

    def __init__(self, code: str | None = None, **params):
        self.code, self.params = code or type(self).code, params
        Exception.__init__(self, self.code)

    @property
    def message(self) -> str:
        from .messages import say

        return say(self.code, **self.params)

    @property
    def reason(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        """What travels (a remote worker's answer) or is journaled: the code and its parameters."""
        return {"code": self.code, "params": dict(self.params)}

    def __reduce__(self):  # pickled across process pools: code, parameters and attributes, not words
        state = {k: v for k, v in self.__dict__.items() if k not in ("code", "params")}
        return (_rebuild, (type(self), self.code, self.params, state))


def _rebuild(kind, code, params, state):
    error = kind.__new__(kind)
    CodedError.__init__(error, code, **params)
    error.__dict__.update(state)
    return error


class BadInput(CodedError):
    """The file cannot be processed: ``code`` says what is wrong (the words say what to do, in French)."""

    code = "bad-input"
    exit_code = ExitCode.INCOMPLETE


class TesseractFailed(CodedError):
    """Tesseract did not produce its output (``tesseract-timeout``, ``tesseract-missing``, ``tesseract-failed``)."""

    code = "tesseract-failed"


class PublishError(CodedError):
    """Publication failed; ``transient`` says whether a later retry may succeed."""

    code = "publish-failed"
    exit_code = ExitCode.INCOMPLETE

    def __init__(self, code: str | None = None, transient: bool = True, **params):
        super().__init__(code, **params)
        self.transient = transient


class DecisionError(CodedError):
    """A supervisor's decision cannot be applied.

    ``code`` is ``not-waiting`` (no such letter in review), ``already-decided`` (someone else acted
    first: ``by`` and ``at`` say who and when) or ``unknown-category``."""

    code = "decision-refused"

    def __init__(self, code: str, **params):
        params.setdefault("by", None)
        params.setdefault("at", None)
        super().__init__(code, **params)

    @property
    def by(self) -> str | None:
        return self.params.get("by")

    @property
    def at(self) -> str | None:
        return self.params.get("at")


class ConfigError(MailroomError, ValueError):
    """The configuration is invalid; the message names the file and the key."""

    code = "config-invalid"
    exit_code = ExitCode.USAGE


class UsageError(MailroomError):
    """The command line asks for something that cannot be done (a missing file, an unknown id)."""

    code = "usage"
    exit_code = ExitCode.USAGE


class WorkerLost(CodedError):
    """A worker process or node died under a task (killed, out of memory): the task must be submitted again."""

    code = "worker-lost"

    def __init__(self, why: str = ""):
        super().__init__(detail=f" ({why})" if why else "")


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
