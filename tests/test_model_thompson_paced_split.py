"""``model_thompson`` under agent pacing with calendar pacing: the carry-over valuation of a step's spend, checked
by hand and against a direct simulation of the agent's model, the split of a paced step's total (its extra
spend valued by the mean over several posterior draws), and the fast paths of a paced step (the valuation kept within
each channel's range, the carry-over forecast, several posterior draws at once) against plain formulas."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build_scenario

import budgetgym.agents.model_thompson  # noqa: F401  (registers "model_thompson")
from budgetgym.agents.base import make_agent
from budgetgym.agents.calendar_pacing import CalendarFit
from budgetgym.agents.hill_posterior import (
    carryover_forecast,
    carryover_step_value,
    lag_mass_within,
    normalised_carryover,
    tabulate_within,
)
from budgetgym.envs import ChannelBudgetEnv
from budgetgym.envs.allocation import action_to_split, pacing_spend


def _g(a, kappa, s=1.0):
    return a**s / (a**s + kappa**s)


def test_carryover_value_of_one_geometric_channel_by_hand():
    """One channel, geometric carry-over (lag shape 1) with decay 1/2: lag weights w = 1/2, 1/4, 1/8 (CDF 1/2, 3/4,
    7/8). A lagged spend of 40 left by the past decays to 20, 10, 5 over the next three steps; 60 per step after
    step t adds 60 F_{l-1} = 0, 30, 45. So the levels without step t's spend are b = 20, 40, 50, and x = 100 at
    step t lifts them by w x = 50, 25, 12.5. With kappa = 100, slope 1 and step scales c = 2, 1, 1:
    V = 2 (70/170 - 20/120) + (65/165 - 40/140) + (62.5/162.5 - 50/150)."""
    decays = np.array([0.5])
    past = carryover_forecast(np.full((1, 1, 1), 40.0), decays, 3)[:, 0, 0, 0]
    np.testing.assert_allclose(past, [20.0, 10.0, 5.0])
    landed = lag_mass_within(np.arange(1, 4), np.ones(1), decays)
    np.testing.assert_allclose(landed, [0.5, 0.75, 0.875])
    value = carryover_step_value(
        np.array([[0.0], [100.0]]), np.array([[2.0], [1.0], [1.0]]), np.array([100.0]), np.ones(1),
        landed[:, None], past[:, None], np.array([60.0]),
    )
    by_hand = 2 * (70 / 170 - 20 / 120) + (65 / 165 - 40 / 140) + (62.5 / 162.5 - 50 / 150)
    assert value[0, 0] == 0.0
    assert value[1, 0] == pytest.approx(by_hand, rel=1e-12)
    # several draws at once (a leading axis): a second draw without carry-over (decay 0: w = 1, 0, 0) has no carried
    # level left (p = 0), later spend 60 F_{l-1} = 0, 60, 60, so x = 100 adds only 2 (100/200 - 0) = 1 at step t
    two = carryover_step_value(
        np.array([[100.0]]), np.array([[[2.0], [1.0], [1.0]]] * 2), np.array([[100.0], [100.0]]), np.ones((2, 1)),
        np.stack([landed[:, None], np.ones((3, 1))]), np.stack([past[:, None], np.zeros((3, 1))]), np.array([60.0]),
    )
    assert two.shape == (2, 1, 1)
    np.testing.assert_allclose(two[:, 0, 0], [by_hand, 1.0], rtol=1e-12)
    # the three parts add up: with 60 spent at every step (past, t and later), every level is 60
    steady = carryover_forecast(np.full((1, 1, 1), 60.0), decays, 3)[:, 0, 0, 0]
    np.testing.assert_allclose(steady + 60.0 * np.r_[0.0, landed[:-1]] + 60.0 * np.diff(np.r_[0.0, landed]), 60.0)


@pytest.mark.parametrize("shape", [1, 2, 3])
def test_carryover_value_is_the_response_a_simulated_spend_path_adds(shape):
    """Against the agent's model run step by step (the cascade of normalised filters the posterior fits): spends
    before step t, then x at step t, then y at every later step; V(x) is the scaled Hill response of steps
    t..t+R-1 with x minus that with 0, for a negative-binomial lag of each shape."""
    theta, kappa, slope, y, R = 0.7, 150.0, 2.0, 80.0, 6
    history = [120.0, 0.0, 200.0, 50.0]
    scale = np.linspace(1.5, 0.5, R)
    decays = np.array([theta])

    def simulated(x):
        state = np.zeros((shape, 1))
        for spend in history:
            state = normalised_carryover(state, np.array(spend), decays)
        total = 0.0
        for step, spend in enumerate([x] + [y] * (R - 1)):
            state = normalised_carryover(state, np.array(spend), decays)
            total += scale[step] * _g(state[-1, 0], kappa, slope)
        return total

    state = np.zeros((1, shape, 1))
    for spend in history:
        state = normalised_carryover(state, np.array([spend]), decays)
    past = carryover_forecast(state, decays, R)[:, :, shape - 1, 0]  # [R, 1]
    landed = lag_mass_within(np.arange(1, R + 1)[:, None], np.array([shape]), decays)
    xs = np.array([[0.0], [30.0], [300.0], [2000.0]])
    value = carryover_step_value(xs, scale[:, None], np.array([kappa]), np.array([slope]), landed, past, np.array([y]))
    expected = [simulated(x) - simulated(0.0) for x in xs[:, 0]]
    np.testing.assert_allclose(value[:, 0], expected, rtol=1e-10, atol=1e-14)


def _two_channel_agent(monkeypatch, multipliers, value_draws=8, later_decays=(0, 1), later_beta=(0.702, 1.0)):
    """A 10-step campaign (B/T = 100, step cap 200) and a stubbed posterior draw: channel 0 converts at once
    (decay 0) and saturates early (kappa = 30), channel 1 carries over (geometric, decay 0.8) and saturates late
    (kappa = 300); ``multipliers`` is the pacer's calendar fit (``None``: not fitted yet, the step plays B/T).
    The draws after the first (those that value the paced difference) take the decays of the grid indices
    ``later_decays`` (of 0, 0.8) and the scales ``later_beta``, the rest unchanged."""
    sc = build_scenario(n_channels=2, horizon=10, budget__pacing="agent")
    agent = make_agent("model_thompson", sc, seed=0, decays=[0.0, 0.8], lag_shapes=[1], value_draws=value_draws)
    post = agent.posterior

    def point(decay_at, beta):
        zero = np.zeros(2, int)
        index = np.ravel_multi_index((zero, np.asarray(decay_at), zero, zero), post.shape)
        return {"index": index, "beta": np.asarray(beta, dtype=float), "kappa": np.array([30.0, 300.0]),
                "slope": np.ones(2), "decay": np.array([0.0, 0.8])[list(decay_at)], "shape": np.ones(2)}

    draw = point((0, 1), (0.702, 1.0))
    drawn = iter([draw] + [point(later_decays, later_beta)] * (value_draws - 1))
    monkeypatch.setattr(post, "samples", lambda rng, n: [next(drawn) for _ in range(n)])  # sample() draws one
    fit = None if multipliers is None else CalendarFit(0.5, 0.0, np.asarray(multipliers, dtype=float))
    monkeypatch.setattr(agent.pacer, "fit", lambda: fit)
    return sc, agent, draw


def _campaign(q, played, y, m, beta, kappa, decays):
    """Modelled conversions of the campaign with a share ``q`` of step 0's ``played`` on channel 0, the later steps
    spending ``y`` per channel, by direct simulation of the geometric carry-over of each channel's ``decays``."""
    total = np.zeros_like(q)
    for i, decay in enumerate(decays):
        x0 = q * played if i == 0 else (1 - q) * played
        level = np.zeros_like(q)
        for step in range(len(m)):
            level = (1 - decay) * (x0 if step == 0 else y[i]) + decay * level
            total += m[step] * beta[i] * _g(level, kappa[i])
    return total


def _best_share(value, low=0.0, high=1.0, n=200_001):
    q = np.linspace(low, high, n)
    return q[np.argmax(value(q))]


def _busy_step(sc, agent, draw):
    """The busy step's numbers both tests below check against: the steady-state share of the B/T split (brute force
    over the Thompson draw's curves, channel 1 scaled by the share of its lag within the 10 steps, 1 - 0.8^10), the
    agent's action, the spend it played, the later steps' spend (B/T's split) and the calendar multipliers."""
    beta, kappa = draw["beta"], draw["kappa"]
    unit, T = 100.0, 10
    reach = np.array([1.0, 1.0 - 0.8**T])
    steady = _best_share(lambda q: reach[0] * beta[0] * _g(q * unit, kappa[0])
                         + reach[1] * beta[1] * _g((1 - q) * unit, kappa[1]))
    obs, _ = ChannelBudgetEnv(sc).reset(seed=0)
    action, _ = agent.predict(obs)
    played = pacing_spend(float(action[-1]), sc.budget.total, sc.step_cap)
    m = np.r_[2.0, np.ones(T - 1)]
    y = np.array([steady, 1 - steady]) * (sc.budget.total - played) / (T - 1)  # the later steps: B/T's split
    return steady, action, played, y, m


def test_a_busy_step_splits_its_extra_spend_by_what_it_adds_with_carry_over(monkeypatch):
    """Step 0 is twice as busy as the rest (calendar multiplier 2), so the pacer plays the step cap, 2 B/T = 200.
    The B/T split is the steady-state one (brute force over the drawn curves, channel 1 scaled by the share of its
    lag within the 10 steps, 1 - 0.8^10); the extra B/T goes where it adds most to the modelled response of the
    campaign, simulated here step by step (channel 0's conversions land on the busy step, channel 1's spread over
    the quiet ones, 0.2 of a step's effect at once). Channel 0, near saturation, takes 23 of the extra 100: 43.5%
    of the step, not the 64% of the B/T split scaled up."""
    sc, agent, draw = _two_channel_agent(monkeypatch, [2.0] + [1.0] * 9)
    beta, kappa, unit = draw["beta"], draw["kappa"], 100.0
    steady, action, played, y, m = _busy_step(sc, agent, draw)
    assert played == pytest.approx(2 * unit)

    def campaign(q):  # modelled conversions of the campaign with q of step 0 on channel 0, by direct simulation
        return _campaign(q, played, y, m, beta, kappa, (0.0, 0.8))

    # the extra spend goes on top of the B/T split: channel 0 between its B/T spend and that plus B/T
    best = _best_share(campaign, steady * unit / played, (steady * unit + unit) / played)
    share = action_to_split(action[:2], sc.action.logit_scale, np.zeros(2), np.ones(2))[0]
    assert share == pytest.approx(best, abs=0.01)  # one cell of alloc_grid (0.5%) plus the logits' rounding
    assert share < steady - 0.15  # not the B/T split's share


def test_a_step_at_b_over_t_keeps_the_steady_state_split(monkeypatch):
    """Before the pacer's first fit a step spends B/T: the carry-over valuation may only move the spend the pacer
    adds or removes, so the split is the steady-state one (within one cell of the grid)."""
    sc, agent, draw = _two_channel_agent(monkeypatch, None)
    obs, _ = ChannelBudgetEnv(sc).reset(seed=0)
    action, _ = agent.predict(obs)
    assert pacing_spend(float(action[-1]), sc.budget.total, sc.step_cap) == pytest.approx(100.0)
    landed = agent.landed_within(sc.horizon, draw["index"])
    steady = agent.allocate(landed * draw["beta"], draw["kappa"], draw["slope"], 100.0)
    share = action_to_split(action[:2], sc.action.logit_scale, np.zeros(2), np.ones(2))
    np.testing.assert_allclose(share, steady, atol=0.006)


def test_the_extra_spend_is_split_by_the_mean_value_over_posterior_draws(monkeypatch):
    """The busy step of the test above, valued by two draws: the Thompson draw (channel 1 carries over, decay 0.8)
    and one in which channel 1 converts at once (decay 0) with 1.4 times the scale. The extra B/T is split to maximise
    the mean of the two simulated campaigns, not either one: in the second draw channel 1's burst lands on the busy
    step (multiplier 2), so channel 0 keeps less of the extra spend than under the first draw alone. The B/T split
    and the later steps' spend stay the Thompson draw's."""
    later_beta = np.array([0.702, 1.4])
    sc, agent, draw = _two_channel_agent(
        monkeypatch, [2.0] + [1.0] * 9, value_draws=2, later_decays=(0, 0), later_beta=later_beta
    )
    beta, kappa, unit = draw["beta"], draw["kappa"], 100.0
    steady, action, played, y, m = _busy_step(sc, agent, draw)
    low, high = steady * unit / played, (steady * unit + unit) / played
    first = _best_share(lambda q: _campaign(q, played, y, m, beta, kappa, (0.0, 0.8)), low, high)
    second = _best_share(lambda q: _campaign(q, played, y, m, later_beta, kappa, (0.0, 0.0)), low, high)
    mean = _best_share(lambda q: _campaign(q, played, y, m, beta, kappa, (0.0, 0.8))
                       + _campaign(q, played, y, m, later_beta, kappa, (0.0, 0.0)), low, high)
    share = action_to_split(action[:2], sc.action.logit_scale, np.zeros(2), np.ones(2))[0]
    assert share == pytest.approx(mean, abs=0.01)
    assert second + 0.03 < share < first - 0.03  # neither draw's best split (0.335 and 0.433; the mean's: 0.373)


# -- the fast paths of a paced step: each against a plain formula, on seeded inputs ------------------------------
def _paced_inputs(seed, M=4, R=9, K=3, G=41):
    """Seeded inputs of a paced step's valuation: ``M`` draws, ``R`` steps left, ``K`` channels, ``G`` spends."""
    rng = np.random.default_rng(seed)
    landed = np.cumsum(rng.dirichlet(np.ones(R + 2), size=(M, K))[..., :R], axis=-1).transpose(0, 2, 1)  # F_l
    return {
        "spend": np.linspace(0.0, 300.0, G)[:, None],
        "scale": rng.gamma(2.0, 1.0, (M, R, K)),
        "kappa": np.exp(rng.normal(4.5, 1.0, (M, K))),
        "slope": rng.choice([0.5, 1.0, 2.5], (M, K)),
        "landed": landed,
        "past": rng.gamma(1.0, 40.0, (M, R, K)),
        "future": rng.gamma(1.0, 40.0, K),
    }


def _mean_value_by_formula(p):
    """The mean over draws of V(x) = sum_l c_l [g(b_l + w_l x) - g(b_l)], b_l = p_l + y F_{l-1}, w_l = F_l - F_{l-1},
    g(a) = a^s / (a^s + kappa^s), written out cell by cell, ``[G, K]``."""
    x = p["spend"][:, 0]
    M, R, K = p["scale"].shape
    out = np.zeros((len(x), K))
    for m in range(M):
        for i in range(K):
            F = p["landed"][m, :, i]
            before = np.r_[0.0, F[:-1]]
            b = p["past"][m, :, i] + p["future"][i] * before
            w = F - before
            kappa, s = p["kappa"][m, i], p["slope"][m, i]
            for g, xg in enumerate(x):
                out[g, i] += np.sum(p["scale"][m, :, i] * (_g(b + w * xg, kappa, s) - _g(b, kappa, s))) / M
    return out


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ([60.0, 0.0, 150.0], [120.0, 45.0, 300.0]),  # inside, from the grid's first spend, to its last
        ([-50.0, -1.0, 280.0], [500.0, 0.0, 1e9]),  # past both edges (the whole grid), the first spend only, the last
        ([75.0, 76.0, 300.0], [75.0, 76.0, 300.0]),  # zero width: on a grid spend (one cell), between two (none)
        ([100.0, 200.0, 310.0], [90.0, 199.0, 400.0]),  # low above high; a range beyond the grid: nothing kept
    ],
)
def test_tabulate_within_is_the_mean_value_inside_each_channels_range(low, high):
    """The valuation of a paced step kept only where low_i <= x <= high_i (-inf elsewhere) equals the plain formula
    there to 1e-9, and the whole table's values (every spend valued, then masked) to the last bit: the split, and so
    every action, is the one the whole table gave."""
    p = _paced_inputs(0)
    low, high = np.array(low), np.array(high)
    x = p["spend"]
    got = tabulate_within(x, low, high, p["scale"], p["kappa"], p["slope"], p["landed"], p["past"], p["future"])
    kept = (x >= low) & (x <= high)
    assert got.shape == (len(x), 3)
    assert np.all(got[~kept] == -np.inf)
    np.testing.assert_allclose(got[kept], _mean_value_by_formula(p)[kept], rtol=1e-9, atol=1e-12)
    whole = carryover_step_value(x, p["scale"], p["kappa"], p["slope"], p["landed"], p["past"], p["future"])
    np.testing.assert_array_equal(got, np.where(kept, whole.mean(axis=0), -np.inf))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tabulate_within_matches_the_whole_table_on_seeded_steps(seed):
    """Random sizes (one draw and one step left included) and ranges of random width: the kept cells are the whole
    table's to the last bit and the plain formula's to 1e-9."""
    rng = np.random.default_rng(seed)
    M, R, K, G = int(rng.integers(1, 9)), int(rng.integers(1, 40)), int(rng.integers(2, 6)), 51
    p = _paced_inputs(seed, M, R, K, G)
    low = rng.uniform(-20.0, 300.0, K)
    high = low + rng.choice([0.0, 6.0, 30.0, 400.0], K)
    x = p["spend"]
    got = tabulate_within(x, low, high, p["scale"], p["kappa"], p["slope"], p["landed"], p["past"], p["future"])
    kept = (x >= low) & (x <= high)
    whole = carryover_step_value(x, p["scale"], p["kappa"], p["slope"], p["landed"], p["past"], p["future"])
    np.testing.assert_array_equal(got, np.where(kept, whole.mean(axis=0), -np.inf))
    np.testing.assert_allclose(got[kept], _mean_value_by_formula(p)[kept], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("steps", [0, 1, 12])
def test_carryover_forecast_is_the_lag_kernels_sum_over_the_past_spends(steps):
    """Stage k of row l is sum_j w^(k)_{n+l-j} x_j over the spends x_0..x_{n-1} so far (nothing spent from step n
    on), with the negative-binomial weights w^(k)_m = C(m+k-1, m) (1-theta)^k theta^m: to 1e-9, and to the last bit
    the state that normalised_carryover reaches with zero spends, step after step."""
    from scipy.special import comb

    rng = np.random.default_rng(7)
    decays = np.array([0.0, 0.3, 0.75, 0.92])
    history = rng.uniform(0.0, 200.0, (15, 2))  # [n, K]
    state = np.zeros((2, 3, len(decays)))
    for spend in history:
        state = normalised_carryover(state, spend, decays)
    got = carryover_forecast(state, decays, steps)
    assert got.shape == (steps, 2, 3, len(decays))
    n = len(history)
    for row in range(steps):
        for k in (1, 2, 3):
            lag = n + row - np.arange(n)  # the lag of each past spend at step n + row
            w = comb(lag[:, None] + k - 1, lag[:, None]) * (1 - decays) ** k * decays ** lag[:, None]  # [n, theta]
            np.testing.assert_allclose(got[row, :, k - 1, :], history.T @ w, rtol=1e-9, atol=1e-12)
    stepped = state
    for row in range(steps):
        stepped = normalised_carryover(stepped, np.zeros(2), decays)
        np.testing.assert_array_equal(got[row], stepped)


def test_samples_are_the_draws_of_one_sample_after_another():
    """n draws with the grid weights computed once are those of n calls of sample() from the same generator state,
    and each is the inverse-CDF draw u ~ U(0, sum pi), j = #{cumulative weights < u}, beta ~ Gamma(a, 1/b_j)."""
    from budgetgym.agents.hill_posterior import HillGridPosterior

    post = HillGridPosterior(3, np.geomspace(10.0, 1000.0, 9), np.array([0.5, 1.0, 2.5]), np.array([0.0, 0.5, 0.8]),
                             1.0, 0.01, None, 0.99, None, (1, 2))
    rng = np.random.default_rng(3)
    for _ in range(6):
        post.update(rng.uniform(0.0, 300.0, 3), rng.poisson(20.0, 3).astype(float))
    draws = post.samples(np.random.default_rng(11), 5)
    one_by_one = np.random.default_rng(11)
    by_formula = np.random.default_rng(11)
    cdf = np.cumsum(np.exp(post.log_weights()), axis=1)
    a, b = post.gamma_parameters()
    assert len(draws) == 5
    for draw in draws:
        single = post.sample(one_by_one)
        u = by_formula.random(3) * cdf[:, -1]
        index = (cdf < u[:, None]).sum(axis=1)
        beta = by_formula.gamma(a, 1.0 / b[np.arange(3), index])
        np.testing.assert_array_equal(draw["index"], index)
        np.testing.assert_array_equal(draw["beta"], beta)
        for key in draw:
            np.testing.assert_array_equal(draw[key], single[key])
        np.testing.assert_array_equal(draw["kappa"], post.grid_kappa[index])
    untouched = np.random.default_rng(11)
    assert post.samples(untouched, 0) == []
    assert untouched.random() == np.random.default_rng(11).random()  # no draw, no random number used
