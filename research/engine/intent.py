"""Intent stage: what document the prompt asks for, on what, under which
constraints, in which language."""

import re

from research.engine import text
from research.schemas import (
    CitationStyle,
    Constraints,
    DocumentType,
    IntentAnalysis,
    ResearchOptions,
)
from research.stages import StageInput

# Checked in order: the first pattern found names the document type.
DOCUMENT_TYPE_PATTERNS: tuple[tuple[DocumentType, str], ...] = (
    (
        "literature_review",
        r"literature review|review of (?:the )?literature|systematic review|"
        r"revisi[oó]n (?:de (?:la )?literatura|bibliogr[aá]fica|sistem[aá]tica)|"
        r"estado del arte|revue (?:de (?:la )?litt[ée]rature|bibliographique)|"
        r"[ée]tat de l'art",
    ),
    ("thesis", r"\bthesis\b|dissertation|\btesis\b|\bth[èe]se\b|\bm[ée]moire\b"),
    ("brief", r"\bbrief\b|briefing|\bnota (?:t[ée]cnica|informativa)\b|note de synth"),
    ("essay", r"\bessay\b|\bensayo\b|\bessai\b"),
    ("report", r"\breport\b|\binforme\b|\brapport\b"),
    (
        "paper",
        r"research paper|\bpaper\b|\barticle\b|\bart[íi]culo\b|"
        r"article de recherche|\bstudy\b|\bestudio\b|\b[ée]tude\b",
    ),
)
DEFAULT_DOCUMENT_TYPE: DocumentType = "report"

# The instruction ends at the first of these that follows the verb or the
# document type; the topic is what comes after.
TOPIC_MARKERS = (
    r"on the topic of|on the subject of|with regard to|regarding|concerning|"
    r"about|into|on|of|examining|exploring|covering|"
    r"acerca de|en torno a|sobre|respecto a|de|"
    r"à propos de|au sujet de|concernant|sur|de"
)
INSTRUCTION_VERBS = (
    r"write|draft|prepare|produce|compose|create|generate|give me|provide|"
    r"i need|i want|research|summari[sz]e|review|"
    r"escribe|escribir|redacta|redactar|elabora|prepara|haz|genera|"
    r"r[ée]dige|r[ée]diger|[ée]cris|[ée]crire|pr[ée]pare|produis|fais"
)

CITATION_STYLES: dict[str, CitationStyle] = {
    "apa": "apa",
    "ieee": "ieee",
    "mla": "mla",
    "chicago": "chicago",
    "harvard": "harvard",
}
WORDS_PER_PAGE = 300

_NUMBER = r"(\d{1,3}(?:[,.\s]\d{3})+|\d+)"
_WORDS = re.compile(
    rf"(?:about |around |approximately |roughly |unos |environ |de )?"
    rf"{_NUMBER}[\s-]*(?:words?|palabras|mots)\b",
    re.IGNORECASE,
)
_PAGES = re.compile(rf"{_NUMBER}[\s-]*(?:pages?|p[áa]ginas)\b", re.IGNORECASE)
_STYLE = re.compile(
    r"(?:,?\s*(?:using|in|with|en|con|avec|selon)\s+(?:the\s+|el\s+|le\s+)?)?"
    r"\b(APA|IEEE|MLA|Chicago|Harvard)\b"
    r"(?:\s+(?:style|format|citations?|referencing|references|estilo|formato))*",
    re.IGNORECASE,
)
_YEAR = r"(1[5-9]\d\d|20\d\d)"
_BETWEEN = re.compile(
    rf"\b(?:between|from|entre|de|desde)\s+{_YEAR}\s+(?:and|to|until|y|a|hasta|et|à)"
    rf"\s+{_YEAR}\b|\b{_YEAR}\s*[-–]\s*{_YEAR}\b",
    re.IGNORECASE,
)
_SINCE = re.compile(
    rf"\b(?:since|after|from|desde|depuis|après)\s+{_YEAR}\b", re.IGNORECASE
)
_UNTIL = re.compile(
    rf"\b(?:before|until|up to|antes de|hasta|avant|jusqu'en)\s+{_YEAR}\b",
    re.IGNORECASE,
)
_AUDIENCE = re.compile(
    r"\b(?:for|aimed at|intended for|targeted at|para|dirigido a|pour|destiné aux?)"
    r"\s+((?:(?:an?|the|la|las|los|el|les|le|des|un|une)\s+)?"
    r"(?:[\w-]+\s+){0,2}"
    r"(?:policy[- ]?makers|decision[- ]makers|students|audience|public|readers|"
    r"engineers|practitioners|researchers|experts|executives|managers|clinicians|"
    r"teachers|investors|beginners|children|professionals|scientists|"
    r"responsables(?: [\w-]+)?|estudiantes|p[úu]blico(?: general)?|lectores|"
    r"d[ée]cideurs|[ée]tudiants|lecteurs|grand public))\b",
    re.IGNORECASE,
)


def run(stage_input: StageInput) -> IntentAnalysis:
    return analyse(stage_input.prompt, stage_input.options)


def analyse(prompt: str, options: ResearchOptions) -> IntentAnalysis:
    prompt = " ".join(prompt.split())
    language = options.language or text.detect_language(prompt)
    document_type = options.document_type or detect_document_type(prompt)
    constraints = extract_constraints(prompt, options)

    topic = extract_topic(prompt)
    return IntentAnalysis(
        document_type=document_type,
        topic=topic,
        key_concepts=key_concepts(topic, language),
        constraints=constraints,
        language=language,
    )


def detect_document_type(prompt: str) -> DocumentType:
    for document_type, pattern in DOCUMENT_TYPE_PATTERNS:
        if re.search(pattern, prompt, re.IGNORECASE):
            return document_type
    return DEFAULT_DOCUMENT_TYPE


def extract_topic(prompt: str) -> str:
    """Return the prompt without its instruction phrasing or constraints."""
    subject = _strip_constraints(prompt)
    subject = _strip_instruction(subject)
    subject = subject.strip(" \t,;:.!?¿¡\"'“”«»")
    return subject or prompt.strip(" .!?")


def _strip_constraints(prompt: str) -> str:
    stripped = prompt
    for pattern in (_WORDS, _PAGES, _STYLE, _BETWEEN, _SINCE, _UNTIL, _AUDIENCE):
        stripped = pattern.sub(" ", stripped)
    # Constraint phrases leave their connectors behind ("in  words").
    stripped = re.sub(r"\s+(?:in|of|with|en|de|con|avec)\s*(?=[,.;]|$)", "", stripped)
    stripped = re.sub(r"\s*,\s*(?=[,.;]|$)", "", stripped)
    return " ".join(stripped.split())


def _strip_instruction(subject: str) -> str:
    document_words = "|".join(pattern for _, pattern in DOCUMENT_TYPE_PATTERNS)
    marker = rf"\s+(?:{TOPIC_MARKERS})\s+"
    after_document = re.search(
        rf"(?:{document_words})[\w\s-]{{0,40}}?{marker}", subject, re.I
    )
    if after_document:
        return subject[after_document.end() :]

    after_verb = re.match(rf"^(?:please\s+)?(?:{INSTRUCTION_VERBS})\b", subject, re.I)
    if after_verb:
        rest = subject[after_verb.end() :]
        marked = re.match(rf"^[\w\s-]{{0,40}}?{marker}", rest, re.I)
        return rest[marked.end() :] if marked else rest
    return subject


def key_concepts(topic: str, language: str) -> list[str]:
    """Return the topic's phrases (runs of content words), then each of
    their words, without repeats."""
    found = text.phrases(topic, language)
    multiword = [phrase for phrase in found if " " in phrase]
    single = [
        word
        for phrase in found
        for word in phrase.split()
        if text.fold(word) not in text.INSTRUCTION_WORDS
    ]
    return text.unique([*multiword, *single])


def extract_constraints(prompt: str, options: ResearchOptions) -> Constraints:
    """Read constraints from the prompt; options set by the user win."""
    start, end = _period(prompt)
    return Constraints(
        target_words=options.target_words or _target_words(prompt),
        citation_style=options.citation_style or _citation_style(prompt),
        period_start=start,
        period_end=end,
        audience=_audience(prompt),
    )


def _target_words(prompt: str) -> int | None:
    words = _WORDS.search(prompt)
    if words:
        return _number(words.group(1))

    pages = _PAGES.search(prompt)
    return _number(pages.group(1)) * WORDS_PER_PAGE if pages else None


def _number(digits: str) -> int:
    return int(re.sub(r"\D", "", digits))


def _citation_style(prompt: str) -> CitationStyle | None:
    style = _STYLE.search(prompt)
    return CITATION_STYLES[style.group(1).casefold()] if style else None


def _period(prompt: str) -> tuple[int | None, int | None]:
    between = _BETWEEN.search(prompt)
    if between:
        years = [int(group) for group in between.groups() if group]
        return min(years), max(years)

    since = _SINCE.search(prompt)
    until = _UNTIL.search(prompt)
    return (
        int(since.group(1)) if since else None,
        int(until.group(1)) if until else None,
    )


def _audience(prompt: str) -> str | None:
    audience = _AUDIENCE.search(prompt)
    return audience.group(1).strip() if audience else None
