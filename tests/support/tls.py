"""Certificates made at test time: a self-signed server certificate for 127.0.0.1, and an
application's certificate with its (optionally encrypted) private key, as Entra ID would hold it."""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass
class Certificate:
    cert_file: Path
    key_file: Path
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the DER certificate in hex, as the Entra ID portal shows it."""
        return hashlib.sha1(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def make_certificate(directory: Path, name: str, passphrase: str | None = None,
                     days: int = 30) -> Certificate:
    """A self-signed certificate valid for 127.0.0.1 and localhost (a negative `days` is expired)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=days)) if days > 0 else \
        (now + datetime.timedelta(days=days - 1), now + datetime.timedelta(days=days))
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    encryption = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else \
        serialization.NoEncryption()
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return Certificate(cert_file, key_file, certificate, key)


def serve(handler, tls: tuple[str, str] | None = None) -> ThreadingHTTPServer:
    """`handler` on a free port of 127.0.0.1 in a daemon thread; HTTPS with `tls` = (cert file, key file).
    Stop it with `stop(server)`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def stop(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
