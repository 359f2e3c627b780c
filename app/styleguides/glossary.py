"""A style guide's terms as the rest of Atelier uses them, and the one rule that finds a phrase
in a caption. The prompt, the metrics and the results page's highlighting all go through here,
so that a phrase counted in the metrics is the phrase marked on the page.

A phrase matches as whole words, in any case, with its words separated by any whitespace or a
hyphen ("forest-green" is "forest green"); of overlapping phrases the longest wins, so "nappa
leather" is one phrase and not also "leather".
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from app.styleguides.models import StyleGuideVersion, TermKind

_SEPARATOR = r"[\s-]+"


@dataclass(frozen=True)
class Span:
    """One occurrence of a phrase: where it is in the text, and the phrase as it was given."""

    start: int
    end: int
    phrase: str


def phrase_key(phrase: str) -> str:
    """A phrase lower-cased, its words joined by single spaces: equal keys match alike."""
    return " ".join(w for w in re.split(_SEPARATOR, phrase.lower()) if w)


@lru_cache(maxsize=64)
def _pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation, longest phrase first, so that a phrase wins over the words inside it."""
    ordered = sorted(keys, key=lambda k: (-len(k), k))
    alternatives = [_SEPARATOR.join(map(re.escape, k.split(" "))) for k in ordered]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def phrase_spans(text: str, phrases: Iterable[str]) -> list[Span]:
    """Each whole-word occurrence of a phrase in `text`, left to right, none overlapping."""
    spelling = {phrase_key(p): p for p in phrases if phrase_key(p)}
    if not spelling:
        return []
    found = _pattern(tuple(sorted(spelling))).finditer(text)
    return [Span(m.start(), m.end(), spelling[phrase_key(m.group())]) for m in found]


def phrases_in(text: str, phrases: Iterable[str]) -> list[str]:
    """The phrases that occur in `text`, one entry per occurrence, as spelt in `phrases`."""
    return [span.phrase for span in phrase_spans(text, phrases)]


TermUse = Literal["preferred", "replaced", "banned"]


@dataclass(frozen=True)
class GuideTerms:
    """The terms of one style guide version: preferred terms with the words they replace, and
    banned words. Empty when a brand has no guide."""

    prefer: tuple[tuple[str, tuple[str, ...]], ...] = ()
    avoid: tuple[str, ...] = ()

    @classmethod
    def of(cls, guide: StyleGuideVersion | None) -> "GuideTerms":
        """The terms of a guide version (its `terms` loaded), or none."""
        terms = guide.terms if guide is not None else []
        return cls(
            prefer=tuple((t.term, tuple(t.instead_of)) for t in terms if t.kind == TermKind.prefer),
            avoid=tuple(t.term for t in terms if t.kind == TermKind.avoid),
        )

    @property
    def preferred(self) -> list[str]:
        return [term for term, _ in self.prefer]

    @property
    def replaced(self) -> list[str]:
        return [word for _, words in self.prefer for word in words]

    def uses(self) -> dict[str, set[TermUse]]:
        """What each phrase of the guide is, by its key (a word may be replaced and banned)."""
        uses: dict[str, set[TermUse]] = {}
        for use, phrases in (
            ("preferred", self.preferred),
            ("replaced", self.replaced),
            ("banned", self.avoid),
        ):
            for phrase in phrases:
                uses.setdefault(phrase_key(phrase), set()).add(use)  # type: ignore[arg-type]
        return uses

    def spans(self, text: str) -> list[tuple[Span, set[TermUse]]]:
        """Every guide phrase in `text` with what it is, in one scan: "dark red" is one
        replaced phrase, never also the word "red"."""
        uses = self.uses()
        phrases = [*self.preferred, *self.replaced, *self.avoid]
        return [(span, uses[phrase_key(span.phrase)]) for span in phrase_spans(text, phrases)]

    def instruction(self, instruction: str) -> str:
        """`instruction` followed by the preferred terms (unchanged when there are none)."""
        terms = self.preferred
        return f"{instruction} Use these terms: {', '.join(terms)}." if terms else instruction
