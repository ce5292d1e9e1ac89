"""Lay summaries (and newsletter blurbs) of one paper, every sentence cited to its abstract.

Pipeline for one paper::

    abstract -> sentences (exact offsets) -> [model] draft -> gates -> (revise once) -> result
                                          \\-> [no model / draft rejected] extractive summary

**Model modes** (``local``, ``openai``): the prompt (``prompts/lay_summary.md`` or
``prompts/newsletter_blurb.md``) shows the abstract as numbered sentences and asks for short
plain sentences, each ending with ``[n]``. Every generated sentence then passes three gates:

1. *numbers*: every number in it occurs in the abstract (or title);
2. *names*: every named method, dataset or acronym in it (mixed case, digits, capitalised
   mid-sentence) occurs in the abstract (or title);
3. *support*: :class:`bot.ground.verify.Verifier` finds an abstract sentence that supports it; that
   sentence becomes its citation (the model's own ``[n]`` are kept too when they also support).

Sentences failing a gate are removed and listed in ``removed`` with the reason. When too few
survive (none, or fewer than ``min_supported_fraction``), the extractive summary is shown
instead and ``fallback_from`` says so. The reading level of what survives is measured
(:func:`bot.generate.readability.fkgl`); when it misses the target grade by more than
``summary_grade_tolerance``, the model gets one revision pass
(``prompts/lay_summary_revise.md``) with the measured grade fed back, and the revision is kept
only if it passes the same gates and lands closer to the target.

**Extractive mode**: the key sentences of the abstract (what they did, what they found, why it
matters, an explicit limitation), chosen within the word budget and shown in abstract order,
with LaTeX debris cleaned for display (:func:`bot.text.latex.clean_latex`). Each shown sentence
cites the verbatim original it was cleaned from. The glossary comes from definitions in the
abstract itself (abbreviations such as "autoregressive conditional duration (ACD)").

Citations always quote verbatim abstract sentences: ``abstract[c.start:c.end] == c.quote``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.errors import InputError, LLMError
from bot.generate.answer import CitationNumberer, Source
from bot.generate.readability import fkgl, target_grade
from bot.ground.sentence_scorer import refers_back
from bot.ground.verify import breaks_of, content_words, numbers_in, strip_markers
from bot.llm.prompts import load_prompt
from bot.text.latex import clean_latex
from bot.text.sanitize import SANITIZE_VERSION, escape_markers, redact, safe_sentences
from bot.text.sentences import split_sentences
from bot.types import Citation, GlossaryEntry, LaySummary, Paper, Sentence

if TYPE_CHECKING:
    from bot.ground.verify import Verifier
    from bot.llm.base import ChatModel
    from bot.settings import Settings
    from bot.storage.cache import GenerationCache

__all__ = [
    "AUDIENCES",
    "CheckedText",
    "abstract_definitions",
    "cache_parts",
    "check_lay_text",
    "named_terms",
    "summarize_paper",
    "summary_options",
]

#: Bump when the summarising logic changes in a way that should invalidate cached results.
SUMMARY_VERSION = 2
AUDIENCES = ("general", "student", "expert")
_PROMPTS = {"summary": "lay_summary", "blurb": "newsletter_blurb"}
_REVISE_PROMPT = "lay_summary_revise"
_MARKERS = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_GLOSSARY_HEADER = re.compile(
    r"^[ \t>*#_-]*glossary[ \t*_]*:?[ \t*_]*$|\bglossary\s*:", re.IGNORECASE | re.MULTILINE
)
_SUMMARY_LABEL = re.compile(
    r"(?i)^\s*[*#_]*\s*(?:plain[- ]language\s+)?(?:summary|blurb)\s*[*_]*:?"
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*")

# Cue phrases for the roles of abstract sentences (extractive selection).
_DID = re.compile(
    r"\b(?:we|this (?:paper|work|thesis|study|article)|here)\b[^.]{0,40}?\b(?:propose|introduce|"
    r"present|develop|stud(?:y|ies)|investigate|provide|consider|design|derive|establish|prove|"
    r"analy[sz]e|construct|formulate|address|examine|explore|demonstrate|show|give|apply)",
    re.IGNORECASE,
)
_FOUND = re.compile(
    r"\b(?:we (?:find|found|show|demonstrate|observe|prove|obtain|achieve)|results? "
    r"(?:show|indicate|suggest|demonstrate|reveal)|findings|achiev|outperform|improv|"
    r"state-of-the-art|significantly|reveal|leads? to|reduces?|yields?)",
    re.IGNORECASE,
)
_MATTERS = re.compile(
    r"\b(?:enabl|allow|important|implication|crucial|benefit|useful|practical|applications?|"
    r"pav(?:e|es|ing) the way|sheds? light|insight|open(?:s)? (?:up|new)|impact)",
    re.IGNORECASE,
)
_LIMITATION = re.compile(
    r"\b(?:limitation|limited to|future work|remains? (?:an )?open|we do not|does not yet|"
    r"caveat|only applies|at the cost of|trade-?off)",
    re.IGNORECASE,
)
_DEFINES = re.compile(
    r"(?P<term>\b[\w\-]+(?: [\w\-]+){0,3}) (?:refers to|is defined as|stands for|denotes) "
    r"(?P<meaning>[^.;:]{5,140})"
)
_ABBREV = re.compile(r"\(([A-Za-z][A-Za-z0-9\-]{0,12}[A-Z][A-Za-z0-9\-]{0,12})\)")


# --- small helpers -----------------------------------------------------------------------


def numbered_sentences(sentences: list[Sentence]) -> str:
    """The abstract as the prompts show it: ``[1] first sentence`` one per line."""
    return "\n".join(f"[{s.index + 1}] {s.text}" for s in sentences)


def named_terms(sentence: str) -> list[str]:
    """Tokens of ``sentence`` that look like names: acronyms, mixed case, letters+digits, or
    capitalised words after the first word ("ImageNet", "CIFAR-10", "GPT-4", "Adam")."""
    out = []
    for i, match in enumerate(_TOKEN.finditer(strip_markers(sentence))):
        token = match.group(0)
        if len(token) < 2:
            continue
        uppers = sum(ch.isupper() for ch in token)
        has_digit = any(ch.isdigit() for ch in token)
        if uppers >= 2 or has_digit or (i > 0 and token[0].isupper()):
            out.append(token)
    return out


def _words(text: str) -> int:
    return len(strip_markers(text).split())


def _best_long_form(short: str, long: str) -> str | None:
    """Schwartz & Hearst (2003): the shortest tail of ``long`` whose letters spell ``short``."""
    s_idx, l_idx = len(short) - 1, len(long) - 1
    while s_idx >= 0:
        ch = short[s_idx].lower()
        if not ch.isalnum():
            s_idx -= 1
            continue
        while (l_idx >= 0 and long[l_idx].lower() != ch) or (
            s_idx == 0 and l_idx > 0 and long[l_idx - 1].isalnum()
        ):
            l_idx -= 1
        if l_idx < 0:
            return None
        l_idx -= 1
        s_idx -= 1
    start = long.rfind(" ", 0, l_idx + 1) + 1
    found = long[start:].strip()
    return found or None


def abstract_definitions(abstract: str) -> list[GlossaryEntry]:
    """Terms the abstract defines itself: abbreviations "long form (SF)" and "X refers to Y"."""
    entries: dict[str, GlossaryEntry] = {}
    for sentence in split_sentences(abstract):
        text = sentence.text
        for match in _ABBREV.finditer(text):
            short = match.group(1)
            if sum(ch.isupper() for ch in short) < 2 or short.lower() in entries:
                continue
            before = text[: match.start()].rstrip()
            words = before.split()
            window = min(len(short) + 5, 2 * len(short))
            candidate = " ".join(words[-window:])
            long = _best_long_form(short.rstrip("s") if short.endswith("s") else short, candidate)
            if not long or len(long.split()) > window or long.lower() == short.lower():
                continue
            long = clean_latex(long.strip(" ,;:([\"'"))
            if len(long) > len(short):
                entries[short.lower()] = GlossaryEntry(short, long, "abstract")
        for match in _DEFINES.finditer(text):
            term = match.group("term").strip()
            if term.lower() in entries or term.lower().split()[0] in {"which", "that", "it"}:
                continue
            entries[term.lower()] = GlossaryEntry(
                clean_latex(term), clean_latex(match.group("meaning").strip()), "abstract"
            )
    return list(entries.values())


def _mentions(text: str, term: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text, re.IGNORECASE) is not None


# --- gates -------------------------------------------------------------------------------


@dataclass
class CheckedText:
    """A verified lay text: kept sentences with their markers, plus what was removed."""

    text: str = ""
    numberer: CitationNumberer = field(default_factory=CitationNumberer)
    supported: int = 0
    total: int = 0
    removed: list[str] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)

    @property
    def citations(self) -> list[Citation]:
        return self.numberer.citations

    def acceptable(self, min_fraction: float) -> bool:
        return self.supported > 0 and self.supported >= min_fraction * self.total


class _Gates:
    """Checks generated sentences against one paper's abstract (see the module docstring)."""

    def __init__(self, paper: Paper, sentences: list[Sentence], verifier: Verifier) -> None:
        self.paper = paper
        self.sentences = sentences
        self.texts = [s.text for s in sentences]
        self.breaks = breaks_of(sentences)  # withheld sentences: no quote spans them
        self.verifier = verifier
        self.source = Source(1, paper, sentences, 1.0, paper.abstract)
        reference = f"{paper.title}\n{paper.abstract}"
        self.reference = f"{reference}\n{clean_latex(reference)}".lower()
        self.numbers = numbers_in(reference) | numbers_in(clean_latex(reference))

    def why_not(self, claim: str) -> str | None:
        """The reason ``claim`` fails the number/name gates, or None."""
        missing = sorted(numbers_in(claim) - self.numbers)
        if missing:
            return f"the number {missing[0]} is not in the abstract"
        for term in named_terms(claim):
            if term.lower() not in self.reference:
                return f"'{term}' is not in the abstract"
        return None

    def check(self, text: str, max_sentences: int | None, max_words: int | None) -> CheckedText:
        out = CheckedText()
        claims: list[tuple[str, str]] = []  # (raw sentence, claim)
        for sentence in split_sentences(" ".join(text.split())):
            claim = strip_markers(sentence.text).strip()
            if content_words(claim):  # not a bare marker or punctuation
                claims.append((sentence.text, claim))
        reasons = [self.why_not(claim) for _, claim in claims]
        # one batched verification of every sentence that passed the number/name gates
        asked = [i for i, reason in enumerate(reasons) if reason is None]
        supports = dict(
            zip(asked, self.verifier.check_many([(claims[i][1], self.texts) for i in asked],
                                          [self.breaks] * len(asked)),
                strict=True)
        )  # fmt: skip
        kept: list[str] = []
        for i, (raw, claim) in enumerate(claims):
            out.total += 1
            reason = reasons[i]
            support = supports.get(i)
            if support is not None and not support.supported:
                reason = (
                    "it makes no claim"
                    if not support.claim
                    else f"no abstract sentence supports it (best score {support.score:.2f})"
                )
            if reason is not None or support is None:
                out.removed.append(f"{claim} ({reason})")
                continue
            full = max_sentences is not None and len(kept) >= max_sentences
            if full or (max_words is not None and kept and _words(" ".join(kept)) >= max_words):
                out.total -= 1  # over the length budget: dropped, not a verification failure
                continue
            numbers = [out.numberer.span(self.source, support)]
            for group in _MARKERS.findall(raw):
                for part in re.split(r"\s*[,;]\s*", group):
                    j = int(part) - 1
                    if 0 <= j < len(self.texts) and not support.span[0] <= j < support.span[1]:
                        if self.verifier.check(claim, [self.texts[j]]).supported:
                            numbers.append(self.numberer_of(out, j))
            body, end = claim.rstrip(), "."
            if body and body[-1] in ".!?":
                body, end = body[:-1], body[-1]
            kept.append(f"{body} {''.join(f'[{n}]' for n in sorted(set(numbers)))}{end}")
            out.supported += 1
        out.sentences = kept
        out.text = " ".join(kept)
        return out

    def numberer_of(self, checked: CheckedText, index: int) -> int:
        return checked.numberer.number(self.source, self.sentences[index])


def check_lay_text(
    text: str,
    paper: Paper,
    verifier: Verifier,
    *,
    max_sentences: int | None = None,
    max_words: int | None = None,
) -> CheckedText:
    """Run the faithfulness gates (numbers, names, support) over generated ``text`` about
    ``paper``: the kept sentences get ``[n]`` citations to verbatim abstract sentences, the
    others are listed in ``removed`` with the reason."""
    sentences = safe_sentences(paper.abstract)
    return _Gates(paper, sentences, verifier).check(text, max_sentences, max_words)


# --- extractive --------------------------------------------------------------------------


def _extractive(
    paper: Paper,
    sentences: list[Sentence],
    verifier: Verifier,
    words: int,
    kind: str,
) -> tuple[str, CitationNumberer, list[int]]:
    """Pick the key sentences; return the cleaned, cited text, its numberer, and the indices."""
    if not sentences:
        raise InputError(f"paper '{paper.id}' has no abstract to summarise")
    cleaned = [clean_latex(s.text) for s in sentences]
    topical = verifier.relevance(paper.title, cleaned)
    n = len(sentences)
    base: list[float] = []
    for i, text in enumerate(cleaned):
        length = len(text.split())
        score = float(topical[i])
        score -= 0.004 * max(0, length - 25)  # long sentences read hard and eat the budget
        if i == 0 and n > 3 and not _DID.search(text):
            score -= 0.05  # the first sentence is usually background
        if length < 6:
            score -= 0.3
        if refers_back(text):
            score -= 0.15  # "Then we ...", "This ...": reads badly without the sentence before
        base.append(score)
    roles = [("did", _DID, 0.25), ("found", _FOUND, 0.2)]
    if kind == "summary":
        roles += [("matters", _MATTERS, 0.1)]
    chosen: list[int] = []
    for _, pattern, bonus in roles:
        candidates = [i for i in range(n) if i not in chosen and pattern.search(cleaned[i])]
        if candidates:
            chosen.append(max(candidates, key=lambda i: base[i] + bonus + 0.01 * i))
    if kind == "summary":
        limits = [i for i in range(n) if i not in chosen and _LIMITATION.search(cleaned[i])]
        if limits:
            chosen.append(max(limits))
    min_sentences = min(2, n)
    max_sentences = 3 if kind == "blurb" else 4
    # keep role picks within the budget, best first; then fill with the best remaining
    ordered = sorted(chosen, key=lambda i: -base[i]) + sorted(
        (i for i in range(n) if i not in chosen), key=lambda i: -base[i]
    )
    picked: list[int] = []
    used = 0
    for i in ordered:
        cost = len(cleaned[i].split())
        if len(picked) >= max_sentences:
            break
        if len(picked) < min_sentences or used + cost <= words * 1.15:
            picked.append(i)
            used += cost
    picked.sort()
    source = Source(1, paper, sentences, 1.0, paper.abstract)
    numberer = CitationNumberer()
    parts = []
    for i in picked:
        text = cleaned[i].rstrip()
        end = ""
        if text and text[-1] in ".!?":
            text, end = text[:-1], text[-1]
        n = numberer.number(source, sentences[i])
        parts.append(f"{escape_markers(text)} [{n}]{end or '.'}")
    return " ".join(parts), numberer, picked


# --- model output ------------------------------------------------------------------------


def _split_output(text: str) -> tuple[str, str]:
    """(summary part, glossary part) of a model reply."""
    match = _GLOSSARY_HEADER.search(text)
    body, glossary = (text[: match.start()], text[match.end() :]) if match else (text, "")
    lines = []
    for line in body.splitlines():
        line = _SUMMARY_LABEL.sub("", line).strip()
        line = re.sub(r"^(?:[-*•]|\d+[.)])\s+", "", line).replace("**", "")
        if line:
            lines.append(line)
    return " ".join(lines), glossary


def _model_glossary(part: str, abstract: str, summary: str) -> list[GlossaryEntry]:
    entries = []
    for line in part.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).replace("**", "").strip()
        term, sep, meaning = line.partition(":")
        if not sep:
            term, sep, meaning = line.partition(" - ")
        term, meaning = term.strip(" *_\"'"), " ".join(meaning.split())
        if not (sep and term and meaning) or len(term.split()) > 6 or len(meaning.split()) > 35:
            continue
        if "http" in meaning or "<" in meaning or term.lower() == meaning.lower():
            continue
        if _mentions(abstract, term) and _mentions(summary, term):
            entries.append(GlossaryEntry(term, meaning, "model"))
    return entries


def _glossary(
    summary: str, abstract: str, model_part: str | None, limit: int = 5
) -> list[GlossaryEntry]:
    plain = strip_markers(summary)
    found = [g for g in abstract_definitions(abstract) if _mentions(plain, g.term)]
    if model_part:
        known = {g.term.lower() for g in found}
        found += [
            g for g in _model_glossary(model_part, abstract, plain) if g.term.lower() not in known
        ]
    return found[:limit]


# --- the entry point ---------------------------------------------------------------------


@dataclass
class SummaryOptions:
    audience: str
    target: float
    words: int
    kind: str
    tolerance: float
    min_fraction: float


def summary_options(
    settings: Settings,
    audience: str | None,
    grade: float | None,
    words: int | None,
    kind: str,
) -> SummaryOptions:
    audience = audience or settings.summary.audience
    if audience not in AUDIENCES:
        raise InputError(f"unknown audience '{audience}': use one of {', '.join(AUDIENCES)}")
    if grade is None:
        grade = settings.summary.grade
    if grade is not None and not 0 <= grade <= 30:
        raise InputError(f"grade must be between 0 and 30, not {grade}", params=["grade"])
    if kind not in _PROMPTS:
        raise InputError(f"unknown summary kind '{kind}'")
    default_words = settings.summary.blurb_words if kind == "blurb" else settings.summary.words
    words = default_words if words is None else words
    if not 10 <= words <= 1000:
        raise InputError(f"words must be between 10 and 1000, not {words}", params=["words"])
    return SummaryOptions(
        audience=audience,
        target=target_grade(audience, grade),
        words=int(words),
        kind=kind,
        tolerance=settings.summary.grade_tolerance,
        min_fraction=settings.verification.min_supported_fraction,
    )


def _result(
    paper: Paper,
    opts: SummaryOptions,
    text: str,
    numberer: CitationNumberer,
    glossary: list[GlossaryEntry],
    supported: int,
    total: int,
    mode: str,
    model: str,
    *,
    notes: list[str],
    prompt_hash: str | None = None,
    fallback_from: str | None = None,
    revised: bool = False,
    removed: list[str] | None = None,
) -> LaySummary:
    grade = fkgl(text)
    return LaySummary(
        paper_id=paper.id,
        title=paper.title,
        summary=text,
        glossary=glossary,
        citations=numberer.citations,
        fkgl=grade,
        target=opts.target,
        met=abs(grade - opts.target) <= opts.tolerance,
        supported=supported,
        total=total,
        mode=mode,  # type: ignore[arg-type]
        model=model,
        audience=opts.audience,
        words=opts.words,
        url=paper.url,
        kind=opts.kind,
        prompt_hash=prompt_hash,
        fallback_from=fallback_from,
        revised=revised,
        removed=list(removed or []),
        notes=notes,
    )


def _extractive_result(
    paper: Paper,
    sentences: list[Sentence],
    verifier: Verifier,
    opts: SummaryOptions,
    notes: list[str],
    *,
    fallback_from: str | None = None,
    prompt_hash: str | None = None,
    removed: list[str] | None = None,
) -> LaySummary:
    text, numberer, picked = _extractive(paper, sentences, verifier, opts.words, opts.kind)
    glossary = _glossary(text, paper.abstract, None) if opts.kind == "summary" else []
    return _result(
        paper,
        opts,
        text,
        numberer,
        glossary,
        len(picked),
        len(picked),
        "extractive",
        "none",
        notes=notes,
        fallback_from=fallback_from,
        prompt_hash=prompt_hash,
        removed=removed,
    )


def _generate(
    paper: Paper,
    sentences: list[Sentence],
    verifier: Verifier,
    llm: ChatModel,
    opts: SummaryOptions,
) -> LaySummary:
    prompt = load_prompt(_PROMPTS[opts.kind])
    numbered = numbered_sentences(sentences)
    grade_text = f"{opts.target:g}"
    messages = prompt.render(
        title=redact(paper.title),
        sentences=numbered,
        audience=opts.audience,
        grade=grade_text,
        words=opts.words,
    )
    notes: list[str] = []
    try:
        reply = llm.invoke(messages).text
    except LLMError as exc:
        notes.append(f"model failed, extractive summary shown: {exc}")
        return _extractive_result(
            paper,
            sentences,
            verifier,
            opts,
            notes,
            fallback_from=llm.mode,
            prompt_hash=prompt.sha256,
        )
    gates = _Gates(paper, sentences, verifier)
    max_sentences = 3 if opts.kind == "blurb" else None
    max_words = int(opts.words * 1.3)
    body, glossary_part = _split_output(reply)
    checked = gates.check(body, max_sentences, max_words)
    if not checked.acceptable(opts.min_fraction):
        notes.append(
            f"only {checked.supported} of {checked.total} generated sentences passed the "
            "faithfulness checks; extractive summary shown"
        )
        return _extractive_result(
            paper,
            sentences,
            verifier,
            opts,
            notes,
            fallback_from=llm.mode,
            removed=checked.removed,
            prompt_hash=prompt.sha256,
        )
    if checked.removed:
        notes.append(f"{len(checked.removed)} generated sentence(s) failed verification, removed")
    first_grade = fkgl(checked.text)
    revised = False
    if abs(first_grade - opts.target) > opts.tolerance:
        revise = load_prompt(_REVISE_PROMPT)
        try:
            second = llm.invoke(
                revise.render(
                    title=redact(paper.title),
                    sentences=numbered,
                    draft=checked.text,
                    measured=f"{first_grade:.1f}",
                    grade=grade_text,
                    audience=opts.audience,
                )
            ).text
        except LLMError as exc:
            notes.append(f"revision pass failed, first draft kept: {exc}")
        else:
            again = gates.check(_split_output(second)[0], max_sentences, max_words)
            second_grade = fkgl(again.text) if again.text else first_grade
            if again.acceptable(opts.min_fraction) and abs(second_grade - opts.target) < abs(
                first_grade - opts.target
            ):
                notes.append(
                    f"first draft measured grade {first_grade:.1f} (target {opts.target:g}); "
                    f"revised draft measured {second_grade:.1f}, kept"
                )
                checked, revised = again, True
            else:
                why = (
                    "failed verification"
                    if not again.acceptable(opts.min_fraction)
                    else f"measured {second_grade:.1f}, no closer"
                )
                notes.append(
                    f"first draft measured grade {first_grade:.1f} (target {opts.target:g}); "
                    f"revision {why}, first draft kept"
                )
    glossary = (
        _glossary(checked.text, paper.abstract, glossary_part) if opts.kind == "summary" else []
    )
    return _result(
        paper,
        opts,
        checked.text,
        checked.numberer,
        glossary,
        checked.supported,
        checked.total,
        llm.mode,
        llm.model,
        prompt_hash=prompt.sha256,
        revised=revised,
        removed=checked.removed,
        notes=notes,
    )


def cache_parts(
    paper: Paper, opts: SummaryOptions, llm: ChatModel | None, verifier: Verifier
) -> dict[str, Any]:
    parts: dict[str, Any] = {
        "version": SUMMARY_VERSION,
        "sanitize": SANITIZE_VERSION,
        "paper_id": paper.id,
        "paper": paper.content_hash,
        "kind": opts.kind,
        "audience": opts.audience,
        "target": opts.target,
        "words": opts.words,
        "tolerance": opts.tolerance,
        "min_fraction": opts.min_fraction,
        "verify_threshold": getattr(verifier, "threshold", None),
        "verifier": verifier.describe(),
        "embedder": getattr(verifier.embedder, "name", ""),
        "mode": llm.mode if llm else "extractive",
        "model": llm.model if llm else "none",
    }
    if llm is not None:
        parts["prompts"] = {
            name: load_prompt(name).sha256 for name in (_PROMPTS[opts.kind], _REVISE_PROMPT)
        }
    return parts


def summarize_paper(
    paper: Paper,
    *,
    verifier: Verifier,
    llm: ChatModel | None,
    settings: Settings,
    audience: str | None = None,
    grade: float | None = None,
    words: int | None = None,
    kind: str = "summary",
    cache: GenerationCache | None = None,
) -> LaySummary:
    """A lay summary (``kind="summary"``) or newsletter blurb (``kind="blurb"``) of ``paper``.

    ``llm=None`` is extractive mode. ``audience``/``grade``/``words`` default to the settings
    (``grade=None`` means the audience's default target). With a ``cache``, a result for the
    same paper content, prompts, model and options is returned without any work
    (``cached=True``)."""
    opts = summary_options(settings, audience, grade, words, kind)
    sentences = safe_sentences(paper.abstract)  # instructions to a model are never summarised
    if not sentences:
        raise InputError(f"paper '{paper.id}' has no abstract to summarise")

    def make() -> dict[str, Any]:
        if llm is None:
            result = _extractive_result(paper, sentences, verifier, opts, [])
        else:
            result = _generate(paper, sentences, verifier, llm, opts)
        return result.to_dict()

    if cache is None:
        return LaySummary.from_dict(make())
    value, hit = cache.get_or_make(kind, cache_parts(paper, opts, llm, verifier), make)
    result = LaySummary.from_dict(value)
    result.cached = hit
    return result
