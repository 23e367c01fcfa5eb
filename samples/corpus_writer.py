"""Write the labelled French corpus under samples/corpus/ (train/validation/test JSONL).

Deterministic (seeded). Letters are assembled from the pools of corpus_pools.py
with independent choices of sender, layout, register, length and noise, so the
category can only be learned from what the letter is about; hand-written
letters from corpus_handwritten.txt are mixed in. A quarter of the situations,
subjects, requests and notes of each category are kept out of training and
used only by validation and test, so that those splits measure letters whose
story and phrasing the model has not seen.

    python samples/corpus_writer.py            # rewrite samples/corpus/*.jsonl
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.classify.extract import luhn_valid  # noqa: E402  (the rule the extractor applies)
from corpus_pools import (NOTES, REQUESTS, SERVICES, SITUATIONS, SUBJECTS, TRAIN_ONLY_NOTES,  # noqa: E402
                          TRAIN_ONLY_SITUATIONS, TRAIN_ONLY_SUBJECTS)

HERE = Path(__file__).resolve().parent
OUT = HERE / "corpus"
HANDWRITTEN = HERE / "corpus_handwritten.txt"
# Later hand-written letters: training and validation only, so that the test split (and its OCR cache) stays put.
HANDWRITTEN_MORE = HERE / "corpus_handwritten_more.txt"
# Letters written independently by other authors, one file per author; the file's prefix (train-, validation-,
# test-) is its split, so no author has letters on both sides of the train/test line.
LETTERS = HERE / "letters"
SEED = 20260303
# Hand-written letters are dealt to the splits in turn per category; letters relabelled `autre` →
# `autre-administration` (their competent body is another administration) keep the split they had.
SPLIT_KEY = {"autre-administration": "autre"}
PER_CATEGORY = {"train": 200, "validation": 30, "test": 11}  # 200 training letters: validation macro-F1 +0.015 over 120, 300 no better

PRENOMS_F = ["Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Sandrine", "Céline", "Aurélie", "Julie", "Camille",
             "Léa", "Manon", "Chloé", "Inès", "Fatima", "Khadija", "Monique", "Josiane", "Ginette", "Yvette", "Sophie",
             "Émilie", "Laëtitia", "Jessica", "Océane", "Amandine", "Christiane", "Nadia", "Sonia", "Brigitte"]
PRENOMS_M = ["Jean", "Pierre", "Michel", "Philippe", "Alain", "Patrick", "Nicolas", "Christophe", "Stéphane", "David",
             "Thomas", "Kévin", "Julien", "Mohamed", "Karim", "Yannick", "Gérard", "Bernard", "Marcel", "Hugo", "Lucas",
             "Mathieu", "Jérôme", "Franck", "Ludovic", "Abdel", "Jacques", "Olivier", "Romain", "Sébastien"]
NOMS = ["Martin", "Bernard", "Dubois", "Durand", "Lefebvre", "Leroy", "Moreau", "Petit", "Lefèvre", "Roux", "Fournier",
        "Girard", "Morel", "Lemaire", "Lecomte", "Duval", "Hébert", "Lebrun", "Delamare", "Vasseur", "Ben Salah",
        "Nguyen", "Da Silva", "Lemonnier", "Quesnel", "Lecoq", "Tougard", "Grenier", "Auvray", "Poulain", "Marchand",
        "Caron", "Benali", "Leclerc", "Boucher", "Haddad", "Pereira", "Renaud", "Legrand", "Deschamps"]
VILLES = [("Rouen", "76000"), ("Le Havre", "76600"), ("Dieppe", "76200"), ("Fécamp", "76400"), ("Elbeuf", "76500"),
          ("Yvetot", "76190"), ("Bolbec", "76210"), ("Barentin", "76360"), ("Neufchâtel-en-Bray", "76270"),
          ("Eu", "76260"), ("Forges-les-Eaux", "76440"), ("Lillebonne", "76170"), ("Montivilliers", "76290"),
          ("Sotteville-lès-Rouen", "76300"), ("Maromme", "76150"), ("Canteleu", "76380"), ("Darnétal", "76160"),
          ("Gournay-en-Bray", "76220"), ("Cany-Barville", "76450"), ("Saint-Valery-en-Caux", "76460"),
          ("Évreux", "27000"), ("Amiens", "80000"), ("Caen", "14000"), ("Beauvais", "60000"), ("Lisieux", "14100"),
          ("Tours", "37000"), ("Saint-Étienne-du-Rouvray", "76800"), ("Pavilly", "76570"), ("Offranville", "76550")]
RUES = ["rue de la République", "rue Jean Jaurès", "avenue du Général de Gaulle", "impasse des Lilas", "route de Dieppe",
        "rue du Moulin", "place de l'Église", "chemin des Prés", "boulevard de Verdun", "rue Victor Hugo", "allée des Tilleuls",
        "rue Pasteur", "résidence Les Érables, bât. C", "hameau de la Vallée", "rue des Canadiens", "quai du Havre"]
ENTREPRISES = ["Colas Normandie", "Eiffage Route Nord-Ouest", "SARL Lemonnier TP", "Normandie Enrobés", "Bureau Vallée Pro",
               "Sodexo Éducation", "Elior Restauration", "Otis Ascenseurs", "Taxis du Pays de Caux", "Transports Hébert",
               "EURL Quesnel Électricité", "SAS Vasseur Bâtiment", "Manutan Collectivités", "Onet Propreté",
               "Berger-Levrault", "Orange Business", "SCI Les Hauts de Seine", "Signaux Girod", "Lyreco", "Dalkia",
               "Transdev", "Axa Assurances", "Groupama Centre Manche", "Atelier Lecoq Menuiserie", "Bouygues Energies & Services"]
ASSOS = ["Les Amis du Bocage", "Solidarité Caux", "Entraide et Partage", "Football Club de la Vallée", "Ensemble pour l'Emploi",
         "La Clé des Champs", "Les Petits Loups", "Lire et Faire Lire 76", "Secours Populaire Français", "APF France handicap",
         "Rencontres Musicales du Littoral", "Théâtre en Herbe", "Judo Club Cauchois", "Jardins de Cocagne", "Le Relais",
         "Familles Rurales", "Les Papillons Blancs", "Mission locale", "Aide à domicile en milieu rural", "Coup de Pouce"]
EHPADS = ["Les Tilleuls", "Résidence du Parc", "Les Jardins d'Automne", "La Roseraie", "Le Clos Fleuri", "Les Charmilles",
          "Saint-Joseph", "Les Hortensias", "Korian Les Falaises", "Résidence Beausoleil"]
COLLEGES = ["collège Jean Moulin", "collège Victor Hugo", "collège Louise Michel", "collège Jules Ferry", "collège Albert Camus",
            "collège Guy de Maupassant", "collège Simone Veil", "collège Jacques Prévert", "collège Claude Monet",
            "collège Pierre et Marie Curie", "collège du Pays de Bray", "collège Gustave Flaubert"]
MOIS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"]
DEPARTEMENTS = ["Conseil départemental de la Seine-Maritime", "Département de la Seine-Maritime", "Conseil départemental",
                "Hôtel du Département", "Département", "Conseil Départemental 76"]

ADMINS = ["Caisse d'allocations familiales", "CPAM", "Préfecture", "Direction des services départementaux de l'Éducation nationale",
          "France Travail", "Carsat Normandie", "Tribunal judiciaire", "Gendarmerie nationale", "Centre de gestion",
          "Trésorerie", "Agence régionale de santé", "Mutualité sociale agricole", "Tribunal administratif", "Défenseur des droits"]
PROS = ["Docteur {prenom} {nom}, médecin généraliste", "{civ} {nom}, principale du {college}", "{civ} {nom}, assistante sociale",
        "Le directeur de l'EHPAD {ehpad}", "{civ} {nom}, infirmière scolaire", "{civ} {nom}, gestionnaire du {college}",
        "Cabinet d'infirmiers {nom}", "{civ} {nom}, éducatrice spécialisée", "Laboratoire d'analyses {nom2}"]


def siret(rng: random.Random, valid: bool = True) -> str:
    body = "".join(str(rng.randint(0, 9)) for _ in range(13))
    for last in "0123456789":
        if luhn_valid(body + last) == valid:
            number = body + last
            break
    return rng.choice([number, f"{number[:3]} {number[3:6]} {number[6:9]} {number[9:]}", f"{number[:9]} {number[9:]}"])


def money(rng: random.Random, low: float = 20, high: float = 90000) -> str:
    value = round(rng.uniform(low, rng.choice([high / 50, high / 5, high])), 2)
    whole, cents = f"{value:.2f}".split(".")
    grouped = f"{int(whole):,}".replace(",", rng.choice([" ", ".", "\u202f", ""]))
    return rng.choice([f"{grouped},{cents} €", f"{grouped},{cents} euros", f"{grouped},{cents} EUR", f"{int(whole)} €"])


def french_date(rng: random.Random, year: int, month: int, day: int) -> str:
    style = rng.random()
    if style < 0.55:
        d = "1er" if day == 1 and rng.random() < 0.7 else str(day)
        return f"{d} {MOIS[month - 1]} {year}"
    if style < 0.85:
        return f"{day:02d}/{month:02d}/{year}"
    if style < 0.93:
        return f"{day:02d}.{month:02d}.{year}"
    return f"{day}/{month}/{str(year)[2:]}"


def rand_date(rng: random.Random, offset_months: int = 0) -> str:
    month = (2 + offset_months) % 12 + 1
    year = 2026 + (2 + offset_months) // 12
    return french_date(rng, year, month, rng.randint(1, 28))


def facts(rng: random.Random) -> dict[str, str]:
    """One letter's worth of names, places and identifiers."""
    female = rng.random() < 0.55
    prenom = rng.choice(PRENOMS_F if female else PRENOMS_M)
    ville, cp = rng.choice(VILLES)
    ville2, _ = rng.choice(VILLES)
    rd_num = str(rng.choice([rng.randint(1, 99), rng.randint(100, 999)]))
    return {
        "civ": "Madame" if female else "Monsieur", "civ2": rng.choice(["Madame", "Monsieur"]),
        "prenom": prenom, "nom": rng.choice(NOMS), "nom2": rng.choice(NOMS),
        "enfant": rng.choice(PRENOMS_F + PRENOMS_M), "age_enfant": str(rng.randint(2, 16)),
        "age_vieux": str(rng.randint(72, 97)), "ville": ville, "ville2": ville2, "cp": cp,
        "ville_ta": rng.choice(["Rouen", "Caen", "Amiens", "Douai"]),
        "adresse": f"{rng.randint(1, 140)} {rng.choice(RUES)}",
        "date": rand_date(rng, 0), "date_passee": rand_date(rng, -rng.randint(1, 8)),
        "date_future": rand_date(rng, rng.randint(1, 4)),
        "mois": rng.choice(MOIS), "mois_passe": f"{rng.choice(MOIS)} {rng.choice([2024, 2025])}",
        "annee": str(rng.choice([2026, 2027])), "heure": rng.choice(["10 h 30", "11h00", "18 heures", "14h30", "19 h"]),
        "caf": str(rng.randint(1000000, 9999999)),
        "dossier": rng.choice([f"APA-{rng.randint(2019, 2026)}-{rng.randint(100, 99999):05d}", f"{rng.randint(2020, 2026)}/{rng.randint(1000, 99999)}",
                               f"D{rng.randint(100000, 999999)}", f"MDPH {rng.randint(76000000, 76999999)}"]),
        "siret": siret(rng, rng.random() < 0.9), "rna": str(rng.randint(761000000, 769999999)),
        "montant": money(rng), "facture": rng.choice([f"FA-2026-{rng.randint(1, 9999):04d}", f"F{rng.randint(202600000, 202699999)}",
                                                      f"{rng.randint(1000, 99999)}", f"FAC/{rng.randint(100, 999)}/26"]),
        "facture2": f"FA-2025-{rng.randint(1, 9999):04d}", "bon": f"BC{rng.randint(26000, 26999)}",
        "engagement": f"EJ {rng.randint(1000000, 9999999)}",
        "marche": rng.choice([f"{rng.randint(2023, 2026)}-{rng.randint(1, 250):03d}", f"M{rng.randint(23, 26)}-{rng.randint(1, 999):04d}",
                              f"{rng.randint(23, 26)}S{rng.randint(1, 999):04d}", f"2026/TRV/{rng.randint(1, 99):03d}"]),
        "lot": str(rng.randint(1, 12)), "requete": f"{rng.randint(2400000, 2699999)}-{rng.randint(1, 9)}",
        "rd_num": rd_num, "rd_num2": str(rng.randint(1, 999)),
        "rd": rng.choice([f"RD {rd_num}", f"RD{rd_num}", f"route départementale {rd_num}", f"D{rd_num}", f"RD n° {rd_num}"]),
        "pr": rng.choice([f"PR {rng.randint(0, 40)}+{rng.randint(0, 999):03d}", f"PR{rng.randint(0, 40)}", "lieu-dit la Croix Blanche"]),
        "college": rng.choice(COLLEGES), "college2": rng.choice(COLLEGES), "ehpad": rng.choice(EHPADS),
        "asso": rng.choice(ASSOS), "entreprise": rng.choice(ENTREPRISES), "avocat": f"{rng.choice(PRENOMS_M + PRENOMS_F)} {rng.choice(NOMS)}",
        "gir": str(rng.randint(1, 4)), "circonscription": rng.choice(["1re", "3e", "5e", "8e"]),
        "tel": rng.choice([f"0{rng.randint(1, 7)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
                           f"0{rng.choice([6, 7])}{rng.randint(10000000, 99999999)}", f"+33 {rng.randint(1, 7)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"]),
    }


def fill(template: str, f: dict[str, str]) -> str:
    return template.format_map(f)


def email_of(name: str, rng: random.Random) -> str:
    import unicodedata
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    plain = re.sub(r"[^a-z]+", rng.choice([".", "-", ""]), plain).strip(".-")
    return f"{plain}@{rng.choice(['gmail.com', 'orange.fr', 'free.fr', 'laposte.net', 'wanadoo.fr', 'hotmail.fr'])}"


def sender(kind: str, f: dict[str, str], rng: random.Random) -> tuple[list[str], str]:
    """Header lines and signature for one kind of writer."""
    person = f"{f['prenom']} {f['nom']}" if rng.random() < 0.6 else f"{f['civ']} {f['prenom']} {f['nom'].upper()}"
    address = [f["adresse"], f"{f['cp']} {f['ville']}" if rng.random() < 0.8 else f"{f['cp']} {f['ville'].upper()}"]
    contact = []
    if rng.random() < 0.5:
        contact.append(rng.choice(["Tél. : ", "Tel ", "Portable : ", ""]) + f["tel"])
    if rng.random() < 0.35:
        contact.append(rng.choice(["Courriel : ", "Mail : ", "E-mail : ", ""]) + email_of(person, rng))
    if kind == "cit" or kind == "agent":
        head = [person, *address, *contact]
        sign = person if rng.random() < 0.7 else f"{f['prenom']} {f['nom']}"
        if kind == "agent" and rng.random() < 0.5:
            head.append(f"Matricule : {rng.randint(10000, 99999)}")
        return head, sign
    if kind == "ent":
        name = f["entreprise"]
        head = [name.upper() if rng.random() < 0.5 else name, *address]
        if rng.random() < 0.7:
            head.append(f"SIRET : {f['siret']}")
        head += contact
        sign = f"{person}\n{rng.choice(['Directeur commercial', 'Service comptabilité', 'Gérant', 'Responsable administratif', 'Chargée de recouvrement', 'Conducteur de travaux'])}"
        return head, sign
    if kind == "asso":
        head = [f"Association {f['asso']}" if rng.random() < 0.6 else f["asso"], "Association loi 1901" if rng.random() < 0.4 else "", *address, *contact]
        sign = f"{person}\n{rng.choice(['Président', 'La présidente', 'Trésorier', 'Secrétaire', 'Le directeur', 'Coordinatrice'])}"
        return [line for line in head if line], sign
    if kind == "maire":
        head = [f"Mairie de {f['ville']}", rng.choice(["Le Maire", "Cabinet du Maire", "Hôtel de Ville"]), *address, *contact]
        sign = f"{person}\n{rng.choice(['Maire de ' + f['ville'], 'Le Maire', 'Maire, vice-président de la communauté de communes'])}"
        return head, sign
    if kind == "avocat":
        name = rng.choice([f"Maître {f['avocat']}", f"SCP {f['nom']} & {f['nom2']}", f"Cabinet {f['nom2']} Avocats", f"SELARL {f['nom2']} – Commissaires de justice"])
        head = [name, rng.choice(["Avocat au Barreau de Rouen", "Avocats associés", "Commissaire de justice", "Avocat à la Cour"]), *address, *contact]
        sign = rng.choice([f"Maître {f['avocat']}", name])
        return head, sign
    if kind == "admin":
        org = rng.choice(ADMINS)
        head = [org, rng.choice(["Service des relations partenaires", "Le Directeur", "Greffe", "Pôle social", ""]), *address]
        sign = f"{person}\n{rng.choice(['Le Directeur', 'Pour le Préfet et par délégation', 'Le greffier en chef', 'La responsable de service', 'Le Juge des enfants'])}"
        return [line for line in head if line], sign
    if kind == "pro":
        who = fill(rng.choice(PROS), f)
        return [who, *address, *contact], who
    if kind == "elu":
        role = rng.choice(["Conseiller départemental", "Conseillère départementale", "Député", "Sénateur", "Vice-présidente du Conseil régional"])
        return [f"{person}", role, *address], f"{person}\n{role}"
    raise ValueError(kind)


def recipient(category: str, rng: random.Random) -> list[str]:
    lines = []
    roll = rng.random()
    if category == "cabinet" or roll < 0.25:
        lines.append(rng.choice(["Monsieur le Président du Conseil départemental", "Madame la Présidente du Département",
                                 "À l'attention de Monsieur le Président"]))
    if rng.random() < 0.45:
        lines.append(rng.choice(SERVICES.get(category, SERVICES["autre"])))
    elif rng.random() < 0.15:
        lines.append(rng.choice([services for cat in SERVICES for services in SERVICES[cat]]))  # misaddressed mail
    lines.append(rng.choice(DEPARTEMENTS))
    if rng.random() < 0.7:
        lines += [rng.choice(["Quai Jean Moulin", "Hôtel du Département", "CS 56101", "BP 3020"]), "76101 Rouen Cedex"]
    return lines


def salutation(category: str, kind: str, rng: random.Random) -> str:
    options = ["Madame, Monsieur,", "Madame, Monsieur,", "Monsieur le Président,", "Madame la Directrice,", "Monsieur,",
               "Bonjour,", "Mesdames, Messieurs,"]
    if category == "cabinet":
        options += ["Monsieur le Président,"] * 3
    if kind == "avocat":
        options += ["Monsieur le Président,", "Maître,"]
    if kind == "cit":
        options += ["Bonjour,", "Bonjour Madame,", ""]
    return rng.choice(options)


CLOSINGS = [
    "Je vous prie d'agréer, Madame, Monsieur, l'expression de mes salutations distinguées.",
    "Veuillez agréer, Monsieur le Président, l'expression de ma haute considération.",
    "Dans l'attente de votre réponse, je vous prie de croire à mes sentiments respectueux.",
    "Cordialement,", "Bien cordialement.", "Merci d'avance.", "Salutations.",
    "Nous vous prions d'agréer nos salutations les meilleures.",
    "Je vous prie de recevoir, Madame, Monsieur, mes sincères salutations.",
    "Veuillez croire, Monsieur le Président, en l'assurance de mes sentiments les meilleurs.",
    "Respectueusement,", "En vous remerciant par avance, je vous prie d'agréer mes salutations distinguées.",
]
FILLERS = [
    "Je reste à votre disposition pour tout renseignement complémentaire.",
    "Vous trouverez ci-joint les pièces justificatives.",
    "Je vous remercie par avance de l'attention que vous porterez à ma demande.",
    "J'ai déjà téléphoné plusieurs fois sans obtenir de réponse.",
    "Je vous joins une copie de votre dernier courrier.",
    "Je me permets de vous relancer car ma précédente lettre est restée sans réponse.",
    "Vous pouvez me joindre au {tel} en journée.",
    "Je vous prie d'excuser le retard de ce courrier.",
    "Mon adresse a changé, merci de noter mes nouvelles coordonnées ci-dessus.",
    "Comme convenu lors de notre échange téléphonique du {date_passee},",
    "Nous avons bien reçu votre courrier du {date_passee}.",
    "La situation devient très difficile pour nous.",
    "Je vous serais reconnaissant de me répondre par écrit.",
]
ATTACHMENTS = ["P.J. : copie de la pièce d'identité", "PJ : justificatifs", "Pièces jointes : 3", "P.J. : RIB, attestation",
               "Copie : Monsieur le Maire", "PJ: photos", "Annexe : tableau récapitulatif"]


@dataclass
class Pools:
    """The stories and phrasings one split may draw from, for one category."""

    situations: list[str]
    subjects: list[str]
    requests: list[str]
    notes: list[str]


def split_pools(category: str, seed: int) -> dict[str, Pools]:
    """A quarter of each pool (at least one item) is kept for validation and test only."""
    parts: dict[str, tuple[list[str], list[str]]] = {}
    for name, pool in (("situations", SITUATIONS), ("subjects", SUBJECTS), ("requests", REQUESTS), ("notes", NOTES)):
        items = list(pool[category])
        random.Random(f"{seed}-{category}-{name}").shuffle(items)
        held = max(1, len(items) // 4)
        parts[name] = (items[held:], items[:held])
    train = Pools(*(parts[n][0] for n in ("situations", "subjects", "requests", "notes")))
    train.situations += TRAIN_ONLY_SITUATIONS.get(category, [])
    train.subjects += TRAIN_ONLY_SUBJECTS.get(category, [])
    train.notes += TRAIN_ONLY_NOTES.get(category, [])
    held_out = Pools(*(parts[n][1] for n in ("situations", "subjects", "requests", "notes")))
    return {"train": train, "validation": held_out, "test": held_out}


def letter(category: str, pools: Pools, rng: random.Random) -> str:
    situations = pools.situations
    f = facts(rng)
    first = rng.choice(situations)
    kind, text = first.split("|", 1)
    paragraphs = [fill(text, f)]
    others = [s for s in situations if s != first and s.split("|", 1)[0] == kind]
    if others and rng.random() < 0.35:
        paragraphs.append(fill(rng.choice(others).split("|", 1)[1], f))
    if rng.random() < 0.6:
        paragraphs.append(fill(rng.choice(pools.requests), f))
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        paragraphs.insert(rng.randint(0, len(paragraphs)), fill(rng.choice(FILLERS), f))
    head, sign = sender(kind, f, rng)
    place_date = f"{f['ville']}, le {f['date']}" if rng.random() < 0.8 else f["date"]
    parts = ["\n".join(head), ""]
    if rng.random() < 0.5:
        parts += [place_date, "", "\n".join(recipient(category, rng)), ""]
    else:
        parts += ["\n".join(recipient(category, rng)), "", place_date, ""]
    if rng.random() < 0.75:
        parts.append(rng.choice(["Objet : ", "Objet: ", "OBJET : ", "Obj. : "]) + fill(rng.choice(pools.subjects), f))
    if rng.random() < 0.3:
        parts.append(rng.choice(["Réf. : ", "N/Réf : ", "V/Réf. : ", "Dossier n° "]) + rng.choice([f["dossier"], f["caf"], f["facture"], f["requete"]]))
    parts += ["", salutation(category, kind, rng), ""]
    parts += [p for para in paragraphs for p in (para, "")]
    parts += [rng.choice(CLOSINGS), "", sign]
    if rng.random() < 0.3:
        parts += ["", rng.choice(ATTACHMENTS)]
    return "\n".join(parts)


def note(pools: Pools, rng: random.Random) -> str:
    f = facts(rng)
    name = f"{f['prenom']} {f['nom']}"
    body = fill(rng.choice(pools.notes), f)
    top = rng.choice([f"{f['ville']}, le {f['date']}", f["date"], "", "Bordereau d'envoi"])
    return "\n".join(x for x in [top, rng.choice(["Bonjour,", "", "Madame, Monsieur,"]), body,
                                 rng.choice(["Merci.", "Cordialement", "", "Salutations"]), name, f["tel"] if rng.random() < 0.5 else ""] if x)


def invoice(rng: random.Random, reminder: bool = False) -> str:
    f = facts(rng)
    items = rng.sample([("Enrobé à chaud BBSG 0/10, tonne", 95, 140), ("Fourniture de sel de déneigement, tonne", 80, 120),
                        ("Repas demi-pension élève", 3, 5), ("Maintenance préventive ascenseur, trimestre", 400, 900),
                        ("Ramettes papier A4 80 g, carton", 20, 35), ("Location nacelle 12 m, jour", 150, 300),
                        ("Heure de main-d'œuvre technicien", 45, 75), ("Panneau de signalisation AB4", 60, 140),
                        ("Cartouche toner noir", 40, 110), ("Nettoyage des locaux, mois", 900, 4000),
                        ("Transport adapté, trajet aller-retour", 35, 90), ("Analyse légionelle, prélèvement", 60, 120),
                        ("Chaise élève taille 6", 30, 60), ("Licence logiciel, an", 500, 3000)], rng.randint(1, 4))
    lines, total_ht = [], 0.0
    for label, low, high in items:
        qty = rng.randint(1, 60)
        unit = round(rng.uniform(low, high), 2)
        total_ht += qty * unit
        lines.append(f"{label:<45} {qty:>4} {unit:>10.2f} {qty * unit:>12.2f}")
    vat = rng.choice([0.2, 0.2, 0.1, 0.055])
    ttc = total_ht * (1 + vat)

    def fr(x: float) -> str:
        return f"{x:,.2f}".replace(",", " ").replace(".", ",")
    title = rng.choice(["FACTURE", "Facture", "FACTURE N° " + f["facture"], "AVOIR" if rng.random() < 0.2 else "FACTURE"])
    out = [f["entreprise"].upper(), f["adresse"], f"{f['cp']} {f['ville']}", f"SIRET {f['siret']}", f"TVA intracom. FR{rng.randint(10, 99)}{rng.randint(100000000, 999999999)}", "",
           title, f"N° {f['facture']}" if "N°" not in title else "", f"Date : {f['date']}", f"Client : {rng.choice(DEPARTEMENTS)} – {rng.choice(SERVICES[rng.choice(list(SERVICES))])}",
           rng.choice([f"Bon de commande : {f['bon']}", f"N° d'engagement : {f['engagement']}", f"Marché n° {f['marche']}", ""]), "",
           f"{'Désignation':<45} {'Qté':>4} {'P.U. HT':>10} {'Total HT':>12}", *lines, "",
           f"Total HT : {fr(total_ht)} €", f"TVA {vat * 100:g} % : {fr(total_ht * vat)} €", f"Total TTC : {fr(ttc)} €",
           rng.choice(["Net à payer", "Montant TTC", "TOTAL TTC A PAYER"]) + f" : {fr(ttc)} €", "",
           rng.choice(["Conditions de paiement : 30 jours à réception de facture.", "Règlement par virement – IBAN FR76 1020 6000 1234 5678 9012 345",
                       "Pénalités de retard : 3 fois le taux d'intérêt légal. Indemnité forfaitaire pour frais de recouvrement : 40 €."])]
    if reminder:
        out.insert(6, rng.choice(["RELANCE", "2e RAPPEL – FACTURE IMPAYÉE", "Rappel : échéance dépassée"]))
    return "\n".join(x for x in out if x is not None)


def form(category: str, rng: random.Random) -> str:
    """A filled administrative form, as it reads after OCR: labels and values."""
    f = facts(rng)
    common = [f"Nom : {f['nom'].upper()}", f"Prénom : {f['prenom']}", f"Adresse : {f['adresse']} {f['cp']} {f['ville']}",
              f"Téléphone : {f['tel']}", f"Date de naissance : {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1935, 2004)}"]
    specific = {
        "autonomie-personnes-agees": ["cerfa N° 16301*01", "DEMANDE D'AIDES À L'AUTONOMIE À DOMICILE POUR LES PERSONNES ÂGÉES",
                                      "Allocation personnalisée d'autonomie (APA) – Département", "☒ Première demande ☐ Révision",
                                      "Situation familiale : veuve", "Aidant : " + f["prenom"] + " " + f["nom2"] + " (fille)",
                                      "Caisse de retraite principale : Carsat", "Je vis à domicile : ☒ seul(e)"],
        "autonomie-handicap": ["cerfa N° 15692*01", "DEMANDE AUPRÈS DE LA MDPH", "Maison départementale des personnes handicapées",
                               "☒ Prestation de compensation du handicap (PCH)", "☐ Allocation aux adultes handicapés (AAH)",
                               "☒ Carte mobilité inclusion (CMI)", "Certificat médical (cerfa 15695) joint : oui",
                               "Vie quotidienne : besoin d'aide pour la toilette, les déplacements"],
        "enfance-famille": ["cerfa N° 13394*04", "DEMANDE D'AGRÉMENT D'ASSISTANT MATERNEL", "Service de protection maternelle et infantile",
                            "☒ Première demande ☐ Renouvellement ☐ Extension", "Nombre d'enfants souhaité : 3",
                            "Logement : maison avec jardin clos", "Formation initiale suivie : non"],
        "rsa-insertion": ["cerfa N° 15481*02", "DEMANDE DE REVENU DE SOLIDARITÉ ACTIVE (RSA)", f"N° allocataire : {f['caf']}",
                          "Organisme : CAF", "Situation : personne seule", "Ressources des 3 derniers mois : 0 €",
                          "Je m'engage à signer un contrat d'engagement et à être accompagné"],
        "routes": [f"cerfa N° {rng.choice(['14023', '14024'])}*01", "DEMANDE DE PERMISSION DE VOIRIE / ARRÊTÉ DE CIRCULATION",
                   f"Voie concernée : {f['rd']}", f"Localisation : {f['pr']} commune de {f['ville2']}",
                   "Nature des travaux : ouverture de tranchée sous accotement", f"Date de début : {f['date_future']}", "Durée : 5 jours",
                   "Mesures d'exploitation : alternat par feux"],
        "subventions-associations": ["cerfa N° 12156*06", "DEMANDE DE SUBVENTION(S) – ASSOCIATIONS", f"Nom de l'association : {f['asso']}",
                                     f"N° SIRET : {f['siret']}", f"N° RNA : W{f['rna']}", "Objet : fonctionnement et projet",
                                     f"Montant sollicité : {f['montant']}", "Budget prévisionnel de l'action : joint",
                                     "Attestation sur l'honneur signée par le représentant légal"],
        "ressources-humaines": ["FICHE DE CANDIDATURE", "Poste souhaité : " + rng.choice(["agent d'exploitation des routes", "assistant(e) socio-éducatif(ve)",
                                                                                           "agent d'entretien en collège", "gestionnaire paie", "secrétaire médico-sociale"]),
                                "Statut : ☐ titulaire ☒ contractuel", "Disponibilité : immédiate", "Diplômes : CAP, permis B",
                                "Expériences : 4 ans en collectivité"],
        "marches-publics": ["DC4 – DÉCLARATION DE SOUS-TRAITANCE", f"Marché n° {f['marche']}  Lot n° {f['lot']}",
                            f"Titulaire : {f['entreprise']}", f"Sous-traitant : SARL {f['nom2']}", f"SIRET du sous-traitant : {f['siret']}",
                            f"Montant maximum des prestations sous-traitées : {f['montant']} HT", "Paiement direct : oui",
                            "Acheteur : Département – service de la commande publique"],
    }
    lines = specific[category][:2] + common + specific[category][2:]
    lines += ["", f"Fait à {f['ville']}, le {f['date']}", "Signature :"]
    return "\n".join(lines)


def email(pools: Pools, rng: random.Random) -> str:
    f = facts(rng)
    kind, text = rng.choice(pools.situations).split("|", 1)
    name = f"{f['prenom']} {f['nom']}"
    return "\n".join([f"De : {name} <{email_of(name, rng)}>", f"Envoyé : {rng.choice(['lundi', 'mardi', 'jeudi', 'vendredi'])} {f['date']} {rng.randint(8, 20)}:{rng.randint(10, 59)}",
                      "À : courrier@departement76.fr", "Objet : " + fill(rng.choice(pools.subjects), f), "",
                      rng.choice(["Bonjour,", "Madame, Monsieur,", "Bonjour Madame,"]), "", fill(text, f), "",
                      rng.choice(["Cordialement", "Bonne journée", "Merci"]), name])


# ---- noise -----------------------------------------------------------------------------

OCR_CONFUSIONS = [("rn", "m"), ("m", "rn"), ("l", "1"), ("I", "l"), ("O", "0"), ("é", "e"), ("è", "e"), ("à", "a"), ("ç", "c"),
                  ("e", "c"), ("c", "e"), ("i", "l"), ("u", "n"), ("n", "u"), ("ti", "li"), ("f", "t"), ("S", "5"), ("B", "8"),
                  ("'", "’"), (",", "."), ("h", "b"), ("a", "o")]


def ocr_noise(text: str, rng: random.Random, rate: float) -> str:
    """Character confusions, split and glued words: what a poor scan gives."""
    out = []
    for word in re.split(r"(\s+)", text):
        if word.strip() and rng.random() < rate:
            roll = rng.random()
            if roll < 0.55:
                src, dst = rng.choice(OCR_CONFUSIONS)
                word = word.replace(src, dst, 1)
            elif roll < 0.7 and len(word) > 4:
                cut = rng.randint(1, len(word) - 1)
                word = word[:cut] + " " + word[cut:]
            elif roll < 0.85 and len(word) > 3:
                cut = rng.randint(0, len(word) - 1)
                word = word[:cut] + word[cut + 1:]
            else:
                word = word + rng.choice([".", ",", "'", "~", "|"])
        elif word.isspace() and rng.random() < rate / 4 and "\n" not in word:
            word = ""
        out.append(word)
    return "".join(out)


def casual(text: str, rng: random.Random) -> str:
    """The clumsy register: accents dropped, fewer capitals, some typos."""
    import unicodedata
    if rng.random() < 0.6:
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    if rng.random() < 0.4:
        text = text.lower()
    words = text.split(" ")
    for i, w in enumerate(words):
        if len(w) > 3 and rng.random() < 0.04:
            j = rng.randint(0, len(w) - 2)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


# ---- assembly --------------------------------------------------------------------------

FORM_CATEGORIES = {"autonomie-personnes-agees", "autonomie-handicap", "enfance-famille", "rsa-insertion", "routes",
                   "subventions-associations", "ressources-humaines", "marches-publics"}


def document(category: str, pools: Pools, rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if category == "factures" and roll < 0.45:
        text, kind = invoice(rng, reminder=rng.random() < 0.3), "invoice"
    elif category in FORM_CATEGORIES and roll < 0.12:
        text, kind = form(category, rng), "form"
    elif roll < 0.22:
        text, kind = note(pools, rng), "note"
    elif roll < 0.32:
        text, kind = email(pools, rng), "email"
    else:
        text, kind = letter(category, pools, rng), "letter"
    if rng.random() < 0.2:
        text = casual(text, rng)
    if rng.random() < 0.45:
        text = ocr_noise(text, rng, rng.choice([0.02, 0.05, 0.1]))
    return text, kind


def read_handwritten(path: Path = HANDWRITTEN) -> list[tuple[str, str]]:
    """corpus_handwritten.txt: blocks starting with '=== category', letters in free form."""
    items, category, lines = [], None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("=== "):
            if category and "".join(lines).strip():
                items.append((category, "\n".join(lines).strip()))
            category, lines = line[4:].strip(), []
        else:
            lines.append(line)
    if category and "".join(lines).strip():
        items.append((category, "\n".join(lines).strip()))
    return items


def build(seed: int = SEED, per_category: dict[str, int] | None = None,
          letters: Path | None = LETTERS) -> dict[str, list[dict]]:
    per_category = per_category or PER_CATEGORY
    splits: dict[str, list[dict]] = {name: [] for name in per_category}
    for category in SITUATIONS:
        by_split = split_pools(category, seed)
        for split, count in per_category.items():
            rng = random.Random(f"{seed}-{split}-{category}")  # a split's letters do not depend on the others' sizes
            for n in range(count):
                text, kind = document(category, by_split[split], rng)
                splits[split].append({"id": f"{split[:3]}-{category}-{n:03d}", "category": category, "kind": kind,
                                      "source": "assembled", "text": text})
    handwritten = read_handwritten() if HANDWRITTEN.exists() else []
    seen: dict[str, int] = {}
    for index, (category, text) in enumerate(handwritten):
        key = SPLIT_KEY.get(category, category)
        seen[key] = seen.get(key, 0) + 1
        split = ["train", "validation", "test", "train"][(seen[key] - 1) % 4]  # each category's letters in every split
        splits[split].append({"id": f"hw-{category}-{index:03d}", "category": category, "kind": "handwritten",
                              "source": "handwritten", "text": text})
    more = read_handwritten(HANDWRITTEN_MORE) if HANDWRITTEN_MORE.exists() else []
    seen = {}
    for index, (category, text) in enumerate(more):
        key = SPLIT_KEY.get(category, category)
        seen[key] = seen.get(key, 0) + 1
        split = ["train", "validation", "train"][(seen[key] - 1) % 3]
        if split in splits:
            splits[split].append({"id": f"hw2-{category}-{index:03d}", "category": category, "kind": "handwritten",
                                  "source": "handwritten", "text": text})
    for path in sorted(letters.glob("*.txt")) if letters and letters.is_dir() else []:
        split = path.stem.split("-", 1)[0]
        if split not in splits:
            continue
        for index, (category, text) in enumerate(read_handwritten(path)):
            if category not in SITUATIONS:
                raise ValueError(f"{path}: letter {index + 1} has unknown category {category!r}")
            kind = "note" if len(text.split()) < 40 else "letter"
            splits[split].append({"id": f"{path.stem}-{index:03d}", "category": category, "kind": kind,
                                  "source": path.stem, "text": text})
    for split in splits.values():
        random.Random(seed).shuffle(split)
    return splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, rows in build(args.seed).items():
        with (args.out / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{split}: {len(rows)} documents")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
