"""Calendar pacing: water-filling by hand, the fit on synthetic weekday data, the spend rule
against scipy, and the agents that use it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import learn_episode
from scipy.optimize import minimize

from budgetgym.agents import evaluate, make_agent
from budgetgym.agents.calendar_pacing import CalendarPacer, water_fill
from budgetgym.envs import load_scenario
from budgetgym.envs.brief import CampaignBrief


def test_water_fill_by_hand() -> None:
    # weights 1:2:1 for a total of 4 -> 1, 2, 1; a cap of 1.5 moves 0.5 to the others: 1.25, 1.5, 1.25
    np.testing.assert_allclose(water_fill(np.array([1.0, 2.0, 1.0]), 4.0, 10.0), [1.0, 2.0, 1.0])
    np.testing.assert_allclose(water_fill(np.array([1.0, 2.0, 1.0]), 4.0, 1.5), [1.25, 1.5, 1.25])
    # more than the caps allow: everything at the cap
    np.testing.assert_allclose(water_fill(np.array([1.0, 3.0]), 10.0, 2.0), [2.0, 2.0])


def brief_daily(horizon: int = 70) -> CampaignBrief:
    sc = load_scenario("seasonal-5").override({"horizon": horizon, "start_day": 0.0})
    return CampaignBrief.from_scenario(sc)


def test_the_fit_recovers_weekday_multipliers_from_noise_free_data() -> None:
    """y_t = m(weekday) x_t^0.5 with varying spend: the fitted multipliers match m (up to a common
    factor) and the elasticity is 0.5."""
    brief = brief_daily()
    true = np.array([1.0, 1.2, 1.5, 1.8, 1.5, 1.1, 0.8])  # Monday .. Sunday
    rng = np.random.default_rng(0)
    pacer = CalendarPacer(brief, ridge=1e-6, prior_weight=1e-6, decay_grid=(0.0,))
    days = brief.step_day_index()
    for t in range(56):
        x = 1000.0 * np.exp(0.3 * rng.standard_normal())
        pacer.observe(x, true[int(days[t]) % 7] * x**0.5)
    fit = pacer.fit()
    assert fit is not None and fit.elasticity == pytest.approx(0.5, abs=1e-3)
    got = fit.multipliers[:7] / np.exp(np.mean(np.log(fit.multipliers[:7])))
    want = true / np.exp(np.mean(np.log(true)))
    np.testing.assert_allclose(got, want, rtol=0.02)  # the yearly terms absorb a little


def test_the_multipliers_are_centred_on_the_campaign() -> None:
    """The docstring's m_t: the exponent minus its mean over the campaign's T steps (geometric mean 1
    before clipping; the docstring left the centring out)."""
    brief = brief_daily()
    pacer = CalendarPacer(brief, ridge=1e-6, prior_weight=1e-6, decay_grid=(0.0,), max_ratio=100.0)
    days = brief.step_day_index()
    for t in range(56):
        x = 1000.0 * (1.0 + 0.1 * (t % 3))
        pacer.observe(x, (1.0 + 0.3 * (int(days[t]) % 7 == 2)) * 5.0 * x**0.5)
    fit = pacer.fit()
    assert fit is not None and not np.allclose(fit.multipliers, 1.0)
    assert np.mean(np.log(fit.multipliers)) == pytest.approx(0.0, abs=1e-12)
    assert len(fit.multipliers) == brief.horizon


def test_the_calendar_is_used_only_when_the_data_support_it() -> None:
    """Noise-free weekday data: the calendar lowers the BIC and is used. Data with no calendar
    effect (value a power of spend, log-normal noise): rejected, every multiplier exactly 1."""
    brief = brief_daily()
    rng = np.random.default_rng(1)
    days = brief.step_day_index()
    weekly, flat = CalendarPacer(brief), CalendarPacer(brief)
    true = np.array([1.0, 1.2, 1.5, 1.8, 1.5, 1.1, 0.8])
    for t in range(42):
        x = 1000.0 * np.exp(0.3 * rng.standard_normal())
        weekly.observe(x, true[int(days[t]) % 7] * x**0.5 * np.exp(0.02 * rng.standard_normal()))
        flat.observe(x, x**0.5 * np.exp(0.05 * rng.standard_normal()))
    fit_w, fit_f = weekly.fit(), flat.fit()
    assert fit_w is not None and fit_f is not None
    assert fit_w.multipliers.max() / fit_w.multipliers.min() > 1.8 * 0.9  # true ratio 1.8/0.8 = 2.25
    np.testing.assert_array_equal(fit_f.multipliers, 1.0)
    # so a campaign with no calendar effect is paced flat: the remaining budget over the remaining steps
    assert flat.step_spend(42, 28 * brief.step_budget) == pytest.approx(brief.step_budget)



def test_the_fit_does_not_depend_on_the_values_unit() -> None:
    """The same weekday data valued at 1 and at 1e-40 a unit: the same multipliers. The log's offset
    ``c`` had an absolute floor (1e-3 of at least 1e-12) that dwarfed values of 1e-40, flattening the
    calendar (model_thompson on pulse-4 as revenue at 1e-40 a conversion: 66.71% against 66.84%)."""
    brief = brief_daily()
    rng = np.random.default_rng(3)
    days = brief.step_day_index()
    pacers = {1.0: CalendarPacer(brief), 1e-40: CalendarPacer(brief)}
    true = np.array([1.0, 1.2, 1.5, 1.8, 1.5, 1.1, 0.8])
    for t in range(42):
        x = 1000.0 * np.exp(0.3 * rng.standard_normal())
        y = true[int(days[t]) % 7] * x**0.5 * np.exp(0.02 * rng.standard_normal())
        for unit, pacer in pacers.items():
            pacer.observe(x, unit * y)
    fits = [pacer.fit() for pacer in pacers.values()]
    assert fits[0] is not None and fits[1] is not None
    assert fits[0].multipliers.max() / fits[0].multipliers.min() > 1.5
    np.testing.assert_allclose(fits[1].multipliers, fits[0].multipliers, rtol=1e-9)

def test_the_spend_rule_maximises_the_fitted_response() -> None:
    """x_s proportional to m_s^(1/(1-b)) (capped) equals scipy's maximiser of sum m_s x_s^b."""
    brief = brief_daily(28)
    pacer = CalendarPacer(brief, max_exponent=10.0, min_steps=1)
    m = np.array([1.0, 1.3, 0.7, 1.6, 0.9, 1.1, 1.2, 0.8])
    b = 0.6
    R, cap = 8.0 * brief.step_budget, brief.step_cap
    weights = m ** (1 / (1 - b))
    plan = water_fill(weights, R, cap)

    scale = R / 8  # SLSQP on z = x / scale, with the gradient: on x itself (values ~1e4, no gradient) it
    # stopped 1-3% from the maximiser, depending on the machine's floating point

    def neg(z: np.ndarray) -> float:
        return -float(np.sum(m * np.maximum(z, 1e-12) ** b))

    def grad(z: np.ndarray) -> np.ndarray:
        return -m * b * np.maximum(z, 1e-12) ** (b - 1)

    res = minimize(
        neg,
        np.ones(8),
        jac=grad,
        method="SLSQP",
        bounds=[(0, cap / scale)] * 8,
        constraints=[{"type": "eq", "fun": lambda z: z.sum() - 8.0, "jac": lambda z: np.ones(8)}],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert res.success
    assert -neg(plan / scale) >= -res.fun - 1e-9 * abs(res.fun)
    np.testing.assert_allclose(plan, res.x * scale, rtol=1e-6)
    assert pacer.step_spend(0, R) == pytest.approx(brief.step_budget, rel=0.2)  # before fitting: ~B/T


@pytest.mark.parametrize("name", ["greedy", "model_thompson"])
def test_paced_agents_stay_within_the_budget_and_use_it(name: str) -> None:
    sc = load_scenario("seasonal-5").override({"horizon": 28})
    (res,) = evaluate(make_agent(name, sc), sc, seeds=[1])
    assert res.spend <= sc.budget.total
    assert res.spend >= 0.99 * sc.budget.total
    flat = make_agent(name, sc, calendar_pacing=False)
    (res_flat,) = evaluate(flat, sc, seeds=[1])
    np.testing.assert_allclose(res_flat.allocation.sum(axis=1)[:-1], sc.step_budget, rtol=1e-9)


def test_even_pacing_has_no_pacer() -> None:
    sc = load_scenario("stationary-3")
    assert make_agent("greedy", sc).pacer is None and make_agent("model_thompson", sc).pacer is None


@pytest.mark.parametrize("name", ["greedy", "model_thompson"])
def test_learning_across_episodes_without_reset_keeps_the_calendar_aligned(name: str) -> None:
    """``predict(..., episode_start=[True])`` starts a new episode and keeps what was learned
    (the base docstring): the pacer's observations are indexed by their campaign step, so a second
    episode neither crashes (more observations than calendar steps) nor reads step ``T + t`` as
    another calendar day."""
    from budgetgym.envs import ChannelBudgetEnv

    sc = load_scenario("stationary-3").override(
        {"name": "paced-3", "horizon": 14, "budget.pacing": "agent", "seasonality.demand.weekly_amplitude": 0.5}
    )
    env = ChannelBudgetEnv(sc)
    agent = make_agent(name, env)
    agent.reset(seed=0)
    for episode in range(2):
        obs, _ = env.reset(seed=episode)
        for t in range(sc.horizon):
            action, _ = agent.predict(obs, episode_start=np.array([t == 0]))
            assert np.all(np.isfinite(action)) and np.all(np.abs(action) <= 1.0)
            next_obs, reward, _, _, info = env.step(action)
            agent.update(obs, action, float(reward), next_obs, info)
            obs = next_obs
    pacer = agent.pacer
    assert pacer is not None
    assert pacer.steps == [*range(sc.horizon)] * 2  # each observation at its own calendar step


@pytest.mark.parametrize("name", ["greedy", "model_thompson"])
def test_paced_agents_act_on_the_last_observation_of_a_campaign(name: str) -> None:
    """The observation after the last step (``time = 1``, e.g. the final observation a vector env
    hands back before its next-step autoreset) still gets a feasible action, after the calendar
    was fitted (the pacer used to plan an empty list of remaining steps: IndexError)."""
    from budgetgym.envs import ChannelBudgetEnv

    sc = load_scenario("stationary-3").override({"name": "paced-3", "horizon": 14, "budget.pacing": "agent"})
    env = ChannelBudgetEnv(sc)
    agent = make_agent(name, env)
    agent.reset(seed=0)
    obs = learn_episode(agent, env, seed=0)
    assert agent.pacer is not None and agent.pacer.fit() is not None
    action, _ = agent.predict(obs)
    assert action.shape == env.action_space.shape
    assert np.all(np.isfinite(action)) and np.all(np.abs(action) <= 1.0)


def test_the_pacers_carry_over_restarts_with_each_episode() -> None:
    """Two episodes of 20 steps observed in a row (steps 0..19 twice), the first ending on a burst of
    spend and the second starting low; y = 50 x~^0.8 with x~ the normalised adstock (decay 0.6) that
    restarts at the second episode, as the environment's carry-over does. The fit recovers the
    elasticity 0.8 (0.738 when the adstock ran on across the episodes, carrying the burst into the
    second episode's first steps)."""
    from budgetgym.agents.carry_over import episode_starts, normalised_adstock

    rng = np.random.default_rng(0)
    T = 20
    x = rng.uniform(0.5, 1.5, 2 * T) * 1e4
    x[T - 3 : T], x[T : T + 3] = 6e4, 2e3
    steps = np.r_[np.arange(T), np.arange(T)]
    np.testing.assert_array_equal(episode_starts(steps), np.arange(2 * T) % T == 0)
    y = 50.0 * normalised_adstock(x, 0.6, episode_starts(steps)) ** 0.8
    pacer = CalendarPacer(brief_daily(28), min_steps=5, prior_weight=1e-9, decay_grid=(0.0, 0.6))
    for xi, yi, t in zip(x, y, steps, strict=True):
        pacer.observe(float(xi), float(yi), int(t))
    fit = pacer.fit()
    assert fit is not None and fit.decay == 0.6
    assert fit.elasticity == pytest.approx(0.8, abs=5e-3)
