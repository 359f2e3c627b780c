"""What a new style guide version changes in the terms: shown before it replaces the old one."""

from dataclasses import dataclass, field

from app.styleguides.glossary import GuideTerms, phrase_key
from app.styleguides.terms import Term


@dataclass(frozen=True)
class TermsDiff:
    """Preferred terms and banned words added, removed, or (preferred) replacing other words."""

    preferred_added: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    preferred_removed: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # (term, the words it replaced, the words it replaces now)
    preferred_changed: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = field(
        default_factory=list
    )
    banned_added: list[str] = field(default_factory=list)
    banned_removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.preferred_added,
                self.preferred_removed,
                self.preferred_changed,
                self.banned_added,
                self.banned_removed,
            )
        )


def guide_terms_of(terms: list[Term]) -> GuideTerms:
    """Parsed terms, not yet a version, as the rest of Atelier reads them."""
    return GuideTerms(
        prefer=tuple((t.term, tuple(t.instead_of)) for t in terms if t.kind == "prefer"),
        avoid=tuple(t.term for t in terms if t.kind == "avoid"),
    )


def terms_diff(*, old: GuideTerms, new: GuideTerms) -> TermsDiff:
    """What `new` changes from `old`; phrases compare as they match (any case, any spacing)."""
    before = {phrase_key(term): (term, words) for term, words in old.prefer}
    after = {phrase_key(term): (term, words) for term, words in new.prefer}
    banned_before = {phrase_key(word): word for word in old.avoid}
    banned_after = {phrase_key(word): word for word in new.avoid}
    return TermsDiff(
        preferred_added=[after[k] for k in after if k not in before],
        preferred_removed=[before[k] for k in before if k not in after],
        preferred_changed=[
            (after[k][0], before[k][1], after[k][1])
            for k in after
            if k in before and _keys(before[k][1]) != _keys(after[k][1])
        ],
        banned_added=[banned_after[k] for k in banned_after if k not in banned_before],
        banned_removed=[banned_before[k] for k in banned_before if k not in banned_after],
    )


def _keys(words: tuple[str, ...]) -> set[str]:
    return {phrase_key(word) for word in words}
