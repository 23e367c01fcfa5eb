"""The supervisors' review web app (FastAPI + Jinja2, French pages, no build step).

Every route except the login form, the accessibility statement and the
stylesheet requires a session; every form carries a CSRF token; only documents
in the review state can be seen or changed here, only by supervisors, and an
account limited to some categories sees only the letters of those categories
(any other is a 404, like a document that does not exist). Decisions are
carried out by the shared ``MailroomService`` (``pipeline.decisions``) so that a
reviewed letter is routed, published and journaled exactly like one the machine
was sure of, with the same publisher. A letter someone else already handled
answers 409 « Ce courrier a déjà été traité par X à HH:MM ». Account pages (own
password; accounts for admins) live in ``accounts.py``.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import Config
from ..errors import DecisionError
from ..messages import say_reason
from ..records import REVIEW, Document
from ..store import Store
from . import accounts, queries
from .auth import COOKIE_NAME, ROLE_LABELS, ClientAddress, Session, Sessions, Throttle, verify_password
from ..registration.acknowledgement import Acknowledger
from ..registration.board import TRANSMISSION_PARTS, acknowledgement_label, delivery_label, registration_board
from .previews import SAFE_ID, SIZES, PreviewUnavailable, page_image, prune

log = logging.getLogger("mailroom.review")
HERE = Path(__file__).resolve().parent
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PUBLIC_PATHS = {"/login", "/static/review.css", "/accessibilite"}  # everything else needs a session
MAX_FIELD = 300
MAX_REASON = 500
MAX_REFERENCES = 20
QUEUE_ROWS = 200   # rows on the queue page; the rest is reached by J from the last one
PRUNE_EVERY = 3600  # seconds between clean-ups of the page image cache
FRENCH_DEFAULTS = {"Not Found": "Page introuvable.", "Method Not Allowed": "Méthode non autorisée."}
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",  # no other site (even on this host) may embed page images
    "Cache-Control": "no-store",  # nothing, above all no letter image, stays in the browser's cache
}
HSTS = "max-age=31536000"


class FormError(ValueError):
    """A value of the decision form that cannot be used; the message is shown to the supervisor."""


def already_handled(by: str | None, at: str | None) -> str:
    """The French message a supervisor sees when someone else acted first."""
    moment = _moment(at)
    when = f" à {moment.astimezone():%H:%M}" if moment else ""
    return f"Ce courrier a déjà été traité par {by or 'mailroom'}{when}."


def create_app(config: Config, store: Store | None = None, service=None) -> FastAPI:
    """``service`` is the long-lived ``MailroomService`` (shared with the watcher under `mailroom serve`);
    one is made here when the app runs alone. It is built lazily: it imports OCR and the models."""
    store = store or (service.store if service is not None else Store(config.database_path))
    services = [service]

    def shared_service():
        if services[0] is None:
            from ..service import MailroomService
            services[0] = MailroomService(config, store)
        return services[0]
    sessions = Sessions.for_config(config, store)
    throttle, clients = Throttle(), ClientAddress(config.review.trusted_proxies)
    https = config.review.public_url.startswith("https://")
    public_host = urlsplit(config.review.public_url).netloc
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(when=format_when, percent=format_percent, age=format_age, waited=format_waited,
                                 duration=format_duration, deadline=format_deadline, say=say_reason)
    app = FastAPI(title="mailroom — revue", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config, app.state.store, app.state.sessions, app.state.throttle = config, store, sessions, throttle
    app.state.service = shared_service
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def category_label(category_id: str | None) -> str:
        category = config.categories.get(category_id or "")
        return category.label if category else (category_id or "—")

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        session: Session | None = request.state.session
        session_id = request.state.session_id or sessions.new_id()
        context |= {
            "session": session,
            "role_label": ROLE_LABELS.get(session.role, session.role) if session else "",
            "csrf": sessions.csrf_token(session_id),
            "flash": _take_flash(session),
            "label": category_label,
            "urgent": queries.is_urgent,
            "deadline_of": queries.deadline,
            "announce": getattr(request.state, "announce", ""),
        }
        response = templates.TemplateResponse(request, name, context, status_code=status)
        if request.state.session_id is None:  # an anonymous visitor gets an id for the login form's token
            set_cookie(request, response, sessions.cookie_value(session_id))
        return response

    def set_cookie(request: Request, response: Response, value: str) -> None:
        response.set_cookie(COOKIE_NAME, value, httponly=True, samesite="lax", path="/",
                            secure=https or request.state.scheme == "https")

    app.state.render, app.state.set_cookie = render, set_cookie

    # -- guard: sessions, origin, headers ---------------------------------------------
    @app.middleware("http")
    async def guard(request: Request, call_next):
        peer = request.client.host if request.client else None
        request.state.client = clients.of(peer, request.headers.get("x-forwarded-for"))
        request.state.scheme = clients.scheme(peer, request.headers.get("x-forwarded-proto"), request.url.scheme)
        session_id = sessions.id_from_cookie(request.cookies.get(COOKIE_NAME))
        request.state.session_id = session_id
        request.state.session = await run_in_threadpool(sessions.get, session_id)
        path = request.url.path
        public = path in PUBLIC_PATHS
        if request.method not in SAFE_METHODS and not _same_origin(request, public_host):
            response: Response = PlainTextResponse("Requête refusée : elle ne vient pas de cette application.", 403)
        elif request.state.session is None and not public:
            if request.method in ("GET", "HEAD"):
                target = path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?suivant={quote(target, safe='')}", status_code=303)
            else:
                response = PlainTextResponse("Connexion requise.", 401)
        else:
            response = await call_next(request)
        if request.state.session is not None:  # messages for the next page survive a restart too
            await run_in_threadpool(sessions.save_flash, request.state.session)
        for header, value in SECURITY_HEADERS.items():
            response.headers[header] = value
        if https or request.state.scheme == "https":
            response.headers["Strict-Transport-Security"] = HSTS
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = FRENCH_DEFAULTS.get(str(error.detail), str(error.detail))
        if getattr(request.state, "session", None) is None or error.status_code == 401:
            return PlainTextResponse(message, error.status_code)
        return render(request, "error.html", status=error.status_code, message=message,
                      status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_path(request: Request, error: RequestValidationError) -> Response:
        # Only path parameters are validated by FastAPI here (page numbers): a bad one is simply not a page.
        return await http_error(request, StarletteHTTPException(404, "Page introuvable."))

    # -- dependencies -----------------------------------------------------------------
    def current(request: Request) -> Session:
        session = request.state.session
        if session is None:  # the guard already refused; this keeps each route safe on its own
            raise HTTPException(401, "Connexion requise.")
        return session

    def supervisor(session: Session = Depends(current)) -> Session:
        if not session.can_decide:
            raise HTTPException(403, "Votre compte est en lecture seule : seuls les superviseurs décident.")
        return session

    async def csrf(request: Request) -> None:
        form = await request.form()
        if not sessions.csrf_ok(request.state.session_id, form.get("csrf")):
            raise HTTPException(403, "Formulaire expiré ou invalide (jeton CSRF). Rechargez la page et recommencez.")

    def decided_elsewhere(request: Request, error: DecisionError) -> Response:
        """409: another supervisor (or the machine) handled this letter first; nothing was changed."""
        message = already_handled(error.by, error.at)
        return render(request, "error.html", status=409, message=message, status_code=409)

    def pending_decision(document_id: str) -> Document:
        """The letter to decide on; a decided one raises ``DecisionError`` (409), an unknown one 404."""
        doc = store.get_document(document_id) if SAFE_ID.match(document_id) else None
        if doc is not None and doc.state != "review":
            by, at = store.last_move(doc.id, doc.state)
            raise DecisionError("already-decided", by=by, at=at, state=doc.state)
        return waiting_document(document_id)

    def waiting_document(document_id: str, session: Session | None = None) -> Document:
        scope = session.may_see if session else queries.everything
        doc = queries.review_document(store, document_id, scope) if SAFE_ID.match(document_id) else None
        if doc is None:
            raise HTTPException(404, "Ce document n'est pas (ou plus) dans la file d'attente.")
        return doc

    async def in_scope(request: Request, document_id: str):
        """Around a decision: a letter outside the account's categories does not exist for it (404; the
        endpoint answers for unknown and already decided letters); after the decision, a letter sent out of
        those categories (a misroute leaving the queue) is journaled."""
        session = current(request)
        before = await run_in_threadpool(store.get_document, document_id) if SAFE_ID.match(document_id) else None
        if before is not None and not session.may_see(queries.categories_of(before)):
            raise HTTPException(404, "Ce document n'est pas (ou plus) dans la file d'attente.")
        yield
        if before is None or before.state != REVIEW or not session.categories:
            return
        after = await run_in_threadpool(store.get_document, document_id)
        if after is not None and after.state != REVIEW and after.category and after.category not in session.categories:
            await run_in_threadpool(store.journal, "review-out-of-scope", before.input_id, document_id, session.user,
                                    before=before.category, after=after.category, categories=session.categories)

    # -- login / logout -----------------------------------------------------------------
    @app.get("/login")
    def login_form(request: Request, suivant: str = "") -> Response:
        if request.state.session is not None:
            return RedirectResponse(_safe_next(suivant), status_code=303)
        return render(request, "login.html", suivant=_safe_next(suivant), error=None, username="",
                      no_accounts=not queries.has_users(store))

    @app.post("/login", dependencies=[Depends(csrf)])
    async def login(request: Request) -> Response:
        form = await request.form()
        username = str(form.get("username", "")).strip()[:64]
        password = str(form.get("password", ""))
        suivant = _safe_next(str(form.get("suivant", "")))
        client = request.state.client
        wait = throttle.wait(client)
        if wait > 0:  # this address only: the same account still opens from anywhere else
            return render(request, "login.html", status=429, suivant=suivant, username=username,
                          error=f"Trop d'essais depuis ce poste. Patientez {_seconds(wait)} avant de recommencer.")
        delay = throttle.global_delay()
        if delay:  # many failures everywhere: everyone waits a little, nobody is refused
            await asyncio.sleep(delay)
        user = await run_in_threadpool(store.get_user, username) if username else None
        ok = await run_in_threadpool(verify_password, user["password_hash"] if user else None, password)
        if not ok or user is None:
            throttle.failed(client)
            await run_in_threadpool(store.journal, "review-login-failed", actor="anonyme", client=client)
            return render(request, "login.html", status=401, suivant=suivant, username=username,
                          error="Identifiant ou mot de passe incorrect.")
        throttle.succeeded(client)
        await run_in_threadpool(sessions.close, request.state.session_id)
        session = await run_in_threadpool(sessions.open, user)
        await run_in_threadpool(store.journal, "review-login", actor=user["name"], role=user["role"], client=client)
        response = RedirectResponse(suivant, status_code=303)
        set_cookie(request, response, sessions.cookie_value(session.id))
        return response

    @app.post("/logout", dependencies=[Depends(csrf)])
    def logout(request: Request, session: Session = Depends(current)) -> Response:
        sessions.close(session.id)
        store.journal("review-logout", actor=session.user)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response

    # -- pages ------------------------------------------------------------------------------
    @app.get("/")
    def home(session: Session = Depends(current)) -> Response:
        return RedirectResponse("/queue", status_code=303)

    last_prune = [0.0]

    @app.get("/queue")
    def queue_page(request: Request, session: Session = Depends(current)) -> Response:
        queue = queries.review_queue(store, session.may_see)
        if time.monotonic() - last_prune[0] > PRUNE_EVERY:  # decided documents need no images any more
            last_prune[0] = time.monotonic()
            prune(config, {doc.id for doc in queries.review_queue(store)})
        return render(request, "queue.html", queue=queue[:QUEUE_ROWS], total=len(queue), page="queue")

    @app.get("/documents/{document_id}")
    def document_page(request: Request, document_id: str, session: Session = Depends(current)) -> Response:
        doc = waiting_document(document_id, session)
        # Who opened which letter: the access trace a département keeps, and the start of the time per letter.
        store.journal("review-viewed", doc.input_id, doc.id, session.user)
        request.state.announce = _announcement(session, doc)
        return render(request, "document.html", **_document_context(config, store, doc, session.may_see),
                      page="document", errors=[], values=None)

    @app.get("/documents/{document_id}/pages/{page}/{size}")
    def page_png(document_id: str, page: int, size: str, session: Session = Depends(current)) -> Response:
        doc = waiting_document(document_id, session)
        if size not in SIZES:
            raise HTTPException(404, "Taille d'image inconnue.")
        try:
            path = page_image(config, doc, page, size)
        except PreviewUnavailable as error:
            raise HTTPException(404, f"Image indisponible : {error}") from None
        return FileResponse(path, media_type="image/png")

    @app.post("/documents/{document_id}/decision", dependencies=[Depends(csrf), Depends(in_scope)])
    async def decide(request: Request, document_id: str, session: Session = Depends(supervisor)) -> Response:
        try:
            doc = await run_in_threadpool(pending_decision, document_id)
        except DecisionError as error:
            return decided_elsewhere(request, error)
        form = await request.form()
        try:
            category, fields = _decision_from_form(config, doc, form)
        except FormError as error:
            context = await run_in_threadpool(_document_context, config, store, doc, session.may_see)
            return render(request, "document.html", status=400, **context, page="document",
                          errors=[str(error)], values=_form_values(form))
        order = await run_in_threadpool(_queue_ids, store, session)
        try:
            service = await run_in_threadpool(shared_service)
            decided = await run_in_threadpool(service.decide, doc.id, category, fields, session.user)
        except DecisionError as error:
            if error.code == "already-decided":
                return decided_elsewhere(request, error)
            session.flash.append(f"Décision non enregistrée : {error}")
        except Exception:  # keep the supervisor in the app; the details go to the log
            log.exception("review decision failed for %s", doc.id)
            session.flash.append(f"Erreur inattendue pendant la décision sur {doc.id} : voir le journal du service.")
        else:
            session.flash.append(_decision_message(decided, category_label(decided.category)))
        return await run_in_threadpool(_go_next, store, order, doc.id, session)

    @app.post("/documents/{document_id}/rejection", dependencies=[Depends(csrf), Depends(in_scope)])
    async def reject(request: Request, document_id: str, session: Session = Depends(supervisor)) -> Response:
        try:
            doc = await run_in_threadpool(pending_decision, document_id)
        except DecisionError as error:
            return decided_elsewhere(request, error)
        form = await request.form()
        reason = " ".join(str(form.get("reason", "")).split())[:MAX_REASON]
        if not reason:
            context = await run_in_threadpool(_document_context, config, store, doc, session.may_see)
            return render(request, "document.html", status=400, **context, page="document", values=None,
                          errors=["Indiquez pourquoi ce document n'est pas un courrier."], reject_open=True)
        order = await run_in_threadpool(_queue_ids, store, session)
        try:
            service = await run_in_threadpool(shared_service)
            await run_in_threadpool(service.reject, doc.id, reason, session.user)
        except DecisionError as error:
            if error.code == "already-decided":
                return decided_elsewhere(request, error)
            session.flash.append(f"Rejet non enregistré : {error}")
        except Exception:
            log.exception("rejection failed for %s", doc.id)
            session.flash.append(f"Erreur inattendue pendant le rejet de {doc.id} : voir le journal du service.")
        else:
            session.flash.append(f"Document {doc.id} rejeté et mis en quarantaine : {reason}")
        return await run_in_threadpool(_go_next, store, order, doc.id, session)

    @app.get("/dashboard")
    def dashboard_page(request: Request, session: Session = Depends(current)) -> Response:
        board = queries.dashboard(config, store, scope=session.may_see, everything_visible=not session.categories,
                                  me=session.user)
        return render(request, "dashboard.html", board=board, page="dashboard",
                      reg=registration_board(config, store), ack_label=acknowledgement_label,
                      delivery_label=delivery_label, transmission_parts=TRANSMISSION_PARTS)

    @app.post("/documents/{document_id}/acknowledgement", dependencies=[Depends(csrf)])
    async def acknowledgement(request: Request, document_id: str, session: Session = Depends(supervisor)) -> Response:
        """Cancel or force the acknowledgement of a letter in review, or of a filed one before it goes."""
        doc = store.get_document(document_id) if SAFE_ID.match(document_id) else None
        if doc is None:
            raise HTTPException(404, "Document inconnu.")
        action = (await request.form()).get("action")
        acknowledger = Acknowledger(config, store)
        if action == "cancel":
            done = await run_in_threadpool(acknowledger.cancel, doc.id, session.user)
            message = "Accusé de réception annulé" if done else "Trop tard : l'accusé de réception est déjà parti"
        elif action == "force":
            done = await run_in_threadpool(acknowledger.force, doc.id, session.user)
            message = ("Accusé de réception demandé" if done and done.acknowledgement.get("state") != "none" else
                       "Impossible : l'accusé de réception est déjà parti ou la catégorie n'a pas de service")
        else:
            raise HTTPException(400, "Action inconnue.")
        session.flash.append(f"{message} ({doc.registration or doc.id}).")
        target = f"/documents/{quote(doc.id)}" if doc.state == "review" else "/dashboard"
        return RedirectResponse(target, status_code=303)

    @app.get("/aide")
    def help_page(request: Request, session: Session = Depends(current)) -> Response:
        return render(request, "help.html", page="help")

    @app.get("/accessibilite")
    def accessibility_page(request: Request) -> Response:
        return render(request, "accessibility.html", page="accessibility")

    accounts.register(app, current, csrf)
    return app


# -- helpers -----------------------------------------------------------------------------------
def _take_flash(session: Session | None) -> list[str]:
    if session is None:
        return []
    messages, session.flash[:] = list(session.flash), []
    return messages


def _same_origin(request: Request, public_host: str = "") -> bool:
    """A state-changing request must come from our own pages (when the browser says where from)."""
    origin = request.headers.get("origin")
    if origin is None:  # older browsers and tests; the CSRF token still protects the form
        return True
    return urlsplit(origin).netloc in {request.headers.get("host", ""), public_host} - {""}


def _seconds(wait: float) -> str:
    seconds = max(1, round(wait))
    return f"{seconds} seconde{'s' if seconds > 1 else ''}" if seconds < 120 else f"{seconds // 60} minutes"


def _announcement(session: Session, doc: Document) -> str:
    """What the live region says when a decision has just brought the supervisor to this letter."""
    text = " ".join(session.flash)
    done = "classé" if " classé" in text else "rejeté" if " rejeté" in text else None
    if done is None:
        return ""
    sender = doc.fields.get("sender")
    return f"Courrier {done}, suivant : {doc.id}" + (f", {sender}" if sender else "")


def _safe_next(target: str) -> str:
    """Only paths of this app, never another site (no open redirect)."""
    if LOCAL_PATH.match(target) and not target.startswith("//") and not target.startswith("/login"):
        return target
    return "/queue"


def _queue_ids(store: Store, session: Session) -> list[str]:
    return [doc.id for doc in queries.review_queue(store, session.may_see)]


def _go_next(store: Store, order: list[str], document_id: str, session: Session) -> Response:
    following = queries.next_after(store, order, document_id, session.may_see)
    if following is None:
        return RedirectResponse("/queue", status_code=303)
    return RedirectResponse(f"/documents/{quote(following)}", status_code=303)


def _decision_message(doc: Document, label: str) -> str:
    if doc.state == "published":
        return f"Document {doc.id} classé « {label} » et publié."
    if doc.state == "publish-failed":
        return (f"Document {doc.id} classé « {label} », mais la publication a échoué "
                f"({doc.reason or 'voir le journal'}) ; elle sera retentée automatiquement.")
    return f"Document {doc.id} classé « {label} » (état : {doc.state})."


def _document_context(config: Config, store: Store, doc: Document,
                      scope: queries.Scope = queries.everything) -> dict[str, Any]:
    queue = queries.review_queue(store, scope)
    previous, following = queries.neighbours(queue, doc.id)
    top = [c for c in doc.candidates if c.category in config.categories][:3]
    proposed = top[0].category if top else (doc.category if doc.category in config.categories else None)
    top_ids = {c.category for c in top}
    others = sorted((c for c in config.categories.values() if c.id not in top_ids), key=lambda c: c.label.lower())
    position = [d.id for d in queue].index(doc.id) + 1 if doc.id in [d.id for d in queue] else None
    return {"doc": doc, "top": top, "proposed": proposed, "others": others, "previous": previous,
            "following": following, "position": position, "queue_length": len(queue),
            "references": list(doc.fields.get("references") or []),
            "transmission_bodies": list(config.transmission_bodies.values())}


def _form_values(form) -> dict[str, Any]:
    """What the supervisor typed, to show it again with an error instead of losing it."""
    return {
        "category": str(form.get("category", "")),
        "sender": str(form.get("sender", ""))[:MAX_FIELD],
        "letter_date": str(form.get("letter_date", ""))[:20],
        "references": [{"kind": str(k)[:MAX_FIELD], "value": str(v)[:MAX_FIELD]}
                       for k, v in zip(form.getlist("ref_kind"), form.getlist("ref_value"))],
        "urgent": form.get("urgent") == "on",
        "transmit_to": str(form.get("transmit_to", "")),
    }


LOCAL_PATH = re.compile(r"^/[A-Za-z0-9/_.~%?=&-]*$")  # no spaces, tabs or backslashes browsers would "fix"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _decision_from_form(config: Config, doc: Document, form) -> tuple[str, dict[str, Any]]:
    """(category, fields) from the decision form, checked; the document's other fields are kept."""
    action = form.get("action", "correct")
    top = [c.category for c in doc.candidates if c.category in config.categories]
    if action == "accept":
        category = top[0] if top else (doc.category or "")
    else:
        category = str(form.get("category", ""))
    if category not in config.categories:
        raise FormError("Choisissez une catégorie dans la liste.")
    sender = " ".join(str(form.get("sender", "")).split())
    if len(sender) > MAX_FIELD:
        raise FormError(f"L'expéditeur dépasse {MAX_FIELD} caractères.")
    letter_date = str(form.get("letter_date", "")).strip()
    if letter_date and letter_date != (doc.fields.get("letter_date") or ""):  # an unchanged odd value is kept
        try:
            if not ISO_DATE.match(letter_date):
                raise ValueError
            date.fromisoformat(letter_date)
        except ValueError:
            raise FormError("La date du courrier doit être une date valide (jj/mm/aaaa).") from None
    references = []
    for kind, value in zip(form.getlist("ref_kind"), form.getlist("ref_value")):
        kind, value = " ".join(str(kind).split()), " ".join(str(value).split())
        if value:
            if len(kind) > MAX_FIELD or len(value) > MAX_FIELD:
                raise FormError(f"Une référence dépasse {MAX_FIELD} caractères.")
            references.append({"kind": kind or "référence", "value": value})
    if len(references) > MAX_REFERENCES:
        raise FormError(f"{MAX_REFERENCES} références au plus.")
    fields = dict(doc.fields) | {"sender": sender or None, "letter_date": letter_date or None,
                                 "references": references, "urgent": form.get("urgent") == "on"}
    if config.categories[category].transmit:  # L114-2: to whom this letter is passed on
        body = str(form.get("transmit_to", ""))
        if body not in config.transmission_bodies:
            raise FormError("Choisissez l'organisme compétent à qui transmettre ce courrier." if config.transmission_bodies
                            else "Aucun organisme n'est configuré pour les transmissions ([transmission.bodies]).")
        fields["transmitted_to"] = body
    return category, fields


# -- template filters (French formats) ------------------------------------------------------------
def _moment(value: str | None) -> datetime | None:
    """An ISO date or timestamp from the database; None when absent or unreadable."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def format_when(value: str | None) -> str:
    moment = _moment(value)
    if moment is None:
        return value or "—"
    if len(value) <= 10:
        return f"{moment:%d/%m/%Y}"
    return f"{moment.astimezone():%d/%m/%Y à %H:%M}"


def format_percent(value: float | None, scale: float = 100.0) -> str:
    if value is None:
        return "—"
    return f"{round(value * scale)}\u202f%"


def format_duration(seconds: float | None) -> str:
    """'1 min 05 s', '42 s' — the median time a supervisor spends on a letter."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def format_deadline(value: date | None) -> str:
    """'14/03/2026 (dans 3 jours)', '10/03/2026 (dépassé de 2 jours)'."""
    if value is None:
        return ""
    days = (value - date.today()).days
    when = f"{value:%d/%m/%Y}"
    if days < 0:
        return f"{when} (dépassé de {-days} jour{'s' if days < -1 else ''})"
    if days == 0:
        return f"{when} (aujourd'hui)"
    return f"{when} (dans {days} jour{'s' if days > 1 else ''})"


def format_age(value: str | None) -> str:
    """'depuis 3 h 05' or 'depuis 2 jours' — how long the oldest letter has waited."""
    waited = format_waited(value)
    return f"depuis {waited}" if waited else ""


def format_waited(value: str | None) -> str:
    """'42 min', '3 h 05', '2 jours' since an ISO time."""
    moment = _moment(value)
    if moment is None:
        return ""
    minutes = max(0, int((datetime.now().astimezone() - moment.astimezone()).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d}"
    return f"{minutes // (24 * 60)} jours"
