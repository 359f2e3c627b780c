"""Caption metrics: generated captions against the references, the brand's tags and its style guide.

Pure functions over strings; one reference caption per item. What each number was checked
against (tests/worker/test_evaluate.py):

- BLEU-4 and chrF are sacrebleu's (default signatures: 13a tokenisation, mixed case, exp
  smoothing; chrF2 with character 6-grams). Checked against values from sacrebleu's own test
  suite and, for corpus BLEU, the BLEU formula over the n-gram counts that suite documents.
- ROUGE-L is rouge_score's F-measure (Porter stemming on), checked against an LCS computed by hand.
- CIDEr-D is implemented here: n = 1..4, tf-idf n-gram vectors with document frequency over the
  evaluated set's references, candidate weights clipped by the reference's, a Gaussian length
  penalty (sigma = 6), times 10. pycocoevalcap 1.2 ships no `ciderD` module: its
  `pycocoevalcap.cider.Cider` already applies the clipping, the length penalty and the factor
  (the coco-caption code behind published "CIDEr-D" numbers), so our scores are checked against
  it to 1e-6 on a fixed corpus, and by hand against the formula of Vedantam et al. (2015) with
  the implementation's raw (not length-normalised) term counts.
- Tags, style hits, bootstrap and Wilson intervals are checked on fixed inputs by hand.
"""

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer

from app.styleguides.glossary import GuideTerms, TermUse, phrases_in

_ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


# --- reference-based metrics -----------------------------------------------------------------


def bleu4(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100), sacrebleu's default signature."""
    if not hyps:
        return 0.0
    return float(sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score)


def bleu4_sentence(hyp: str, ref: str) -> float:
    """Sentence BLEU-4 (0-100) with sacrebleu's default smoothing, for per-item values."""
    return float(sacrebleu.sentence_bleu(hyp, [ref]).score)


def chrf(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus chrF2 (0-100)."""
    if not hyps:
        return 0.0
    return float(sacrebleu.corpus_chrf(list(hyps), [list(refs)]).score)


def chrf_sentence(hyp: str, ref: str) -> float:
    """Sentence chrF2 (0-100)."""
    return float(sacrebleu.sentence_chrf(hyp, [ref]).score)


def rouge_l_sentence(hyp: str, ref: str) -> float:
    """ROUGE-L F-measure (0-100); rouge_score keeps only ASCII letters and digits."""
    return float(_ROUGE.score(ref, hyp)["rougeL"].fmeasure) * 100


def rouge_l(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure over the items (0-100)."""
    return fmean(rouge_l_sentence(h, r) for h, r in zip(hyps, refs, strict=True)) if hyps else 0.0


# --- CIDEr-D -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+(?:[-'\u2019]\w+)*")
Grams = dict[tuple[str, ...], float]


def cider_tokens(text: str) -> list[str]:
    """Lower-cased words with punctuation dropped, as coco-caption's tokeniser hands them over."""
    return _TOKEN.findall(text.lower())


def _ngrams(tokens: list[str], max_n: int = 4) -> Counter[tuple[str, ...]]:
    """Counts of every 1- to max_n-gram."""
    return Counter(
        tuple(tokens[i : i + n]) for n in range(1, max_n + 1) for i in range(len(tokens) - n + 1)
    )


def _tfidf(
    counts: Counter[tuple[str, ...]], df: Counter[tuple[str, ...]], log_n: float
) -> list[Grams]:
    """Per n-gram order, raw count times idf; an n-gram no reference has counts as seen once."""
    vecs: list[Grams] = [{} for _ in range(4)]
    for gram, count in counts.items():
        vecs[len(gram) - 1][gram] = count * (log_n - math.log(max(1.0, df[gram])))
    return vecs


def _clipped_cosine(hyp: Grams, ref: Grams) -> float:
    """Cosine similarity whose numerator clips each candidate weight by the reference's."""
    dot = sum(min(w, ref.get(g, 0.0)) * ref.get(g, 0.0) for g, w in hyp.items())
    norms = math.hypot(*hyp.values()) * math.hypot(*ref.values())
    return dot / norms if norms else 0.0  # a zero vector has all weights 0, so dot is 0 too


def cider_d(
    hyps: Sequence[str], refs: Sequence[str], sigma: float = 6.0
) -> tuple[float, list[float]]:
    """CIDEr-D over the set and per item; idf comes from this set's references."""
    if not hyps:
        return 0.0, []
    hyp_tokens = [cider_tokens(h) for h in hyps]
    ref_tokens = [cider_tokens(r) for r in refs]
    ref_counts = [_ngrams(t) for t in ref_tokens]
    df = Counter(gram for counts in ref_counts for gram in counts)
    log_n = math.log(len(ref_counts))
    scores = []
    for h_tok, r_tok, r_counts in zip(hyp_tokens, ref_tokens, ref_counts, strict=True):
        h_vecs, r_vecs = _tfidf(_ngrams(h_tok), df, log_n), _tfidf(r_counts, df, log_n)
        # coco-caption counts length in bigrams (words - 1): the same difference, except for an
        # empty caption, whose score is 0 either way.
        penalty = math.exp(-((len(h_tok) - len(r_tok)) ** 2) / (2 * sigma**2))
        sims = [_clipped_cosine(h, r) for h, r in zip(h_vecs, r_vecs, strict=True)]
        scores.append(10.0 * penalty * fmean(sims))
    return fmean(scores), scores


# --- brand terms -----------------------------------------------------------------------------


def tags_in(caption: str, vocabulary: Iterable[str]) -> set[str]:
    """The brand's tag names that the caption names, case-insensitive, longest match first."""
    return set(phrases_in(caption, vocabulary))


@dataclass
class TagScore:
    """Precision, recall and F1 of one tag; support is how many items carry it."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class TagScores:
    """Micro-averaged precision, recall and F1 over all items, and the same per tag."""

    precision: float
    recall: float
    f1: float
    per_tag: dict[str, TagScore] = field(default_factory=dict)


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1; a ratio with nothing to count is 0."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def tag_scores(predicted: Sequence[set[str]], gold: Sequence[set[str]]) -> TagScores:
    """Tag precision/recall/F1, micro over items and per tag."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for pred, true in zip(predicted, gold, strict=True):
        tp.update(pred & true)
        fp.update(pred - true)
        fn.update(true - pred)
    per_tag = {
        tag: TagScore(*_prf(tp[tag], fp[tag], fn[tag]), support=tp[tag] + fn[tag])
        for tag in sorted(tp.keys() | fp.keys() | fn.keys())
    }
    return TagScores(*_prf(tp.total(), fp.total(), fn.total()), per_tag=per_tag)


def item_tag_f1(pred: set[str], true: set[str]) -> float:
    """One item's tag F1; 1 when it names no tag and carries none (nothing missed or wrong)."""
    return (
        1.0
        if not pred and not true
        else _prf(len(pred & true), len(pred - true), len(true - pred))[2]
    )


def attributes_lost(base: set[str], system: set[str], gold: set[str]) -> list[str]:
    """The tags the base named correctly that `system` no longer names: what tuning lost."""
    return sorted((base & gold) - system)


def item_gain(chrf_delta: float, lost: Sequence[str]) -> float:
    """An image's gain over the base: the chrF difference, but never a gain for a caption
    that lost an attribute the base had right (a house word cannot buy back a wrong product)."""
    return min(chrf_delta, 0.0) if lost else chrf_delta


@dataclass
class StyleHits:
    """Style-guide terms in one caption, one entry per occurrence."""

    preferred: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # words the guide says to replace
    banned: list[str] = field(default_factory=list)

    @property
    def compliant(self) -> bool:
        """Neither a replaced word nor a banned one."""
        return not self.violations and not self.banned


def style_check(caption: str, terms: GuideTerms) -> StyleHits:
    """Preferred terms, replaced words and banned words in a caption, whole words, any case."""
    found: dict[TermUse, list[str]] = {"preferred": [], "replaced": [], "banned": []}
    for span, uses in terms.spans(caption):
        for use in uses:
            found[use].append(span.phrase)
    return StyleHits(found["preferred"], violations=found["replaced"], banned=found["banned"])


@dataclass
class StyleScores:
    """Style-guide use per 100 captions, and the share of captions that break no rule."""

    preferred_per_100: float
    violations_per_100: float
    banned_per_100: float
    compliant_share: float


def style_scores(hits: Sequence[StyleHits]) -> StyleScores:
    """Style hits aggregated over captions."""
    if not hits:
        return StyleScores(0.0, 0.0, 0.0, 0.0)
    per_100 = 100 / len(hits)
    return StyleScores(
        preferred_per_100=sum(len(h.preferred) for h in hits) * per_100,
        violations_per_100=sum(len(h.violations) for h in hits) * per_100,
        banned_per_100=sum(len(h.banned) for h in hits) * per_100,
        compliant_share=sum(h.compliant for h in hits) / len(hits),
    )


def mean_length(captions: Sequence[str]) -> float:
    """Mean caption length in whitespace-separated words."""
    return fmean(len(c.split()) for c in captions) if captions else 0.0


# --- uncertainty -------------------------------------------------------------------------------


@dataclass
class Interval:
    """An estimate with its 95% interval."""

    value: float
    low: float
    high: float


def bootstrap(
    statistic: Callable[[Sequence[int]], float], n_items: int, *, n: int = 1000, seed: int = 0
) -> Interval:
    """`statistic` on all items, with a 95% percentile interval over resampled item indices.

    Paired by construction: a statistic comparing two systems sees the same indices for both, so
    it works for means of per-item differences and for corpus metrics recomputed per resample.
    """
    if n_items < 1:
        raise ValueError("bootstrap needs at least one item")
    samples = np.random.default_rng(seed).integers(0, n_items, size=(n, n_items))
    values = [statistic(idx.tolist()) for idx in samples]
    low, high = np.percentile(values, [2.5, 97.5])
    return Interval(statistic(range(n_items)), float(low), float(high))


def bootstrap_delta(
    a: Sequence[float], b: Sequence[float], *, n: int = 1000, seed: int = 0
) -> Interval:
    """Mean per-item difference b - a, with a paired 95% bootstrap interval."""
    if len(a) != len(b):
        raise ValueError("a and b must score the same items")
    diff = [y - x for x, y in zip(a, b, strict=True)]
    return bootstrap(lambda idx: fmean(diff[i] for i in idx), len(diff), n=n, seed=seed)


# --- one system, all metrics -------------------------------------------------------------------


@dataclass
class ItemScores:
    """One caption's scores against its reference, tags and the style guide."""

    bleu4: float
    chrf: float
    rouge_l: float
    cider_d: float
    tag_f1: float
    tags: list[str]
    style: StyleHits


@dataclass
class Summary:
    """One system's scores over the evaluated set."""

    bleu4: float
    chrf: float
    rouge_l: float
    cider_d: float
    tag_precision: float
    tag_recall: float
    tag_f1: float
    preferred_per_100: float
    violations_per_100: float
    banned_per_100: float
    compliant_share: float
    mean_length: float
    per_tag: dict[str, TagScore] = field(default_factory=dict)


def summarise(
    hyps: Sequence[str],
    refs: Sequence[str],
    gold_tags: Sequence[set[str]],
    vocabulary: Iterable[str],
    terms: GuideTerms,
    answered_tags: Sequence[set[str]] | None = None,
) -> tuple[Summary, list[ItemScores]]:
    """Every metric for one system's captions: the summary and the per-item scores. Tags are
    those the system answered, when it answers tags, else the vocabulary's words it wrote."""
    vocabulary = list(vocabulary)
    found = (
        list(answered_tags) if answered_tags is not None else [tags_in(h, vocabulary) for h in hyps]
    )
    hits = [style_check(h, terms) for h in hyps]
    cider, cider_items = cider_d(hyps, refs)
    tags, style = tag_scores(found, gold_tags), style_scores(hits)
    items = [
        ItemScores(
            bleu4=bleu4_sentence(h, r),
            chrf=chrf_sentence(h, r),
            rouge_l=rouge_l_sentence(h, r),
            cider_d=c,
            tag_f1=item_tag_f1(f, g),
            tags=sorted(f),
            style=s,
        )
        for h, r, c, f, g, s in zip(hyps, refs, cider_items, found, gold_tags, hits, strict=True)
    ]
    summary = Summary(
        bleu4=bleu4(hyps, refs),
        chrf=chrf(hyps, refs),
        rouge_l=rouge_l(hyps, refs),
        cider_d=cider,
        tag_precision=tags.precision,
        tag_recall=tags.recall,
        tag_f1=tags.f1,
        preferred_per_100=style.preferred_per_100,
        violations_per_100=style.violations_per_100,
        banned_per_100=style.banned_per_100,
        compliant_share=style.compliant_share,
        mean_length=mean_length(hyps),
        per_tag=tags.per_tag,
    )
    return summary, items
