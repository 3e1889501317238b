"""Person names in free text, without an NLP model: capitalized word runs judged by name lists,
titles, context words and capitalization.

A run of 2-4 capitalized words (name particles such as `van der`, `de`, `dos` may sit between) is a
name when: a title precedes it (`Mr`, `Dr.`, `Frau`, `Sra.`; then one word is enough), or its first word
is a known given name and its last a known surname, or one end is a known name part and the other a
capitalized word that is not business vocabulary, or a context word (`customer`, `contact`, `Kunde`,
`cliente`, ...) precedes it and none of its words is business vocabulary, or a verb of people follows a
pair or triple of such words (`Ricky Reyes requested ...`).
"""

from __future__ import annotations

import re

from datapilot_pipeline.lib.pii.lexicon import BUSINESS_WORDS, PARTICLES, TITLES, lexicon

_UP = "A-ZÀ-ÖØ-ÞĀ-ſ"
_WORD = rf"[{_UP}](?:[^\W\d_]|['’]|-(?=[^\W\d_]))*[a-zß-öø-ÿ](?:[^\W\d_]|['’]|-(?=[^\W\d_]))*"
_RUN = re.compile(rf"{_WORD}(?:\s+(?:(?:{'|'.join(sorted(PARTICLES))})\s+){{0,2}}{_WORD}){{0,4}}")
_TOKEN = re.compile(_WORD)
_TITLE_BEFORE = re.compile(r"(?:^|[\s(,;:])(" + "|".join(re.escape(t) for t in sorted(TITLES, key=len, reverse=True))
                           + r")\.?\s+$", re.IGNORECASE)
CONTEXT_WORDS = (
    "customer", "client", "contact", "name", "named", "owner", "agent", "rep ", "manager", "spoke with", "talked to",
    "called", "emailed", "signed by", "approved by", "requested by", "assigned to", "cc ", "attn", "dear ", "from ",
    "by ", "with ", "kunde", "kundin", "ansprechpartner", "herr", "frau", "cliente", "contacto", "contatto",
    "nombre", "nome", "nom ", "klant", "naam", "contactpersoon", "responsável", "responsable", "sig", "sr",
    "thanks", "thank you", "hi ", "hello", "regards", "cheers", "danke", "gracias", "merci", "grazie", "obrigad",
    "bedankt", "hallo", "hola", "bonjour", "ciao", "olá",
)
# Addressing someone: "Graeme Duncan, can you re-run the report?"
_VOCATIVE_AFTER = re.compile(r",\s+(?:can|could|would|will|please|pls|do|did|have|are|kindly)\b")


# Verbs of people, right after a capitalized pair: "Ricky Reyes requested a callback" names a person
# even when neither word is in the lists.
_PERSON_VERB_AFTER = re.compile(
    r"\s+(?:requested|requests|asked|asks|said|says|called|calls|wrote|writes|emailed|phoned|complained|complains"
    r"|wants|wanted|ordered|signed|confirmed|cancell?ed|mentioned|replied|responded|visited|booked|purchased"
    r"|bought|paid|placed|reported|escalated|approved|rejected|disputed|refused|agreed|promised|prefers|needs)\b")


def _is_business(word: str) -> bool:
    return word.lower() in BUSINESS_WORDS


def _parts(word: str) -> list[str]:
    return [p.lower() for p in word.replace("’", "'").split("-")]


def _known(word: str, names: frozenset[str]) -> bool:
    return any(p in names for p in _parts(word))


def _judge(words: list[str], before: str) -> bool:
    lex = lexicon()
    if _TITLE_BEFORE.search(before):
        return not all(_is_business(w) for w in words)
    if len(words) < 2:
        return False
    first, last = words[0], words[-1]
    if _known(first, lex.first) and _known(last, lex.last):
        return True
    tail = before[-24:].lower()
    context = any(c in tail for c in CONTEXT_WORDS)
    if context and len(words) == 2 and not _is_business(first) and (not _is_business(last) or _known(last, lex.last)):
        return True
    if any(_is_business(w) for w in words):
        return False
    return _known(first, lex.first) or _known(last, lex.last) or context


def _subruns(tokens: list) -> list[list]:
    """Maximal stretches of a capitalized run without business vocabulary or titles."""
    out, cur = [], []
    for t in tokens:
        word = t.group()
        if _is_business(word) or word.lower() in TITLES:
            if cur:
                out.append(cur)
            out.append([t]) if word.lower() in TITLES else None
            cur = []
        else:
            cur.append(t)
    if cur:
        out.append(cur)
    return out


def find_person_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of person names in `text`."""
    spans = []
    for m in _RUN.finditer(text):
        tokens = list(_TOKEN.finditer(text, m.start(), m.end()))
        lex = lexicon()
        if len(tokens) >= 2 and _known(tokens[0].group(), lex.first) and _known(tokens[-1].group(), lex.last):
            spans.append((tokens[0].start(), tokens[-1].end()))
            continue
        title_at = next((i for i, t in enumerate(tokens) if t.group().lower() in TITLES), None)
        if _TITLE_BEFORE.search(text[:tokens[0].start()]):
            title_at = -1
        if title_at is not None:  # "Mr Brown", "Miss Ada Green": up to 3 words after the title, business or not
            rest = [t for t in tokens[title_at + 1:] if t.group().lower() not in TITLES][:3]
            if rest:
                spans.append((rest[0].start(), rest[-1].end()))
            continue
        for run in _subruns(tokens):
            if run[0].group().lower() in TITLES:
                continue
            nxt = next((t for t in tokens if t.start() > run[-1].end()), None)
            if (len(run) == 1 and nxt is not None and not text[run[0].end():nxt.start()].strip()
                    and _judge([run[0].group(), "X"], text[:run[0].start()]) and _known(nxt.group(), lexicon().last)
                    and any(c in text[:run[0].start()][-24:].lower() for c in CONTEXT_WORDS)):
                spans.append((run[0].start(), nxt.end()))  # "Contact Lauren Green": a surname that is also a word
                continue
            # The whole stretch, then without its first word (a capitalized sentence start: "Contact Maria ...").
            for k in range(min(2, len(run))):
                words = [t.group() for t in run[k:]]
                if _judge(words, text[:run[k].start()]) or (2 <= len(words) <= 3 and (
                        _PERSON_VERB_AFTER.match(text, run[-1].end()) or _VOCATIVE_AFTER.match(text, run[-1].end()))):
                    spans.append((run[k].start(), run[-1].end()))
                    break
    return spans
