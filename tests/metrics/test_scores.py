"""Known-answer tests for the pure score functions (values computed by hand)."""

import pytest

from metrics import scores


def test_nps_category_boundaries():
    assert [scores.nps_category(s) for s in (0, 6, 7, 8, 9, 10)] == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
    ]
    with pytest.raises(ValueError):
        scores.nps_category(11)


def test_nps_ten_responses_hand_computed():
    # 5 promoters, 3 passives, 2 detractors: p_P = .5, p_D = .2, NPS = 30.
    # Var = (.5 + .2 − .3²) / 10 = .061; MoE = 1.96 × sqrt(.061) × 100 = 48.408…
    result = scores.nps([10, 9, 9, 10, 9, 7, 8, 7, 3, 6])
    assert (result.n, result.promoters, result.passives, result.detractors) == (10, 5, 3, 2)
    assert result.nps == pytest.approx(30.0)
    assert result.margin_of_error == pytest.approx(48.4084, abs=1e-4)
    assert result.as_dict() == {
        "n": 10,
        "promoters": 5,
        "passives": 3,
        "detractors": 2,
        "nps": 30.0,
        "margin_of_error": 48.4,
    }


def test_nps_hundred_responses_hand_computed():
    # 40/30/30: NPS = 10; Var = (.4 + .3 − .1²) / 100 = .0069; MoE = 1.96 × .083066 × 100 = 16.281
    result = scores.nps_from_counts(promoters=40, passives=30, detractors=30)
    assert result.nps == pytest.approx(10.0)
    assert result.margin_of_error == pytest.approx(16.2810, abs=1e-4)


def test_nps_negative_score():
    # 1 promoter, 0 passives, 3 detractors: NPS = (.25 − .75) × 100 = −50;
    # Var = (1 − .25) / 4 = .1875; MoE = 1.96 × .433013 × 100 = 84.87
    result = scores.nps_from_counts(promoters=1, passives=0, detractors=3)
    assert result.nps == pytest.approx(-50.0)
    assert result.margin_of_error == pytest.approx(84.8705, abs=1e-4)


def test_nps_with_no_responses_is_undefined_not_zero():
    result = scores.nps([])
    assert result.n == 0
    assert result.nps is None
    assert result.margin_of_error is None
    assert result.as_dict()["nps"] is None


def test_nps_all_promoters_is_100_with_zero_margin():
    result = scores.nps([9, 10, 10])
    assert result.nps == pytest.approx(100.0)
    assert result.margin_of_error == pytest.approx(0.0)


def test_nps_all_detractors_and_all_passives():
    assert scores.nps([0, 1, 6]).nps == pytest.approx(-100.0)
    passives = scores.nps([7, 8])
    assert passives.nps == pytest.approx(0.0)
    assert passives.margin_of_error == pytest.approx(0.0)


def test_nps_from_distribution_matches_raw_scores():
    raw = [0, 3, 6, 7, 7, 8, 9, 10, 10, 10, 5]
    assert scores.nps_from_distribution(scores.distribution_of(raw)) == scores.nps(raw)


def test_nps_rejects_out_of_scale_scores():
    with pytest.raises(ValueError):
        scores.nps([12])


def test_ces_mean_and_distribution():
    result = scores.ces([1, 2, 2, 7])
    assert result.n == 4
    assert result.average == pytest.approx(3.0)
    assert result.distribution == {1: 1, 2: 2, 3: 0, 4: 0, 5: 0, 6: 0, 7: 1}
    assert result.as_dict()["distribution"]["2"] == 2


def test_ces_empty_and_out_of_scale():
    assert scores.ces([]).average is None
    with pytest.raises(ValueError):
        scores.ces([0])


def test_csat_share_of_four_and_five():
    result = scores.csat([5, 4, 3, 1, 5])
    assert (result.n, result.satisfied) == (5, 3)
    assert result.satisfied_share == pytest.approx(60.0)
    assert result.distribution == {1: 1, 2: 0, 3: 1, 4: 1, 5: 2}


def test_csat_empty_and_all_satisfied():
    assert scores.csat([]).satisfied_share is None
    assert scores.csat([4, 5]).satisfied_share == pytest.approx(100.0)


def test_summarise_dispatches_by_kind():
    assert scores.summarise("nps", {10: 1}).nps == pytest.approx(100.0)
    assert scores.summarise("ces", {3: 2}).average == pytest.approx(3.0)
    assert scores.summarise("csat", {2: 1}).satisfied_share == pytest.approx(0.0)
    with pytest.raises(ValueError):
        scores.summarise("stars", {})
