"""Behaviour of the ``model_thompson`` agent: posterior maths checked by hand and by quadrature,
concentration on synthetic data, the one-step split, feasible episodes, learning beats the
equal split, persistence, seeding and parameter validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import learn_episode
from scipy import integrate, stats

import budgetgym.agents.model_thompson as mt  # registers "model_thompson"
from budgetgym.agents.base import load_agent, make_agent
from budgetgym.agents.evaluation import evaluate
from budgetgym.envs import BudgetGymError, ChannelBudgetEnv, load_scenario
from budgetgym.envs.oracle import check_plan


def _posterior(kappa, slopes=(1.0,), decays=(0.0,), a0=2.0, b0=0.5, dispersion=1.0, discount=1.0, n=1):
    return mt.HillGridPosterior(
        n, np.atleast_1d(np.asarray(kappa, float)), np.asarray(slopes), np.asarray(decays), a0, b0, dispersion, discount
    )


def _hill(x, kappa, s=1.0):
    return x**s / (x**s + kappa**s)


# ---------------------------------------------------------------------------- posterior maths
def test_gamma_posterior_on_a_one_point_grid_matches_hand_computation():
    spends, convs = [100.0, 300.0, 50.0], [4.0, 9.0, 1.0]
    kappa, a0, b0 = 200.0, 2.0, 0.5
    post = _posterior(kappa, a0=a0, b0=b0)
    for x, c in zip(spends, convs, strict=True):
        post.update(np.array([x]), np.array([c]))
    a, b = post.gamma_parameters()
    # no carry-over (theta = 0), slope 1: g = x / (x + kappa)
    g = [100 / 300, 300 / 500, 50 / 250]
    assert a[0] == pytest.approx(a0 + 14.0)
    assert b[0, 0] == pytest.approx(b0 + sum(g))
    assert post.log_weights()[0, 0] == pytest.approx(0.0)  # a single grid point has all the mass


def test_discount_dispersion_and_carryover_weights_by_hand():
    # theta = 0.5: abar_0 = 0.5*100 = 50, abar_1 = 0.5*0 + 0.5*50 = 25, abar_2 = 0.5*200 + 12.5 = 112.5
    kappa, gam, phi, a0, b0 = 50.0, 0.8, 2.0, 1.0, 0.1
    post = _posterior(kappa, decays=(0.5,), a0=a0, b0=b0, dispersion=phi, discount=gam)
    for x, c in [(100.0, 3.0), (0.0, 2.0), (200.0, 5.0)]:
        post.update(np.array([x]), np.array([c]))
    g = np.array([50 / 100, 25 / 75, 112.5 / 162.5])
    c = np.array([3.0, 2.0, 5.0])
    w = np.array([gam**2, gam, 1.0]) / phi  # ages 2, 1, 0, tempered by 1/phi
    a, b = post.gamma_parameters()
    assert a[0] == pytest.approx(a0 + (w * c).sum())
    assert b[0, 0] == pytest.approx(b0 + (w * g).sum())
    # the log marginal likelihood of the grid point, with the tempered sums
    expected = (
        a0 * math.log(b0) - math.lgamma(a0) + math.lgamma(a[0]) - a[0] * math.log(b0 + (w * g).sum())
        + (w * c * np.log(g)).sum()
    )
    assert post.log_marginal_likelihood()[0, 0] == pytest.approx(expected)


def test_automatic_dispersion_is_capped_at_max_dispersion():
    """The docstring's phi has an upper bound too (it gave only the floor of 1)."""
    post = _posterior(np.array([1000.0]), slopes=(1.0,), dispersion=None, a0=1.0, b0=0.01)
    for c in [0.0, 1e7] * 10:  # wildly over-dispersed counts at one spend
        post.update(np.array([1000.0]), np.array([c]))
    assert post.dispersion[0] == post.MAX_DISPERSION == 1000.0


@pytest.mark.parametrize("k", [None, 5.0])
def test_automatic_dispersion_estimates_the_pearson_overdispersion(k):
    rng = np.random.default_rng(8)
    beta, kappa = 300.0, 1000.0
    post = _posterior(np.geomspace(100.0, 1e4, 25), slopes=(0.5, 1.0, 2.0), dispersion=None, a0=1.0, b0=0.01)
    mus = []
    for _ in range(300):
        x = rng.uniform(0.3, 3.0) * kappa
        mu = beta * _hill(x, kappa)
        c = rng.poisson(mu) if k is None else rng.negative_binomial(k, k / (k + mu))
        post.update(np.array([x]), np.array([float(c)]))
        mus.append(mu)
    # Var = mu (1 + mu / k): the Pearson dispersion is the mean of 1 + mu / k
    truth = 1.0 if k is None else float(np.mean(1.0 + np.array(mus) / k))
    assert post.dispersion[0] == pytest.approx(truth, rel=0.2)


@pytest.mark.parametrize("theta", [0.0, 0.3, 0.8])
def test_lag_kernels_are_negative_binomial_and_sum_to_one(theta):
    decays = np.array([theta])
    state = np.zeros((3, 1))  # stages k = 1, 2, 3
    response = []
    for x in [1.0] + [0.0] * 59:  # an impulse of spend at step 0
        state = mt.normalised_carryover(state, x, decays)
        response.append(state[:, 0].copy())
    response = np.array(response)  # [lag, k]
    for k in (1, 2, 3):
        expected = stats.nbinom.pmf(np.arange(60), k, 1.0 - theta)
        np.testing.assert_allclose(response[:, k - 1], expected, atol=1e-12)
        for steps in (1, 4, 20):
            assert mt.lag_mass_within(steps, k, theta) == pytest.approx(response[:steps, k - 1].sum())
    assert mt.lag_mass_within(5, 1, theta) == pytest.approx(1.0 - theta**5)


def test_grid_weights_follow_the_marginal_likelihood_ratio():
    kappas = np.array([100.0, 1000.0])
    a0, b0 = 1.5, 0.2
    post = _posterior(kappas, a0=a0, b0=b0)
    data = [(50.0, 2.0), (400.0, 7.0), (900.0, 9.0), (150.0, 4.0)]
    for x, c in data:
        post.update(np.array([x]), np.array([c]))
    x = np.array([d[0] for d in data])
    c = np.array([d[1] for d in data])
    C = c.sum()
    g1, g2 = _hill(x, 100.0), _hill(x, 1000.0)
    expected = (c * np.log(g1 / g2)).sum() - (a0 + C) * np.log((b0 + g1.sum()) / (b0 + g2.sum()))
    lw = post.log_weights()[0]
    assert lw[0] - lw[1] == pytest.approx(expected)
    assert np.exp(lw).sum() == pytest.approx(1.0)


def test_marginal_likelihood_formula_matches_numerical_integration():
    kappa, a0, b0 = 300.0, 2.0, 0.05
    post = _posterior(kappa, a0=a0, b0=b0)
    data = [(100.0, 6.0), (500.0, 17.0), (250.0, 11.0)]
    for x, c in data:
        post.update(np.array([x]), np.array([c]))
    g = np.array([_hill(x, kappa) for x, _ in data])
    c = np.array([d[1] for d in data])

    def integrand(beta: float) -> float:
        return float(np.prod(stats.poisson.pmf(c, beta * g)) * stats.gamma.pdf(beta, a0, scale=1.0 / b0))

    numeric, _ = integrate.quad(integrand, 0.0, 500.0, points=[30.0, 60.0], limit=200)
    log_fact = sum(math.lgamma(ci + 1.0) for ci in c)
    assert post.log_marginal_likelihood()[0, 0] - log_fact == pytest.approx(math.log(numeric), rel=1e-6)


def test_posterior_concentrates_near_the_true_curve():
    rng = np.random.default_rng(3)
    beta, kappa, slope, theta = 80.0, 2000.0, 1.0, 0.4
    post = _posterior(
        np.geomspace(50.0, 1e5, 49), slopes=(0.5, 1.0, 2.0), decays=(0.0, 0.4, 0.8), a0=1.0, b0=0.01
    )
    carry = 0.0
    for _ in range(400):
        x = rng.uniform(0.1, 4.0) * kappa
        carry = (1 - theta) * x + theta * carry
        c = rng.poisson(beta * _hill(carry, kappa, slope))
        post.update(np.array([x]), np.array([float(c)]))
    mode = post.mode()
    assert mode["slope"][0] == slope
    assert mode["decay"][0] == theta
    assert 0.75 * kappa < mode["kappa"][0] < 1.33 * kappa
    assert 0.85 * beta < mode["beta"][0] < 1.15 * beta
    # posterior draws of the curve at the operating spend are close to the truth
    draws = [post.sample(rng) for _ in range(200)]
    at_kappa = np.array([d["beta"][0] * _hill(kappa, d["kappa"][0], d["slope"][0]) for d in draws])
    assert abs(np.median(at_kappa) - beta / 2) < 0.1 * beta / 2


# ------------------------------------------------------------------------------ the split
def test_allocate_matches_the_closed_form_two_channel_optimum():
    env = ChannelBudgetEnv(load_scenario("stationary-3").override({"channels.video.max_share": 0.0}))
    agent = make_agent("model_thompson", env, alloc_grid=2001)
    S = 6000.0
    b = np.array([300.0, 120.0, 1.0])
    k = np.array([2500.0, 1500.0, 1000.0])
    split = agent.allocate(b, k, np.ones(3), S)
    # maximise b1 x/(x+k1) + b2 (S-x)/(S-x+k2): sqrt(b1 k1)/(x+k1) = sqrt(b2 k2)/(S-x+k2)
    r1, r2 = math.sqrt(b[0] * k[0]), math.sqrt(b[1] * k[1])
    x_star = (r1 * (S + k[1]) - r2 * k[0]) / (r1 + r2)
    assert split[2] == 0.0
    assert split.sum() == pytest.approx(1.0)
    assert split[0] * S == pytest.approx(x_star, abs=S / 2000)


def test_allocate_respects_locked_and_bounded_shares():
    sc = load_scenario("stationary-5").override(
        {"channels.email.locked_share": 0.137, "channels.search.max_share": 0.3, "channels.display.min_share": 0.11}
    )
    agent = make_agent("model_thompson", ChannelBudgetEnv(sc))
    split = agent.allocate(np.array([1e4, 1.0, 1.0, 1.0, 1.0]), np.full(5, 1e3), np.ones(5), sc.step_budget)
    assert split.sum() == pytest.approx(1.0)
    assert split[4] == pytest.approx(0.137)
    # the dominant channel is capped: at its bound, to within one cell of the split grid
    cell = (1.0 - 0.137) / (agent.params.alloc_grid - 1)
    assert 0.3 - cell <= split[0] <= 0.3 + 1e-12
    assert split[2] >= 0.11 - 1e-12


# ------------------------------------------------------------------------------- episodes
def _play(agent, env, seed, steps=None):
    agent.reset(seed=seed)
    obs, _ = env.reset(seed=seed)
    actions, spends = [], []
    for _ in range(steps or env.horizon):
        action, _ = agent.predict(obs)
        nxt, reward, _, _, info = env.step(action)
        agent.update(obs, action, reward, nxt, info)
        actions.append(np.array(action))
        spends.append(info["spend"].copy())
        obs = nxt
    return np.array(actions), np.array(spends)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"budget.pacing": "agent", "channels.social.min_share": 0.2, "channels.video.locked_share": 0.1},
        {"reward": "revenue", "channels.search.value.mean": 30.0, "channels.social.max_share": 0.25},
    ],
    ids=["even", "agent-pacing-bounds", "revenue"],
)
def test_full_episodes_produce_feasible_actions(changes):
    sc = load_scenario("stationary-3").override(changes) if changes else load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    agent = make_agent("model_thompson", env)
    for seed in (0, 1):
        actions, spends = _play(agent, env, seed)
        assert actions.shape == (sc.horizon, *env.action_space.shape)
        assert np.all(np.isfinite(actions)) and np.all(np.abs(actions) <= 1.0)
        assert check_plan(sc, spends) == []
        assert spends.sum() == pytest.approx(sc.budget.total, rel=1e-6)


class _EqualSplit:
    name = "equal"

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.zeros(3, dtype=np.float32), state


def test_beats_the_equal_split_on_stationary_3():
    seeds = [0, 1, 2, 3]
    agent = make_agent("model_thompson", ChannelBudgetEnv("stationary-3"))
    learned = np.mean([r.pct_of_oracle for r in evaluate(agent, "stationary-3", seeds)])
    equal = np.mean([r.pct_of_oracle for r in evaluate(_EqualSplit(), "stationary-3", seeds)])
    assert learned > equal + 2.0


def test_reset_forgets_the_campaign():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("model_thompson", env)
    first, _ = _play(agent, env, seed=5)
    again, _ = _play(agent, env, seed=5)  # _play resets the agent: a new campaign
    np.testing.assert_array_equal(first, again)


def test_lag_mass_table_holds_scipys_cdf_bit_for_bit():
    """The table the agent reads each step is the negative-binomial CDF that it evaluated each step before:
    every entry the same float as a direct scalar scipy call, and as the broadcast call acting made."""
    shapes, decays, T = np.array([1, 2, 3]), np.array([0.0, 0.2, 0.6, 0.85, 0.92, 0.999]), 60
    table = mt.lag_mass_table(T, shapes, decays)
    assert table.shape == (T, 3, 6)
    for s in range(1, T + 1):
        for i, k in enumerate(shapes):
            for j, theta in enumerate(decays):
                assert table[s - 1, i, j] == stats.nbinom.cdf(s - 1, float(k), 1.0 - theta), (s, k, theta)
    k, theta = np.array([2, 1, 3, 1]), np.array([0.6, 0.0, 0.92, 0.85])  # four channels' drawn grid points
    np.testing.assert_array_equal(table[6, [1, 0, 2, 0], [2, 0, 4, 3]], stats.nbinom.cdf(6, k * 1.0, 1.0 - theta))
    assert table[0, 0, 0] == 1.0 and table[0, 0, 3] == pytest.approx(1.0 - 0.85)  # by hand: P(L = 0) = 1 - theta


@pytest.mark.parametrize("name", ["stationary-3", "pulse-4"])  # even pacing; agent pacing with calendar pacing
def test_actions_are_those_of_the_cdf_evaluated_every_step(name):
    """The table changes no action: the agent against itself with the lag mass evaluated by scipy on every
    step (the code before the table), the same seeded episodes, action for action, to the bit."""
    env, ref_env = ChannelBudgetEnv(name), ChannelBudgetEnv(name)
    agent, ref = make_agent("model_thompson", env), make_agent("model_thompson", ref_env)
    post = ref.posterior

    def before(steps, index):  # what act() called before the table, with the drawn grid point's shape and decay
        return mt.lag_mass_within(steps, post.grid_shape[index], post.grid_decay[index])

    ref.landed_within = before
    for seed in (0, 3):
        actions, spends = _play(agent, env, seed)
        ref_actions, ref_spends = _play(ref, ref_env, seed)
        np.testing.assert_array_equal(actions, ref_actions)
        np.testing.assert_array_equal(spends, ref_spends)
    if name == "pulse-4":
        assert np.ptp(spends.sum(axis=1)) > 0  # the agent timed its spend: the [steps left, channel] table was read


# ------------------------------------------------------------------ seeding and persistence
def test_same_seed_same_actions_and_different_seed_different_actions():
    env = ChannelBudgetEnv("stationary-3")
    a1, _ = _play(make_agent("model_thompson", env), env, seed=11)
    a2, _ = _play(make_agent("model_thompson", env), env, seed=11)
    a3, _ = _play(make_agent("model_thompson", env), env, seed=12)
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, a3)


def test_save_load_continues_with_the_same_actions(tmp_path):
    sc = load_scenario("stationary-3").override({"reward": "revenue", "budget.pacing": "agent"})
    env = ChannelBudgetEnv(sc)
    agent = make_agent("model_thompson", env, discount=0.95, dispersion=1.5)
    agent.reset(seed=4)
    obs, _ = env.reset(seed=4)
    for _ in range(6):
        action, _ = agent.predict(obs)
        nxt, reward, _, _, info = env.step(action)
        agent.update(obs, action, reward, nxt, info)
        obs = nxt
    path = tmp_path / "mt.json"
    agent.save(path)
    loaded = load_agent(path, env)
    assert isinstance(loaded, mt.ModelThompsonAgent) and loaded.params == agent.params
    for _ in range(sc.horizon - 6):
        a_orig, _ = agent.predict(obs)
        a_load, _ = loaded.predict(obs)
        np.testing.assert_array_equal(a_orig, a_load)
        nxt, reward, _, _, info = env.step(a_orig)
        agent.update(obs, a_orig, reward, nxt, info)
        loaded.update(obs, a_load, reward, nxt, info)
        obs = nxt


def test_greedy_mode_is_deterministic_without_new_data():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("model_thompson", env, greedy_when_deterministic=True)
    _play(agent, env, seed=2, steps=5)
    obs = env._observation()
    a1, _ = agent.predict(obs, deterministic=True)
    a2, _ = agent.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    s1, _ = agent.predict(obs, deterministic=False)
    s2, _ = agent.predict(obs, deterministic=False)
    assert not np.array_equal(s1, s2)  # sampling otherwise


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "params, field",
    [
        ({"discount": 1.5}, "discount"),
        ({"discount": 0.0}, "discount"),
        ({"slopes": (0.1, 1.0)}, "slopes"),
        ({"slopes": ()}, "slopes"),
        ({"decays": (0.0, 1.0)}, "decays"),
        ({"lag_shapes": (0, 1)}, "lag_shapes"),
        ({"n_kappa": 1000, "decays": tuple(i / 50 for i in range(50))}, "n_kappa * len(slopes)"),
        ({"kappa_min": 2.0, "kappa_max": 1.0}, "kappa_max"),
        ({"slope_prior": (1.0, 2.0)}, "slope_prior"),
        ({"dispersion": 0.5}, "dispersion"),
        ({"alloc_grid": 3}, "alloc_grid"),
        ({"prior_rate": -1.0}, "prior_rate"),
        ({"n_kappa": 0}, "n_kappa"),
        ({"seed": -3}, "seed"),
        ({"discout": 0.9}, "discout"),
    ],
)
def test_invalid_params_raise_one_line_error_naming_the_field(params, field):
    env = ChannelBudgetEnv("stationary-3")
    with pytest.raises(BudgetGymError) as err:
        make_agent("model_thompson", env, **params)
    msg = str(err.value)
    assert "\n" not in msg
    assert field in msg


def test_update_rejects_an_info_without_spend_or_conversions():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("model_thompson", env)
    obs, _ = env.reset(seed=0)
    with pytest.raises(BudgetGymError, match="spend"):
        agent.update(obs, np.zeros(3), 0.0, obs, {"conversions": np.zeros(3)})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e30, -5.0])
def test_a_hostile_observation_still_gets_a_feasible_action(value):
    """``model_thompson`` reads the step and the remaining budget from the observation; a broken
    one (nan, infinite, far out of its box) gets a finite action in [-1, 1], not a crash
    (``round(nan)``: ValueError; ``np.arange`` over 1e30 steps: ValueError)."""
    sc = load_scenario("stationary-3").override({"name": "paced-3", "horizon": 14, "budget.pacing": "agent"})
    env = ChannelBudgetEnv(sc)
    agent = make_agent("model_thompson", env, seed=0)
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(np.full_like(obs, value))
    assert action.shape == env.action_space.shape
    assert np.all(np.isfinite(action)) and np.all(np.abs(action) <= 1.0)


def test_a_non_finite_revenue_is_refused_like_spend_and_conversions():
    """A value-weighted campaign learns values per conversion from ``info["revenue"]``: a nan there
    is refused as a nan spend or conversion count is (it used to poison the value estimates, and
    under agent pacing the calendar fit: a nan pacing entry in the action)."""
    sc = load_scenario("stationary-3").override({"name": "rev-3", "horizon": 14, "reward": "revenue"})
    env = ChannelBudgetEnv(sc)
    agent = make_agent("model_thompson", env, seed=0)
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(obs)
    next_obs, reward, _, _, info = env.step(action)
    with pytest.raises(BudgetGymError, match="revenue"):
        agent.update(obs, action, float(reward), next_obs, {**info, "revenue": np.full(3, np.nan)})


def test_a_new_episode_starts_with_no_carry_over():
    """``predict(..., episode_start=[True])`` starts a new episode and keeps what was learned; the
    environment's carry-over of spend starts empty there, so the model's carry-over state must too
    (it carried the last episode's spend into the new episode's first steps)."""
    sc = load_scenario("stationary-3").override({"horizon": 6})
    env = ChannelBudgetEnv(sc)
    agent = make_agent("model_thompson", env, seed=0)
    learn_episode(agent, env, seed=0)
    learned = agent.posterior.state_dict()
    obs, _ = env.reset(seed=1)
    agent.predict(obs, episode_start=np.ones(1, dtype=bool))
    assert np.all(agent.posterior.carry == 0.0)
    kept = agent.posterior.state_dict()
    assert all(kept[k] == learned[k] for k in ("weight", "count", "basis", "loglik", "square", "dispersion"))
