"""`mailroom process-description`: the French description of the digitisation and filing process
(condition 7 of décret 2016-1673), rendered from the effective configuration, to keep with the copies."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .. import __version__
from ..config import Config
from ..sheets import _fonts
from .stamp import config_fingerprint


def _number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def sections(config: Config) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) in French; plain text, escaped when rendered."""
    trace, ocr = config.trace, config.ocr
    inboxes = ", ".join(str(i.path) + (" (scrutation périodique)" if i.polling else "")
                        for i in config.all_inboxes())
    split = {"separator": "aux feuilles de séparation (code PATCHT ou MAILROOM:SEP) et aux feuilles de routage",
             "none": "sans découpage : un fichier est un courrier"}.get(config.split.mode,
                                                                         f"toutes les {config.split.mode[6:]} pages")
    if config.publish.backend == "sharepoint":
        target = f"le site SharePoint {config.sharepoint.site_url} (une bibliothèque par catégorie)"
    else:
        target = f"le dossier {config.library_dir} (un sous-dossier par bibliothèque)"
    if trace.timestamps:
        stamping = (f"Chaque PDF publié reçoit un jeton d'horodatage RFC 3161 de l'autorité {trace.tsa_url}, "
                    "vérifié à réception" + (f" avec le certificat {trace.tsa_ca_file}" if trace.tsa_ca_file else
                                              " (sans certificat de confiance configuré : à compléter)")
                    + ". Une autorité indisponible retarde l'horodatage (nouvelles tentatives espacées), jamais "
                    "le classement du courrier. Le sceau quotidien du journal est horodaté de la même façon.")
    else:
        stamping = ("Aucune autorité d'horodatage n'est configurée ([trace] tsa_url) : les copies ne sont pas "
                    "horodatées et ne bénéficient pas de la présomption de fiabilité. À configurer avec un "
                    "prestataire d'horodatage qualifié eIDAS.")
    return [
        ("Objet", [
            "Ce document décrit le processus par lequel le courrier papier reçu par le Département est numérisé, "
            "contrôlé, classé et conservé, afin que chaque copie numérique soit une copie fiable au sens de "
            "l'article 1379 du Code civil et du décret n° 2016-1673 du 5 décembre 2016. Il est produit "
            "automatiquement à partir de la configuration en vigueur et doit être conservé avec les copies.",
            f"Logiciel : mailroom {__version__}. Configuration : {config.source}. Empreinte SHA-256 de la "
            f"configuration : {config_fingerprint(config)}. Édité le {datetime.now():%d/%m/%Y à %H:%M}.",
        ]),
        ("1. Réception des fichiers", [
            f"Les numériseurs déposent leurs fichiers dans : {inboxes}. Un fichier n'est pris que lorsque sa taille "
            f"et sa date n'ont pas changé depuis {_number(config.watch.settle_seconds)} s et qu'il s'ouvre "
            "entièrement (PDF, TIFF, JPEG, PNG). Il est alors déplacé de façon atomique ; son nom d'origine, son "
            "heure d'arrivée (point de départ des délais) et son empreinte SHA-256 sont enregistrés au journal.",
            f"Contrôles des entrées : au plus {config.ingest.max_pages} pages, {config.ingest.max_pixels:,} pixels "
            f"par page, {config.ingest.min_side_pixels} pixels de côté au minimum. Un fichier illisible, chiffré, "
            "vide ou trop grand est mis en quarantaine avec un motif écrit ; rien n'est jamais supprimé "
            "sans trace.".replace(",", " "),
        ]),
        ("2. Séparation des courriers", [
            f"Un lot est découpé {split}. Pages blanches retirées : {'oui' if config.split.drop_blank_pages else 'non'}"
            " ; chaque page retirée est enregistrée au journal avec sa raison.",
        ]),
        ("3. Qualité de l'image et reconnaissance du texte", [
            f"Chaque page est lue à sa résolution d'origine (à défaut, rendue à {config.ingest.raster_dpi} ppp), "
            f"redressée et orientée ; le texte est reconnu par Tesseract (langues {ocr.languages}). La copie "
            f"conserve l'image numérisée ({'couleur ou niveaux de gris, JPEG qualité ' + str(ocr.jpeg_quality) if ocr.output == 'color' else 'noir et blanc, compression CCITT G4'}) "
            "sous un calque de texte invisible.",
            f"Format : {'PDF/A-2b (ISO 19005-2), contrôlé après écriture' if ocr.pdfa else 'PDF 1.7 (PDF/A-2b désactivé)'}. "
            f"Un courrier dont la confiance moyenne de reconnaissance est inférieure à {_number(ocr.confidence_floor)} "
            "est soumis à un superviseur.",
        ]),
        ("4. Classement", [
            f"Un modèle de classement attribue une catégorie avec une confiance calibrée. Au-dessus du seuil de "
            f"{_number(config.classify.threshold)}, le courrier est classé automatiquement ; en dessous, il attend la "
            "vérification d'un superviseur. Une feuille de routage impose la catégorie.",
        ]),
        ("5. Vérification par un superviseur", [
            "Les superviseurs vérifient les courriers incertains dans une application web en français, avec un "
            "compte nominatif. Chaque décision (qui, quand, avant, après) est inscrite au journal.",
        ]),
        ("6. Publication", [
            f"Les courriers sont publiés dans {target}, avec leurs métadonnées : catégorie, expéditeur, date du "
            "courrier, date de réception, références, empreinte SHA-256, lot. Une publication interrompue reprend "
            "sans doublon.",
        ]),
        ("7. Empreintes et journal", [
            "L'empreinte SHA-256 du fichier original et celle du PDF publié sont inscrites au journal, avec la "
            "version du logiciel et l'empreinte de la configuration. Le journal n'accepte que des ajouts ; chaque "
            "événement porte l'empreinte de l'événement précédent de l'installation et de celui du même document, "
            "de sorte qu'une modification ou une suppression est détectable. Un sceau quotidien fixe la tête "
            "de la chaîne (dossier proofs/seals/).",
            "Un PDF réécrit après publication (migration de format, métadonnées corrigées) reçoit une nouvelle "
            "empreinte et un nouvel horodatage ; le journal garde l'ancienne et la nouvelle.",
        ]),
        ("8. Horodatage", [stamping]),
        ("9. Contrôles d'intégrité", [
            f"La commande « mailroom verify » recalcule les chaînes du journal, les sceaux, les empreintes des PDF "
            f"publiés et des originaux, et vérifie les jetons d'horodatage ; le service la lance chaque nuit à "
            f"{config.trace.verify_hour} h sur les courriers du jour. Chaque anomalie est signalée avec le document "
            "concerné. « mailroom proof » produit pour un courrier un dossier de preuve vérifiable avec des outils "
            "standard (sha256sum, openssl).",
        ]),
        ("10. Conservation", [
            f"Les copies locales des originaux (dossier archive/) sont gardées {trace.retention_years} ans par "
            "défaut (durée par catégorie ci-dessous), puis supprimées par « mailroom purge » seulement si chaque "
            "courrier du fichier est publié, horodaté et trouvé intact par le dernier contrôle ; chaque suppression "
            f"est inscrite au journal. Les fichiers intermédiaires (work/) sont supprimés "
            f"{_number(trace.work_retention_hours)} h après la fin du traitement. Le journal, les empreintes et les "
            "jetons sont conservés aussi longtemps que les copies.",
        ]),
        ("11. Sécurité des accès", [
            "L'application de vérification exige un compte ; les mots de passe sont stockés hachés (Argon2id), les "
            "sessions sont côté serveur, chaque formulaire est protégé contre la falsification de requête, les "
            "lecteurs n'ont qu'un accès en lecture. Les secrets (mots de passe, jetons) ne sont lus que dans "
            "l'environnement ou des fichiers désignés. L'accès depuis d'autres postes passe par un proxy HTTPS.",
        ]),
    ]


def category_rows(config: Config) -> list[list[str]]:
    rows = [["Catégorie", "Bibliothèque", "Dossier", "Toujours revu", "Conservation locale"]]
    for category in config.categories.values():
        rows.append([category.label, category.library, category.folder, "oui" if category.always_review else "non",
                     f"{config.retention_years_for(category.id)} ans"])
    return rows


def write_description(config: Config, out: Path) -> None:
    regular, bold = _fonts()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("corps", parent=styles["BodyText"], fontName=regular, fontSize=9.5, leading=13)
    heading = ParagraphStyle("titre2", parent=styles["Heading2"], fontName=bold, fontSize=12, spaceBefore=8)
    title = ParagraphStyle("titre", parent=styles["Title"], fontName=bold, fontSize=16)
    cell = ParagraphStyle("cellule", parent=body, fontSize=8, leading=10)
    story = [Paragraph("Description du processus de numérisation et de conservation du courrier entrant", title)]
    for name, paragraphs in sections(config):
        story.append(Paragraph(escape(name), heading))
        story.extend(Paragraph(escape(text), body) for text in paragraphs)
        if name.startswith("4."):
            table = Table([[Paragraph(escape(value), cell) for value in row] for row in category_rows(config)],
                          colWidths=[45 * mm, 35 * mm, 45 * mm, 20 * mm, 22 * mm], repeatRows=1)
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                                       ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                                       ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story += [Spacer(1, 4), table]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = SimpleDocTemplate(str(out), pagesize=A4, title="Description du processus — mailroom",
                                 author="mailroom", leftMargin=18 * mm, rightMargin=18 * mm,
                                 topMargin=16 * mm, bottomMargin=16 * mm)
    document.build(story)
