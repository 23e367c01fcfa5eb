"""A throw-away RFC 3161 time-stamping authority on 127.0.0.1 for the tests.

A CA and a TSA certificate (critical extended key usage timeStamping) are made at test time
with ``cryptography``; each query is answered by ``openssl ts -reply``. ``down = True`` makes it
answer 503, as a TSA under maintenance would.
"""
from __future__ import annotations

import datetime
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OPENSSL_CONFIG = """
[ tsa ]
default_tsa = local_tsa
[ local_tsa ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailroom tests")])


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _key_usage(authority: bool) -> x509.KeyUsage:
    """A CA signs certificates; the TSA signs tokens (digitalSignature + nonRepudiation)."""
    return x509.KeyUsage(digital_signature=not authority, content_commitment=not authority, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=authority, crl_sign=authority,
                         encipher_only=False, decipher_only=False)


def make_authority(directory: Path, common_name: str = "Test TSA") -> Path:
    """ca.pem, tsa.pem, tsa.key, serial and openssl.cnf in ``directory``; returns ca.pem."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(f"{common_name} CA")).issuer_name(_name(f"{common_name} CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(_key_usage(authority=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca.subject)
           .public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(_key_usage(authority=False), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
           .sign(ca_key, hashes.SHA256()))
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "tsa.pem").write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    _write_key(tsa_key, directory / "tsa.key")
    (directory / "serial").write_text("01\n")
    (directory / "openssl.cnf").write_text(OPENSSL_CONFIG.format(dir=directory))
    return directory / "ca.pem"


class LocalTsa:
    def __init__(self, directory: Path):
        self.directory = directory
        self.ca_file = make_authority(directory)
        self.down = False
        self.requests = 0
        self._lock = threading.Lock()  # openssl updates the serial file
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                tsa.requests += 1
                if tsa.down or self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_response(503 if tsa.down else 400)
                    self.end_headers()
                    return
                answer = tsa.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/tsa"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def reply(self, query: bytes) -> bytes:
        with self._lock, tempfile.TemporaryDirectory(dir=self.directory) as scratch:
            query_file, reply_file = Path(scratch) / "q.tsq", Path(scratch) / "r.tsr"
            query_file.write_bytes(query)
            subprocess.run(["openssl", "ts", "-reply", "-config", str(self.directory / "openssl.cnf"),
                            "-queryfile", str(query_file), "-out", str(reply_file)],
                           check=True, capture_output=True)
            return reply_file.read_bytes()

    def openssl_verify(self, token: Path, data: Path) -> subprocess.CompletedProcess:
        return subprocess.run(["openssl", "ts", "-verify", "-in", str(token), "-data", str(data),
                               "-CAfile", str(self.ca_file)], capture_output=True, text=True)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
