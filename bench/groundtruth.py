"""Ground truth for the OCR benchmark: typeset French letters with known text and known damage,
plus the real transcribed scans of ../shared/corpus.

``synthetic_pages()`` is deterministic: the same seed gives the same pages on every machine.
"""
from __future__ import annotations

import random
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from samples.generate import APA, COLLEGE, FACTURE, ROUTES, RSA, SUBVENTION  # noqa: E402
from samples.render import render_pages  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"

FIRST = ["Sophie", "Jean-Pierre", "Nadia", "Thomas", "Claire", "Mohamed", "Élodie", "François", "Chantal", "Loïc",
         "Inès", "Gérard", "Maëlle", "Benoît", "Océane", "Hélène"]
LAST = ["Leroux", "Duval", "Benali", "Bernard", "Martin", "Lefèvre", "Hébert", "Lemaître", "Quesnel", "Delaunay",
        "Boucher", "Fournier", "Lecœur", "Château", "Vasseur", "Poulain"]
PLACES = [("Rouen", "76000"), ("Le Havre", "76600"), ("Dieppe", "76200"), ("Fécamp", "76400"),
          ("Elbeuf", "76500"), ("Yvetot", "76190"), ("Bolbec", "76210"), ("Neufchâtel-en-Bray", "76270"),
          ("Saint-Étienne-du-Rouvray", "76800"), ("Eu", "76260"), ("Barentin", "76360"), ("Forges-les-Eaux", "76440")]
STREETS = ["rue Jeanne d'Arc", "avenue du Mont-Riboudet", "boulevard de Strasbourg", "impasse des Érables",
           "rue du Général Leclerc", "chemin de la Côte", "place du Vieux-Marché", "allée des Peupliers"]
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]
SERVICES = [
    ("Direction de l'Insertion et du RSA", "réexamen de mes droits au revenu de solidarité active",
     "Mes ressources ont diminué depuis la fin de mon contrat à durée déterminée le {day} {month}. Je vous "
     "transmets mes trois derniers bulletins de salaire ainsi que l'attestation de Pôle emploi, afin que mes "
     "droits soient recalculés à compter du mois prochain."),
    ("Direction de l'Autonomie – Service APA", "révision du plan d'aide de mon père",
     "L'état de santé de mon père, âgé de {age} ans, s'est dégradé après son hospitalisation. Les {hours} heures "
     "d'aide à domicile prévues chaque mois ne suffisent plus : il a besoin d'un passage matin et soir, ainsi "
     "que d'un portage de repas."),
    ("Direction des Routes – Agence de {place}", "signalement d'un nid-de-poule sur la RD {road}",
     "Un trou profond d'environ {depth} centimètres s'est formé sur la chaussée de la route départementale {road}, "
     "à la sortie du bourg. Deux pneus ont déjà été crevés cette semaine ; la visibilité y est mauvaise la nuit."),
    ("Direction des Finances – Service comptabilité", "relance de la facture n° F{year}-{invoice}",
     "Sauf erreur de notre part, la facture n° F{year}-{invoice} d'un montant de {amount} € TTC, émise le {day} "
     "{month}, reste impayée à ce jour. Nous vous remercions de bien vouloir procéder à son règlement sous "
     "quinze jours."),
    ("Direction de l'Éducation – Service des collèges", "transport scolaire de ma fille",
     "Ma fille, élève de 5e au collège de {place}, n'a plus de place dans le car du circuit n° {road} depuis la "
     "rentrée. Elle doit parcourir {depth} kilomètres à pied chaque matin, sur une route sans trottoir."),
    ("Direction de l'Enfance et de la Famille", "demande d'agrément d'assistante maternelle",
     "Je souhaite exercer le métier d'assistante maternelle à mon domicile, un pavillon de {rooms} pièces avec "
     "jardin clos. Vous trouverez ci-joint le formulaire Cerfa n° 13394*04 complété et mon certificat médical."),
    ("Direction des Ressources humaines", "candidature au poste d'agent d'exploitation des routes",
     "Titulaire du permis C et d'un CAP de maçonnerie, je me permets de vous adresser ma candidature pour le "
     "poste d'agent d'exploitation publié le {day} {month} sous la référence RH-{year}-{invoice}."),
    ("Service de la vie associative", "subvention pour le festival de musique de {place}",
     "Notre association organise chaque été un festival gratuit qui a réuni {hours}00 spectateurs l'an dernier. "
     "Nous sollicitons une aide de {amount} € pour la location de la scène et la sécurité du site."),
]
CLOSINGS = [
    "Je vous prie d'agréer, Madame, Monsieur, l'expression de mes salutations distinguées.",
    "Dans l'attente de votre réponse, veuillez recevoir, Madame, Monsieur, mes sincères salutations.",
    "Je vous remercie par avance de l'attention portée à ma demande et vous prie de croire à mes sentiments "
    "respectueux.",
]


def letter(rng: random.Random) -> str:
    """A plausible one-page letter to the Département, with names, places, dates and references."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    place, postcode = rng.choice(PLACES)
    day, month, year = rng.randint(1, 28), rng.choice(MONTHS), rng.choice([2025, 2026])
    values = dict(day=day, month=month, year=year, age=rng.randint(72, 96), hours=rng.randint(8, 40),
                  place=rng.choice(PLACES)[0], road=rng.randint(2, 990), depth=rng.randint(3, 25),
                  invoice=f"{rng.randint(1, 9999):04d}", amount=f"{rng.randint(100, 9000)},{rng.randint(0, 99):02d}",
                  rooms=rng.randint(3, 6))
    service, subject, body = rng.choice(SERVICES)
    reference = f"{rng.choice(['Dossier', 'Réf.', 'N/Réf.', 'Allocataire n°'])} {rng.randint(100000, 999999)}"
    paragraphs = [body.format(**values)]
    others = [s for s in SERVICES if s[0] != service]
    paragraphs.append(rng.choice(others)[2].format(**values) if rng.random() < 0.5 else
                      "Je reste à votre disposition pour tout renseignement complémentaire et peux être joint au "
                      f"0{rng.randint(2, 7)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                      f"{rng.randint(10, 99)}, du lundi au vendredi.")
    return "\n".join([
        f"{rng.choice(['Madame', 'Monsieur'])} {first} {last.upper()}",
        f"{rng.randint(1, 120)}, {rng.choice(STREETS)}",
        f"{postcode} {place}",
        reference,
        "",
        "> Département de la Seine-Maritime",
        f"> {service.format(**values)}",
        "> Quai Jean Moulin",
        "> 76101 Rouen Cedex",
        "",
        f"> {place}, le {day} {month} {year}",
        "",
        f"# Objet : {subject.format(**values)}",
        "",
        "Madame, Monsieur,",
        "",
        paragraphs[0],
        "",
        paragraphs[1],
        "",
        rng.choice(CLOSINGS),
        "",
        f"> {first} {last}",
    ])


@dataclass
class TruthPage:
    name: str
    image: object                    # PIL image
    text: str                        # exact ground truth, reading order
    rotate: int = 0                  # clockwise turn of the content in the scan
    skew: float = 0.0
    damaged: bool = True
    tags: list[str] = field(default_factory=list)


def synthetic_pages(damaged: int = 24, clean: int = 6, seed: int = 2026, dpi: int = 300) -> list[TruthPage]:
    """``clean`` undamaged pages and ``damaged`` pages with noise, blur, skew ≤ 5°, uneven light, JPEG
    artefacts; every fourth damaged page upside down or sideways."""
    rng = random.Random(seed)
    fixed = [RSA, ROUTES, FACTURE, COLLEGE, SUBVENTION, APA.split("\f")[0]]
    pages: list[TruthPage] = []
    for index in range(clean):
        text = fixed[index % len(fixed)] if index < len(fixed) else letter(rng)
        image = render_pages(text, dpi=dpi, family=rng.choice(["serif", "sans", "liberation-sans"]))[0]
        pages.append(TruthPage(f"clean-{index + 1:02d}", image, image.info["groundtruth"], damaged=False))
    rotations = [180, 90, 270]
    for index in range(damaged):
        text = letter(rng) if index % 3 else fixed[index // 3 % len(fixed)]
        rotate = rotations[(index // 4) % 3] if index % 4 == 3 else 0
        skew = round(rng.uniform(-5.0, 5.0), 2)
        options = dict(rotate=rotate, skew_degrees=skew, noise=round(rng.uniform(0.03, 0.10), 3),
                       blur=round(rng.uniform(0.5, 1.7), 2), jpeg_quality=rng.choice([15, 25, 35, 50]),
                       uneven_light=rng.random() < 0.6, seed=seed + index)
        family = rng.choice(["serif", "sans", "liberation-sans", "dejavu-serif"])
        image = render_pages(text, dpi=dpi, family=family, size_pt=rng.choice([10.0, 11.0, 12.0]), **options)[0]
        tags = [f"rot{rotate}"] if rotate else []
        pages.append(TruthPage(f"damaged-{index + 1:02d}", image, image.info["groundtruth"], rotate, skew, True, tags))
    return pages


# ---- real scans with a transcription -----------------------------------------------------------

MARKUP = [(re.compile(r"⟦[^⟧]*⟧"), ""), (re.compile(r"~~~"), ""), (re.compile(r"[_^]"), "")]


def strip_markup(text: str) -> str:
    for pattern, replacement in MARKUP:
        text = pattern.sub(replacement, text)
    return text


def alto_text(path: Path) -> str:
    """A tapuscorpus page's lines sorted top-down (then left-right), markup stripped."""
    tree = ET.parse(path)
    lines = []
    for element in tree.iter():
        if not element.tag.endswith("TextLine"):
            continue
        words = [s.get("CONTENT", "") for s in element if s.tag.endswith("String")]
        vpos, hpos = float(element.get("VPOS", 0)), float(element.get("HPOS", 0))
        height = float(element.get("HEIGHT", 0))
        lines.append((vpos + height / 2, hpos, " ".join(words)))
    # Lines whose centres are within half a line of each other are one row: order those left to right.
    lines.sort()
    rows: list[list[tuple[float, float, str]]] = []
    for line in lines:
        if rows and abs(line[0] - rows[-1][0][0]) < 12:
            rows[-1].append(line)
        else:
            rows.append([line])
    ordered = [text for row in rows for _, _, text in sorted(row, key=lambda item: item[1])]
    return strip_markup("\n".join(ordered))


@dataclass
class RealPage:
    name: str
    path: Path         # image or PDF, as given to both tools
    text: str
    source: str = ""   # the folder it is reported under: a tapuscorpus sub-corpus, or "ocrmypdf"
    handwritten: bool = False  # transcribed mostly as ``~~~`` (handwritten words): no CER to compute


def mostly_handwritten(path: Path) -> bool:
    """Half the words of the transcription or more are ``~~~`` (a handwritten word, not transcribed)."""
    tokens = "".join(s.get("CONTENT", "") + " " for s in ET.parse(path).iter() if s.tag.endswith("String")).split()
    return bool(tokens) and sum(token == "~~~" for token in tokens) >= 0.5 * len(tokens)


def real_pages(corpus: Path = CORPUS) -> list[RealPage]:
    pages = []
    ocrmypdf = corpus / "ocrmypdf"
    if (ocrmypdf / "francais.pdf").exists():
        pages.append(RealPage("francais", ocrmypdf / "francais.pdf", (ocrmypdf / "francais.txt").read_text("utf-8"),
                              "ocrmypdf"))
    if (ocrmypdf / "linn.png").exists():
        pages.append(RealPage("linn", ocrmypdf / "linn.png", (ocrmypdf / "linn.txt").read_text("utf-8"), "ocrmypdf"))
    for truth in sorted((corpus / "tapuscorpus-fr" / "pages").glob("*.alto.xml")):
        stem = truth.name[: -len(".alto.xml")]
        images = [p for p in truth.parent.glob(stem + ".*") if p.suffix.lower() in (".jpg", ".png", ".tif", ".tiff")]
        if images:
            pages.append(RealPage("tapus-" + stem, images[0], alto_text(truth), stem.split("__")[0],
                                  mostly_handwritten(truth)))
    return pages


# ---- scoring ---------------------------------------------------------------------------------

NORMALISE = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"', "—": "-", "–": "-",
                           "‐": "-", "‑": "-", "\u00a0": " ", "\u202f": " ", "ﬁ": "fi", "ﬂ": "fl"})


def normalise(text: str) -> str:
    """What a search engine would index: NFC, one kind of quote and dash, single spaces."""
    text = unicodedata.normalize("NFC", text).translate(NORMALISE)
    text = text.replace("«", '"').replace("»", '"')
    return re.sub(r"\s+", " ", text).strip()
