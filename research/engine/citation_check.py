"""The citation check: every citation must point to a retrieved source, and
every cited sentence must be supported by the sources it cites.

Both engines' drafts are measured with it; the model engine's draft is also
cleaned with it before it is stored. The rules, applied per sentence:

- A citation [n] whose number maps to no retrieved source is fabricated.
  Cleaning removes the marker, and the sentence too when none of its
  citations is real: a claim with no real source does not stand.
- A sentence whose every citation directly follows the cited source's title
  ("*Wind power* [3]") names the source and claims nothing from it; it is
  supported.
- A sentence that quotes (“…”, «…» or "…", three words or more) is supported
  when every quotation appears verbatim in a cited source, and the words
  outside the quotations are either framing (at most FRAMING_WORDS content
  words the sources lack, titles aside) or pass the paraphrase rule.
- Any other cited sentence is a paraphrase: at least SUPPORT_SHARE of its
  distinct content words (stemmed, stopwords and numbers left out) must occur
  in the title or text of the sources it cites.

Cleaning removes unsupported sentences; measuring only counts them.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from research.engine import text
from research.schemas import CitationCheck, Source, WritingResult

SUPPORT_SHARE = 0.5
FRAMING_WORDS = 4
SHORTEST_QUOTE = 3
# How many findings a check keeps word for word; the counts are complete.
FINDINGS_KEPT = 20

CITATION_GROUP = re.compile(r"\[(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\]")
LEADING_CITATIONS = re.compile(r"^(?:\[\d{1,4}(?:\s*[,;]\s*\d{1,4})*\][ \t]*)+")
QUOTATION = re.compile(r"“([^”]+)”|«\s*([^»]+?)\s*»|\"([^\"]+)\"")
LIST_MARKER = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+)")


@dataclass(frozen=True)
class Checked:
    markdown: str
    report: CitationCheck


@dataclass
class _Tally:
    citations: int = 0
    fabricated: int = 0
    cited_sentences: int = 0
    unsupported: int = 0
    findings: list[str] = field(default_factory=list)

    def note(self, finding: str) -> None:
        if len(self.findings) < FINDINGS_KEPT:
            self.findings.append(finding)

    def report(self) -> CitationCheck:
        return CitationCheck(
            citations=self.citations,
            fabricated=self.fabricated,
            cited_sentences=self.cited_sentences,
            unsupported=self.unsupported,
            findings=self.findings,
        )


def clean(markdown: str, sources: Mapping[int, Source], language: str) -> Checked:
    """Return the Markdown without fabricated citations or unsupported cited
    sentences, with what was removed; `sources` maps citation numbers to the
    retrieved sources they stand for."""
    checker = _Checker(sources, language)
    lines = [checker.line(line, remove=True) for line in markdown.split("\n")]
    kept = "\n".join(line for line in lines if line is not None)
    return Checked(re.sub(r"\n{3,}", "\n\n", kept), checker.tally.report())


def measure(
    markdown: str, sources: Mapping[int, Source], language: str
) -> CitationCheck:
    """Return what the check finds in the Markdown, changing nothing."""
    checker = _Checker(sources, language)
    for line in markdown.split("\n"):
        checker.line(line, remove=False)
    return checker.tally.report()


def measure_draft(
    draft: WritingResult, retrieved: Sequence[Source], language: str
) -> CitationCheck:
    """Measure a stored draft's body against the sources retrieved for it.

    A bibliography entry naming a source that was never retrieved resolves
    to nothing, so citations of it count as fabricated.
    """
    by_id = {source.source_id: source for source in retrieved}
    numbered = {
        entry.number: by_id[entry.source_id]
        for entry in draft.bibliography
        if entry.source_id in by_id
    }
    return measure(body(draft.markdown), numbered, language)


def body(markdown: str) -> str:
    """Return a report without its closing references section."""
    head, separator, _ = markdown.rpartition("\n## ")
    return head if separator else markdown


def rates_note(report: CitationCheck) -> str:
    return (
        f"fabricated-citation rate {report.fabricated_rate:.1%} "
        f"({report.fabricated} of {report.citations} citations), "
        f"unsupported-sentence rate {report.unsupported_rate:.1%} "
        f"({report.unsupported} of {report.cited_sentences} cited sentences)"
    )


class _Checker:
    def __init__(self, sources: Mapping[int, Source], language: str) -> None:
        self.sources = sources
        self.language = language
        self.tally = _Tally()
        self._stems: dict[int, frozenset[str]] = {}
        self._texts: dict[int, str] = {}

    def line(self, line: str, *, remove: bool) -> str | None:
        """Check one line; return it as cleaned, or None when nothing of it
        is left."""
        if not line.strip() or line.lstrip().startswith(("#", "|", "```")):
            return line

        marker = LIST_MARKER.match(line)
        prefix = marker.group(1) if marker else ""
        kept = [
            checked
            for sentence in _sentences(line[len(prefix) :])
            if (checked := self._sentence(sentence, remove)) is not None
        ]
        if not kept:
            return None
        return prefix + " ".join(kept)

    def _sentence(self, sentence: str, remove: bool) -> str | None:
        groups = [
            [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
            for match in CITATION_GROUP.finditer(sentence)
        ]
        numbers = [number for group in groups for number in group]
        if not numbers:
            return sentence

        real = [number for number in numbers if number in self.sources]
        fake = [number for number in numbers if number not in self.sources]
        self.tally.citations += len(numbers)
        self.tally.fabricated += len(fake)
        for number in fake:
            self.tally.note(
                f"citation [{number}] points to no retrieved source: {sentence}"
            )
        cleaned = _drop_citations(sentence, set(fake)) if remove else sentence
        if not real:
            return None if remove else sentence

        self.tally.cited_sentences += 1
        if self._supported(sentence, sorted(set(real))):
            return cleaned

        self.tally.unsupported += 1
        self.tally.note(
            f"sentence not supported by [{', '.join(map(str, real))}]: {sentence}"
        )
        return None if remove else sentence

    def _supported(self, sentence: str, numbers: list[int]) -> bool:
        if self._attributions_only(sentence):
            return True

        quotations = [
            next(group for group in match.groups() if group is not None)
            for match in QUOTATION.finditer(sentence)
        ]
        quotations = [q for q in quotations if text.word_count(q) >= SHORTEST_QUOTE]
        if not quotations:
            return self._paraphrase_share(sentence, numbers) >= SUPPORT_SHARE

        if not all(self._quoted_verbatim(quote, numbers) for quote in quotations):
            return False
        rest = QUOTATION.sub(" ", sentence)
        unknown = self._unknown_words(rest, numbers)
        return (
            len(unknown) <= FRAMING_WORDS
            or self._paraphrase_share(rest, numbers) >= SUPPORT_SHARE
        )

    def _attributions_only(self, sentence: str) -> bool:
        for match in CITATION_GROUP.finditer(sentence):
            group = match.group(1)
            if not group.isdigit() or int(group) not in self.sources:
                return False
            before = sentence[: match.start()].rstrip(' *_”"»\u00a0')
            title = self.sources[int(group)].title.strip()
            if not title or not text.fold(before).endswith(text.fold(title)):
                return False
        return True

    def _quoted_verbatim(self, quote: str, numbers: list[int]) -> bool:
        wanted = _squeeze(quote).strip().rstrip(",;:")
        candidates = [wanted, wanted.rstrip(".")]
        return any(
            candidate and candidate in self._text(number)
            for candidate in candidates
            for number in numbers
        )

    def _paraphrase_share(self, sentence: str, numbers: list[int]) -> float:
        own = set(text.stems(CITATION_GROUP.sub(" ", sentence), self.language))
        if not own:
            return 0.0
        known = frozenset().union(*(self._source_stems(n) for n in numbers))
        return len(own & known) / len(own)

    def _unknown_words(self, sentence: str, numbers: list[int]) -> set[str]:
        """Return the sentence's content stems found neither in the cited
        sources nor in their titles."""
        own = set(text.stems(CITATION_GROUP.sub(" ", sentence), self.language))
        known = frozenset().union(*(self._source_stems(n) for n in numbers))
        return own - known

    def _source_stems(self, number: int) -> frozenset[str]:
        if number not in self._stems:
            source = self.sources[number]
            self._stems[number] = frozenset(
                text.stems(f"{source.title}\n{source.text}", self.language)
            )
        return self._stems[number]

    def _text(self, number: int) -> str:
        if number not in self._texts:
            self._texts[number] = _squeeze(self.sources[number].text)
        return self._texts[number]


def _sentences(line: str) -> list[str]:
    """Split a line into sentences, a citation that follows a sentence's
    closing quotation mark staying with that sentence."""
    sentences: list[str] = []
    for span in text.split_sentences(line):
        sentence = span.text
        leading = LEADING_CITATIONS.match(sentence)
        if leading and sentences:
            sentences[-1] = f"{sentences[-1]} {leading.group(0).strip()}"
            sentence = sentence[leading.end() :]
        if sentence.strip():
            sentences.append(sentence.strip())
    return sentences


def _drop_citations(sentence: str, numbers: set[int]) -> str:
    def keep_real(match: re.Match[str]) -> str:
        kept = [
            part
            for part in re.split(r"\s*[,;]\s*", match.group(1))
            if int(part) not in numbers
        ]
        return f"[{', '.join(kept)}]" if kept else ""

    dropped = CITATION_GROUP.sub(keep_real, sentence)
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", dropped)).strip()


def _squeeze(value: str) -> str:
    return " ".join(value.replace("\u00a0", " ").split())


def numbered(sources: Iterable[Source]) -> dict[int, Source]:
    """Number sources from 1 in the order given, as the writer sees them."""
    return {number: source for number, source in enumerate(sources, start=1)}


def verbatim_quotations(
    markdown: str, sources: Mapping[int, Source]
) -> list[tuple[int, str]]:
    """Return (citation number, quoted text) for each quotation in the
    Markdown found word for word in the source its sentence cites."""
    found: list[tuple[int, str]] = []
    for line in markdown.split("\n"):
        for sentence in _sentences(line):
            numbers = [
                int(n)
                for match in CITATION_GROUP.finditer(sentence)
                for n in re.split(r"\s*[,;]\s*", match.group(1))
                if int(n) in sources
            ]
            for match in QUOTATION.finditer(sentence):
                quote = _squeeze(next(g for g in match.groups() if g is not None))
                quote = quote.rstrip(",;:")
                owner = next(
                    (n for n in numbers if quote in _squeeze(sources[n].text)), None
                )
                if owner is not None and text.word_count(quote) >= SHORTEST_QUOTE:
                    found.append((owner, quote))
    return found
