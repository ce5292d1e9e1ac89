"""Light clean-up of LaTeX debris in abstracts, for *display* only.

Listing pages often carry half-converted LaTeX: ``\\emph{1.46}``, ``64{times}64``,
``mathcal{O}(mathcal{C_Phi/m})``, ``Schr\\"odinger``, ``{\\alpha}``, ``D{to}infty``. The text
paperbot shows in extractive summaries and blurbs goes through :func:`clean_latex`; citation
quotes never do - they stay verbatim so that ``abstract[start:end] == quote`` always holds.

The rules are deliberately conservative: a word is only rewritten when it is glued to math
(a backslash, braces, ``_``/``^``, or digits), so prose like "a constant times the error" or
"alpha particles" is left alone.
"""

from __future__ import annotations

import re

__all__ = ["clean_latex"]

_ACCENTS = {
    '"a': "ä",
    '"o': "ö",
    '"u': "ü",
    '"A': "Ä",
    '"O': "Ö",
    '"U': "Ü",
    "'e": "é",
    "'E": "É",
    "'a": "á",
    "'i": "í",
    "'o": "ó",
    "'u": "ú",
    "`e": "è",
    "`a": "à",
    "^o": "ô",
    "~n": "ñ",
    "c c": "ç",
}
_ACCENT = re.compile(r"\\([\"'`^~])\{?([A-Za-z])\}?")

_SYMBOLS = {
    "times": "×",
    "cdot": "·",
    "to": "→",
    "rightarrow": "→",
    "leftarrow": "←",
    "infty": "∞",
    "leq": "≤",
    "le": "≤",
    "geq": "≥",
    "ge": "≥",
    "neq": "≠",
    "approx": "≈",
    "sim": "~",
    "pm": "±",
    "in": "∈",
    "dots": "…",
    "ldots": "…",
    "cdots": "…",
    "circ": "∘",
    "top": "ᵀ",
}
_GREEK = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "epsilon": "ε",
    "varepsilon": "ε",
    "zeta": "ζ",
    "eta": "η",
    "theta": "θ",
    "kappa": "κ",
    "lambda": "λ",
    "mu": "μ",
    "nu": "ν",
    "xi": "ξ",
    "pi": "π",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "phi": "φ",
    "varphi": "φ",
    "chi": "χ",
    "psi": "ψ",
    "omega": "ω",
    "Gamma": "Γ",
    "Delta": "Δ",
    "Theta": "Θ",
    "Lambda": "Λ",
    "Sigma": "Σ",
    "Phi": "Φ",
    "Psi": "Ψ",
    "Omega": "Ω",
}
# Font/markup commands whose argument is kept: \emph{x} -> x, mathcal{O} -> O.
_WRAPPERS = re.compile(
    r"\\?(?:emph|textbf|textit|texttt|textrm|text|mathrm|mathcal|mathbf|mathbb|mathit|"
    r"mathsf|operatorname|boldsymbol|bm|underline|overline|hat|tilde|bar|vec)\s*\{"
)
_BARE_FONT = re.compile(r"\b(?:mathcal|mathbf|mathrm|mathbb)\s+(?=[A-Za-z])")
_LEFT_RIGHT = re.compile(r"(?<=[\w\\}])(?:left|right)(?=[(\[|)\]])|\\(?:left|right)\b")
_FONT_SWITCH = re.compile(r"\{\s*\\?(?:rm|bf|it|cal|sf|tt|em)\s+")
_GLUED_SYMBOL = re.compile(
    r"\{\s*\\?(" + "|".join(sorted(_SYMBOLS, key=len, reverse=True)) + r")\s*\}"
)
_BACKSLASH_WORD = re.compile(r"\\([A-Za-z]+)")
# "64times 64", "2times," -> "64×64", "2×,"; "n times n" inside R^{...} -> "n×n"
_TIMES_AFTER_DIGIT = re.compile(r"(?<=\d)\s*times\b(?:\s*(?=\d))?")
_TIMES_BETWEEN_SYMBOLS = re.compile(
    r"(?<![A-Za-z])([A-Za-z](?:_\w+)?|\d+)\s+times\s+(?=(?:[A-Za-z](?:_\w+)?|\d+)\b)"
)
_GREEK_WORD = re.compile(
    r"(?<![A-Za-z])(" + "|".join(sorted(_GREEK, key=len, reverse=True)) + r")(?![A-Za-z])"
)
_ARROW_GLUED = re.compile(r"(?<=[|)\w])(rightarrow|leftarrow)(?=\w|\s|$)")
_INFTY = re.compile(r"(?<=[→{ (^])infty\b")
_BRACES = re.compile(r"\{([^{}]*)\}")


def _symbol(match: re.Match[str]) -> str:
    return _SYMBOLS[match.group(1)]


def _backslash(match: re.Match[str]) -> str:
    word = match.group(1)
    return _GREEK.get(word) or _SYMBOLS.get(word) or word


def _greek_if_math(match: re.Match[str]) -> str:
    """A Greek letter name only when it is glued to math (``Sigma_{F}``, ``(alpha)``)."""
    text, start, end = match.string, match.start(), match.end()
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    if before in "_({^" or after in "_^{(":
        return _GREEK[match.group(1)]
    return match.group(0)


def clean_latex(text: str) -> str:
    """``text`` with common LaTeX debris turned into plain characters; spaces collapsed."""
    if not text:
        return text
    out = _ACCENT.sub(lambda m: _ACCENTS.get(m.group(1) + m.group(2), m.group(2)), text)
    out = _FONT_SWITCH.sub("{", out)
    out = _WRAPPERS.sub("{", out)
    out = _BARE_FONT.sub("", out)
    out = _LEFT_RIGHT.sub("", out)
    out = _GLUED_SYMBOL.sub(_symbol, out)
    out = _BACKSLASH_WORD.sub(_backslash, out)
    out = _TIMES_AFTER_DIGIT.sub("×", out)
    out = _TIMES_BETWEEN_SYMBOLS.sub(r"\1×", out)
    out = _ARROW_GLUED.sub(lambda m: _SYMBOLS[m.group(1)], out)
    out = _INFTY.sub("∞", out)
    out = _GREEK_WORD.sub(_greek_if_math, out)
    out = re.sub(r"\^top\b", "ᵀ", out)
    previous = None
    while previous != out:  # innermost braces first: {a{b}} -> {ab} -> ab
        previous = out
        out = _BRACES.sub(r"\1", out)
    out = re.sub(r"[ \t]+", " ", out)
    out = re.sub(r"\s+([,.;:!?])", r"\1", out)
    return out.strip()
