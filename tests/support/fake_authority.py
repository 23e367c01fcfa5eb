"""A local Entra ID authority (login.microsoftonline.com) over HTTPS, for certificate app-only auth.

It answers MSAL's tenant discovery and the client-credentials grant, and checks the
client assertion as Entra ID does: the application must exist in the tenant, the
assertion must be signed by the key of the certificate registered for it (x5t =
its SHA-1 thumbprint) within the certificate's validity. Refusals carry the real
AADSTS codes and wording shape; tokens it issues are registered with the
SharePoint emulator for a chosen lifetime.
"""
from __future__ import annotations

import base64
import datetime
import json
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt

from .tls import Certificate, serve, stop


class FakeAuthority:
    def __init__(self, tls: Certificate, tenant: str, client_id: str, certificate: Certificate, emulator,
                 token_lifetime: int = 3600):
        self.tls = tls
        self.tenant, self.client_id = tenant, client_id
        self.registered = certificate          # the certificate uploaded to the app registration
        self.emulator = emulator
        self.token_lifetime = token_lifetime
        self.issued: list[str] = []
        self.refusals: list[str] = []
        self.next_error: tuple[str, str] | None = None  # (error, "AADSTSnnn: …") for the next grant
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeAuthority":
        authority = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def answer(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                tenant = self.path.strip("/").split("/")[0]
                if tenant != authority.tenant:
                    return self.answer(400, authority.refusal("invalid_tenant", f"AADSTS90002: Tenant '{tenant}' "
                                                          "not found. Check to make sure you have the correct "
                                                          "tenant ID and are signing into the correct cloud."))
                if self.path.endswith("/.well-known/openid-configuration"):
                    base = f"{authority.url}/{tenant}"
                    return self.answer(200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                                             "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                             "issuer": f"{base}/v2.0", "device_authorization_endpoint":
                                                 f"{base}/oauth2/v2.0/devicecode"})
                self.answer(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, payload = authority.grant(self.path, form)
                self.answer(status, payload)

        self._server = serve(Handler, (str(self.tls.cert_file), str(self.tls.key_file)))
        return self

    def stop(self) -> None:
        stop(self._server)
        self._server = None

    def refusal(self, error: str, description: str) -> dict:
        self.refusals.append(description.split(":")[0])
        return {"error": error, "error_description": description,
                "error_codes": [int(description[6:].split(":")[0])], "timestamp": "2026-12-02 10:00:00Z",
                "trace_id": secrets.token_hex(8), "correlation_id": secrets.token_hex(8)}

    def grant(self, path: str, form: dict) -> tuple[int, dict]:
        if self.next_error is not None:
            error, description = self.next_error
            self.next_error = None
            return 401, self.refusal(error, description)
        if form.get("client_id") != self.client_id:
            return 400, self.refusal("unauthorized_client", f"AADSTS700016: Application with identifier "
                                     f"'{form.get('client_id')}' was not found in the directory '{self.tenant}'.")
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            x5t = base64.urlsafe_b64decode(header.get("x5t", "") + "==").hex().upper()
            if x5t != self.registered.thumbprint:
                raise jwt.InvalidSignatureError("unknown key")
            jwt.decode(assertion, self.registered.certificate.public_key(), algorithms=["RS256", "PS256"],
                       audience=f"{self.url}{path}")
            if self.registered.certificate.not_valid_after_utc < datetime.datetime.now(datetime.timezone.utc):
                raise jwt.InvalidSignatureError("expired certificate")
        except jwt.PyJWTError:
            return 401, self.refusal("invalid_client", "AADSTS700027: The certificate with identifier used to sign "
                                     "the client assertion is not registered on application. [Reason - The key "
                                     "was not found., Thumbprint of key used by client: '…']")
        token = f"aad-{secrets.token_hex(8)}"
        self.emulator.add_token(token, self.token_lifetime)
        self.issued.append(token)
        return 200, {"token_type": "Bearer", "expires_in": self.token_lifetime, "ext_expires_in": self.token_lifetime,
                     "access_token": token}
