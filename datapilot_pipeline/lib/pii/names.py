"""Person names in free text, without an NLP model: capitalized word runs scored by how names and words are
really used, then by the sentence around them. No cue word is needed.

Each capitalized word brings evidence (`word_points`): its frequency rank as a given name or surname in the
configured countries (`names-dataset`), against how often it is written in lower case in real prose (an
ordinary word: `Analysis`, `Price`) or capitalized in mid-sentence without being a listed name (a technical
proper noun: `Fourier`, `Kalman`). A word in neither is an unknown proper noun: some evidence by itself.
A window of 2-4 words (name particles such as `van der` may sit between) scores its first word as a given
name, its last as a surname and its middle as either (`window_score`), with a little more when both ends are
listed names, however rare; the sentence adds evidence: a title
before it (`Mr`, `Dr.`, `Frau`, `Sra.`; then one word is enough), a context word before it (`customer`,
`thanks`; `with`, `by`, `from` count half), a verb of people or a question after it, a possessive; and takes
some away: a determiner or a number right before it (`the Statistical Analysis routine`), an ordinary
capitalized word right beside it (`Theil Sen Regressor`), a multi-word place (`San Diego`). The best window at
or above `THRESHOLD` is a name, extended by name-like neighbours up to 6 words (`José González Alberola`).
A word glued to a digit (`2.5GHz`) is never part of one: units and codes beside numbers stay intact.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from datapilot_pipeline.lib.pii.lexicon import BUSINESS_WORDS, PARTICLES, TITLES, lexicon

THRESHOLD = 2.25
_UNKNOWN = 1.5  # a capitalized word in no list and never lower case in prose: some proper noun
_UNKNOWN_AT_START = 1.0  # the same at the start of a sentence, where every word is capitalized
_PROPER = 0.5  # never listed, capitalized a few times in prose (authors, Alice and Bob)
_TECHNICAL_CAPS = 30  # never listed, capitalized this often in prose: a technical proper noun (Fourier, Kalman)
_TITLE_CASE_POINTS = -3.0  # an ordinary capitalized word right beside the window: a title-case term
_STRONG_GIVEN = 2.0  # after a given name this strong, a surname that is also a word counts half its wordiness
_BUSINESS = 3.0  # wordiness of the business vocabulary (`lexicon.BUSINESS_WORDS`, a hand list) at least
_MAX_WORD_PENALTY = 3.0  # "Will Smith": a very common word can still be a given name beside a surname
PLACE_POINTS = -4.0  # "San Diego", "Rio de Janeiro"
_BOTH_LISTED = 0.4  # first and last word both in the name lists: a pair of rare names ("Coluccio Michelangeli")

_UP = "A-ZÀ-ÖØ-ÞĀ-ſ"
# A capitalized word not glued to a word or a dot before it. The capital comes first and the look-behind checks the
# character before it (`(?<![\w.].)`, the same as `(?<![\w.])` ahead of it): the regex engine then skips every
# character that is not a capital in C, and a name scan costs half as much on business prose.
_WORD = rf"[{_UP}](?<![\w.].)(?:[^\W\d_]|['’]|-(?=[^\W\d_]))*[a-zß-öø-ÿ](?:[^\W\d_]|['’]|-(?=[^\W\d_]))*(?![\d])"
_RUN = re.compile(rf"{_WORD}(?:\s+(?:(?:{'|'.join(sorted(PARTICLES))})\s+){{0,2}}{_WORD}){{0,5}}")
_TOKEN = re.compile(_WORD)
_TITLE_BEFORE = re.compile(r"(?:^|[\s(,;:])(" + "|".join(re.escape(t) for t in sorted(TITLES, key=len, reverse=True))
                           + r")\.?\s+$", re.IGNORECASE)
_SENTENCE_START = re.compile(r"(?:^|[.!?:\n•*]|^\s*[-–]|\d\.)[\s\"'“(\[]*$")
WEAK_CONTEXT_WORDS = ("from ", "by ", "with ")  # prepositions a name often follows, and so do methods
CONTEXT_WORDS = WEAK_CONTEXT_WORDS + (
    "customer", "client", "contact", "name", "named", "owner", "agent", "rep ", "manager", "spoke with", "talked to",
    "called", "emailed", "signed by", "approved by", "requested by", "assigned to", "cc ", "attn", "dear ", "kunde",
    "kundin", "ansprechpartner", "herr", "frau", "cliente", "contacto", "contatto", "nombre", "nome", "nom ", "klant",
    "naam", "contactpersoon", "responsável", "responsable", "sig", "sr",
    "thanks", "thank you", "hi ", "hello", "regards", "cheers", "danke", "gracias", "merci", "grazie", "obrigad",
    "bedankt", "hallo", "hola", "bonjour", "ciao", "olá",
)
# Addressing someone: "Graeme Duncan, can you re-run the report?"
_VOCATIVE_AFTER = re.compile(r",\s+(?:can|could|would|will|please|pls|do|did|have|are|kindly)\b")
# Verbs of people, right after the name: "Ricky Reyes requested a callback".
_PERSON_VERB_AFTER = re.compile(
    r"\s+(?:requested|requests|asked|asks|said|says|called|calls|wrote|writes|emailed|phoned|complained|complains"
    r"|wants|wanted|ordered|signed|confirmed|cancell?ed|mentioned|replied|responded|visited|booked|purchased"
    r"|bought|paid|placed|reported|escalated|approved|rejected|disputed|refused|agreed|promised|prefers|needs)\b")
_DETERMINER_BEFORE = re.compile(r"(?:^|\W)(?:the|a|an|this|that|these|those|its|each|every|any|our|their)\s+$",
                                re.IGNORECASE)
_NUMBER_BEFORE = re.compile(r"\d[\d.,]*\s*$")
CONTEXT_POINTS = 1.5  # a context word before, or a verb of people / a question after
POSSESSIVE_POINTS = 1.0
DETERMINER_POINTS = -2.5
NUMBER_POINTS = -1.5


def _rank_points(rank: int) -> float:
    """5 for the most common name, 1.25 from rank ~5,600 on (any rank means one of the ~20k commonest names
    of a configured country)."""
    return max(1.25, 5.0 - math.log10(rank)) if rank else 0.0


def _parts(word: str) -> list[str]:
    """The lower-case parts a capitalized word is looked up by: `Hans-Jürgen` -> hans, jürgen; `Smith's` -> smith."""
    return word.replace("’", "'").lower().removesuffix("'s").split("-")


@lru_cache(maxsize=65536)
def word_points(word: str) -> tuple[float, float, float]:
    """(evidence as a given name, as a surname, wordiness) of one capitalized word, from the shipped data; the
    best reading of a hyphenated word's parts (`Hans-Jürgen`, `Garcia-Lopez`)."""
    lex = lexicon()
    best = (-math.inf, -math.inf, 0.0)
    for part in _parts(word):
        fr, lr, lower, cap = lex.usage(part)
        if fr or lr:
            as_first = _rank_points(fr) or _rank_points(lr) / 2
            as_last = _rank_points(lr) or _rank_points(fr) / 2
        elif cap >= _TECHNICAL_CAPS:
            as_first = as_last = -math.log10(cap / 10)
        else:
            as_first = as_last = 0.0 if lower else _PROPER if cap >= 3 else _UNKNOWN
        wordiness = max(min(_MAX_WORD_PENALTY, 1.5 * math.log10(1 + lower)),
                        _BUSINESS if part in BUSINESS_WORDS else 0.0)
        if max(as_first, as_last) - wordiness > max(best[0], best[1]) - best[2]:
            best = (as_first, as_last, wordiness)
    return best


@lru_cache(maxsize=65536)
def listed(word: str) -> bool:
    """Whether any part of the word is a given name or surname of a configured country."""
    lex = lexicon()
    return any(any(lex.usage(part)[:2]) for part in _parts(word))


def _context(text: str, start: int, end: int, last_word: str) -> float:
    before, points = text[:start], 0.0
    tail = before[-24:].lower()
    if any(c in tail for c in CONTEXT_WORDS[len(WEAK_CONTEXT_WORDS):]):
        points += CONTEXT_POINTS
    elif any(c in tail for c in WEAK_CONTEXT_WORDS):
        points += CONTEXT_POINTS / 2
    if _PERSON_VERB_AFTER.match(text, end) or _VOCATIVE_AFTER.match(text, end):
        points += CONTEXT_POINTS
    if last_word.replace("’", "'").endswith("'s"):
        points += POSSESSIVE_POINTS
    if _DETERMINER_BEFORE.search(before[-12:]):
        points += DETERMINER_POINTS
    if _NUMBER_BEFORE.search(before[-12:]):
        points += NUMBER_POINTS
    return points


def window_score(text: str, tokens: list, i: int, j: int) -> float:
    """Evidence that tokens[i:j] (2-4 words) name a person."""
    words = [t.group() for t in tokens[i:j]]
    (as_first, _, first_wordiness), (_, as_last, last_wordiness) = word_points(words[0]), word_points(words[-1])
    if as_first == _UNKNOWN and _SENTENCE_START.search(text[:tokens[i].start()]):
        as_first = _UNKNOWN_AT_START
    given = as_first - first_wordiness
    score = given + as_last - (last_wordiness / 2 if given >= _STRONG_GIVEN else last_wordiness)
    if listed(words[0]) and listed(words[-1]):
        score += _BOTH_LISTED
    for w in words[1:-1]:
        a, b, wordiness = word_points(w)
        middle = max(a, b) - wordiness
        score += middle / 2 if middle > 0 else middle
    if " ".join(text[tokens[i].start():tokens[j - 1].end()].lower().split()) in lexicon().places:
        score += PLACE_POINTS
    before = tokens[i - 1] if i > 0 else None
    if before and word_points(before.group())[2] >= 2 and not _SENTENCE_START.search(text[:before.start()]):
        score += _TITLE_CASE_POINTS  # "Squared Euclidean", "Fast Fourier"
    if j < len(tokens) and word_points(tokens[j].group())[2] >= 2:
        score += _TITLE_CASE_POINTS  # "Theil Sen Regressor", "Ada Boost Classifier"
    return score + _context(text, tokens[i].start(), tokens[j - 1].end(), words[-1])


_MAX_WORDS = 6
_EXTENSION = 0.0  # a word beside a name joins it when it is more name than word


def _name_like(word: str, role: int) -> bool:
    points = word_points(word)
    return points[role] - points[2] > _EXTENSION


def _best_windows(text: str, tokens: list, lo: int, hi: int, spans: list) -> None:
    """The highest-scoring name window in tokens[lo:hi], then the best ones left and right of it."""
    best, at = THRESHOLD, None
    for i in range(lo, hi - 1):
        for j in range(i + 2, min(i + 4, hi) + 1):
            score = window_score(text, tokens, i, j)
            if score >= best:
                best, at = score, (i, j)
    if at:
        i, j = at
        while j < hi and j - i < _MAX_WORDS and _name_like(tokens[j].group(), 1):  # "José González Alberola"
            j += 1
        while i > lo and j - i < _MAX_WORDS and _name_like(tokens[i - 1].group(), 0):  # "Jafet Diego Hernández"
            i -= 1
        spans.append((tokens[i].start(), tokens[j - 1].end()))
        _best_windows(text, tokens, lo, i, spans)
        _best_windows(text, tokens, j, hi, spans)


def find_person_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of person names in `text`."""
    spans: list[tuple[int, int]] = []
    for m in _RUN.finditer(text):
        tokens = list(_TOKEN.finditer(text, m.start(), m.end()))
        title_at = next((i for i, t in enumerate(tokens) if t.group().lower() in TITLES), None)
        if _TITLE_BEFORE.search(text[:tokens[0].start()]):
            title_at = -1
        if title_at is not None:  # "Mr Brown", "Miss Ada Green": up to 3 words after the title, business or not
            rest = [t for t in tokens[title_at + 1:] if t.group().lower() not in TITLES][:3]
            if rest:
                spans.append((rest[0].start(), rest[-1].end()))
            if title_at > 0:
                _best_windows(text, tokens, 0, title_at, spans)
            continue
        _best_windows(text, tokens, 0, len(tokens), spans)
    return sorted(spans)
