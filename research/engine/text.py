"""Text handling shared by the stages: words, stopwords, sentences, stems.

Everything here is pure and deterministic; no locale or hash seed matters.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

LANGUAGES: tuple[str, ...] = ("en", "es", "fr")


def listing(words: str) -> frozenset[str]:
    """Return the whitespace-separated words of a word list."""
    return frozenset(words.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": listing(
        """a about above after again against all also although am among an and
        any are around as at be because been before being below between both but
        by can could did do does doing down during each either else ever every
        few for from further had has have having he her here hers herself him
        himself his how however i if in into is it its itself just least less
        many may me might more most much must my myself neither no nor not of
        off often on once one only or other others our ours ourselves out over
        own per rather same several shall she should since so some such than
        that the their theirs them themselves then there these they this those
        though through thus to too under until up upon us very via was we well
        were what when where whether which while who whom whose why will with
        within without would yet you your yours yourself yourselves"""
    ),
    "es": listing(
        """a al algo algunas algunos ante antes aquel aquella aquellas aquellos
        aqui así aún bajo bien cada casi como con contra cual cuales cuando de
        del desde donde dos durante e el ella ellas ello ellos en entre era eran
        es esa esas ese eso esos esta estaba estado estas este esto estos fue
        fueron ha había han hasta hay la las le les lo los más me mi mientras
        muy nada ni no nos o otra otras otro otros para pero poco por porque
        que quien quienes se sea según ser si sido siempre sin sino sobre son
        su sus también tan tanto te tiene tienen todo todos tras tu un una unas
        uno unos y ya"""
    ),
    "fr": listing(
        """à au aux avec ce ces cet cette c d dans de des du elle elles en entre
        est et été être eu il ils j je l la le les leur leurs lui m ma mais me
        même mes moi mon n ne ni nos notre nous on ont ou où par pas pendant
        peu plus pour qu que quel quelle quelles quels qui s sa sans se selon
        ses si son sont sous sur t ta te tes toi ton tous tout toute toutes
        très tu un une vers vos votre vous y"""
    ),
}

# Words that say what kind of text is wanted rather than what it is about.
INSTRUCTION_WORDS: frozenset[str] = listing(
    """write writing draft prepare produce compose create generate give provide
    need want please short brief detailed comprehensive concise thorough
    overview summary review literature paper essay report thesis article
    escribe escribir redacta redactar elabora prepara ensayo informe tesis
    artículo revisión literatura rédige rédiger écris écrire prépare essai
    rapport thèse revue littérature mémoire"""
)

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”»)\]]*(?=\s+|$)")
_ABBREVIATIONS = listing(
    """mr mrs ms dr prof st sr jr vs etc e.g i.e al fig no vol ca approx c
    inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k
    mt ft gen col lt sgt rev hon pres gov sen rep"""
)


@dataclass(frozen=True)
class Span:
    """A sentence: its exact text and where it starts in the text it came from."""

    text: str
    start: int


def fold(text: str) -> str:
    """Return text lower-cased with accents removed, for comparing words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Return the words of text, folded, in order."""
    return [fold(word) for word in surface_words(text)]


def surface_words(text: str) -> list[str]:
    """Return the words of text lower-cased but keeping their accents."""
    return [_split_elision(word) for word in _WORD.findall(text.casefold())]


def _split_elision(word: str) -> str:
    # French elisions ("l'énergie", "d'un") attach an article to the noun.
    for mark in ("'", "’"):
        head, _, tail = word.partition(mark)
        if tail and len(head) <= 2:
            return tail
    return word


def is_stopword(word: str, language: str | None = None) -> bool:
    languages = (language,) if language in STOPWORDS else LANGUAGES
    folded = fold(word)
    return any(folded in _FOLDED_STOPWORDS[lang] for lang in languages if lang)


_FOLDED_STOPWORDS: dict[str, frozenset[str]] = {
    language: frozenset(fold(word) for word in stopwords)
    for language, stopwords in STOPWORDS.items()
}


def content_words(text: str, language: str | None = None) -> list[str]:
    """Return the folded words of text that carry meaning, in order."""
    return [
        word
        for word in words(text)
        if len(word) > 1 and not word.isdigit() and not is_stopword(word, language)
    ]


def surface_content_words(text: str, language: str | None = None) -> list[str]:
    """Return the meaningful words of text as written (case and accents kept)."""
    return [
        word
        for word in (_split_elision(found) for found in _WORD.findall(text))
        if len(word) > 1 and not word.isdigit() and not is_stopword(word, language)
    ]


def stem(word: str) -> str:
    """Return a light stem: enough to match plurals and common endings.

    Deliberately conservative; a wrong merge of two words costs more than a
    missed match here.
    """
    word = fold(word)
    if len(word) <= 3:
        return word

    for suffix, replacement in (
        ("ies", "y"),
        ("ations", "ation"),
        ("iones", "ion"),
        ("ciones", "cion"),
        ("aux", "al"),
        ("sses", "ss"),
    ):
        if word.endswith(suffix):
            return word[: -len(suffix)] + replacement

    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def stems(text: str, language: str | None = None) -> list[str]:
    return [stem(word) for word in content_words(text, language)]


def detect_language(text: str) -> str:
    """Return "en", "es" or "fr" by which language's stopwords text uses most.

    English wins ties, being the corpus's main language.
    """
    tokens = words(text)
    counts = {
        language: sum(1 for token in tokens if token in _FOLDED_STOPWORDS[language])
        for language in LANGUAGES
    }
    return max(LANGUAGES, key=lambda language: (counts[language], language == "en"))


def split_sentences(text: str) -> list[Span]:
    """Return the sentences of text as exact slices of it, with offsets."""
    spans: list[Span] = []
    start = _skip_space(text, 0)
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end <= start or _ends_in_abbreviation(text[start:end]):
            continue
        if not _next_starts_sentence(text, end):
            continue

        spans.append(Span(text[start:end], start))
        start = _skip_space(text, end)

    if start < len(text) and text[start:].strip():
        spans.append(Span(text[start:].rstrip(), start))
    return spans


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _ends_in_abbreviation(sentence: str) -> bool:
    if not sentence.endswith("."):
        return False

    last = sentence.rsplit(None, 1)[-1].rstrip(".").lstrip("(\"'“«").casefold()
    # A single capital ("J. Smith") is an initial, not the end of a sentence.
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def _next_starts_sentence(text: str, end: int) -> bool:
    following = text[end:].lstrip()
    if not following:
        return True

    first = following[0]
    return first.isupper() or first.isdigit() or first in "\"'“«¿¡(["


def syllables(word: str) -> int:
    """Return an estimate of the syllables in word: its vowel groups."""
    groups = re.findall(r"[aeiouy]+", fold(word))
    count = len(groups)
    if fold(word).endswith("e") and count > 1 and not fold(word).endswith("le"):
        count -= 1
    return max(1, count)


def phrases(
    text: str, language: str | None = None, longest: int = 3, keep_case: bool = False
) -> list[str]:
    """Return runs of up to `longest` content words not broken by a stopword
    or punctuation, in order of appearance, lower-cased unless `keep_case`,
    accents kept."""
    found: list[str] = []
    for chunk in re.split(r"[,.;:!?()\[\]\"“”«»]+", text):
        chunk_words = (
            [_split_elision(word) for word in _WORD.findall(chunk)]
            if keep_case
            else surface_words(chunk)
        )
        run: list[str] = []
        for word in [*chunk_words, ""]:
            meaningful = (
                bool(word)
                and len(word) > 1
                and not word.isdigit()
                and not is_stopword(word, language)
            )
            if meaningful:
                run.append(word)
                continue
            if run:
                found.extend(_subruns(run, longest))
            run = []
    return found


def _subruns(run: list[str], longest: int) -> list[str]:
    if len(run) <= longest:
        return [" ".join(run)]
    return [
        " ".join(run[index : index + longest])
        for index in range(len(run) - longest + 1)
    ]


def unique(items: Iterable[str]) -> list[str]:
    """Return items without repeats, keeping the first occurrence's place."""
    seen: set[str] = set()
    kept: list[str] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            kept.append(item)
    return kept


def capitalise(phrase: str) -> str:
    """Return phrase with its first letter upper-cased, the rest untouched."""
    return phrase[:1].upper() + phrase[1:]


def word_count(text: str) -> int:
    return len(_WORD.findall(text))
