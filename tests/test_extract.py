"""Field extraction on French letters: dates, identifiers, amounts, contacts, urgency, sender."""
from pipeline.classify.extract import (amount_ttc, emails, extract_fields, find_references, find_sirets, letter_date,
                                       luhn_valid, phones, sender, urgency)


def refs(text, kind):
    return [r["value"] for r in find_references(text) if r["kind"] == kind]


# ---- dates ------------------------------------------------------------------------------

def test_place_and_date_in_words():
    assert letter_date("Mme Durand\nRouen, le 3 mars 2026\n\nMadame, Monsieur,") == "2026-03-03"


def test_first_of_the_month_and_lost_accents():
    assert letter_date("Fecamp, le 1er fevrier 2026") == "2026-02-01"
    assert letter_date("Saint-Étienne-du-Rouvray, le 14 décembre 2025") == "2025-12-14"


def test_numeric_dates_are_read_day_first():
    assert letter_date("03/03/2026") == "2026-03-03"
    assert letter_date("Le Havre, le 04/03/2026") == "2026-03-04"  # 4 March, not 3 April
    assert letter_date("Date : 12.02.2026") == "2026-02-12"
    assert letter_date("Yvetot le 3/3/26") == "2026-03-03"


def test_ambiguous_and_impossible_dates():
    assert letter_date("12/31/2026") == "2026-12-31"   # only month-first is possible
    assert letter_date("31/02/2026") is None            # no such day
    assert letter_date("Réf. 2026/31/45") is None


def test_place_date_wins_over_birth_and_event_dates():
    text = ("Date de naissance : 12/05/1950\nNé le 12/05/1950\n"
            "Inauguration le samedi 18 avril 2026\nElbeuf, le 5 mars 2026\n")
    assert letter_date(text) == "2026-03-05"
    assert letter_date("Votre courrier du 20 février 2026 nous est bien parvenu.") is None


def test_dates_inside_sentences_are_events_not_the_letter_date():
    hearing = ("Tribunal judiciaire de Rouen\nAssignation en référé\nIl est donné assignation au Département à comparaître "
               "devant le juge des référés le 5 mars 2026 aux fins de voir ordonner une expertise.")
    assert letter_date(hearing) is None
    assert letter_date("Monsieur le Président,\nNotre course cycliste aura lieu le 14 mai 2027 sur les bords de Seine.") is None
    assert letter_date("HYGIÈNE PRO SERVICES\n12 février 2026\nRelevé de factures") == "2026-02-12"  # a date on its own line
    wrapped_by_ocr = "Ma mère est entrée en établissement\nd'hébergement le 5 janvier 2026 suite à la décision d'orientation."
    assert letter_date(wrapped_by_ocr) is None
    assert letter_date("nous a été notifié le 15 janvier 2026, et nous présentons\nle présent mémoire") is None


# ---- identifiers ----------------------------------------------------------------------------

def test_siret_luhn_key():
    assert luhn_valid("73282932000074")
    assert not luhn_valid("73282932000075")
    assert luhn_valid("35600000049837")  # La Poste: digit sum divisible by 5


def test_siret_with_invalid_key_is_not_a_reference():
    valid, invalid = find_sirets("SIRET 732 829 320 00074 et SIRET 732 829 320 00075")
    assert valid == ["73282932000074"]
    assert invalid == ["73282932000075"]
    assert refs("SIRET : 732 829 320 00075", "siret") == []
    assert refs("SIRET : 732 829 320 00074", "siret") == ["73282932000074"]


def test_references_of_each_kind():
    text = ("N° allocataire : 1234567\nDossier n° APA-2024-00123\nFacture n° FA-2026-0457\n"
            "Marché n° 2025-118, lot 3\ncerfa n° 12156*06\nRequête n° 2601187-3\nBon de commande BC26431")
    assert refs(text, "allocataire") == ["1234567"]
    assert refs(text, "dossier") == ["APA-2024-00123"]
    assert refs(text, "facture") == ["FA-2026-0457"]
    assert refs(text, "marche") == ["2025-118"]
    assert refs(text, "cerfa") == ["12156*06"]
    assert refs(text, "requete") == ["2601187-3"]
    assert refs(text, "bon-de-commande") == ["BC26431"]


def test_caf_number_needs_its_words():
    assert refs("mon numéro CAF est le 4417283", "allocataire") == ["4417283"]
    assert refs("Commande 4417283 livrée", "allocataire") == []
    assert refs("allocataire 44172831", "allocataire") == []  # 8 digits is not a CAF number


def test_ocr_variants_of_numero():
    assert refs("Facture no 2026-0214", "facture") == ["2026-0214"]
    assert refs("marche n' 24S0071", "marche") == ["24S0071"]


# ---- amounts and contacts ---------------------------------------------------------------------

def test_amount_ttc_on_invoices():
    invoice = "FACTURE N° 12\nTotal HT : 1 028,80 €\nTVA 20 % : 205,76 €\nTotal TTC : 1 234,56 €\nNet à payer : 1 234,56 €"
    assert amount_ttc(invoice) == 1234.56
    assert amount_ttc("Relance : notre facture d'un montant de 48 312,00 € TTC reste impayée.") == 48312.0
    assert amount_ttc("Montant TTC de l'avoir : 615,00 €\nAVOIR N° AV-26-0031") == 615.0


def test_no_amount_outside_invoices():
    assert amount_ttc("Je sollicite une subvention de 3 000 € pour notre association.") is None


def test_emails_and_phones_normalised():
    text = "Tél. 02.35.57.18.40 — portable +33 6 12 34 56 78 (ou 0612345678) — jean.dupont@orange.fr."
    assert phones(text) == ["02 35 57 18 40", "06 12 34 56 78"]
    assert emails(text) == ["jean.dupont@orange.fr"]
    assert phones("SIRET 73282932000074") == []


# ---- urgency ----------------------------------------------------------------------------------

def test_urgent_letters():
    assert urgency("Je vous transmets une information préoccupante concernant l'élève") == ["information préoccupante"]
    assert "mise en demeure" in urgency("Je vous mets en demeure de payer sous quinzaine.")
    assert "référé" in urgency("requête en référé-suspension devant le tribunal administratif")
    assert "recours" in urgency("Je forme un recours gracieux contre cette décision.")
    assert "recours" in urgency("RAPO – décision RSA")


def test_urgent_letters_that_do_not_use_the_words():
    neighbour = "Je voudrais signaler quelque chose : au 3e étage les deux petits crient tous les soirs, hier j'ai entendu des coups."
    assert urgency(neighbour) == ["enfant en danger"]
    assert urgency("Objet : contestation du classement GIR 5\nJe conteste cette évaluation faite en vingt minutes.") == [
        "contestation d'une décision"]
    assert urgency("Vous êtes convoqué à l'audience du 19 janvier 2027 à 9 h 30.") == ["jugement ou audience"]
    assert "jugement ou audience" in urgency("Le jugement rejette la requête. Vous pouvez faire appel dans un délai de deux mois.")
    assert urgency("TRIBUNAL ADMINISTRATIF DE ROUEN\nNOTIFICATION D'UNE REQUÊTE\nLa requête enregistrée le 4 novembre") == [
        "requête au tribunal"]
    assert urgency("Objet : mémoire en réclamation – décompte général du marché 2023-0288") == ["mémoire en réclamation"]


def test_not_urgent_letters():
    assert urgency("Je voudrais changer de référent RSA.") == []
    assert urgency("Je vous écris en dernier recours, personne ne me répond.") == []
    assert urgency("Veuillez trouver ci-joint notre facture.") == []
    assert urgency("Je vous signale un nid-de-poule sur la RD 6015 près de l'école.") == []
    assert urgency("Nous contestons depuis longtemps le tracé de cette route, pour le principe.") == []


# ---- sender -----------------------------------------------------------------------------------

def test_sender_from_letterhead():
    assert sender("SARL Terrassements Duboc\nZA du Val – 76450 Cany-Barville\n\nMadame, Monsieur,") == "SARL Terrassements Duboc"
    assert sender("Mme Sabrina KHELIF\n12 allée des Mésanges\n76120 Le Grand-Quevilly\n\nObjet : recours") == "Mme Sabrina KHELIF"


def test_sender_from_email_header():
    assert sender("De : Jean Dupont <jean.dupont@gmail.com>\nEnvoyé : lundi\nObjet : RSA\n\nBonjour") == "Jean Dupont"


def test_sender_from_signature_not_the_departement():
    text = ("Conseil départemental de la Seine-Maritime\nMonsieur le Président,\n\n"
            "Notre camion de collecte est tombé en panne.\n\nAvec nos remerciements,\nLe président, Daniel Roussel")
    assert sender(text) == "Daniel Roussel"


def test_signatures_as_people_write_them():
    body = "Bonjour,\nLe panneau est couché dans le fossé depuis dix jours.\n"
    assert sender(body + "Merci, Sabrina Letellier\n06 72 18 55 03") == "Sabrina Letellier"
    assert sender(body + "Bien à vous, Marc") == "Marc"
    assert sender(body + "Merci,\nKarima Benali, Elbeuf") == "Karima Benali"          # the town is not the sender
    assert sender(body + "Agnès Mercier, FCPE\nMontivilliers") == "Agnès Mercier"     # "Mercier" is no "merci"
    assert sender(body + "Cordialement,\nValérie Duchemin (née Lemoine)\nCaen") == "Valérie Duchemin"
    assert sender(body + "Je vous remercie.\nMourad") == "Mourad"
    assert sender(body + "Veuillez agréer mes salutations.\nM. Lecerf") == "M. Lecerf"
    assert sender(body + "Salutations,\nManuel Ferreira da Silva\nDossier n° 76-RSA-558104") == "Manuel Ferreira da Silva"


def test_organisations_signing_at_the_foot():
    body = "Madame, Monsieur,\nNotre facture reste impayée malgré une première relance.\n"
    assert sender(body + "Service comptabilité – Signalis Normandie") == "Signalis Normandie"
    assert sender(body + "Cordialement,\nEiffage Route Nord-Ouest – agence de Rouen") == "Eiffage Route Nord-Ouest"
    assert sender(body + "Normandie Levage – SIRET 789 004 215 00012") == "Normandie Levage"


def test_people_named_in_the_body_are_not_the_sender():
    text = ("Député de la Seine-Maritime\nAssemblée nationale\n\nMonsieur le Président,\n\nJ'ai été saisi par "
            "Mme Colette Anquetil, domiciliée à Montivilliers, dont la demande reste sans réponse.\n")
    assert sender(text) == "Député de la Seine-Maritime"
    assert sender("Madame,\nMa mère travaille au Département et m'a parlé de vos apprentis.\nMerci d'avance,\nNoah Bazin, 18 ans") == "Noah Bazin"
    assert sender("Bois-Guillaume, le 16 janvier 2026\nMonsieur le Président,\nJe vous écris.\nCordialement,\nFrançois Bréant") == "François Bréant"


def test_extract_fields_has_every_key():
    fields = extract_fields("Mairie de Yerville\n\nYerville, le 2 mars 2026\n\nMonsieur le Président,\n\nInvitation.\n\nLe Maire")
    assert set(fields) == {"sender", "letter_date", "references", "amount_ttc", "emails", "phones", "urgent", "urgent_reasons"}
    assert fields["sender"] == "Mairie de Yerville"
    assert fields["letter_date"] == "2026-03-02"
    assert fields["urgent"] is False and fields["urgent_reasons"] == []


def test_sender_of_an_invoice_and_of_a_form():
    invoice = "LYRECO\n12 rue des Peupliers\n76000 Rouen\nSIRET 732 829 320 00074\n\nFACTURE N° 12"
    assert sender(invoice) == "LYRECO"
    form = "cerfa N° 16301*01\nDEMANDE D'AIDES À L'AUTONOMIE\nNom : DURAND\nPrénom : Josiane\nAdresse : 3 rue Pasteur"
    assert sender(form) == "Josiane DURAND"
    assert sender("Bordereau d'envoi\nCi-joint le compte financier du collège.\nMarie Martin") != "Ci-joint le compte financier du collège."


def test_date_of_a_printed_email():
    mail = "De : Jean Dupont <jean.dupont@gmail.com>\nEnvoyé : lundi 23 mars 2026 10:32\nObjet : RSA\n\nBonjour"
    assert letter_date(mail) == "2026-03-23"


def test_body_text_is_never_a_letterhead():
    text = "Madame, Monsieur,\n\nProfesseure dans un lycée de Rouen, je souhaiterais emmener\ndeux classes.\n\nCordialement,\nHélène Ravenel"
    assert sender(text) == "Hélène Ravenel"
    assert sender("Madame Amandine LECOMTE'\n3 rue Pasteur\n76000 Rouen") == "Madame Amandine LECOMTE"


def test_amount_ttc_read_through_ocr_confusions():
    assert amount_ttc("FACTURE N° 44\nTOTAL TIC À PAYER : 5 260,27 €") == 5260.27
    assert amount_ttc("Facture 12\nMontant T.T.C. : 79 937,54 €") == 79937.54


def test_a_letter_with_no_text_has_no_fields_and_no_error():
    """A page whose OCR gave nothing (a timeout, a blank page kept) goes to review, not to an internal error."""
    for text in ("", "   \n\n  \n"):
        fields = extract_fields(text)
        assert not fields.get("sender")
        assert not fields.get("letter_date")
