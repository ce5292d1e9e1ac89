"""Question answering: retrieve -> pack context -> generate -> verify -> (fall back) -> Answer.

The generated answer must cite every sentence with ``[n]``, where ``n`` numbers the retrieved
sources; each cited sentence is verified against the cited source's sentences
(:mod:`bot.ground.verify`). Unsupported citations are removed, sentences left without support are
dropped, and when too little survives the answer falls back to the extractive one (the best
source sentences, quoted verbatim) and says so. Citations to sources that were not retrieved
cannot happen: a marker outside ``1..len(sources)`` is discarded before verification.

When no source sentence is relevant enough to the question the answer abstains, whatever
the model wrote.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.errors import InputError, LLMError
from bot.ground.sentence_scorer import refers_back
from bot.ground.verify import breaks_of, content_words, strip_markers
from bot.llm.prompts import load_prompt
from bot.text.chunking import count_tokens
from bot.text.latex import clean_latex
from bot.text.sanitize import check_text, escape_markers, plain_text, redact, safe_sentences
from bot.text.sentences import split_sentences
from bot.types import Answer, Citation, Paper, SearchHit, Sentence

if TYPE_CHECKING:
    from bot.ground.sentence_scorer import SentenceScorer
    from bot.ground.verify import Support, Verifier
    from bot.llm.base import ChatModel
    from bot.retrieve.search import Retriever
    from bot.settings import Settings

__all__ = ["ABSTAIN_TEXT", "Source", "answer_question", "build_sources", "extractive_answer"]

ABSTAIN_TEXT = "The ingested papers do not contain enough evidence to answer this question."
_MARKERS = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_ABSTAIN_TOKEN = "INSUFFICIENT_EVIDENCE"


@dataclass
class Source:
    """A retrieved paper as numbered for the model: ``[n]``."""

    n: int
    paper: Paper
    sentences: list[Sentence]
    score: float
    shown: str = ""  # the text put in the prompt


@dataclass
class _Draft:
    text: str
    citations: list[Citation] = field(default_factory=list)
    supported: int = 0
    total: int = 0
    attributed: int = 0  # sentences the model left uncited, cited by the verifier post hoc


def build_sources(hits: list[SearchHit], budget_tokens: int) -> list[Source]:
    """Number the hits and choose what of each fits the token budget (whole abstract if it fits,
    else the best-matching chunk); at least one source is always kept (its chunk, when even the
    first abstract is over the budget).

    Abstracts are untrusted (:mod:`bot.text.sanitize`): sentences that address instructions to a
    model or carry links/images/HTML are redacted from the prompt text and are never quoted or
    cited."""
    sources: list[Source] = []
    used = 0
    for hit in hits:
        full = hit.paper.text
        sentences = safe_sentences(full)
        options = (escape_markers(redact(full)), escape_markers(redact(hit.text)))
        for i, text in enumerate(options):
            cost = count_tokens(text) + count_tokens(hit.paper.title) + 12
            if used + cost <= budget_tokens or (not sources and i == len(options) - 1):
                quotable = sentences if i == 0 else _within(sentences, full, hit)
                sources.append(Source(len(sources) + 1, hit.paper, quotable, hit.score, text))
                used += cost
                break
    return sources


def _within(sentences: list[Sentence], full: str, hit: SearchHit) -> list[Sentence]:
    """For a full-text paper shown by its best chunk: only the sentences of that chunk (the
    model saw nothing else of it). An abstract-only paper keeps all its sentences."""
    if not hit.paper.body:
        return sentences
    start = full.find(hit.text) if hit.text else -1
    if start < 0:
        return sentences
    end = start + len(hit.text)
    inside = [s for s in sentences if s.start >= start and s.end <= end]
    return inside or sentences


class CitationNumberer:
    """Assigns final citation numbers to quotes - one sentence of a paper, or a run of
    adjacent sentences - in order of first use."""

    def __init__(self) -> None:
        self.citations: list[Citation] = []
        self._index: dict[tuple[str, int, int], int] = {}

    def number(self, source: Source, sentence: Sentence, last: Sentence | None = None) -> int:
        """The number of the quote from ``sentence`` to ``last`` (inclusive; default: the
        sentence alone). The quote is the paper's exact text over that range."""
        last = last or sentence
        key = (source.paper.id, sentence.index, last.index)
        if key not in self._index:
            n = len(self.citations) + 1
            self._index[key] = n
            quote = (
                sentence.text if last is sentence else source.paper.text[sentence.start : last.end]
            )
            self.citations.append(
                Citation(
                    n=n,
                    paper_id=source.paper.id,
                    title=source.paper.title,
                    quote=quote,
                    sentence_index=sentence.index,
                    start=sentence.start,
                    end=last.end,
                    url=source.paper.url,
                    page=source.paper.page_at(sentence.start),
                    last_sentence_index=last.index,
                )
            )
        return self._index[key]

    def span(self, source: Source, support: Support) -> int:
        """The number of the evidence a :class:`~bot.verify.Support` chose in ``source``."""
        a, b = support.span
        return self.number(source, source.sentences[a], source.sentences[b - 1])


def _too_similar(a: str, b: str) -> bool:
    wa, wb = content_words(a), content_words(b)
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) > 0.6


# Extractive selection (see extractive_answer). Papers are compared by the verifier's
# question relevance (comparable across papers): a paper takes part only if its best sentence
# is within PAPER_MARGIN of the best overall. Sentences are ranked by relevance +
# SCORER_WEIGHT x the trained scorer's probability (which compares sentences within a paper),
# kept within SENTENCE_MARGIN of the best, at most PER_PAPER per paper. Set by hand on the dev
# half of data/questions.jsonl (benchmarks/results/extractive_quality.md reports both halves).
PAPER_MARGIN = 0.10
SCORER_WEIGHT = 0.3
SENTENCE_MARGIN = 0.15
PER_PAPER = 2
# A hand-set rule, not learned (the training questions never ask for a dataset): a sentence
# that supplies what the question asks for (a dataset, a number, a method, a reason, a
# comparison; bot.sentence_scorer.asks_match) gets this much more.
ASKS_BONUS = 0.1


def _previous(src: Source, sentence: Sentence) -> Sentence | None:
    for s in src.sentences:
        if s.index == sentence.index - 1:
            return s
    return None


def extractive_answer(
    question: str,
    sources: list[Source],
    verifier: Verifier,
    threshold: float,
    max_sentences: int = 3,
    scorer: SentenceScorer | None = None,
    asked: str | None = None,
) -> tuple[_Draft | None, float]:
    """The source sentences that answer the question, quoted verbatim and cited, grouped by
    paper; ``None`` when nothing is relevant (best relevance below ``threshold``).

    - Abstention uses the verifier's question relevance (as tuned for
      ``PAPERBOT_ABSTAIN_THRESHOLD``); which sentences answer is decided by the trained
      question-sentence scorer (:mod:`bot.ground.sentence_scorer`).
    - Papers whose best sentence is much less relevant than the best paper's are left out
      (no padding); papers are shown best first, one paragraph each.
    - A quoted sentence that leans on the one before it ("This ...", "They ...", "First, ...")
      is quoted with that sentence (or skipped, when that one leans back too); each paper's
      quotes are introduced by its title, so "we" and "our" read as that paper's authors.

    ``question`` is what retrieval used (for a follow-up, the rewritten question); ``asked``,
    when given, is the user's own question, which the scorer reads for what is asked.
    Returns the draft and the best relevance score found."""
    candidates = [(src, s) for src in sources for s in src.sentences]
    if not candidates:
        return None, 0.0
    texts = [s.text for _, s in candidates]
    relevance = verifier.relevance(question, texts)
    best = float(max(relevance)) if len(relevance) else 0.0
    if best < threshold:
        return None, best
    from bot.ground.sentence_scorer import Candidate, SentenceScorer, asks_match

    scorer = scorer or SentenceScorer()
    asked = asked or question
    # a rewritten follow-up ("... (about: <title>)") finds the papers; the user's own words
    # say which of their sentences answer
    ranking = relevance if asked == question else verifier.relevance(asked, texts)
    answers = scorer.score(
        asked,
        [Candidate(s.text, src.paper.id, s.index, len(src.sentences)) for src, s in candidates],
        verifier.embed,
    )
    combined = [
        float(r) + SCORER_WEIGHT * float(p) + ASKS_BONUS * max(0.0, asks_match(asked, s.text))
        for r, p, (_, s) in zip(ranking, answers, candidates, strict=True)
    ]
    paper_rel: dict[str, float] = {}
    for (src, _), r in zip(candidates, relevance, strict=True):
        paper_rel[src.paper.id] = max(paper_rel.get(src.paper.id, 0.0), float(r))
    floor = max(threshold, best - PAPER_MARGIN)
    order = sorted(range(len(candidates)), key=lambda i: (-combined[i], i))
    eligible = [i for i in order if paper_rel[candidates[i][0].paper.id] >= floor]
    top = combined[eligible[0]]
    chosen: list[int] = []
    context: dict[int, Sentence] = {}  # anchor -> the sentence before it, quoted with it
    per_paper: dict[str, int] = {}
    for i in eligible:
        src, sentence = candidates[i]
        if len(chosen) >= max_sentences or combined[i] < top - SENTENCE_MARGIN:
            break
        if per_paper.get(src.paper.id, 0) >= PER_PAPER:
            continue
        if any(_too_similar(sentence.text, candidates[j][1].text) for j in chosen):
            continue
        if refers_back(sentence.text):
            before = _previous(src, sentence)
            if before is None or refers_back(before.text):
                continue  # would need more than one sentence before it to stand alone
            context[i] = before
        chosen.append(i)
        per_paper[src.paper.id] = per_paper.get(src.paper.id, 0) + 1
    if not chosen:  # relevant enough to answer, but nothing stands alone: the best one
        chosen.append(eligible[0])
    quoted: dict[str, dict[int, Sentence]] = {}
    papers: list[Source] = []
    for i in chosen:
        src, sentence = candidates[i]
        if src.paper.id not in quoted:
            quoted[src.paper.id] = {}
            papers.append(src)
        quoted[src.paper.id][sentence.index] = sentence
        if i in context:
            quoted[src.paper.id][context[i].index] = context[i]
    numberer = CitationNumberer()
    groups = []
    for src in sorted(papers, key=lambda p: -paper_rel[p.paper.id]):  # most relevant first
        parts = [
            f"{escape_markers(s.text)} [{numberer.number(src, s)}]"
            for _, s in sorted(quoted[src.paper.id].items())
        ]
        title = " ".join(plain_text(redact(src.paper.title)).split())  # titles are untrusted
        groups.append(f"\u201c{title}\u201d: " + " ".join(parts))
    n = len(numberer.citations)
    return _Draft("\n\n".join(groups), numberer.citations, n, n), best


def _render_sources(sources: list[Source]) -> str:
    template = load_prompt("source")
    return "\n\n".join(
        template.render_text(
            n=src.n, title=redact(src.paper.title).replace('"', "'"), text=src.shown
        )
        for src in sources
    )


def _cited_numbers(raw: str, by_n: dict[int, Source]) -> list[int]:
    """The retrieved-source numbers a sentence cites, in order (others are impossible)."""
    cited: list[int] = []
    for group in _MARKERS.findall(raw):
        for part in re.split(r"\s*[,;]\s*", group):
            n = int(part)
            if n in by_n and n not in cited:
                cited.append(n)
    return cited


def _likely_sources(claim: str, sources: list[Source], keep: int = 2) -> list[Source]:
    """The sources sharing the most content words with ``claim`` (for uncited sentences)."""
    words = content_words(claim)

    def overlap(src: Source) -> int:
        return max((len(words & content_words(s.text)) for s in src.sentences), default=0)

    return sorted(sources, key=overlap, reverse=True)[:keep]


def verify_generated(text: str, sources: list[Source], verifier: Verifier) -> _Draft:
    """Keep the generated sentences whose citations check out, citing the exact evidence
    (a sentence or a run of adjacent sentences); renumber; count.

    Every (sentence, cited source) pair - and each uncited sentence against the two sources
    sharing most words with it - goes to :meth:`Verifier.check_many` in one batch. A
    sentence that makes no claim ("The dataset used was:") counts as unsupported."""
    by_n = {src.n: src for src in sources}
    parsed: list[tuple[str, list[Source], bool]] = []  # claim, sources to check, cited?
    items: list[tuple[str, list[str]]] = []
    breaks: list[frozenset[int]] = []  # no quote spans a withheld sentence
    for sentence in split_sentences(text.strip()):
        raw = sentence.text
        claim = strip_markers(raw)
        if not content_words(claim):
            continue  # a bare marker or punctuation, not a sentence
        cited = [by_n[n] for n in _cited_numbers(raw, by_n)]
        # Small models often forget the markers: attribute the sentence post hoc to the
        # retrieved evidence that supports it best, if any does (same verifier, same bar).
        targets = cited or _likely_sources(claim, sources)
        parsed.append((claim, targets, bool(cited)))
        items.extend((claim, [s.text for s in src.sentences]) for src in targets)
        breaks.extend(breaks_of(src.sentences) for src in targets)
    supports = iter(verifier.check_many(items, breaks))
    numberer = CitationNumberer()
    kept: list[str] = []
    attributed = 0
    for claim, targets, was_cited in parsed:
        verdicts = [(src, next(supports)) for src in targets]
        passing = [(src, v) for src, v in verdicts if v.supported]
        if not was_cited and passing:
            passing = [max(passing, key=lambda sv: sv[1].score)]
            attributed += 1
        if not passing:
            continue
        numbers = sorted({numberer.span(src, v) for src, v in passing})
        body, end = claim.rstrip(), ""
        if body and body[-1] in ".!?":
            body, end = body[:-1], body[-1]
        kept.append(f"{body} {''.join(f'[{n}]' for n in numbers)}{end}")
    return _Draft(" ".join(kept), numberer.citations, len(kept), len(parsed), attributed)


@dataclass
class Prepared:
    """Everything decided before generation: the sources, the extractive answer, the prompt."""

    question: str
    sources: list[Source]
    extractive: _Draft | None
    best_relevance: float
    messages: list[tuple[str, str]]  # the rendered prompt (for token counts and callers)
    prompt_hash: str
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)  # the qa prompt's variables

    @property
    def retrieved(self) -> list[str]:
        return [src.paper.id for src in self.sources]

    @property
    def needs_model(self) -> bool:
        """False when the answer is decided without a model (nothing relevant: abstain)."""
        return self.extractive is not None


def check_question(question: str, settings: Settings) -> str:
    question = " ".join((question or "").split())
    if not question:
        raise InputError("the question is empty")
    check_text(question, "question")
    if len(question) > settings.retrieval.max_question_chars:
        raise InputError(
            f"the question is {len(question)} characters long; the limit is "
            f"{settings.retrieval.max_question_chars} (PAPERBOT_MAX_QUESTION_CHARS)"
        )
    return question


def prepare(
    question: str,
    retriever: Retriever,
    verifier: Verifier,
    settings: Settings,
    k: int | None = None,
    query: str | None = None,
) -> Prepared:
    """Retrieve (with ``query`` if given, e.g. a rewritten follow-up), pack, pre-compute the
    extractive answer and render the prompt."""
    question = check_question(question, settings)
    k = settings.retrieval.top_k if k is None else k
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    hits = retriever.search(query or question, k=k)
    timings["retrieve"] = (time.perf_counter() - t0) * 1000
    sources = build_sources(hits, settings.retrieval.context_tokens)
    t1 = time.perf_counter()
    extractive, best = extractive_answer(
        query or question,
        sources,
        verifier,
        settings.verification.abstain_threshold,
        asked=question,
    )
    timings["extract"] = (time.perf_counter() - t1) * 1000
    prompt = load_prompt("qa")
    values: dict[str, object] = {
        "question": question,
        "sources": _render_sources(sources),
        "n_sources": len(sources),
    }
    messages = prompt.render(**values)
    return Prepared(
        question, sources, extractive, best, messages, prompt.sha256, timings, values=values
    )


@dataclass(frozen=True)
class _Usage:
    """What a model call gave, carried into the answer whichever answer is shown."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    draft: str | None = None  # the model's raw output, before verification


def _result(
    prep: Prepared,
    chosen: _Draft | None,
    mode: str,
    model: str,
    *,
    fallback_from: str | None = None,
    usage: _Usage | None = None,
) -> Answer:
    usage = usage or _Usage()
    return Answer(
        question=prep.question,
        # LaTeX debris (D{=}1, N{+}D) cleaned for display; citation quotes stay verbatim, so
        # their offsets into the stored text hold
        answer=clean_latex(chosen.text) if chosen else ABSTAIN_TEXT,
        citations=chosen.citations if chosen else [],
        abstained=chosen is None,
        supported=chosen.supported if chosen else 0,
        total=chosen.total if chosen else 0,
        mode=mode,  # type: ignore[arg-type]
        model=model,
        retrieved=prep.retrieved,
        prompt_hash=prep.prompt_hash,
        notes=prep.notes,
        timings_ms=prep.timings,
        fallback_from=fallback_from,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        draft=usage.draft,
    )


def answer_without_model(prep: Prepared) -> Answer:
    """The extractive answer (or abstention) for a prepared question."""
    return _result(prep, prep.extractive, "extractive", "none")


def abstain_before_model(prep: Prepared, llm: ChatModel) -> Answer:
    prep.notes.append(
        f"no source sentence is relevant enough (best {prep.best_relevance:.2f}); abstained "
        "without calling the model"
    )
    return _result(prep, None, llm.mode, llm.model)


def fallback_after_error(prep: Prepared, llm: ChatModel, error: Exception) -> Answer:
    prep.notes.append(f"model failed, extractive answer shown: {error}")
    return _result(prep, prep.extractive, "extractive", "none", fallback_from=llm.mode)


def finish(
    prep: Prepared,
    text: str,
    verifier: Verifier,
    llm: ChatModel,
    settings: Settings,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
) -> Answer:
    """Verify a generated answer; keep it, trim it, or fall back to the extractive answer.

    The text is made inert first (:func:`bot.text.sanitize.plain_text`: no markdown images/links,
    no HTML)."""
    text = plain_text(text.strip())
    usage = _Usage(prompt_tokens, completion_tokens, text)
    if _ABSTAIN_TOKEN in text:
        prep.notes.append(
            "the model found the sources insufficient, but relevant source sentences "
            "exist; extractive answer shown"
        )
        return _result(
            prep, prep.extractive, "extractive", "none", fallback_from=llm.mode, usage=usage
        )
    t3 = time.perf_counter()
    draft = verify_generated(text, prep.sources, verifier)
    prep.timings["verify"] = (time.perf_counter() - t3) * 1000
    if (
        draft.supported == 0
        or draft.supported < settings.verification.min_supported_fraction * draft.total
    ):
        prep.notes.append(
            f"only {draft.supported} of {draft.total} generated sentences were supported by "
            "their citations; extractive answer shown"
        )
        return _result(
            prep, prep.extractive, "extractive", "none", fallback_from=llm.mode, usage=usage
        )
    if draft.supported < draft.total:
        prep.notes.append(f"{draft.total - draft.supported} unsupported sentence(s) removed")
    if draft.attributed:
        prep.notes.append(
            f"{draft.attributed} sentence(s) had no [n] marker and were cited to the source "
            "sentence that supports them"
        )
    return _result(prep, draft, llm.mode, llm.model, usage=usage)


def answer_question(
    question: str,
    retriever: Retriever,
    verifier: Verifier,
    llm: ChatModel | None,
    settings: Settings,
    k: int | None = None,
    on_token: Callable[[str], None] | None = None,
    query: str | None = None,
) -> Answer:
    """Answer ``question`` from the store, with verified citations.

    ``on_token`` receives the model's raw tokens as they stream (before verification; the
    returned :class:`Answer` is what may be shown as final). ``query`` overrides the text used
    for retrieval (a rewritten follow-up question)."""
    prep = prepare(question, retriever, verifier, settings, k=k, query=query)
    if llm is None:
        return answer_without_model(prep)
    if not prep.needs_model:
        return abstain_before_model(prep, llm)
    t2 = time.perf_counter()
    try:
        if on_token is None:
            generation = llm.invoke_prompt(load_prompt("qa"), prep.values)
            text, p_tok, c_tok = (
                generation.text,
                generation.prompt_tokens,
                generation.completion_tokens,
            )
        else:
            parts: list[str] = []
            for token in llm.stream_prompt(load_prompt("qa"), prep.values):
                parts.append(token)
                on_token(token)
            text = "".join(parts)
            p_tok = sum(count_tokens(t) for _, t in prep.messages)
            c_tok = count_tokens(text)
    except LLMError as exc:
        prep.timings["generate"] = (time.perf_counter() - t2) * 1000
        return fallback_after_error(prep, llm, exc)
    prep.timings["generate"] = (time.perf_counter() - t2) * 1000
    return finish(prep, text, verifier, llm, settings, p_tok, c_tok)
