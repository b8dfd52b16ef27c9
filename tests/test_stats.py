"""sslbook.stats against scipy.stats, a loop bootstrap and cases worked by hand."""
import doctest
import math

import numpy as np
import pytest
from scipy import stats as st

from sslbook import stats


def test_doctests():
    assert doctest.testmod(stats).failed == 0


@pytest.mark.parametrize("n", [2, 3, 5, 12])
def test_t_interval_matches_scipy(n):
    x = np.random.default_rng(n).normal(0.8, 0.03, n)
    e = stats.t_interval(x)
    low, high = st.t.interval(0.95, n - 1, loc=x.mean(), scale=st.sem(x))
    assert (e.mean, e.low, e.high, e.n) == pytest.approx((x.mean(), low, high, n))


def test_three_runs_need_four_point_three_standard_errors():
    x = np.array([0.70, 0.72, 0.74])
    e = stats.t_interval(x)
    assert e.half_width / st.sem(x) == pytest.approx(4.303, abs=1e-3)


@pytest.mark.parametrize("n", [3, 6])
def test_paired_matches_scipy_ttest_rel(n):
    rng = np.random.default_rng(10 + n)
    a, b = rng.normal(0.8, 0.02, n), rng.normal(0.79, 0.02, n)
    c = stats.paired(a, b)
    ref = st.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert (c.diff, c.low, c.high, c.p, c.df) == pytest.approx((np.mean(a - b), ci.low, ci.high, ref.pvalue, n - 1))
    assert c.method == "paired t"


def test_unpaired_matches_scipy_welch():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 0.01, 4), rng.normal(0.7, 0.05, 7)
    c = stats.unpaired(a, b)
    ref = st.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (c.low, c.high, c.p, c.df) == pytest.approx((ci.low, ci.high, ref.pvalue, ref.df))
    assert c.verdict == "a"


def test_verdicts_and_margin():
    a, b = [0.80, 0.81, 0.79, 0.80], [0.75, 0.76, 0.74, 0.76]
    assert stats.paired(a, b).verdict == "a"
    assert stats.paired(b, a).verdict == "b"
    assert stats.paired(a, b, margin=0.1).verdict == "within noise"   # real but below the margin asked for
    assert stats.paired([0.8, 0.7, 0.9], [0.7, 0.9, 0.8]).verdict == "within noise"


def test_two_standard_errors_with_three_seeds_is_not_enough():
    # the old rule of the book (mean beyond 2 standard errors) calls this a win; t with 2 df does not
    a, b = np.array([0.80, 0.83, 0.86]), np.array([0.79, 0.80, 0.81])
    d = a - b
    assert d.mean() > 2 * d.std(ddof=1) / math.sqrt(3)
    assert stats.paired(a, b).verdict == "within noise"


def test_constant_differences():
    c = stats.paired([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])
    assert (c.diff, c.low, c.high, c.p, c.verdict) == (0.5, 0.5, 0.5, 0.0, "a")
    same = stats.paired([1.0, 2.0], [1.0, 2.0])
    assert (same.p, same.verdict) == (1.0, "within noise")


def loop_bootstrap(d, resamples, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), (resamples, len(d)))
    return [sum(d[i] for i in row) / len(row) for row in idx]


def test_bootstrap_matches_a_loop():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.8, 0.02, 10), rng.normal(0.78, 0.02, 10)
    c = stats.bootstrap(a, b, resamples=2000, seed=5)
    means = np.array(loop_bootstrap(a - b, 2000, 5))
    assert (c.low, c.high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert c.diff == pytest.approx(np.mean(a - b))


def test_bootstrap_agrees_with_t_for_many_normal_runs():
    rng = np.random.default_rng(1)
    a = rng.normal(0.1, 1.0, 400)
    boot, t = stats.bootstrap(a), stats.t_interval(a)
    assert boot.low == pytest.approx(t.low, abs=0.02) and boot.high == pytest.approx(t.high, abs=0.02)


def test_unpaired_bootstrap_runs_each_sample_alone():
    c = stats.bootstrap([0.9, 0.91, 0.92], [0.5, 0.52, 0.51, 0.49], is_paired=False)
    assert c.method == "bootstrap" and c.verdict == "a" and c.n == 7


def test_holm_by_hand():
    # p-values 0.01, 0.02, 0.04 at alpha 0.05: thresholds 0.0167, 0.025, 0.05 -> all three claimed;
    # 0.01, 0.03, 0.04: 0.03 > 0.025 stops there -> only the first.
    def comp(p):
        return stats.Comparison(0.1, 0.05, 0.15, p, 3.0, 4, "paired t", "a")
    assert [c.verdict for c in stats.holm({i: comp(p) for i, p in enumerate([0.04, 0.01, 0.02])}).values()] == ["a"] * 3
    out = stats.holm({i: comp(p) for i, p in enumerate([0.04, 0.01, 0.03])})
    assert [out[i].verdict for i in range(3)] == ["within noise", "a", "within noise"]


def test_accuracy_se_and_wilson():
    assert stats.accuracy_se(0.5, 100) == pytest.approx(0.05)
    e = stats.accuracy_interval(0.9, 100)
    ref = st.binomtest(90, 100).proportion_ci(0.95, method="wilson")
    assert (e.low, e.high) == pytest.approx((ref.low, ref.high))
    assert stats.accuracy_interval(1.0, 50).high == pytest.approx(1.0)


def test_rank_correlation():
    e = stats.rank_correlation([1, 2, 3, 4, 5, 6], [1, 3, 2, 4, 6, 5])
    assert e.mean == pytest.approx(st.spearmanr([1, 2, 3, 4, 5, 6], [1, 3, 2, 4, 6, 5]).statistic)
    assert -1 <= e.low < e.mean < e.high <= 1


@pytest.mark.parametrize("call,match", [
    (lambda: stats.t_interval([0.5]), "at least 2"),
    (lambda: stats.paired([0.5], [0.4]), "at least 2"),
    (lambda: stats.paired([0.5, 0.6], [0.4, 0.5, 0.6]), "same length"),
    (lambda: stats.paired([0.5, float("nan")], [0.4, 0.5]), "NaN"),
    (lambda: stats.paired([0.5, 0.6], [0.4, 0.5], level=1.0), "level"),
    (lambda: stats.paired([0.5, 0.6], [0.4, 0.5], margin=-0.1), "margin"),
    (lambda: stats.unpaired([0.5], [0.4, 0.5]), "at least 2"),
    (lambda: stats.bootstrap([0.5, 0.6], resamples=5), "resamples"),
    (lambda: stats.holm([1, 2]), "comparisons"),
    (lambda: stats.accuracy_se(1.5, 10), "accuracy"),
    (lambda: stats.accuracy_interval(0.5, 0), "n"),
    (lambda: stats.rank_correlation([1, 2, 3], [1, 2, 3]), "at least 4"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_describe_names_what_was_counted():
    c = stats.paired([0.8, 0.81, 0.82], [0.7, 0.7, 0.71])
    assert c.describe().endswith("paired t over 3 runs): above zero")
    assert stats.paired([0.7, 0.7, 0.71], [0.8, 0.81, 0.82], margin=0.02).words == "below minus the margin of 0.02"
    assert "over 3 label draws" in c.describe(unit="label draws")
    assert stats.accuracy_interval(0.9, 1500).describe(unit="test images").endswith("1,500 test images)")


def test_holm_says_which_family_and_what_it_did_not_confirm():
    out = stats.holm({key: stats.Comparison(0.1, 0.01, 0.19, p, 3.0, 4, "paired t", "a")
                      for key, p in (("x", 0.001), ("y", 0.03), ("z", 0.04))})
    assert out["x"].describe().endswith("Holm over 3 comparisons): above zero")
    assert out["y"].verdict == "within noise" and out["y"].unadjusted == "a"
    assert "unadjusted, not confirmed by Holm over 3 comparisons): within noise" in out["z"].describe()


def test_p_is_taken_against_the_margin():
    """Holm must decide the question the verdict asks: with a margin, the p-value is that of |diff| > margin."""
    a, b = [0.80, 0.82, 0.81, 0.83], [0.70, 0.71, 0.70, 0.72]
    plain, with_margin = stats.paired(a, b), stats.paired(a, b, margin=0.09)
    d = np.subtract(a, b)
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert with_margin.p == pytest.approx(2 * st.t.sf((d.mean() - 0.09) / se, len(d) - 1))
    assert with_margin.p > plain.p
    assert stats.paired(a, b, margin=0.2).p == 1.0   # the difference does not even reach the margin
    # the t p-value and the interval agree: p < 0.05 exactly when the interval clears the margin
    for m in (0.0, 0.05, 0.09, 0.1):
        c = stats.paired(a, b, margin=m)
        assert (c.p < 0.05) == (c.verdict == "a")
    w = stats.unpaired(a, b, margin=0.05)
    assert (w.p < 0.05) == (w.verdict == "a")
    boot = stats.bootstrap(a * 3, b * 3, margin=0.15, resamples=2000)
    assert boot.p == 1.0 and boot.verdict == "within noise"
