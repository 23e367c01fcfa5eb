"""What people read, in French, made from stable codes: the one catalogue of mailroom's words.

Stages never write sentences: they raise a ``MailroomError`` with a code and its
parameters, or record a review ``reason(code, **params)`` on the document. The
edges (the command line, the reason files of the quarantine, the review app, the
report) turn a code into words here, with ``say``. A code never changes once
published (scripts, logs and the journal key on it); its words may.
"""
from __future__ import annotations

from typing import Any

RETRY_ADVICE = "mailroom retry {input}"

TEXTS: dict[str, str] = {
    # -- a file that cannot be processed (BadInput): what is wrong, then what the clerk can do ---------------
    "unreadable-file": "le fichier ne peut pas être lu : {error}",
    "empty-file": "le fichier est vide (0 octet) : la numérisation a échoué ou la copie a été interrompue ; "
                  "numériser à nouveau",
    "not-a-scan": "le contenu n'est ni un PDF ni une image (TIFF, JPEG, PNG) : déposer le fichier d'origine du "
                  "scanner",
    "not-a-scan-named": "le contenu n'est ni un PDF ni une image (TIFF, JPEG, PNG), malgré l'extension "
                        "« {extension} » : déposer le fichier d'origine du scanner",
    "pdf-truncated": "le PDF est incomplet (sa fin manque) : la copie ou la numérisation a été interrompue ; "
                     "numériser à nouveau le lot",
    "pdf-encrypted": "le PDF est protégé par un mot de passe : le numériser à nouveau sans protection, ou le déposer "
                     "déverrouillé",
    "pdf-unreadable": "le fichier n'est pas un PDF lisible ({error}) : il est peut-être tronqué ou endommagé ; "
                      "relancer la numérisation",
    "pdf-no-page": "le PDF ne contient aucune page : vérifier le scanner et numériser à nouveau",
    "pdf-pages-missing": "le PDF est endommagé : il annonce {declared} pages mais {count} sont lisibles ; relancer la "
                         "numérisation pour ne perdre aucune page",
    "too-many-pages": "le fichier a {count} pages, plus que la limite de {limit} : le découper en lots plus petits",
    "pdf-poppler": "le PDF ne peut pas être lu par poppler ({error}) : relancer la numérisation",
    "pdf-page-unrenderable": "la page {page} du PDF ne peut pas être affichée",
    "image-too-small": "l'image page {page} mesure {width}×{height} pixels : trop petite pour être une page "
                       "numérisée ; numériser à 200 dpi ou plus",
    "image-too-large": "l'image est démesurée ({error}) : ce n'est pas une page de courrier ; numériser à 300 dpi "
                       "au plus",
    "image-unreadable": "l'image ne peut pas être lue ({error}) : elle est peut-être tronquée ; relancer la "
                        "numérisation",
    "name-control-characters": "le nom du fichier contient des caractères de contrôle : le renommer puis le "
                               "redéposer",
    "name-not-text": "le nom du fichier n'est pas un texte valide (encodage inconnu) : le renommer puis le redéposer",
    "unknown-cover-category": "la page {page} est une page de garde d'aiguillage vers la catégorie « {category} », "
                              "qui n'existe pas dans la configuration (catégories valides : {valid}) ; réimprimer "
                              "les pages de garde avec « mailroom sheets » et numériser à nouveau le lot",
    "contradictory-cover-codes": "la page {page} porte plusieurs codes d'aiguillage contradictoires ({routes}) : "
                                 "n'en garder qu'un et numériser à nouveau le lot",
    "no-letter-all-blank": "aucun courrier dans ce lot : toutes les pages sont blanches ; vérifier que le bon côté a "
                           "été numérisé",
    "no-letter": "aucun courrier dans ce lot : seulement des pages blanches et des feuilles de séparation ; "
                 "vérifier que le bon côté a été numérisé et que le lot ne contient pas que des feuilles de séparation",
    "message-too-large": "la page {page} de « {source} » fait {size_mb:.1f} Mo, plus que la limite de {limit_mb:g} Mo "
                         "d'un message (runner.max_message_mb) : numériser cette page à une résolution plus basse, "
                         "ou relever la limite",
    "poison-page": "la page {page} a arrêté brutalement {lost} processus de traitement l'un après l'autre "
                   "(runner.page_attempts = {attempts}) : page illisible ou piégée ; la vérifier, la numériser à "
                   "nouveau ou la retirer du lot",
    "repeated-internal-error": "erreur interne répétée ({error}) ; signaler ce fichier à l'équipe technique, puis le "
                               "relancer avec : " + RETRY_ADVICE,
    "worker-lost": "un processus de traitement s'est arrêté brutalement{detail}",
    # -- Tesseract --------------------------------------------------------------------------------------------
    "tesseract-timeout": "Tesseract n'a pas répondu en {timeout:g} s après {tries} essai{plural}",
    "tesseract-missing": "Tesseract n'est pas installé sur le serveur",
    "tesseract-failed": "Tesseract a échoué ({error}) après {tries} essai{plural}",
    # -- why a letter waits for a supervisor (route.review_reasons) -------------------------------------------
    "ocr-page-failed": "OCR en échec page {page} : {error}",
    "ocr-low-confidence": "OCR peu fiable (confiance {confidence:.0f}/100)",
    "pdfa-problem": "PDF/A non conforme : {problem}",
    "handwritten": "Courrier manuscrit : le texte reconnu n'est pas fiable",
    "no-category": "Aucune catégorie connue n'a pu être proposée",
    "fallback-category": "Courrier classé « {label} » : un superviseur doit choisir le service",
    "always-reviewed": "La catégorie « {label} » est toujours vérifiée par un superviseur",
    "low-confidence": "Confiance insuffisante : {confidence:.0f} % (seuil {threshold:.0f} %)",
    "cover-sheet-to-confirm": "catégorie « {category} » à confirmer",
    # -- supervisors' decisions --------------------------------------------------------------------------------
    "not-waiting": "ce document n'existe pas",
    "already-decided": "Ce courrier a déjà été traité par {by} (état : {state})",
    "unknown-category": "catégorie inconnue : « {category} »",
    "rejected-not-mail": "rejeté par un superviseur : ce n'est pas du courrier",
    # -- documents --------------------------------------------------------------------------------------------
    "duplicate-of": "doublon de {original} (même empreinte SHA-256)",
    "text": "{text}",  # words a person typed (a supervisor's rejection reason), kept as they are
}


def say(code: str, **params: Any) -> str:
    """The French words for ``code``; an unknown code or a missing parameter still says something useful."""
    template = TEXTS.get(code)
    if template is None:
        return f"{code} ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else code
    if "tries" in params:  # « 1 essai », « 3 essais »
        params.setdefault("plural", "s" if params["tries"] != 1 else "")
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return f"{template} [{code}: {params}]"


def reason(code: str, **params: Any) -> dict[str, Any]:
    """A review reason as the document keeps it: its code and the facts it needs to be said."""
    if code not in TEXTS:
        raise ValueError(f"unknown message code {code!r}")
    return {"code": code, **params}


def reason_code(value: dict | str) -> str:
    return value.get("code", "") if isinstance(value, dict) else "text"


def say_reason(value: dict | str) -> str:
    """A recorded reason in words (a plain string, from a database written before codes, is already words)."""
    if isinstance(value, dict):
        params = {k: v for k, v in value.items() if k != "code"}
        return say(value.get("code", ""), **params)
    return str(value)
