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
import unicodedata

__all__ = ["clean_latex", "convert_accents", "latex_to_text"]

# Accent commands -> Unicode combining marks: \'e, \'{e}, \"{o}, \c{c}, \c c, \v{s}, \'{\i}.
_COMBINING = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
    "d": "\u0323",
    "b": "\u0331",
}
_ACCENT = re.compile(
    r"\\(?:([\"'`^~=.])|([uvHckrdb])(?![A-Za-z]))\s*"
    r"(?:\{\s*(\\[ij](?![A-Za-z])|[A-Za-z])\s*\}|(\\[ij](?![A-Za-z])|[A-Za-z]))"
)
# Letters with their own commands: \ss, {\o}, \ae, \l (TeX eats the spaces after them).
_LETTERS = {
    "ss": "ß",
    "o": "ø",
    "O": "Ø",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "aa": "å",
    "AA": "Å",
    "l": "ł",
    "L": "Ł",
    "i": "ı",
    "j": "ȷ",
}
_LETTER = re.compile(
    r"\\(" + "|".join(sorted(_LETTERS, key=len, reverse=True)) + r")(?![A-Za-z])\s*"
)


def _accent(match: re.Match[str]) -> str:
    mark = _COMBINING[match.group(1) or match.group(2)]
    base = match.group(3) or match.group(4)
    base = {"\\i": "i", "\\j": "j"}.get(base, base)
    return unicodedata.normalize("NFC", base + mark)


def convert_accents(text: str) -> str:
    """LaTeX accent and letter commands as Unicode: ``Schr\\"{o}dinger`` -> ``Schrödinger``,
    ``Fran\\c{c}ois`` -> ``François``, ``Erd\\H{o}s`` -> ``Erdős``, ``Gau\\ss`` -> ``Gauß``."""
    return _LETTER.sub(lambda m: _LETTERS[m.group(1)], _ACCENT.sub(_accent, text))


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
    "sqrt": "√",
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
    out = convert_accents(text)
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


# --- LaTeX source (BibTeX fields) -> plain text ----------------------------------------
# Escaped characters survive the clean-up as private-use placeholders, restored at the end.
_ESCAPES = {"\\&": "&", "\\%": "%", "\\$": "$", "\\_": "_", "\\#": "#", "\\{": "{", "\\}": "}"}
_PLACEHOLDER = {esc: chr(0xE000 + i) for i, esc in enumerate(_ESCAPES)}
_RESTORE = {chr(0xE000 + i): char for i, char in enumerate(_ESCAPES.values())}
_DROPPED = re.compile(
    r"\\(?:cite[a-zA-Z]*|ref|eqref|autoref|cref|Cref|label)\*?(?:\[[^\]]*\])*\{[^{}]*\}"
)
_BINOM = re.compile(r"\\binom\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_MATH_FUNCTION = re.compile(
    r"\\(log|ln|exp|sin|cos|tan|max|min|sup|inf|lim|det|dim|arg|deg|ker|Pr)"
    r"(?![A-Za-z])"
)
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_HREF = re.compile(r"\\href\s*\{[^{}]*\}\s*\{")
_TEXT_WRAPPERS = re.compile(
    r"\\(?:textsc|textsl|textup|textmd|textnormal|textsuperscript|textsubscript|mbox|hbox|url|"
    r"nolinkurl|uppercase|lowercase|MakeUppercase|MakeLowercase|ensuremath|texorpdfstring)\s*\{"
)
_SPACING = re.compile(r"\\\\|\\[,;:! ]|(?<!\\)~")
_QUOTES = (("``", "\u201c"), ("''", "\u201d"), ("---", "\u2014"), ("--", "\u2013"))


def _math_function(match: re.Match[str]) -> str:
    """``n\\log n`` -> ``n log n``: an operator name glued to a symbol gets a space before it."""
    start = match.start()
    glued = start > 0 and match.string[start - 1].isalnum()
    return (" " if glued else "") + match.group(1)


def latex_to_text(text: str) -> str:
    r"""LaTeX *source* (a BibTeX title or abstract) as readable plain text.

    Accents become Unicode (:func:`convert_accents`), ``\&``/``\%``/``\$``/``\_``/``\#`` their
    characters, ``~`` and ``\\`` spaces, ``---``/``--`` em/en dashes, ``` ``x'' ``` curly quotes;
    ``\cite{..}``/``\ref{..}`` are dropped, ``\textsc{x}``/``\url{x}``/``\href{u}{x}`` keep
    ``x``; inline math loses its ``$`` delimiters and goes through :func:`clean_latex`
    (``$\alpha^{2}$`` -> ``α^2``); braces are removed and whitespace runs collapsed.
    """
    if not text:
        return text
    out = text
    for escape, placeholder in _PLACEHOLDER.items():
        out = out.replace(escape, placeholder)
    out = convert_accents(out)
    out = _DROPPED.sub("", out)
    out = _FRAC.sub(r"\1/\2", out)
    out = _BINOM.sub(r"(\1 choose \2)", out)
    out = _MATH_FUNCTION.sub(_math_function, out)
    out = _HREF.sub("{", out)
    out = _TEXT_WRAPPERS.sub("{", out)
    out = re.sub(r"\\[()\[\]]", " ", out).replace("$", "")
    out = _SPACING.sub(" ", out).replace("\\-", "")
    for latex, char in _QUOTES:
        out = out.replace(latex, char)
    out = clean_latex(" ".join(out.split()))
    return "".join(_RESTORE.get(ch, ch) for ch in out)
