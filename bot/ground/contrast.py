"""Contradiction cues between a claim and a source sentence, for the citation verifier.

Embeddings place "X increases Y" and "X reduces Y" close together, and SciFact's
contradicted claims are mostly exactly that: the finding with its direction, its negation
or its qualifier turned around. These cheap, explainable checks look for the turn:

- :func:`negated` / :func:`no_effect`: a negation, or a "no significant difference" finding;
- :func:`antonym_mismatch`: the claim uses one side of an antonym pair ("increase",
  "activates", "dependent") and the sentence only the other ("lower", "inhibits",
  "independent");
- :func:`aligned_directions`: direction words ("increases", "reduced", "impairs") compared
  only where they act on the same words, so "greater consumption ... lower risk" is read as
  a *lower risk* when the claim is about the risk;
- :func:`prefix_negation`: "ineffective" against "effective", "unrelated" against "related";
- :func:`is_aim`: a statement of aim or a question ("To examine whether ...") supports nothing;
- :func:`negate`: the claim turned around, for the embedding contrast of
  :meth:`bot.ground.verify.Verifier.features` (is the sentence closer to the claim or to its
  negation?).

Everything here is plain regular expressions over lower-cased words: no model, no I/O.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "STOPWORDS",
    "WORD",
    "aligned_directions",
    "antonym_mismatch",
    "direction",
    "hedged",
    "is_aim",
    "negate",
    "negated",
    "no_effect",
    "prefix_negation",
    "stem",
    "swap_direction",
]

WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*|\d+(?:\.\d+)?")

STOPWORDS = frozenset(
    """a an the and or but if then else of in on at to for from by with without within into onto
    over under about as is are was were be been being this that these those it its their there
    here we our us you your they them he she his her i me my which who whom whose what when where
    why how than such can could may might will would shall should do does did done has have had
    not no nor so also very more most less least much many some any each every all both either
    neither one two via using use used based show shows shown paper study work approach method
    new propose proposed present presents results result find found further however while thus
    therefore hence between among across through during per""".split()
)

NEGATIONS = frozenset(
    "not no never none cannot neither nor without fails fail failed unable lack lacks".split()
)
_SCOPE_NEGATIONS = frozenset("not no never neither nor without cannot unlikely".split())

# coarse direction of a whole sentence (kept for the ``direction_mismatch`` feature)
_UP = re.compile(
    r"\b(increas\w*|higher|elevat\w*|enhanc\w*|improv\w*|rais\w*|promot\w*|upregulat\w*|"
    r"up-regulat\w*|greater|gain\w*|augment\w*|activat\w*|induc\w*|stimulat\w*|more|exceed\w*|"
    r"accelerat\w*|boost\w*|outperform\w*|better|positive\w*)\b"
)
_DOWN = re.compile(
    r"\b(decreas\w*|reduc\w*|lower\w*|diminish\w*|declin\w*|inhibit\w*|suppress\w*|"
    r"downregulat\w*|down-regulat\w*|less|fewer|loss|los\w*|impair\w*|attenuat\w*|prevent\w*|"
    r"block\w*|slow\w*|worse|negative\w*|abolish\w*|deplet\w*)\b"
)

# one word at a time (hyphenated words are split: "UCP1-independent" -> "ucp1", "independent")
_UP_WORD = re.compile(
    r"^(increas\w*|higher|high|elevat\w*|enhanc\w*|improv\w*|rais\w*|promot\w*|upregulat\w*|"
    r"greater|gain\w*|augment\w*|activat\w*|induc\w*|stimulat\w*|more|exceed\w*|accelerat\w*|"
    r"boost\w*|better|positive\w*|risen|rise|rises|rising|potentiat\w*|amplif\w*|facilitat\w*|"
    r"strengthen\w*|benefi\w*|protect\w*|favou?rabl\w*|efficac\w*|effective\w*|success\w*|"
    r"dependent|required|requires|essential|necessary|sufficient)$"
)
_DOWN_WORD = re.compile(
    r"^(decreas\w*|reduc\w*|lower\w*|low|diminish\w*|declin\w*|inhibit\w*|suppress\w*|"
    r"downregulat\w*|less|fewer|loss|lose|loses|impair\w*|attenuat\w*|prevent\w*|block\w*|"
    r"slow\w*|worse\w*|negative\w*|abolish\w*|deplet\w*|deactivat\w*|inactivat\w*|imped\w*|"
    r"fall\w*|fell|amelior\w*|weaken\w*|harm\w*|detriment\w*|adverse\w*|unfavou?rabl\w*|"
    r"ineffective\w*|fail\w*|independent|dispensable|unnecessary|insufficient|lack\w*|"
    r"deficien\w*|absent|absence)$"
)

# antonym families: word stems on one side, stems on the other
_ANTONYMS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (tuple(a.split()), tuple(b.split()))
    for a, b in (
        ("increas", "decreas reduc lower diminish declin attenuat less fewer"),
        ("higher", "lower less fewer reduc decreas"),
        ("more", "less fewer"),
        ("activat", "deactivat inactivat inhibit suppress block"),
        ("promot", "inhibit imped suppress prevent block"),
        ("improv", "worsen impair deteriorat"),
        ("enhanc", "reduc attenuat impair diminish suppress"),
        ("positiv", "negativ inverse"),
        ("upregulat", "downregulat"),
        ("gain", "loss los"),
        ("induc", "inhibit suppress prevent block"),
        ("stimulat", "inhibit suppress"),
        ("accelerat", "slow delay decelerat"),
        ("benefi", "harm detriment"),
        ("protect", "harm damag"),
        ("resist", "suscept sensitiv vulnerab"),
        ("requir", "dispensabl"),
        ("dependent", "independent"),
        ("sufficient", "insufficient"),
        ("effective", "ineffective"),
        ("efficac", "ineffective"),
        ("accura", "inaccura"),
        ("safe", "unsafe harm"),
        ("present", "absent"),
        ("common", "rare"),
        ("larg", "small"),
        ("long", "short"),
        ("rise", "fall declin"),
        ("risen", "fallen declin"),
        ("correlat", "uncorrelat"),
        ("associat", "unassociat unrelat"),
        ("related", "unrelat"),
    )
)

# rewrites for :func:`negate`, tried in order (both ways)
_SWAPS: tuple[tuple[str, str], ...] = (
    ("increase", "decrease"), ("increased", "decreased"), ("increases", "decreases"),
    ("increasing", "decreasing"), ("higher", "lower"), ("more", "less"), ("greater", "smaller"),
    ("activates", "inhibits"), ("activated", "inhibited"), ("promotes", "inhibits"),
    ("promoted", "suppressed"), ("improves", "worsens"), ("improved", "worsened"),
    ("improve", "worsen"), ("enhances", "reduces"), ("enhanced", "reduced"),
    ("positively", "negatively"), ("positive", "negative"), ("upregulates", "downregulates"),
    ("upregulated", "downregulated"), ("gain", "loss"), ("induces", "prevents"),
    ("induced", "prevented"), ("stimulates", "inhibits"), ("accelerates", "slows"),
    ("beneficial", "harmful"), ("protective", "detrimental"), ("resistant", "susceptible"),
    ("required", "dispensable"), ("dependent", "independent"), ("sufficient", "insufficient"),
    ("effective", "ineffective"), ("accurate", "inaccurate"), ("safe", "unsafe"),
    ("present", "absent"), ("common", "rare"), ("larger", "smaller"), ("longer", "shorter"),
    ("elevated", "reduced"), ("raises", "lowers"), ("better", "worse"), ("rises", "falls"),
    ("associated with", "unrelated to"), ("correlated", "uncorrelated"),
    ("reduces", "increases"), ("reduced", "increased"), ("lower", "higher"),
)  # fmt: skip
_AUX = re.compile(
    r"\b(is|are|was|were|can|could|does|do|did|has|have|had|will|may|might|should|must)\b"
)

_AIM = re.compile(
    r"^\s*(OBJECTIVES?|AIMS?|PURPOSE|BACKGROUND|CONTEXT|INTRODUCTION|IMPORTANCE|RATIONALE)\b"
    r"|\bto (examine|investigate|determine|assess|evaluate|test|explore|compare|identify|study|"
    r"characteri[sz]e|describe|quantify|estimate|analy[sz]e|clarify|elucidate)\b"
    r"|\bwhether\b"
    r"|\bwe (asked|hypothesi[sz]ed|sought|aimed|investigated|examined|tested|assessed|evaluated|"
    r"explored|studied)\b"
    r"|\b(is|are|remains?) (unknown|unclear|controversial|poorly understood|not well understood)\b"
    r"|\?\s*$",
    re.IGNORECASE,
)
_NO_EFFECT = re.compile(
    r"\b(no|not|neither|nor|without)\b[^.;]{0,40}\b(significant|signific|association|associated|"
    r"differ|effect|change|changed|correlat|impact|benefit|improv|increase|reduc|evidence)"
    r"|\bdid not\b|\bwas not\b|\bwere not\b|\bfailed to\b|\black of\b|\bno longer\b",
    re.IGNORECASE,
)
_HEDGE = re.compile(
    r"\b(may|might|could|suggest\w*|possibl\w*|potential\w*|hypothes\w*|propos\w*)\b", re.IGNORECASE
)
_PREFIXES = ("non", "un", "in", "im", "ir", "il", "dis", "de", "anti")


def stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=8192)
def _parts(text: str) -> tuple[str, ...]:
    """Lower-cased words, hyphenated words split into their parts."""
    out: list[str] = []
    for w in WORD.findall(text):
        out.extend(p for p in w.lower().replace("\u2013", "-").split("-") if p)
    return tuple(out)


def negated(text: str) -> bool:
    words = {w.lower() for w in WORD.findall(text)}
    return bool(words & NEGATIONS) or "n't" in text.lower()


def direction(text: str) -> int:
    """+1 if the text only goes up ("increases"), -1 if only down, 0 otherwise."""
    low = text.lower()
    return int(bool(_UP.search(low))) - int(bool(_DOWN.search(low)))


def no_effect(text: str) -> bool:
    """A negation or a "no significant difference / no effect / failed to" finding."""
    return bool(_NO_EFFECT.search(text)) or negated(text)


def is_aim(sentence: str) -> bool:
    """A statement of aim, background or an open question: reports no finding."""
    return bool(_AIM.search(sentence))


def hedged(sentence: str) -> bool:
    return bool(_HEDGE.search(sentence))


def _has(words: tuple[str, ...], stems: tuple[str, ...]) -> bool:
    return any(w.startswith(s) for w in words for s in stems)


def antonym_mismatch(claim: str, sentence: str) -> int:
    """How many antonym families the claim uses on one side and the sentence only on the other."""
    c, s = _parts(claim), _parts(sentence)
    hits = 0
    for a, b in _ANTONYMS:
        ca, cb, sa, sb = _has(c, a), _has(c, b), _has(s, a), _has(s, b)
        if (ca and not cb and sb and not sa) or (cb and not ca and sa and not sb):
            hits += 1
    return hits


def prefix_negation(claim: str, sentence: str) -> bool:
    """A word of one side is a prefixed negation ("ineffective", "unrelated") of a word of the
    other side that has no such prefix."""
    c, s = set(_parts(claim)), set(_parts(sentence))

    def flips(x: set[str], y: set[str]) -> bool:
        for w in x - y:
            for p in _PREFIXES:
                if w.startswith(p) and len(w) - len(p) >= 5:
                    root = w[len(p) :][:6]
                    if any(u.startswith(root) for u in y) and not any(
                        u.startswith(w[: len(p) + 6]) for u in y
                    ):
                        return True
        return False

    return flips(c, s) or flips(s, c)


def _events(text: str) -> list[tuple[int, set[str], set[str]]]:
    """Each direction word: (+1/-1, flipped by a negation in the 3 words before it; content
    stems of the 4 words before; of the 4 words after)."""
    toks = _parts(text)

    def keep(words: tuple[str, ...]) -> set[str]:
        return {
            stem(t)
            for t in words
            if len(t) > 2
            and t not in STOPWORDS
            and t not in _SCOPE_NEGATIONS
            and not _UP_WORD.match(t)
            and not _DOWN_WORD.match(t)
        }

    events = []
    for i, w in enumerate(toks):
        d = 1 if _UP_WORD.match(w) else -1 if _DOWN_WORD.match(w) else 0
        if not d:
            continue
        if any(t in _SCOPE_NEGATIONS or t.endswith("n't") for t in toks[max(0, i - 3) : i]):
            d = -d
        events.append((d, keep(toks[max(0, i - 4) : i]), keep(toks[i + 1 : i + 5])))
    return events


def aligned_directions(claim: str, sentence: str) -> tuple[int, int]:
    """(agree, disagree): for each direction word of the claim, the direction word of the
    sentence acting on the most of the same words (the claim's object first, then its
    subject) either goes the same way or the other way."""
    agree = disagree = 0
    found = _events(sentence)
    for d, before, after in _events(claim):
        best, best_overlap = 0, 0
        for side in (after, before):
            for d2, b2, a2 in found:
                overlap = len(side & (b2 | a2))
                if overlap > best_overlap:
                    best, best_overlap = d2, overlap
            if best:
                break
        if best == d:
            agree += 1
        elif best:
            disagree += 1
    return agree, disagree


def swap_direction(text: str) -> str | None:
    """``text`` with its first direction word swapped for its antonym ("increases" ->
    "decreases", "higher" -> "lower"); ``None`` if it has none."""
    for a, b in _SWAPS:
        for x, y in ((a, b), (b, a)):
            m = re.search(r"\b" + re.escape(x) + r"\b", text)
            if m:
                return text[: m.start()] + y + text[m.end() :]
    return None


def negate(claim: str) -> str | None:
    """The claim turned around: a negation removed or added, or a direction word swapped for
    its antonym; ``None`` if no rewrite applies."""
    t = claim
    if re.search(r"\bnot\b", t):
        return re.sub(r"\s*\bnot\b", "", t, count=1)
    m = re.search(r"\b[Nn]o\b", t)
    if m:
        return t[: m.start()] + ("A" if t[m.start()] == "N" else "a") + t[m.end() :]
    swapped = swap_direction(t)
    if swapped is not None:
        return swapped
    m = _AUX.search(t)
    if m:
        return t[: m.end()] + " not" + t[m.end() :]
    return None
