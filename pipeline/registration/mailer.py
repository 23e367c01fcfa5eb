"""E-mailed acknowledgements: one message per document, over SMTP (STARTTLS, login from the environment).

The Message-ID is derived from the document's uid and the letter's kind, so a message sent twice by
accident is recognisably the same one; the store's two-phase state (``sending``
then ``sent``) is what keeps mailroom from sending it twice (acknowledgement.py).
"""
from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from ..config import AcknowledgementConfig


class SendError(RuntimeError):
    """The SMTP server refused or could not be reached; ``transient`` says whether a retry may help."""

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient


def build_message(config: AcknowledgementConfig, key: str, to: str, subject: str, body: str,
                  pdf: bytes, filename: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    domain = config.sender.rpartition("@")[2] or "mailroom.invalid"
    message["Message-ID"] = f"<{key}@{domain}>"
    message.set_content(body)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    return message


def send(config: AcknowledgementConfig, message: EmailMessage) -> None:
    user, password = os.environ.get(config.user_env, ""), os.environ.get(config.password_env, "")
    try:
        with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.smtp_timeout_seconds) as smtp:
            smtp.ehlo()
            if config.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if user:
                smtp.login(user, password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        raise SendError(f"adresse refusée par le serveur SMTP : {error.recipients}", transient=False) from error
    except smtplib.SMTPAuthenticationError as error:
        raise SendError(f"identifiants SMTP refusés ({config.user_env}) : {error.smtp_code}") from error
    except (smtplib.SMTPException, OSError) as error:
        raise SendError(f"envoi impossible par {config.smtp_host}:{config.smtp_port} : {error}") from error
