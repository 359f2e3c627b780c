"""Terminology rules written inside a style guide.

The convention: one rule per line, anywhere in the guide. A rule starts the line (or a
Markdown list item: `-`, `*`, `+`, `1.`, `1)`) with a keyword and a colon; the keyword is
case-insensitive and may be bold or italic (`**Prefer:**`, `**Prefer**:`, `_Avoid_:`).

    Prefer: calfskin (not: leather, cowhide)
    Say: midnight navy (not: dark blue)
    Avoid: cheap, bargain, knock-off

- `Prefer: X` names a preferred term; `(not: Y, Z)` lists what it replaces (the colon after
  `not` is optional, and the alternatives may also be separated by `;` or ` or `). `Say:` is a
  synonym of `Prefer:`. A Prefer rule has exactly one preferred term, which may contain commas.
- `Avoid: A, B, C` bans each term of the list (separated by `,` or `;`).
- Any other parenthesised remark is a note for people and is ignored:
  `Avoid: cheap (sounds discount)` bans "cheap".
- Terms are trimmed (also of quotes, backticks, bold markup and trailing `.`/`;`), inner
  whitespace is collapsed, and empty terms are dropped. A term given again (same kind, any
  case) is dropped; a repeated Prefer rule adds its alternatives to the first one.
- Lines that merely mention a keyword ("We prefer: …", "Prefer calfskin to leather") are
  prose, not rules: the keyword must start the line or list item and be followed by a colon.

`terms_format` writes rules back in this convention, one per line, so that
`terms_parse(terms_format(terms))` gives the same terms.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

TermKindName = Literal["prefer", "avoid"]

# Possessive quantifiers (`*+`, `++`) never give back what they matched. Two adjacent `\s*`
# that may both match the same spaces would otherwise try every split of a long run of
# spaces between them: quadratic in the line's length, and `re` holds the GIL meanwhile.
_RULE = re.compile(
    r"""^\s*+
    (?:[-*+]\s++|\d{1,3}[.)]\s++)?   # an optional list marker
    [*_]{0,2}+\s*+                   # optional bold/italic opening
    (?P<keyword>prefer|say|avoid)
    \s*+[*_]{0,2}+\s*+:\s*+[*_]{0,2}+ # the colon, inside or outside the markup
    (?P<body>.*)$""",
    re.IGNORECASE | re.VERBOSE,
)
# "(not: a, b" up to the closing parenthesis or, when it is missing, the end of the line.
_NOT_GROUP = re.compile(r"\(\s*not\b\s*:?(?P<alts>[^()]*)\)?", re.IGNORECASE)
_NOTE = re.compile(r"\([^()]*\)?")
# An " or " starts only where a run of spaces starts: tried from inside a long run, `\s+or`
# would scan to the run's end from every one of its spaces (quadratic again).
_ALT_SEPARATOR = re.compile(r"[,;]|(?<!\s)\s++or\s+", re.IGNORECASE)
_LIST_SEPARATOR = re.compile(r"[,;]")
_EDGE_JUNK = " \t*_`\"'\u201c\u201d\u2018\u2019.,;:[]"  # markup, quotes (also curly), punctuation


@dataclass(frozen=True)
class Term:
    """A preferred term (with the words it replaces) or a banned term."""

    kind: TermKindName
    term: str
    instead_of: tuple[str, ...] = ()


def terms_parse(text: str) -> list[Term]:
    """The terminology rules of a style guide, in the order they appear."""
    terms: list[Term] = []
    index: dict[tuple[str, str], int] = {}
    for term in _rules(text):
        key = (term.kind, term.term.casefold())
        if key not in index:
            index[key] = len(terms)
            terms.append(term)
        elif term.instead_of:
            first = terms[index[key]]
            merged = _unique(first.instead_of + term.instead_of, exclude=first.term)
            terms[index[key]] = replace(first, instead_of=merged)
    return terms


def terms_format(terms: Sequence[Term]) -> str:
    """Write terms back as rules of the convention, one per line."""
    lines = []
    for t in terms:
        if t.kind == "avoid":
            lines.append(f"Avoid: {t.term}")
        elif t.instead_of:
            lines.append(f"Prefer: {t.term} (not: {', '.join(t.instead_of)})")
        else:
            lines.append(f"Prefer: {t.term}")
    return "\n".join(lines) + ("\n" if lines else "")


def _rules(text: str) -> Iterator[Term]:
    """Every term each rule line of the text states, duplicates included."""
    for line in text.splitlines():
        match = _RULE.match(line)
        if match is None:
            continue
        body = match["body"]
        if match["keyword"].lower() == "avoid":
            for word in _split(_NOTE.sub(" ", body), _LIST_SEPARATOR):
                yield Term("avoid", word)
        else:
            term = _prefer(body)
            if term is not None:
                yield term


def _prefer(body: str) -> Term | None:
    """The Prefer rule in a line's body, or None when it names no term."""
    not_group = _NOT_GROUP.search(body)
    alternatives: list[str] = []
    if not_group is not None:
        alternatives = _split(not_group["alts"], _ALT_SEPARATOR)
        body = body[: not_group.start()] + " " + body[not_group.end() :]
    term = _clean(_NOTE.sub(" ", body))
    if not term:
        return None
    return Term("prefer", term, _unique(tuple(alternatives), exclude=term))


def _split(text: str, separator: re.Pattern[str]) -> list[str]:
    """The non-empty cleaned pieces of a list."""
    pieces = (_clean(piece) for piece in separator.split(text))
    return [piece for piece in pieces if piece]


def _clean(term: str) -> str:
    """Trim markup, quotes and stray punctuation; collapse whitespace."""
    term = " ".join(term.replace("(", " ").replace(")", " ").split())
    return term.strip(_EDGE_JUNK)


def _unique(words: tuple[str, ...], *, exclude: str) -> tuple[str, ...]:
    """Words without case-insensitive repeats or the excluded word, first kept."""
    seen = {exclude.casefold()}
    kept = []
    for word in words:
        if word.casefold() not in seen:
            seen.add(word.casefold())
            kept.append(word)
    return tuple(kept)
