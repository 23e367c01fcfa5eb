"""Write the demo scans in samples/scans/: incoming letters to the Département, as a scanner delivers them.

Run ``python -m samples.generate`` (or ``python samples/generate.py``) from the repository root.
The output is deterministic; the PDFs are committed so that a fresh machine can run the demo.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from samples.render import damage, render_pages, save_scan_pdf  # noqa: E402

SCANS = Path(__file__).resolve().parent / "scans"

RSA = """\
Madame Sophie LEROUX
12, rue des Capucins
76000 Rouen
Allocataire n° 2048317 B

> Département de la Seine-Maritime
> Direction de l'Insertion et du RSA
> Quai Jean Moulin
> 76101 Rouen Cedex

> Rouen, le 3 mars 2026

# Objet : suspension de mon revenu de solidarité active (RSA)
# Réf. : dossier RSA 2048317 B – votre courrier du 17 février 2026

Madame, Monsieur,

J'ai bien reçu votre courrier du 17 février 2026 m'informant de la suspension de mon revenu de solidarité active à compter du 1er mars, au motif que je ne me serais pas présentée au rendez-vous d'orientation du 9 février.

Je me permets de contester cette décision. Le jour du rendez-vous, j'étais hospitalisée au CHU de Rouen, comme l'atteste le bulletin de situation que je joins à ce courrier. J'ai prévenu le service par téléphone le 10 février et l'agent m'a indiqué qu'un nouveau rendez-vous me serait proposé.

Je vous demande donc de bien vouloir rétablir mes droits et de me fixer une nouvelle date pour l'entretien d'orientation. Je reste disponible le matin, sauf le mercredi.

Je vous prie d'agréer, Madame, Monsieur, l'expression de mes salutations distinguées.

> Sophie Leroux

Pièce jointe : bulletin de situation du CHU de Rouen
"""

ROUTES = """\
Mairie de Saint-Martin-de-Boscherville
Place de l'Abbaye
76840 Saint-Martin-de-Boscherville
Tél. 02 35 32 10 04

> Monsieur le Président du Département
> Direction des Routes – Agence de Rouen
> 76101 Rouen Cedex

> Saint-Martin-de-Boscherville, le 12 février 2026

# Objet : dégradation de la chaussée de la RD 982 au lieu-dit « Le Genetey »
# N/Réf. : VOI-2026-014

Monsieur le Président,

À la suite des fortes pluies du mois de janvier, la chaussée de la route départementale 982 s'est effondrée sur une dizaine de mètres au lieu-dit « Le Genetey », entre les PR 14+300 et 14+350. Un affaissement de plus de vingt centimètres est apparu en rive droite, dans le sens Rouen–Duclair.

Plusieurs automobilistes ont signalé des dommages sur leurs véhicules et un cycliste a chuté le 8 février. Nous avons mis en place une signalisation provisoire, mais celle-ci ne saurait suffire compte tenu du trafic des poids lourds.

Je vous demande de bien vouloir faire intervenir les services de l'agence routière dans les meilleurs délais et d'envisager une limitation de vitesse à 50 km/h jusqu'à la réfection.

Veuillez agréer, Monsieur le Président, l'expression de ma haute considération.

> Le Maire,
> Jean-Pierre Duval
"""

FACTURE = """\
^ TRANSPORTS NORMANDS CAUX-SEINE
SAS au capital de 150 000 € – 14, route du Havre – 76190 Yvetot
SIRET 512 384 906 00027 – TVA FR 41 512384906

> Département de la Seine-Maritime
> Direction des Finances – Service comptabilité
> Quai Jean Moulin
> 76101 Rouen Cedex

> Yvetot, le 28 février 2026

# FACTURE N° F2026-0219
Bon de commande : BC-2026-00412 – Marché n° 2024-TS-07
Engagement juridique : EJ 4500128734

Objet : transport scolaire des élèves en situation de handicap – février 2026

Circuit Yvetot – Collège Albert Camus : 19 jours x 86,00 € = 1 634,00 €
Circuit Doudeville – IME Les Tilleuls : 19 jours x 74,50 € = 1 415,50 €
Total hors taxes : 3 049,50 €
TVA 10 % : 304,95 €
Total toutes taxes comprises : 3 354,45 €

Règlement par virement à 30 jours à réception de facture.
IBAN FR76 1830 6000 1204 5678 9012 345 – BIC AGRIFRPP883

Conditions : tout retard de paiement entraîne une indemnité forfaitaire de 40 € pour frais de recouvrement.
"""

APA = """\
Madame Claire MARTIN
8, allée des Tilleuls
76130 Mont-Saint-Aignan
Tél. 06 12 45 78 90

> Département de la Seine-Maritime
> Direction de l'Autonomie
> Service APA à domicile
> 76101 Rouen Cedex

> Mont-Saint-Aignan, le 5 mars 2026

# Objet : demande d'allocation personnalisée d'autonomie (APA) pour ma mère
# Bénéficiaire : Madame Odette MARTIN, née le 14 juin 1938

Madame, Monsieur,

Je vous adresse, au nom de ma mère, Madame Odette Martin, âgée de quatre-vingt-sept ans, une demande d'allocation personnalisée d'autonomie à domicile. Ma mère vit seule à Mont-Saint-Aignan depuis le décès de mon père en 2023.

Depuis une chute survenue en décembre dernier, elle ne peut plus se déplacer sans aide à l'intérieur de son logement. Elle a besoin d'assistance pour la toilette, l'habillage et la préparation des repas. Son médecin traitant, le docteur Lefèvre, estime que sa perte d'autonomie relève du groupe iso-ressources 3 ou 4.

Je passe la voir chaque soir après mon travail, mais je ne peux pas assurer seule l'aide dont elle a besoin en journée. Une aide à domicile intervient actuellement deux heures par semaine, à nos frais, par l'intermédiaire de l'association ADMR de Mont-Saint-Aignan.

Nous souhaiterions qu'une équipe médico-sociale puisse se rendre à son domicile afin d'évaluer ses besoins et de proposer un plan d'aide adapté : passage d'une aide à domicile le matin et le soir, portage de repas, téléassistance et aménagement de la salle de bains.

Vous trouverez ci-joint le formulaire de demande complété et signé, la copie de sa pièce d'identité, son dernier avis d'imposition et le certificat médical de son médecin traitant.
\f
Je vous précise que ma mère perçoit une pension de retraite de 1 420 euros par mois et qu'elle est propriétaire de son logement. Elle ne bénéficie d'aucune autre aide à ce jour.

Pour organiser la visite de l'équipe médico-sociale, vous pouvez me joindre au numéro indiqué ci-dessus, de préférence en fin de journée. Je souhaite être présente lors de cette visite, ma mère ayant parfois des difficultés à se souvenir des démarches.

Je vous remercie par avance de l'attention que vous porterez à cette demande et vous prie d'agréer, Madame, Monsieur, l'expression de mes sentiments respectueux.

> Claire Martin

Pièces jointes : formulaire de demande, pièce d'identité, avis d'imposition 2025, certificat médical
"""

COLLEGE = """\
Collège Jules Verne
Rue Pierre Corneille
76300 Sotteville-lès-Rouen
RNE 0761234X

> Département de la Seine-Maritime
> Direction de l'Éducation – Service des collèges
> 76101 Rouen Cedex

> Sotteville-lès-Rouen, le 20 février 2026

# Objet : demande de travaux – infiltrations dans le gymnase
# Dossier suivi par : M. Thomas Bernard, principal

Madame la Directrice,

Depuis le début du mois de février, d'importantes infiltrations d'eau se produisent dans le gymnase du collège à chaque épisode pluvieux. Le sol sportif est endommagé sur une surface d'environ trente mètres carrés et nous avons dû interdire l'accès à une partie de la salle.

Les cours d'éducation physique et sportive de nos 612 élèves sont fortement perturbés, de même que les activités de l'association sportive le mercredi après-midi.

Je sollicite l'intervention des services techniques du Département pour un diagnostic de la toiture et la réalisation des travaux nécessaires avant les épreuves sportives du brevet, prévues au mois de mai.

Je vous prie d'agréer, Madame la Directrice, l'expression de mes salutations respectueuses.

> Le Principal,
> Thomas Bernard
"""

SUBVENTION = """\
Association « Les Jardins partagés du Robec »
Maison des associations – 11, avenue Pasteur
76000 Rouen
Association loi 1901 – SIRET 834 221 567 00014

> Département de la Seine-Maritime
> Service de la vie associative
> 76101 Rouen Cedex

> Rouen, le 2 mars 2026

# Objet : demande de subvention de fonctionnement pour l'année 2026

Madame, Monsieur,

Notre association anime depuis 2019 trois jardins partagés dans les quartiers est de Rouen. Elle accueille chaque semaine une soixantaine d'habitants, dont de nombreuses familles et des personnes âgées isolées, autour d'activités de jardinage, de compostage et d'ateliers de cuisine.

Pour l'année 2026, nous sollicitons une subvention de fonctionnement de 4 500 euros, destinée à l'achat d'outillage, de semences et à la rémunération partielle d'une animatrice à temps partiel.

Vous trouverez ci-joint notre budget prévisionnel, le rapport d'activité 2025, nos statuts et un relevé d'identité bancaire.

Nous vous prions d'agréer, Madame, Monsieur, nos salutations distinguées.

> La Présidente,
> Nadia Benali
"""

# A letter that belongs to two directions at once: the machine hesitates, a supervisor decides.
AMBIGU = """\
Madame Odette LEMAIRE
3, impasse des Tilleuls
76480 Duclair

> Monsieur le Président du Département
> Hôtel du Département
> 76101 Rouen Cedex

> Duclair, le 6 mars 2026

# Objet : ma situation et celle de mon fils

Monsieur le Président,

J'ai 81 ans et depuis ma chute de janvier je ne peux plus faire mes courses ni mon ménage. Mon fils Didier, adulte handicapé, vit avec moi ; la MDPH lui a refusé la prestation de compensation et je ne peux plus m'occuper de lui. On m'a parlé de l'APA pour moi, mais je ne sais pas à qui m'adresser.

Je vous demande de transmettre ma lettre aux bons services.

Je vous prie d'agréer, Monsieur le Président, l'expression de ma considération.

> Odette Lemaire
"""

# A note written by hand: the OCR is unsure, a supervisor reads it.
MANUSCRIT = """\
Jean-Claude Hébert
La Ferme du Mesnil
76190 Allouville

> Allouville, le 9 mars 2026

Monsieur,

Le car scolaire ne passe plus au Mesnil depuis la rentrée de février. Ma fille Léa doit marcher quatre kilomètres au bord de la départementale, sans trottoir, à sept heures du matin.

Pouvez-vous faire quelque chose avant qu'il arrive un accident ?

Merci d'avance.

> J.-C. Hébert
> 06 12 34 56 78
"""

# The two letters of the demo batch: a cover sheet routes the first one, a separator starts the second.
LOT_ASE = """\
Association Les Nids
14, rue Jeanne d'Arc
76000 Rouen

> Département de la Seine-Maritime
> Direction de l'Enfance et de la Famille
> 76101 Rouen Cedex

> Rouen, le 4 mars 2026

# Objet : rapport d'activité 2025 du lieu de vie « Les Nids »

Madame la Directrice,

Vous trouverez ci-joint le rapport d'activité 2025 de notre lieu de vie et d'accueil, qui a accueilli huit jeunes confiés par vos services. Nous restons à votre disposition pour la visite annuelle.

Veuillez agréer, Madame la Directrice, nos salutations respectueuses.

> Le directeur,
> Pascal Morel
"""

LOT_ROUTES = """\
Entreprise Normandie Enrobés
ZA du Clos Pré
76150 Maromme

> Département de la Seine-Maritime
> Direction des Routes
> 76101 Rouen Cedex

> Maromme, le 5 mars 2026

# Objet : fin des travaux de réfection de la RD 982 – marché n° 2025-R-114

Monsieur l'Ingénieur,

Nous vous informons de l'achèvement des travaux de réfection de la chaussée de la RD 982 entre Duclair et Le Trait, et vous proposons une réception des travaux le 18 mars 2026 à 10 heures.

Nous vous prions d'agréer, Monsieur l'Ingénieur, nos salutations distinguées.

> Le conducteur de travaux,
> Thomas Girard
"""

# name, text, damage per page (one dict per page; the last one repeats)
SCANS_TO_WRITE = [
    ("2026-03-03_rsa_leroux", RSA, [dict(skew_degrees=1.2, noise=0.012, blur=0.6, uneven_light=True, seed=11)]),
    ("2026-02-12_routes_boscherville", ROUTES, [dict(skew_degrees=-4.5, noise=0.012, blur=0.7, seed=12)]),
    ("2026-02-28_facture_transports", FACTURE, [dict(skew_degrees=0.6, noise=0.01, blur=0.5, seed=13)]),
    ("2026-03-05_apa_martin", APA, [dict(skew_degrees=-0.8, noise=0.012, blur=0.6, uneven_light=True, seed=14),
                                    dict(skew_degrees=1.5, noise=0.012, blur=0.6, seed=15)]),
    ("2026-02-20_college_jules-verne", COLLEGE, [dict(rotate=180, skew_degrees=0.9, noise=0.012, blur=0.6, seed=16)]),
    ("2026-03-02_subvention_robec", SUBVENTION, [dict(rotate=90, skew_degrees=-0.5, noise=0.01, blur=0.5, seed=17)]),
    ("2026-03-06_ambigu_lemaire", AMBIGU, [dict(skew_degrees=0.7, noise=0.012, blur=0.6, seed=18)]),
    ("2026-03-09_manuscrit_hebert", MANUSCRIT,
     [dict(family="handwriting", size_pt=15, skew_degrees=-2.0, noise=0.02, blur=0.9, uneven_light=True, seed=19)]),
]
# A batch as the mail room scans it: routing cover sheet, letter, separator sheet, letter (sheets from
# `mailroom sheets`, scanned like the letters).
BATCHES = [("2026-03-10_lot_page-de-garde", [("cover:enfance-famille", None), ("letter", LOT_ASE),
                                             ("separator", None), ("letter", LOT_ROUTES)])]


def write_scans(folder: Path = SCANS, dpi: int = 300, quality: int = 55) -> list[Path]:
    """Render every sample letter and save it as an image-only scan PDF; returns the paths."""
    written = []
    for name, text, damages in SCANS_TO_WRITE:
        pages = []
        for index, source in enumerate(text.split("\f")):
            options = damages[min(index, len(damages) - 1)]
            pages.extend(render_pages(source, dpi=dpi, **options))
        written.append(save_scan_pdf(pages, folder / f"{name}.pdf", dpi=dpi, quality=quality))
    for name, parts in BATCHES:
        pages = []
        for index, (kind, text) in enumerate(parts):
            damage_options = dict(skew_degrees=0.4 * (-1) ** index, noise=0.006, blur=0.5, seed=30 + index)
            if kind == "letter":
                pages.extend(render_pages(text, dpi=dpi, **damage_options))
            else:
                pages.append(damage(_sheet_image(kind, dpi), **damage_options))
        written.append(save_scan_pdf(pages, folder / f"{name}.pdf", dpi=dpi, quality=quality))
    return written


def _sheet_image(kind: str, dpi: int):
    """A separator sheet or a routing cover sheet as `mailroom sheets` prints it, rendered as a page image."""
    import tempfile

    from pdf2image import convert_from_path

    from pipeline.config import load_config
    from pipeline.sheets import write_sheets

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(Path(tmp))
        out = Path(tmp) / "sheet.pdf"
        if kind == "separator":
            write_sheets(config, out, categories=[next(iter(config.categories))], separator=True)
        else:
            write_sheets(config, out, categories=[kind.split(":", 1)[1]], separator=False)
        image = convert_from_path(str(out), dpi=dpi, first_page=1, last_page=1, grayscale=True)[0]
    image.info["dpi"] = (dpi, dpi)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=SCANS)
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--quality", type=int, default=55, help="JPEG quality of the scan pages")
    args = parser.parse_args(argv)
    for path in write_scans(args.out, args.dpi, args.quality):
        print(f"{path}  {path.stat().st_size // 1024} Kio")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
