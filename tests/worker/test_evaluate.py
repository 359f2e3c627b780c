"""Caption metrics against reference values: sacrebleu's own, pycocoevalcap's, and by hand."""

import json
import math
import random
from dataclasses import asdict

import pytest
from pycocoevalcap.cider.cider import Cider

from app.styleguides.glossary import GuideTerms
from worker.evaluate import (
    StyleHits,
    attributes_lost,
    bleu4,
    bleu4_sentence,
    bootstrap,
    bootstrap_delta,
    chrf,
    chrf_sentence,
    cider_d,
    cider_tokens,
    item_gain,
    mean_length,
    rouge_l,
    rouge_l_sentence,
    style_check,
    style_scores,
    summarise,
    tag_scores,
    tags_in,
)

# --- BLEU and chrF: values from sacrebleu's test suite -----------------------------------------


def test_sentence_bleu_matches_sacrebleus_own_test() -> None:
    # sacrebleu test/test_sentence_bleu.py (issue #98): exp smoothing, 13a, effective order.
    ref = "producţia de zahăr brut se exprimă în zahăr alb;"
    hyp = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;"
    assert bleu4_sentence(hyp, ref) == pytest.approx(8.493, abs=1e-3)


def test_corpus_bleu_follows_the_formula_over_sacrebleus_documented_counts() -> None:
    # sacrebleu test/test_bleu.py documents the matches 4/2/1/0 of totals 6/5/4/3 for this pair;
    # 'exp' smoothing turns the first zero into 1 / (2 * total); 8 reference tokens under 13a.
    hyp, ref = "am I am a character sequence", "I am a symbol string sequence a a"
    precisions = [4 / 6, 2 / 5, 1 / 4, 1 / (2 * 3)]
    expected = 100 * math.exp(1 - 8 / 6) * math.exp(sum(map(math.log, precisions)) / 4)
    assert bleu4([hyp], [ref]) == pytest.approx(expected, abs=1e-9)
    assert bleu4(["this is a test"], ["this is a test"]) == pytest.approx(100.0)


CZECH = [  # sacrebleu test/test_chrf.py, sentence level, chrF2
    (
        "Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
        "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.",
        39.14078509,
    ),
    (
        "Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
        "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.",
        31.22557079,
    ),
    (
        "Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
        "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.",
        57.15704367,
    ),
]


@pytest.mark.parametrize(("hyp", "ref", "expected"), CZECH)
def test_chrf_matches_sacrebleus_own_test(hyp: str, ref: str, expected: float) -> None:
    # Their values use epsilon smoothing, which moves these scores only in the 4th decimal.
    assert chrf_sentence(hyp, ref) == pytest.approx(expected, abs=1e-3)
    assert chrf([hyp], [ref]) == pytest.approx(expected, abs=1e-3)


# --- ROUGE-L: longest common subsequence by hand -----------------------------------------------


def test_rouge_l_is_the_lcs_f_measure_with_stemming() -> None:
    # LCS "a red handbag with short handl(e|es)" = 6 of 7 tokens on each side (stems match).
    hyp, ref = "a red leather handbag with short handles", "a red handbag with a short handle"
    assert rouge_l_sentence(hyp, ref) == pytest.approx(100 * 6 / 7)
    # LCS 5: precision 5/5, recall 5/6, F = 2PR / (P + R) = 10/11.
    assert rouge_l_sentence("the cat on the mat", "the cat sat on the mat") == pytest.approx(
        100 * 10 / 11
    )
    both = rouge_l([hyp, "the cat on the mat"], [ref, "the cat sat on the mat"])
    assert both == pytest.approx(100 * (6 / 7 + 10 / 11) / 2)


# --- CIDEr-D -----------------------------------------------------------------------------------

HYPS = [
    "A burgundy patent calfskin handbag with a short handle.",
    "a red bag",
    "Black leather boots with a block heel",
    "a green scarf",
    "Forest-green wool coat, double breasted.",
    "a red bag with a red strap and a red lining",
    "",
]
REFS = [
    "A burgundy patent calfskin tote with short handles.",
    "a dark red handbag with gold hardware",
    "black calfskin ankle boots with a stacked block heel",
    "a forest green silk scarf with a printed border",
    "A forest green wool coat, double-breasted with horn buttons.",
    "a red bag with a strap",
    "a red bag",
]


def test_cider_d_matches_pycocoevalcap_to_1e6() -> None:
    # pycocoevalcap's Cider has the clipping, Gaussian length penalty and x10 of CIDEr-D;
    # it receives the same tokens that ours scores.
    gts = {i: [" ".join(cider_tokens(r))] for i, r in enumerate(REFS)}
    res = {i: [" ".join(cider_tokens(h))] for i, h in enumerate(HYPS)}
    expected, expected_items = Cider().compute_score(gts, res)
    score, items = cider_d(HYPS, REFS)
    assert score == pytest.approx(float(expected), abs=1e-6)
    assert items == pytest.approx([float(x) for x in expected_items], abs=1e-6)


def test_cider_d_follows_the_papers_formula_by_hand() -> None:
    # Two images, so idf = log 2 - log df = log 2 =: L for every n-gram here (df 1, or unseen).
    # "red red bag" vs "red bag": unigram weights (2L, L) vs (L, L); clipping makes the dot
    # min(2L, L) * L + L * L = 2L^2 (plain CIDEr would give 3L^2); norms L*sqrt(5), L*sqrt(2).
    # Bigrams: dot L^2 over L*sqrt(2) * L. No shared 3- or 4-grams. Lengths 3 vs 2.
    first = 10 * math.exp(-1 / (2 * 6**2)) * (2 / math.sqrt(10) + 1 / math.sqrt(2)) / 4
    # "a hat" vs "a shoe": unigram cosine 1/2, nothing else, equal lengths.
    second = 10 * (1 / 2) / 4
    score, items = cider_d(["Red red bag!", "a hat"], ["red bag", "a shoe"])
    assert items == pytest.approx([first, second])
    assert score == pytest.approx((first + second) / 2)


def test_cider_d_edges() -> None:
    assert cider_d([], []) == (0.0, [])
    assert cider_d(["a red bag"], ["a red bag"]) == (0.0, [0.0])  # one image: every idf is 0
    assert cider_tokens("Don't: a FOREST-green, bag.") == ["don't", "a", "forest-green", "bag"]


# --- tags and style ----------------------------------------------------------------------------

VOCABULARY = ["calfskin", "Patent Calfskin", "forest green", "bag", "A-line"]


def test_tags_are_whole_phrases_longest_first_any_case() -> None:
    assert tags_in("A PATENT calfskin tote", VOCABULARY) == {"Patent Calfskin"}
    both = "Patent calfskin body, a calfskin strap"
    assert tags_in(both, VOCABULARY) == {"Patent Calfskin", "calfskin"}
    assert tags_in("a forest-green bag and a forest\ngreen scarf", VOCABULARY) == {
        "forest green",
        "bag",
    }
    assert tags_in("bags of calfskins; an a-line skirt", VOCABULARY) == {"A-line"}
    assert tags_in("anything", []) == set()


def test_tag_scores_micro_and_per_tag() -> None:
    predicted = [{"red", "bag"}, {"bag"}, set()]
    gold = [{"red"}, {"bag", "strap"}, {"red"}]
    scores = tag_scores(predicted, gold)
    # tp = red, bag = 2; fp = bag (item 1) = 1; fn = strap, red = 2.
    assert (scores.precision, scores.recall) == pytest.approx((2 / 3, 2 / 4))
    assert scores.f1 == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))
    red, bag, strap = (scores.per_tag[t] for t in ("red", "bag", "strap"))
    assert (red.precision, red.recall, red.support) == (1.0, 0.5, 2)
    assert (bag.precision, bag.recall, bag.f1, bag.support) == (0.5, 1.0, pytest.approx(2 / 3), 1)
    assert (strap.precision, strap.recall, strap.f1, strap.support) == (0.0, 0.0, 0.0, 1)


TERMS = GuideTerms(
    prefer=(("burgundy", ("dark red", "wine")), ("nappa leather", ("soft leather",))),
    avoid=("cheap", "leather"),
)


def test_style_check_finds_preferred_replaced_and_banned_words() -> None:
    hits = style_check("A dark red, CHEAP bag in nappa leather; Burgundy lining", TERMS)
    # "nappa leather" is one preferred phrase: its "leather" is not also a banned use.
    assert hits == StyleHits(
        preferred=["nappa leather", "burgundy"], violations=["dark red"], banned=["cheap"]
    )
    assert style_check("red wines; a leathery soft-leather tote", TERMS) == StyleHits(
        violations=["soft leather"]
    )
    assert style_check("a red bag", GuideTerms()) == StyleHits()


def test_what_tuning_lost_and_a_gain_that_a_wrong_product_cannot_buy() -> None:
    base, gold = {"belt", "noir", "cheap"}, {"belt", "noir", "calfskin"}
    assert attributes_lost(base, {"hat", "noir", "suede"}, gold) == ["belt"]
    assert attributes_lost(base, {"belt", "noir"}, gold) == []
    assert attributes_lost(set(), {"hat"}, gold) == [], "nothing right to lose"
    assert item_gain(12.5, ["belt"]) == 0.0 and item_gain(-3.0, ["belt"]) == -3.0
    assert item_gain(12.5, []) == 12.5


def test_style_scores_are_rates_per_100_captions() -> None:
    hits = [
        StyleHits(preferred=["burgundy", "burgundy"]),
        StyleHits(violations=["wine"]),
        StyleHits(banned=["cheap"]),
        StyleHits(),
    ]
    scores = style_scores(hits)
    assert (scores.preferred_per_100, scores.violations_per_100) == (50.0, 25.0)
    assert (scores.banned_per_100, scores.compliant_share) == (25.0, 0.5)


def test_mean_length_in_words() -> None:
    assert mean_length(["a red bag", "a  burgundy\ttote with handles"]) == 4.0
    assert mean_length([]) == 0.0


# --- bootstrap and Wilson ----------------------------------------------------------------------


def _noisy(n_items: int) -> tuple[list[float], list[float]]:
    rng = random.Random(7)
    a = [rng.gauss(50, 10) for _ in range(n_items)]
    return a, [x + 2 + rng.gauss(0, 5) for x in a]


def test_bootstrap_delta_is_deterministic_and_shrinks_with_more_items() -> None:
    a, b = _noisy(400)
    small = bootstrap_delta(a[:25], b[:25], seed=3)
    assert small == bootstrap_delta(a[:25], b[:25], seed=3)
    assert small != bootstrap_delta(a[:25], b[:25], seed=4)
    large = bootstrap_delta(a, b, seed=3)
    for interval, n in ((small, 25), (large, 400)):
        assert interval.value == pytest.approx(sum(b[:n]) / n - sum(a[:n]) / n)
        assert interval.low < interval.value < interval.high
    assert large.high - large.low < (small.high - small.low) / 2
    with pytest.raises(ValueError):
        bootstrap_delta([1.0], [1.0, 2.0])


def test_bootstrap_of_a_corpus_metric_is_paired() -> None:
    refs = ["a burgundy leather tote", "black calfskin boots", "a forest green scarf"] * 4
    base = ["a red bag", "black boots", "a green scarf"] * 4
    tuned = ["a burgundy leather tote", "black calfskin boots", "a green scarf"] * 4

    def delta(idx: list[int] | range) -> float:
        def pick(xs: list[str]) -> list[str]:
            return [xs[i] for i in idx]

        return bleu4(pick(tuned), pick(refs)) - bleu4(pick(base), pick(refs))

    interval = bootstrap(delta, len(refs), n=200, seed=1)
    assert interval.value == pytest.approx(bleu4(tuned, refs) - bleu4(base, refs))
    assert 0 < interval.low <= interval.value <= interval.high
    assert interval == bootstrap(delta, len(refs), n=200, seed=1)
    with pytest.raises(ValueError):
        bootstrap(delta, 0)


def test_summarise_scores_each_item_and_serialises() -> None:
    gold = [
        {"Patent Calfskin"},
        set(),
        {"calfskin"},
        {"forest green"},
        {"forest green"},
        set(),
        {"bag"},
    ]
    summary, items = summarise(HYPS, REFS, gold, VOCABULARY, TERMS)
    assert len(items) == len(HYPS)
    assert summary.bleu4 == pytest.approx(bleu4(HYPS, REFS))
    assert summary.cider_d == pytest.approx(cider_d(HYPS, REFS)[0])
    assert items[0].tags == ["Patent Calfskin"]
    assert items[0].tag_f1 == 1.0
    assert items[1].tags == ["bag"] and items[1].tag_f1 == 0.0
    assert items[2].style == StyleHits(banned=["leather"])
    assert items[0].bleu4 == pytest.approx(bleu4_sentence(HYPS[0], REFS[0]))
    assert summary.banned_per_100 == pytest.approx(100 / 7)
    assert summary.mean_length == pytest.approx(mean_length(HYPS))
    assert summary.per_tag["forest green"].support == 2
    json.dumps([asdict(summary), *map(asdict, items)])


def test_per_item_scores_are_the_sentence_scores_of_hypothesis_against_reference() -> None:
    """Each item's BLEU, chrF and ROUGE-L are those of (its caption, its reference), in that
    order: the pairs below score differently when swapped, so a swap cannot pass."""
    hyps = ["a tote", "Camille tote in burgundy calfskin leather with a gold clasp"]
    refs = ["the Camille tote in burgundy calfskin with a gold clasp", "a tote bag"]
    _, items = summarise(hyps, refs, [set(), set()], [], GuideTerms())
    for item, hyp, ref in zip(items, hyps, refs, strict=True):
        assert chrf_sentence(hyp, ref) != pytest.approx(chrf_sentence(ref, hyp))
        assert item.chrf == pytest.approx(chrf_sentence(hyp, ref))
        assert item.bleu4 == pytest.approx(bleu4_sentence(hyp, ref))
        assert item.rouge_l == pytest.approx(rouge_l_sentence(hyp, ref))
    swapped = [
        (bleu4_sentence(r, h), rouge_l_sentence(r, h)) for h, r in zip(hyps, refs, strict=True)
    ]
    assert swapped != [(i.bleu4, i.rouge_l) for i in items], "these pairs tell a swap apart"
