"""Run the review app in a background thread, so that `mailroom serve` can host it beside the watcher."""
from __future__ import annotations

import threading
import time

import uvicorn

from ..config import Config
from .app import create_app

START_TIMEOUT = 20.0


class ReviewServer:
    """A started uvicorn server; ``url`` is where supervisors connect, ``stop()`` ends it cleanly."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int):
        self._server, self._thread = server, thread
        self.host, self.port = host, port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # a slow request: stop waiting for it
            self._server.force_exit = True
            self._thread.join(timeout)


def start(config: Config, host: str | None = None, port: int | None = None, service=None) -> ReviewServer:
    """Start serving (port 0 picks a free port) and return once the socket listens. ``service`` is the
    long-lived MailroomService to decide with (the watcher's, under `mailroom serve`)."""
    host = host or config.review.host
    port = config.review.port if port is None else port
    app = create_app(config, service=service)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off", server_header=False,
        proxy_headers=False,  # the app itself believes X-Forwarded-* only from review.trusted_proxies
        timeout_graceful_shutdown=5))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as error:  # e.g. the port is taken: report it to the caller
            failure.append(error)

    thread = threading.Thread(target=run, name="mailroom-review", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or failure:
            raise RuntimeError(f"le serveur de revue n'a pas démarré sur {host}:{port}"
                               + (f" : {failure[0]}" if failure else " (port déjà utilisé ?)"))
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"le serveur de revue ne répond pas sur {host}:{port}")
        time.sleep(0.02)
    actual_port = port
    for listener in server.servers:
        for sock in listener.sockets:
            actual_port = sock.getsockname()[1]
            break
    return ReviewServer(server, thread, host, actual_port)
