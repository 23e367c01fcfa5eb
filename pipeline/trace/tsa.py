"""RFC 3161 time-stamping: ask the configured authority for a token over some bytes, check it on
receipt, keep it as a file (``.tsr``, the whole TimeStampResp, which ``openssl ts -verify`` reads).

The ASN.1 and CMS work is done by ``rfc3161-client``; this module only moves bytes and decides.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import requests
from cryptography import x509
from rfc3161_client import (HashAlgorithm, PKIStatus, TimestampRequestBuilder, VerificationError, VerifierBuilder,
                            decode_timestamp_response)

from ..config import TraceConfig
from ..errors import TimestampError
from ..files import write_atomically

CONTENT_TYPE_QUERY = "application/timestamp-query"


@dataclass
class Token:
    time: str      # genTime, ISO 8601 UTC
    serial: str    # serial number given by the TSA (hex)
    path: Path     # the stored TimeStampResp

    def record(self, home: Path) -> dict:
        """The ``timestamp`` field of the document and the report; the path is relative to the home."""
        try:
            token = str(self.path.relative_to(home))
        except ValueError:
            token = str(self.path)
        return {"time": self.time, "serial": self.serial, "token": token}


def _trust(settings: TraceConfig) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """(roots, intermediates) from tsa_ca_file: self-issued certificates are roots."""
    if not settings.tsa_ca_file:
        return [], []
    certificates = x509.load_pem_x509_certificates(Path(settings.tsa_ca_file).expanduser().read_bytes())
    roots = [c for c in certificates if c.issuer == c.subject]
    return roots, [c for c in certificates if c.issuer != c.subject]


def check_response(response, data_sha256: bytes, settings: TraceConfig, nonce: int | None = None) -> None:
    """Raise VerificationError unless the token is granted, signed by a TSA that chains to
    tsa_ca_file (when configured) and covers exactly this digest."""
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise VerificationError(f"status {response.status}: {' '.join(response.status_string)}")
    roots, intermediates = _trust(settings)
    if roots:
        builder = VerifierBuilder(nonce=nonce)
        for root in roots:
            builder = builder.add_root_certificate(root)
        for intermediate in intermediates:
            builder = builder.add_intermediate_certificate(intermediate)
        builder.build().verify(response, data_sha256)
        return
    # No trust anchor configured (doctor says so): the imprint and the nonce can still be checked.
    if response.tst_info.message_imprint.message != data_sha256:
        raise VerificationError("the token covers another fingerprint")
    if nonce is not None and response.tst_info.nonce != nonce:
        raise VerificationError("nonce mismatch")


def request_token(settings: TraceConfig, data: bytes, out: Path) -> Token:
    """Ask the TSA for a token over SHA-256(data), check it and store it at ``out``."""
    if not settings.tsa_url:
        raise TimestampError("no time-stamping authority configured ([trace] tsa_url)", transient=False)
    request = TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256).build()
    auth = None
    if settings.tsa_user:
        auth = (settings.tsa_user, os.environ.get(settings.tsa_password_env, ""))
    try:
        answer = requests.post(settings.tsa_url, data=request.as_bytes(), auth=auth,
                               headers={"Content-Type": CONTENT_TYPE_QUERY},
                               timeout=settings.tsa_timeout_seconds)
    except requests.RequestException as error:
        raise TimestampError(f"the time-stamping authority cannot be reached: {error}") from error
    if answer.status_code != 200:
        raise TimestampError(f"the time-stamping authority answered HTTP {answer.status_code}",
                       transient=answer.status_code >= 500 or answer.status_code == 429)
    try:
        response = decode_timestamp_response(answer.content)
        check_response(response, hashlib.sha256(data).digest(), settings, nonce=request.nonce)
    except (ValueError, VerificationError) as error:
        raise TimestampError(f"the time-stamping authority's answer is not a valid token: {error}") from error
    write_atomically(out, response.as_bytes())
    info = response.tst_info
    return Token(time=info.gen_time.isoformat(), serial=format(info.serial_number, "x"), path=out)


def check_token(path: Path, data_sha256_hex: str, settings: TraceConfig) -> str | None:
    """None when the stored token is valid for this fingerprint, else what is wrong (for verify)."""
    try:
        response = decode_timestamp_response(Path(path).read_bytes())
    except OSError as error:
        return f"token unreadable: {error}"
    except ValueError as error:
        return f"token is not a timestamp response: {error}"
    try:
        check_response(response, bytes.fromhex(data_sha256_hex), settings)
    except (ValueError, VerificationError) as error:
        return f"token does not verify: {error}"
    return None
