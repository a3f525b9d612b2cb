"""The report's own words in English, Spanish and French: headings, research
questions and the connecting sentences around quotations.

Connecting sentences state no fact; every fact in a report is a quotation.
"""

from dataclasses import dataclass

from research.engine import text
from research.schemas import DocumentType

SMALL_WORDS = text.listing(
    "a an and as at but by for from in into nor of on or over the to via vs with"
)


@dataclass(frozen=True)
class Words:
    introduction: str
    background: str
    conclusion: str
    references: str
    scope_question: str
    background_question: str
    theme_questions: tuple[str, str]
    conclusion_question: str
    document_names: dict[str, str]
    quote_open: str
    quote_close: str
    section_opening: str
    section_opening_one: str
    section_empty: str
    first_quote: str
    further_quote: str
    intro_purpose: str
    intro_sections: str
    intro_section_line: str
    conclusion_summary: str
    conclusion_section_line: str
    conclusion_closing: str
    and_word: str
    no_date: str
    sources_word: str
    source_word: str
    # Bibliography entries.
    anonymous: str
    online: str
    available_at: str
    section_locator: str
    # Notes of the evaluation rubric.
    note_sections: str
    note_missing: str
    note_no_body: str
    note_answered: str
    note_thin: str
    note_integrity: str
    note_rates: str
    note_no_quotations: str
    note_diversity: str
    note_no_prose: str
    note_readability: str
    note_length: str


ENGLISH = Words(
    introduction="Introduction",
    background="Background",
    conclusion="Conclusion",
    references="References",
    scope_question="What do the indexed sources cover about {topic}?",
    background_question="How do the sources define and describe {topic}?",
    theme_questions=(
        "What do the sources report about {theme}?",
        "How does {theme} bear on {topic}?",
    ),
    conclusion_question="What do the sources, taken together, show about {topic}?",
    document_names={
        "literature_review": "literature review",
        "paper": "research paper",
        "thesis": "thesis",
        "report": "report",
        "essay": "essay",
        "brief": "brief",
    },
    quote_open="“",
    quote_close="”",
    section_opening="This section draws on {count} sources concerning {theme}.",
    section_opening_one="This section draws on one source concerning {theme}.",
    section_empty=(
        "None of the verified sources holds a passage on {theme} relevant "
        "enough to quote."
    ),
    first_quote="According to *{title}*, {quote} [{cite}]",
    further_quote="*{title}* also states: {quote} [{cite}]",
    intro_purpose=(
        "This {document} brings together what {count} sources in the local "
        "corpus say about {topic}. Every statement of fact below is quoted "
        "from a cited source."
    ),
    intro_sections="It is organised in the following sections:",
    intro_section_line="- *{title}*, drawing on {sources}.",
    conclusion_summary=(
        "The {document} has assembled passages from {count} sources on {topic}."
    ),
    conclusion_section_line="- *{title}*: {sources}.",
    conclusion_closing=(
        "Readers should consult the cited documents for the full context of "
        "each passage."
    ),
    and_word="and",
    no_date="n.d.",
    sources_word="sources",
    source_word="source",
    anonymous="Anonymous",
    online="[Online]. Available:",
    available_at="Available at:",
    section_locator="section “{section}”",
    note_sections="{present}/{planned} planned sections present",
    note_missing="; missing: {titles}",
    note_no_body="no body sections planned",
    note_answered="every body section answers its questions",
    note_thin="thin sections: {sections}",
    note_integrity=(
        "{citations} citations, {quotations} quotations checked verbatim; "
        "{unresolved} unresolved, {unused} unused entries, {false} quotations "
        "not found in their source; "
    ),
    note_rates=(
        "fabricated-citation rate {fabricated_rate:.1%} ({fabricated} of "
        "{citations} citations), unsupported-sentence rate "
        "{unsupported_rate:.1%} ({unsupported} of {sentences} cited sentences)"
    ),
    note_no_quotations="no quotations",
    note_diversity=(
        "{count} distinct sources quoted (aim {aim}); largest share {share:.0%}"
    ),
    note_no_prose="no prose",
    note_readability=(
        "{average:.1f} words per sentence, {syllables:.2f} syllables per word, "
        "Flesch reading ease {flesch:.0f}"
    ),
    note_length="{words} words against a target of {target}",
)

SPANISH = Words(
    introduction="Introducción",
    background="Contexto",
    conclusion="Conclusión",
    references="Referencias",
    scope_question="¿Qué cubren las fuentes indexadas sobre {topic}?",
    background_question="¿Cómo definen y describen las fuentes {topic}?",
    theme_questions=(
        "¿Qué dicen las fuentes sobre {theme}?",
        "¿Qué relación tiene {theme} con {topic}?",
    ),
    conclusion_question="¿Qué muestran las fuentes, en conjunto, sobre {topic}?",
    document_names={
        "literature_review": "revisión de la literatura",
        "paper": "artículo de investigación",
        "thesis": "tesis",
        "report": "informe",
        "essay": "ensayo",
        "brief": "nota informativa",
    },
    quote_open="«",
    quote_close="»",
    section_opening="Esta sección se basa en {count} fuentes sobre {theme}.",
    section_opening_one="Esta sección se basa en una fuente sobre {theme}.",
    section_empty=(
        "Ninguna de las fuentes verificadas contiene un pasaje sobre {theme} "
        "lo bastante pertinente para citarlo."
    ),
    first_quote="Según *{title}*, {quote} [{cite}]",
    further_quote="*{title}* añade: {quote} [{cite}]",
    intro_purpose=(
        "Este documento ({document}) reúne lo que dicen {count} fuentes del "
        "corpus local sobre {topic}. Toda afirmación de hecho es una cita de "
        "una fuente referenciada."
    ),
    intro_sections="Se organiza en las siguientes secciones:",
    intro_section_line="- *{title}*, a partir de {sources}.",
    conclusion_summary=(
        "Este documento ({document}) ha reunido pasajes de {count} fuentes "
        "sobre {topic}."
    ),
    conclusion_section_line="- *{title}*: {sources}.",
    conclusion_closing=(
        "Conviene consultar los documentos citados para el contexto completo "
        "de cada pasaje."
    ),
    and_word="y",
    no_date="s. f.",
    sources_word="fuentes",
    source_word="fuente",
    anonymous="Anónimo",
    online="[En línea]. Disponible en:",
    available_at="Disponible en:",
    section_locator="sección «{section}»",
    note_sections="{present}/{planned} secciones previstas presentes",
    note_missing="; faltan: {titles}",
    note_no_body="no se previó ninguna sección de desarrollo",
    note_answered="cada sección de desarrollo responde a sus preguntas",
    note_thin="secciones escasas: {sections}",
    note_integrity=(
        "{citations} citas y {quotations} pasajes comprobados literalmente; "
        "{unresolved} sin resolver, {unused} referencias sin usar, {false} "
        "pasajes que no aparecen en su fuente; "
    ),
    note_rates=(
        "tasa de citas inventadas {fabricated_rate:.1%} ({fabricated} de "
        "{citations} citas), tasa de frases sin respaldo "
        "{unsupported_rate:.1%} ({unsupported} de {sentences} frases citadas)"
    ),
    note_no_quotations="ningún pasaje citado",
    note_diversity=(
        "{count} fuentes distintas citadas (objetivo {aim}); la mayor aporta "
        "el {share:.0%}"
    ),
    note_no_prose="no hay texto",
    note_readability=(
        "{average:.1f} palabras por frase, {syllables:.2f} sílabas por palabra, "
        "índice de lectura de Flesch {flesch:.0f}"
    ),
    note_length="{words} palabras frente a un objetivo de {target}",
)

FRENCH = Words(
    introduction="Introduction",
    background="Contexte",
    conclusion="Conclusion",
    references="Références",
    scope_question="Que disent les sources indexées sur {topic} ?",
    background_question="Comment les sources définissent-elles {topic} ?",
    theme_questions=(
        "Que rapportent les sources sur {theme} ?",
        "Quel est le lien entre {theme} et {topic} ?",
    ),
    conclusion_question="Que montrent les sources, prises ensemble, sur {topic} ?",
    document_names={
        "literature_review": "revue de littérature",
        "paper": "article de recherche",
        "thesis": "thèse",
        "report": "rapport",
        "essay": "essai",
        "brief": "note de synthèse",
    },
    quote_open="«\u00a0",
    quote_close="\u00a0»",
    section_opening="Cette section s'appuie sur {count} sources consacrées à {theme}.",
    section_opening_one="Cette section s'appuie sur une source consacrée à {theme}.",
    section_empty=(
        "Aucune des sources vérifiées ne contient de passage sur {theme} "
        "assez pertinent pour être cité."
    ),
    first_quote="Selon *{title}*, {quote} [{cite}]",
    further_quote="*{title}* précise aussi : {quote} [{cite}]",
    intro_purpose=(
        "Ce document ({document}) rassemble ce que disent {count} sources du "
        "corpus local sur {topic}. Chaque affirmation factuelle est une "
        "citation d'une source référencée."
    ),
    intro_sections="Il s'organise en sections :",
    intro_section_line="- *{title}*, à partir de {sources}.",
    conclusion_summary=(
        "Ce document ({document}) a réuni des passages de {count} sources sur {topic}."
    ),
    conclusion_section_line="- *{title}* : {sources}.",
    conclusion_closing=(
        "Le lecteur consultera les documents cités pour le contexte complet "
        "de chaque passage."
    ),
    and_word="et",
    no_date="s. d.",
    sources_word="sources",
    source_word="source",
    anonymous="Anonyme",
    online="[En ligne]. Disponible sur :",
    available_at="Disponible sur :",
    section_locator="section «\u00a0{section}\u00a0»",
    note_sections="{present}/{planned} sections prévues présentes",
    note_missing=" ; manquantes : {titles}",
    note_no_body="aucune section de développement prévue",
    note_answered="chaque section de développement répond à ses questions",
    note_thin="sections trop minces : {sections}",
    note_integrity=(
        "{citations} citations et {quotations} passages vérifiés mot à mot ; "
        "{unresolved} non résolues, {unused} références inutilisées, {false} "
        "passages absents de leur source ; "
    ),
    note_rates=(
        "taux de citations inventées {fabricated_rate:.1%} ({fabricated} sur "
        "{citations} citations), taux de phrases non étayées "
        "{unsupported_rate:.1%} ({unsupported} sur {sentences} phrases citées)"
    ),
    note_no_quotations="aucun passage cité",
    note_diversity=(
        "{count} sources distinctes citées (objectif {aim}) ; la plus citée "
        "fournit {share:.0%}"
    ),
    note_no_prose="aucun texte",
    note_readability=(
        "{average:.1f} mots par phrase, {syllables:.2f} syllabes par mot, "
        "indice de lisibilité de Flesch {flesch:.0f}"
    ),
    note_length="{words} mots pour un objectif de {target}",
)

_WORDS = {"en": ENGLISH, "es": SPANISH, "fr": FRENCH}

_TITLE_SUFFIXES: dict[str, dict[str, str]] = {
    "en": {
        "literature_review": "A Literature Review",
        "paper": "A Research Paper",
        "thesis": "A Thesis",
        "report": "A Report",
        "essay": "An Essay",
        "brief": "A Brief",
    },
    "es": {
        "literature_review": "una revisión de la literatura",
        "paper": "un artículo de investigación",
        "thesis": "una tesis",
        "report": "un informe",
        "essay": "un ensayo",
        "brief": "una nota informativa",
    },
    "fr": {
        "literature_review": "une revue de littérature",
        "paper": "un article de recherche",
        "thesis": "une thèse",
        "report": "un rapport",
        "essay": "un essai",
        "brief": "une note de synthèse",
    },
}


def words_for(language: str) -> Words:
    return _WORDS.get(language, ENGLISH)


def heading(phrase: str, language: str) -> str:
    """Return phrase as a heading: title case in English, sentence case in
    Spanish and French, never lowering letters the phrase already has."""
    if language != "en":
        return phrase[:1].upper() + phrase[1:]

    parts = phrase.split()
    cased = [
        part
        if index and part.casefold() in SMALL_WORDS
        else part[:1].upper() + part[1:]
        for index, part in enumerate(parts)
    ]
    return " ".join(cased)


def report_title(topic: str, document_type: DocumentType, language: str) -> str:
    suffix = _TITLE_SUFFIXES.get(language, _TITLE_SUFFIXES["en"])[document_type]
    return f"{heading(topic, language)}: {suffix}"


def join_names(names: list[str], language: str) -> str:
    """Return names as a list in prose ("A, B and C")."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {words_for(language).and_word} {names[-1]}"
