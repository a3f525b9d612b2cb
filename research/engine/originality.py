"""Turnitin stage: originality by document fingerprinting with winnowing
(Schleimer, Wilkerson and Aiken, SIGMOD 2003).

Texts are normalised to folded word tokens; every k-gram of tokens is
hashed with a stable hash; in each window of `WINDOW` consecutive hashes the
minimum (rightmost on ties) is kept as a fingerprint. Any shared run of at
least WINDOW + K - 1 tokens is then guaranteed to share a fingerprint.
"""

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from research.engine import text
from research.schemas import (
    MatchedPassage,
    OriginalityResult,
    Source,
    SourceSimilarity,
    VerificationResult,
    WritingResult,
)
from research.stages import StageInput, final_draft

K = 5
WINDOW = 4
OPENING_MARKS = ("“", "«", "«\u00a0", '"')
CLOSING_MARKS = ("”", "»", "\u00a0»", '"')
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Token:
    word: str
    start: int
    end: int


@dataclass(frozen=True)
class Fingerprint:
    hash: int
    position: int


def run(stage_input: StageInput) -> OriginalityResult:
    draft = final_draft(stage_input.results)
    verification: VerificationResult = stage_input.result("verify")
    if draft is None:
        raise ValueError("the originality check needs a draft from the writing stage")
    return check(draft, verification.verified, stage_input)


def tokens(source: str) -> list[Token]:
    return [
        Token(text.fold(match.group()), match.start(), match.end())
        for match in _TOKEN.finditer(source)
    ]


def stable_hash(words: Iterable[str]) -> int:
    digest = hashlib.blake2b("\x1f".join(words).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def kgram_hashes(words: list[str], k: int = K) -> list[int]:
    return [stable_hash(words[i : i + k]) for i in range(len(words) - k + 1)]


def winnow(hashes: list[int], window: int = WINDOW) -> list[Fingerprint]:
    """Return the fingerprints: each window's minimum hash, the rightmost on
    ties, recorded once per position."""
    if len(hashes) < window:
        return [Fingerprint(h, i) for i, h in enumerate(hashes)][:1] if hashes else []

    chosen: list[Fingerprint] = []
    last = -1
    for start in range(len(hashes) - window + 1):
        span = hashes[start : start + window]
        smallest = min(span)
        position = start + max(i for i, h in enumerate(span) if h == smallest)
        if position != last:
            chosen.append(Fingerprint(smallest, position))
            last = position
    return chosen


def fingerprints(source: str) -> list[Fingerprint]:
    return winnow(kgram_hashes([token.word for token in tokens(source)]))


def check(
    draft: WritingResult, sources: list[Source], stage_input: StageInput | None = None
) -> OriginalityResult:
    body = _body(draft)
    draft_tokens = tokens(body)
    draft_prints = winnow(kgram_hashes([t.word for t in draft_tokens]))
    quoted = _quoted_spans(body, draft)
    numbers = {entry.source_id: entry.number for entry in draft.bibliography}

    matched_by_source: dict[str, set[int]] = {}
    for source in sources:
        if stage_input is not None:
            stage_input.check_stop()
        source_hashes = {fp.hash for fp in fingerprints(source.text)}
        hits = {fp.position for fp in draft_prints if fp.hash in source_hashes}
        if hits:
            matched_by_source[source.source_id] = hits

    return _result(draft_tokens, draft_prints, quoted, matched_by_source, numbers, body)


def _body(draft: WritingResult) -> str:
    """The report without its reference list, which names sources by design."""
    return draft.markdown.rsplit("\n## ", 1)[0]


def _quoted_spans(body: str, draft: WritingResult) -> list[tuple[int, int]]:
    """Return the character spans of the quotations' contents in body: only
    where the text stands between quotation marks, so an unmarked copy of a
    quoted sentence still counts against the draft."""
    spans = []
    for quotation in draft.quotations:
        start = body.find(quotation.text)
        while start != -1:
            end = start + len(quotation.text)
            if body[:start].endswith(OPENING_MARKS) and body[end:].startswith(
                CLOSING_MARKS
            ):
                spans.append((start, end))
            start = body.find(quotation.text, start + 1)
    return sorted(set(spans))


def _inside(token: Token, spans: list[tuple[int, int]]) -> bool:
    return any(start <= token.start and token.end <= end for start, end in spans)


def _result(
    draft_tokens: list[Token],
    draft_prints: list[Fingerprint],
    quoted: list[tuple[int, int]],
    matched_by_source: dict[str, set[int]],
    numbers: dict[str, int],
    body: str,
) -> OriginalityResult:
    matched = set().union(*matched_by_source.values()) if matched_by_source else set()
    quoted_prints = {
        fp.position
        for fp in draft_prints
        if _kgram_quoted(fp.position, draft_tokens, quoted)
    }
    unquoted_prints = [fp for fp in draft_prints if fp.position not in quoted_prints]

    overall = len(matched) / len(draft_prints) if draft_prints else 0.0
    unquoted_matched = [fp for fp in unquoted_prints if fp.position in matched]
    excluding = len(unquoted_matched) / len(unquoted_prints) if unquoted_prints else 0.0

    per_source = [
        SourceSimilarity(
            source_id=source_id,
            similarity=round(len(positions) / len(draft_prints), 4),
        )
        for source_id, positions in sorted(
            matched_by_source.items(), key=lambda item: (-len(item[1]), item[0])
        )
    ]
    matches = [
        passage
        for source_id, positions in sorted(matched_by_source.items())
        for passage in _passages(
            source_id, positions, draft_tokens, quoted, numbers, body
        )
    ]
    matches.sort(key=lambda m: (body.find(m.text), m.source_id))
    return OriginalityResult(
        k=K,
        window=WINDOW,
        similarity_index=round(overall, 4),
        similarity_excluding_quotes=round(excluding, 4),
        per_source=per_source,
        matches=matches,
    )


def _kgram_quoted(
    position: int, draft_tokens: list[Token], quoted: list[tuple[int, int]]
) -> bool:
    gram = draft_tokens[position : position + K]
    return all(_inside(token, quoted) for token in gram)


def _passages(
    source_id: str,
    positions: set[int],
    draft_tokens: list[Token],
    quoted: list[tuple[int, int]],
    numbers: dict[str, int],
    body: str,
) -> list[MatchedPassage]:
    """Merge overlapping matched k-grams into passages of the draft."""
    runs: list[list[int]] = []
    for position in sorted(positions):
        if runs and position <= runs[-1][1] + WINDOW:
            runs[-1][1] = max(runs[-1][1], position + K)
        else:
            runs.append([position, position + K])

    passages = []
    for first, last in runs:
        start = draft_tokens[first].start
        end = draft_tokens[min(last, len(draft_tokens)) - 1].end
        covered = draft_tokens[first:last]
        passages.append(
            MatchedPassage(
                source_id=source_id,
                citation=numbers.get(source_id),
                text=body[start:end],
                quoted=all(_inside(token, quoted) for token in covered),
            )
        )
    return passages
