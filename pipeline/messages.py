"""What people read, in French, made from stable codes: the one catalogue of mailroom's words.

Stages never write sentences: they raise a ``MailroomError`` with a code and its
parameters, or record a review ``reason(code, **params)`` on the document. The
edges (the command line, the reason files of the quarantine, the review app, the
report) turn a code into words here, with ``say``. A code never changes once
published (scripts, logs and the journal key on it); its words may.
"""
from __future__ import annotations

from typing import Any

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
                               "relancer avec : mailroom retry {input}",
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
    # -- publication (PublishError): a retry may help (transient) or someone must act --------------------------
    "pdf-unreadable-for-publication": "le PDF cherchable ne peut pas être lu : {error}",
    "library-folder-unwritable": "impossible d'écrire dans le dossier de la bibliothèque {folder} : {error}",
    "sharepoint-path-too-long": "le chemin du dossier {folder} dépasse la limite de {limit} caractères de SharePoint : "
                                "raccourcir le modèle de dossier de la catégorie ou le nom de la bibliothèque",
    "sharepoint-no-free-name": "aucun nom de fichier libre pour {base} dans {folder}",
    "sharepoint-columns-refused": "SharePoint refuse des colonnes de {file} dans « {library} » : {refused}",
    "sharepoint-not-ready": "SharePoint n'est pas prêt : {problems}",
    "sharepoint-library-missing": "la bibliothèque de documents « {library} » n'existe pas sur {site}",
    "sharepoint-pause": "{what} : SharePoint demande d'attendre jusqu'à {until} ({why}) ; nouvel essai dans "
                        "{seconds:.0f} s",
    "sharepoint-token-refused": "{what} : SharePoint refuse le jeton ({detail}) : l'application a-t-elle les droits "
                                "Sites.Selected ou Sites.FullControl sur ce site ?",
    "sharepoint-list-threshold": "{what} : SharePoint refuse la requête, qui dépasse le seuil d'affichage de liste "
                                 "(5 000 éléments) : la colonne interrogée doit être indexée (mailroom sharepoint "
                                 "check) ({detail})",
    "sharepoint-refused": "{what} : {detail}",
    "sharepoint-tls": "{what} : le certificat TLS de {site} n'est pas reconnu ({error}) : donnez l'autorité de "
                      "certification dans sharepoint.ca_file",
    "sharepoint-connection-lost": "{what} : {error}",
    "sharepoint-still-failing": "{what} : toujours en échec après {attempts} essais ({detail})",
    "sharepoint-auth-impossible": "authentification SharePoint impossible : {error}",
    "ntlm-package-missing": "sharepoint.auth = « ntlm » demande le paquet requests-ntlm",
    "ntlm-credentials-missing": "NTLM demande sharepoint.username et la variable d'environnement {env}",
    "token-command-not-run": "sharepoint.token_command n'a pas pu être lancé ({error})",
    "token-command-failed": "sharepoint.token_command a échoué (code de sortie {status})",
    "token-missing": "aucun jeton SharePoint : renseigner la variable d'environnement {env} ou sharepoint.token_command",
    "certificate-settings-missing": "l'authentification par certificat demande {missing}",
    "key-file-unreadable": "le fichier de clé privée de sharepoint.key_file ne peut pas être lu ({error})",
    "key-wrong-passphrase": "la clé privée de sharepoint.key_file ne s'ouvre pas (la phrase secrète de "
                            "l'environnement {env} ne l'ouvre pas)",
    "key-needs-passphrase": "la clé privée de sharepoint.key_file ne s'ouvre pas (si elle est chiffrée, donnez sa "
                            "phrase secrète dans {env})",
    "authority-tls": "le certificat TLS de l'autorité {authority} n'est pas reconnu : donnez l'autorité de "
                     "certification dans sharepoint.ca_file",
    "authority-unreachable": "l'autorité {authority} ne répond pas ({error})",
    "entra-refused": "authentification SharePoint impossible : {label}Entra ID refuse le jeton ({error}) — « {said} »",
    **{f"aadsts-{code}": f"authentification SharePoint impossible : AADSTS{code} : {meaning} — « {{said}} »"
       for code, meaning in {
           "700027": "Entra ID refuse le certificat de l'application (signature invalide, certificat expiré, "
                     "remplacé ou jamais téléversé dans l'inscription d'application) : vérifiez "
                     "sharepoint.thumbprint et sharepoint.key_file",
           "7000222": "le secret client de l'application a expiré : créez-en un autre, ou passez au certificat",
           "7000215": "le secret client n'est pas celui de l'application",
           "700016": "l'application (sharepoint.client_id) n'existe pas dans ce locataire",
           "90002": "le locataire (sharepoint.tenant) est introuvable",
           "900023": "le locataire (sharepoint.tenant) n'est pas un identifiant valable",
           "700024": "l'assertion du client est hors de sa période de validité : l'horloge de cette machine "
                     "est-elle à l'heure ?",
           "500011": "la ressource SharePoint est inconnue du locataire : vérifiez sharepoint.site_url",
           "7000112": "l'application est désactivée dans Entra ID",
       }.items()},
    # -- supervisors' decisions --------------------------------------------------------------------------------
    "not-waiting": "ce document n'existe pas",
    "already-decided": "Ce courrier a déjà été traité par {by} (état : {state})",
    "unknown-category": "catégorie inconnue : « {category} »",
    "rejected-not-mail": "rejeté par un superviseur : ce n'est pas du courrier",
    # -- documents --------------------------------------------------------------------------------------------
    "duplicate-of": "doublon de {original} (même empreinte SHA-256)",
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
    return value.get("code", "") if isinstance(value, dict) else "text"  # words recorded before codes


def say_reason(value: dict | str) -> str:
    """A recorded reason in words (a plain string, from a database written before codes, is already words)."""
    if isinstance(value, dict):
        params = {k: v for k, v in value.items() if k != "code"}
        return say(value.get("code", ""), **params)
    return str(value)
