"""Account pages of the review app: one's own password, and account management for admins.

Mounted by ``app.create_app`` over the same service objects (store, sessions);
pages are rendered by the app's ``render`` so errors and headers stay in one place.
"""
from __future__ import annotations

from typing import Callable

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .auth import (ROLE_LABELS, ROLES, USER_NAME, AccountError, Session, check_password, check_role,
                   hash_password, parse_categories, verify_password)


def register(app: FastAPI, current: Callable, csrf: Callable) -> None:
    config, store, sessions = app.state.config, app.state.store, app.state.sessions

    def render(request: Request, name: str, status: int = 200, **context) -> Response:
        return app.state.render(request, name, status=status, roles=ROLES, role_labels=ROLE_LABELS,
                                categories=list(config.categories.values()), **context)

    def admin(session: Session = Depends(current)) -> Session:
        if not session.is_admin:
            raise HTTPException(403, "Seuls les administrateurs gèrent les comptes.")
        return session

    # -- one's own account --------------------------------------------------------------------
    @app.get("/compte")
    def account_page(request: Request, session: Session = Depends(current)) -> Response:
        return render(request, "account.html", page="account", errors=[])

    @app.post("/compte/mot-de-passe", dependencies=[Depends(csrf)])
    async def change_password(request: Request, session: Session = Depends(current)) -> Response:
        form = await request.form()
        old, new, again = (str(form.get(k, "")) for k in ("current", "new", "again"))
        user = await run_in_threadpool(store.get_user, session.user)
        errors = []
        if not await run_in_threadpool(verify_password, user["password_hash"] if user else None, old):
            errors.append("Le mot de passe actuel est incorrect.")
        elif new != again:
            errors.append("Les deux nouveaux mots de passe diffèrent.")
        else:
            try:
                check_password(new)
            except AccountError as error:
                errors.append(f"Nouveau mot de passe refusé : {error}.")
        if errors:
            return render(request, "account.html", status=400, page="account", errors=errors)
        # A new password ends every session of the account (in the store), this one included; this
        # browser gets a fresh session at once.
        await run_in_threadpool(store.set_user, session.user, session.user, password_hash=hash_password(new))
        fresh = await run_in_threadpool(sessions.open, await run_in_threadpool(store.get_user, session.user))
        fresh.flash.append("Mot de passe changé. Vos autres sessions ont été fermées.")
        await run_in_threadpool(sessions.save_flash, fresh)
        response = RedirectResponse("/compte", status_code=303)
        app.state.set_cookie(request, response, sessions.cookie_value(fresh.id))
        request.state.session = None  # the old one is gone: nothing more to save for it
        return response

    # -- accounts (admins) ------------------------------------------------------------------------
    @app.get("/admin/comptes")
    def accounts_page(request: Request, modifier: str = "", session: Session = Depends(admin)) -> Response:
        user = store.get_user(modifier) if modifier and USER_NAME.match(modifier) else None
        values = {"name": user["name"], "role": user["role"], "categories": user["categories"],
                  "existing": True} if user else {}
        return render(request, "accounts.html", page="accounts", users=store.users(), errors=[], values=values)

    @app.post("/admin/comptes", dependencies=[Depends(csrf)])
    async def save_account(request: Request, session: Session = Depends(admin)) -> Response:
        form = await request.form()
        name = str(form.get("name", "")).strip()[:64]
        role = str(form.get("role", "supervisor"))
        chosen = ",".join(str(c) for c in form.getlist("categories"))
        password = str(form.get("password", ""))
        existing = await run_in_threadpool(store.get_user, name) if USER_NAME.match(name) else None
        values = {"name": name, "role": role, "categories": chosen.split(",")}
        try:
            if not USER_NAME.match(name):
                raise AccountError("identifiant invalide : lettres, chiffres, « . _ @ - », 64 caractères au plus")
            check_role(role)
            categories = parse_categories(chosen, config.categories)
            if existing is None or password:
                check_password(password)
            if existing is not None and name == session.user and role != "admin":
                raise AccountError("vous ne pouvez pas retirer votre propre rôle d'administrateur")
        except AccountError as error:
            return render(request, "accounts.html", status=400, page="accounts", users=store.users(),
                          errors=[f"Compte non enregistré : {error}."], values=values)
        if existing is None:
            await run_in_threadpool(store.add_user, name, hash_password(password), role, categories, session.user)
            session.flash.append(f"Compte {name} créé.")
        else:
            await run_in_threadpool(lambda: store.set_user(
                name, session.user, role=role, categories=categories,
                password_hash=hash_password(password) if password else None))
            session.flash.append(f"Compte {name} mis à jour." + (" Ses sessions ont été fermées." if password else ""))
        return RedirectResponse("/admin/comptes", status_code=303)
