"""``budgetgym segment``: audience segments from a customer table.

A seeded table of 1,000 customers with three planted clusters (50/30/20%), far apart in three
features, and Poisson exposure to three channels at a planted rate per cluster: the expected reach
of cluster ``s`` by channel ``i`` is ``n_s rate_si / sum_s' n_s' rate_s'i`` (from how the table is
made, not from the code). The library must find k = 3 by silhouette and recover sizes and reach;
the command must write a ``segments:`` block that, merged into a scenario, validates and runs; bad
files exit 2 with one line and write nothing."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_cli

pytest.importorskip("sklearn")

from budgetgym.envs import ChannelBudgetEnv  # noqa: E402
from budgetgym.envs.scenario import builtin_scenario_dir, scenario_from_dict  # noqa: E402
from budgetgym.experiments.cli_planning import segment_cmd  # noqa: E402
from budgetgym.experiments.report_format import round_shares  # noqa: E402
from budgetgym.experiments.segmenting import DEFAULT_CURVE, segment_customers  # noqa: E402

COUNTS = np.array([500, 300, 200])  # planted clusters, largest first
MEANS = np.array([[30.0, 40.0, 2.0], [45.0, 90.0, 8.0], [60.0, 60.0, 20.0]])  # age, income, visits
SDS = np.array([3.0, 6.0, 1.5])  # within-cluster sd: the means are >= 5 sd apart in some feature
RATES = np.array([[10.0, 1.0, 0.0], [2.0, 8.0, 2.0], [1.0, 3.0, 10.0]])  # exposure per customer [cluster, channel]
AOV = np.array([50.0, 80.0, 120.0])
CHANNELS = ["search", "social", "video"]  # stationary-3's channels; social's column is social_impr
FEATURES = "age,income,visits"
CHANNEL_ARG = "search,social=social_impr,video"


def _expected_reach() -> np.ndarray:
    """``[channel, cluster]``: each cluster's share of a channel's expected exposure."""
    total = COUNTS[:, None] * RATES  # [cluster, channel]
    return (total / total.sum(axis=0)).T


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """The customer CSV (rows shuffled) and each row's planted cluster."""
    rng = np.random.default_rng(7)
    truth = np.repeat(np.arange(3), COUNTS)
    feats = MEANS[truth] + rng.normal(size=(len(truth), 3)) * SDS
    exposure = rng.poisson(RATES[truth])
    df = pd.DataFrame({"id": np.arange(len(truth)), "age": feats[:, 0], "income": feats[:, 1], "visits": feats[:, 2],
                       "search": exposure[:, 0], "social_impr": exposure[:, 1], "video": exposure[:, 2],
                       "aov": rng.normal(AOV[truth], 5.0)})
    perm = rng.permutation(len(df))
    path = tmp_path_factory.mktemp("segment") / "customers.csv"
    df.iloc[perm].to_csv(path, index=False)
    return path, truth[perm]


@pytest.fixture(scope="module")
def result(table):
    return segment_customers(table[0], FEATURES, CHANNEL_ARG, value="aov")


# ----------------------------------------------------------------------------- the library
def test_silhouette_chooses_the_planted_three_clusters(table, result):
    assert result.chosen_by == "silhouette"
    assert sorted(result.silhouettes) == list(range(2, 11))  # k = 2 .. min(10, n - 1)
    assert result.k == 3
    assert max(result.silhouettes, key=result.silhouettes.__getitem__) == 3
    # the chosen k's score by hand (the argmax above compared the result with itself): on the features
    # standardised (zero mean, unit sd, ddof 0), each customer's s = (b - a) / max(a, b), a its mean distance
    # to the rest of its segment, b the smallest mean distance to another segment; the score their mean
    df = pd.read_csv(table[0])
    z = df[FEATURES.split(",")].to_numpy(float)
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    dist = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=-1))
    labels = np.asarray(result.labels)
    own = labels[:, None] == labels[None, :]
    a = (dist * own).sum(axis=1) / (own.sum(axis=1) - 1)
    b = np.min([dist[:, labels == g].mean(axis=1) + np.where(labels == g, np.inf, 0.0) for g in range(3)], axis=0)
    assert result.silhouettes[3] == pytest.approx(np.mean((b - a) / np.maximum(a, b)), rel=1e-9)


def test_sizes_reach_and_profiles_are_recovered(table, result):
    _, truth = table
    # every planted cluster lands in one segment, and the segments come largest first
    for s in range(3):
        assert set(result.labels[truth == s]) == {s}
    np.testing.assert_allclose(result.sizes, COUNTS / COUNTS.sum(), atol=0.02)
    assert result.counts.sum() == COUNTS.sum()
    assert result.reach.shape == (3, 3)
    np.testing.assert_allclose(result.reach, _expected_reach(), atol=0.03)
    np.testing.assert_allclose(result.reach.sum(axis=1), 1.0, rtol=1e-12)
    assert result.reach[2, 0] == 0.0  # video never reaches the first cluster
    assert np.all(np.abs(result.centres - MEANS) <= 4 * SDS / np.sqrt(COUNTS.min()))  # 4 standard errors
    np.testing.assert_allclose(result.value, AOV, atol=4 * 5.0 / np.sqrt(COUNTS.min()))
    assert result.names == ("segment-1", "segment-2", "segment-3")


def test_a_given_k_and_names_and_a_silhouette_subsample(table):
    res = segment_customers(table[0], FEATURES, CHANNEL_ARG, k=3, names="loyal,young,heavy")
    assert res.chosen_by == "given" and list(res.silhouettes) == [3]
    assert res.names == ("loyal", "young", "heavy")
    np.testing.assert_allclose(res.sizes, COUNTS / COUNTS.sum(), atol=0.02)
    assert res.value is None and all(seg["value"]["mean"] == 1.0 for seg in res.segments_block())
    sub = segment_customers(table[0], FEATURES, CHANNEL_ARG, silhouette_sample=300)
    assert sub.silhouette_sample == 300 and sub.k == 3
    assert sub.silhouettes[3] == pytest.approx(res.silhouettes[3], abs=0.05)  # 300 of 1,000 customers


@pytest.mark.parametrize("unit", [1e-170, 1e170])
def test_a_feature_in_extreme_units_segments_as_in_ordinary_ones(table, tmp_path, unit):
    """Standardising is unit-free: income in units of 1e-170 or 1e170 gives the same segments. Its
    variance (1e-340 or 1e340) under- or overflows a float, which dropped the feature silently (the
    scaler took it for constant) or crashed k-means on NaN with a traceback."""
    scaled = tmp_path / "scaled.csv"
    df = pd.read_csv(table[0])
    df.assign(income=df["income"] * unit).to_csv(scaled, index=False)
    res = segment_customers(table[0], FEATURES, CHANNEL_ARG, k=3)
    got = segment_customers(scaled, FEATURES, CHANNEL_ARG, k=3)
    np.testing.assert_array_equal(got.labels, res.labels)
    np.testing.assert_allclose(got.standardised, res.standardised, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.centres[:, 1], res.centres[:, 1] * unit, rtol=1e-9)


@pytest.mark.parametrize("unit", [1e-300, 1e306])
def test_exposure_in_extreme_units_gives_the_same_reach(table, tmp_path, unit):
    """Reach is a ratio of sums of one channel's exposure, whatever its unit: video exposure of
    order 1e306 per customer overflowed the channel's total to inf (NaN shares, a traceback)."""
    scaled = tmp_path / "scaled.csv"
    df = pd.read_csv(table[0])
    df.assign(video=df["video"] * unit).to_csv(scaled, index=False)
    res = segment_customers(table[0], FEATURES, CHANNEL_ARG, k=3)
    got = segment_customers(scaled, FEATURES, CHANNEL_ARG, k=3)
    np.testing.assert_allclose(got.reach, res.reach, rtol=1e-12, atol=1e-15)


def test_written_shares_are_rounded_and_still_sum_to_one():
    # largest remainder: 1/3 each at 2 decimals -> 0.34, 0.33, 0.33 (the first remainder wins a tie)
    np.testing.assert_allclose(round_shares(np.full(3, 1 / 3), 2), [0.34, 0.33, 0.33])
    shares = round_shares(np.array([0.1234564, 0.1234564, 0.7530872]), 6)
    assert shares.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(shares, [0.123457, 0.123456, 0.753087])


def test_the_command_defaults_are_the_library_curve():
    params = inspect.signature(segment_cmd).parameters
    assert {k: params[k].default for k in DEFAULT_CURVE} == DEFAULT_CURVE


# ----------------------------------------------------------------------------- the command
def _scenario_with(segments: list[dict]) -> dict:
    """stationary-3 (channels search, social, video) with the channels' curves moved to segments."""
    data = yaml.safe_load((builtin_scenario_dir() / "stationary-3.yaml").read_text())
    for ch in data["channels"]:
        for part in ("saturation", "delay", "value"):
            ch.pop(part, None)
    data["segments"] = segments
    data["reward"] = "revenue"
    return data


def test_the_written_block_merges_into_a_scenario_that_runs(table, tmp_path, capsys):
    out = tmp_path / "segments.yaml"
    code, printed, err = run_cli(capsys, "segment", str(table[0]), "--features", FEATURES, "--channels", CHANNEL_ARG,
                                 "--value", "aov", "--out", str(out))
    assert code == 0, err
    assert "1,000 customers in 3 segments (chosen by silhouette" in printed
    for word in ("segment-1", "reach social", "mean aov", "income"):
        assert word in printed
    assert out.with_suffix(".png").stat().st_size > 1000
    text = out.read_text()
    assert text.startswith("# Audience segments from customer file") and "remove the channels' saturation" in text
    block = yaml.safe_load(text)["segments"]
    assert [s["name"] for s in block] == ["segment-1", "segment-2", "segment-3"]
    assert sum(s["size"] for s in block) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose([s["size"] for s in block], COUNTS / COUNTS.sum(), atol=0.02)
    written = np.array([[s["reach"][c] for s in block] for c in CHANNELS])
    np.testing.assert_allclose(written, _expected_reach(), atol=0.03)
    np.testing.assert_allclose([s["value"]["mean"] for s in block], AOV, atol=1.0)
    assert all(s["saturation"] == {"type": "hill", **DEFAULT_CURVE} for s in block)

    sc = scenario_from_dict(_scenario_with(block), source="merged")
    assert sc.segment_names == ["segment-1", "segment-2", "segment-3"]
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    rewards = [env.step(np.zeros(sc.n_channels, dtype=np.float32))[1] for _ in range(3)]
    assert np.all(np.isfinite(rewards)) and sum(rewards) > 0


def test_no_plots_writes_only_the_block(table, tmp_path, capsys):
    out = tmp_path / "s.yml"
    code, _, err = run_cli(capsys, "segment", str(table[0]), "--features", FEATURES, "--channels", CHANNEL_ARG,
                           "--k", "2", "--no-plots", "--out", str(out))
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yml"]
    assert len(yaml.safe_load(out.read_text())["segments"]) == 2


@pytest.mark.parametrize(
    ("edit", "args", "expected"),
    [
        (lambda df: df.drop(columns="video"), [], "--channels: no column 'video'"),
        (lambda df: df.drop(columns="income"), [], "--features: no column 'income'"),
        (lambda df: df.assign(age=df["age"].astype(object).where(df.index != 4, "old")), [],
         "column 'age', row 5: a feature must be a finite number, got 'old'"),
        (lambda df: df.assign(search=df["search"].where(df.index != 2, -1)), [],
         "column 'search', row 3: exposure must be non-negative, got -1"),
        (lambda df: df.assign(video=0), [], "column 'video' (channel 'video') is 0 for every customer"),
        (lambda df: df.assign(visits=3.0), [], "column 'visits' is constant"),
        (lambda df: df.head(3), ["--k", "3"], "3 customers; expected at least 4"),
        (lambda df: df.head(2), [], "2 customers; expected at least 3"),
        (lambda df: df.head(1), [], "1 customer; expected at least 3"),
        (lambda df: df.head(0), [], "0 customers; expected at least 3"),
        (lambda df: df.assign(aov=df["aov"].where(df.index != 7, -5.0)), ["--value", "aov"],
         "column 'aov', row 8: value must be non-negative, got -5"),
        # a value.mean above a scenario's 1e15 was pydantic's traceback when the block was checked
        (lambda df: df.assign(aov=2e15), ["--value", "aov"],
         "column 'aov', row 1: value must be at most 1e+15 in size, got 2e+15"),
        (lambda df: df.assign(age=df.index % 2, income=df.index % 2, visits=df.index % 2), ["--k", "3"],
         "--features: only 2 distinct customer profiles; expected at least k = 3"),
        (lambda df: df, ["--k", "1"], "--k: expected at least 2 segments, got 1"),
        (lambda df: df, ["--k", "1001"], "1000 customers; expected at least 1002"),
        (lambda df: df, ["--names", "a,b"], "--names: expected 3 names (k = 3 chosen by silhouette), got 2"),
        (lambda df: df, ["--slope", "50"], "--slope: Input should be less than or equal to 10 (got 50)"),
        # numpy's and scikit-learn's tracebacks before: seeds are 0 .. 2**32 - 1 for KMeans' random_state
        (lambda df: df, ["--seed", "-1"], "--seed: expected an integer from 0 to 4294967295, got -1"),
        (lambda df: df, ["--seed", "4294967296"], "--seed: expected an integer from 0 to 4294967295, got 4294967296"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(table, tmp_path, capsys, edit, args, expected):
    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(table[0])).to_csv(bad, index=False)
    out = tmp_path / "seg.yaml"
    code, _, err = run_cli(capsys, "segment", str(bad), "--features", FEATURES, "--channels", CHANNEL_ARG,
                           *args, "--out", str(out))
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert expected in err
    # a problem of the file names the file; a bad option alone names the option
    if not expected.startswith("--") or "distinct" in expected:
        assert f"customer file '{bad}'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_an_empty_file_and_a_bad_out_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, _, err = run_cli(capsys, "segment", str(empty), "--features", "a", "--channels", "b",
                           "--out", str(tmp_path / "s.yaml"))
    assert code == 2 and err.count("\n") == 1 and f"customer file '{empty}': not a readable CSV table" in err
    code, _, err = run_cli(capsys, "segment", str(empty), "--features", "a", "--channels", "b",
                           "--out", str(tmp_path / "s.txt"))
    assert code == 2 and "--out" in err and "expected a .yaml file" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv"]


def test_an_out_below_a_file_is_one_line_before_any_work(table, tmp_path, capsys):
    """A parent of --out that is a file: one line naming it, checked before the clustering (it was
    a FileExistsError traceback after the work)."""
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    code, printed, err = run_cli(capsys, "segment", str(table[0]), "--features", FEATURES, "--channels",
                                 CHANNEL_ARG, "--k", "2", "--out", str(blocker / "s.yaml"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"--out '{blocker / 's.yaml'}': '{blocker}' is a file, not a directory" in err
    assert printed == ""  # no segment table: nothing was clustered
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_block_that_cannot_be_written_leaves_no_figure(table, tmp_path, capsys, monkeypatch):
    """The figure is drawn first; when the block then cannot be written (a full disk, no permission)
    the figure goes too and the error is one line, so nothing is half-written."""
    import budgetgym.envs.io as io

    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "atomic_write_text", full_disk)
    out = tmp_path / "s.yaml"
    code, _, err = run_cli(capsys, "segment", str(table[0]), "--features", FEATURES, "--channels", CHANNEL_ARG,
                           "--k", "2", "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"--out '{out}': cannot be written (" in err and "No space left on device" in err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_writing_the_block_leaves_the_earlier_output_as_it_was(table, tmp_path, capsys, monkeypatch):
    """The figure was written in place before the block: a Ctrl-C (or any error but an OSError) while
    the block was written left the new figure, beside no block or an earlier run's block."""
    import budgetgym.envs.io as io

    def interrupted(path, text):
        raise KeyboardInterrupt

    args = ["segment", str(table[0]), "--features", FEATURES, "--channels", CHANNEL_ARG, "--seed", "0"]
    new = tmp_path / "new" / "s.yaml"
    old = tmp_path / "old" / "s.yaml"
    assert run_cli(capsys, *args, "--k", "2", "--out", str(old))[0] == 0
    before = {p.name: p.read_bytes() for p in old.parent.iterdir()}
    assert sorted(before) == ["s.png", "s.yaml"]
    monkeypatch.setattr(io, "atomic_write_text", interrupted)
    assert run_cli(capsys, *args, "--k", "3", "--out", str(new))[0] == 130
    assert run_cli(capsys, *args, "--k", "3", "--out", str(old))[0] == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]  # nothing of the new one, not its directory
    assert {p.name: p.read_bytes() for p in old.parent.iterdir()} == before


def test_the_temporary_files_are_made_in_the_directory_of_out(table, tmp_path, capsys, monkeypatch):
    """The block and figure were staged in a directory made beside ``out``'s directory, i.e. in its parent:
    ``--out ~/s.yaml`` needed write access to /home (Permission denied for a user), and a directory on
    another file system than its parent (a mount point) could not be renamed from (cross-device link)."""
    import tempfile

    made: list[Path] = []
    real = tempfile.mkdtemp

    def recording(*args, **kwargs):
        path = real(*args, **kwargs)
        made.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording)
    out = tmp_path / "home" / "s.yaml"
    out.parent.mkdir()
    code, _, err = run_cli(capsys, "segment", str(table[0]), "--features", FEATURES, "--channels", CHANNEL_ARG,
                           "--k", "2", "--no-plots", "--out", str(out))
    assert code == 0, err
    assert made and all(p.is_relative_to(out.parent) for p in made)
    assert sorted(p.name for p in out.parent.iterdir()) == ["s.yaml"] and [p.name for p in tmp_path.iterdir()] == [
        "home"]


def test_a_run_without_a_figure_removes_the_earlier_runs_figure(result, tmp_path):
    """plan and calibrate remove an earlier output's figures they do not draw; segment left an earlier run's
    s.png (of another segmentation) beside a new s.yaml written with --no-plots."""
    from budgetgym.experiments.segment_output import write_segments

    out = tmp_path / "s.yaml"
    out.write_text("segments: []\n")
    out.with_suffix(".png").write_bytes(b"an earlier run's figure")
    written = write_segments(result, out, plots=False)
    assert written.figure is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]
    assert len(yaml.safe_load(out.read_text())["segments"]) == len(result.names)


def test_without_scikit_learn_the_error_says_what_to_install(table, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.cluster", None)
    code, _, err = run_cli(capsys, "segment", str(table[0]), "--features", FEATURES, "--channels", CHANNEL_ARG,
                           "--out", str(tmp_path / "s.yaml"))
    assert code == 2 and err.count("\n") == 1
    assert 'pip install "budgetgym[segments]"' in err


def test_without_matplotlib_the_block_is_written_and_the_figure_skipped(table, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    out = tmp_path / "s.yaml"
    code, printed, err = run_cli(capsys, "segment", str(table[0]), "--features", FEATURES, "--channels", CHANNEL_ARG,
                                 "--k", "3", "--out", str(out))
    assert code == 0, err
    assert 'no figure: it needs matplotlib (pip install "budgetgym[plot]")' in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_the_profile_table_prints_shares_summing_to_1_and_features_without_exponents(tmp_path, capsys):
    """Three segments of 3 customers each: shares of 1/3 printed alone to 3 decimals read 0.333 x 3 = 0.999 (and
    so would each channel's reach of equal exposure); rounded together (largest remainder, as the YAML is) they
    sum to 1.000. An income around 50,000 printed as 5e+04 (``.4g``) reads as the number people write: 50,000."""
    income = [30_000.0, 30_100.0, 29_900.0, 50_000.0, 50_100.0, 49_900.0, 90_000.0, 90_100.0, 89_900.0]
    path = tmp_path / "c.csv"
    pd.DataFrame({"income": income, "tv": [1.0] * 9}).to_csv(path, index=False)
    code, printed, err = run_cli(capsys, "segment", str(path), "--features", "income", "--channels", "tv",
                                 "--k", "3", "--out", str(tmp_path / "s.yaml"), "--no-plots")
    assert code == 0, err
    rows = [line.split() for line in printed.splitlines() if line.strip().startswith("segment-")]
    assert len(rows) == 3
    assert sum(float(r[2]) for r in rows) == pytest.approx(1.0, abs=1e-12)  # share
    assert sum(float(r[4]) for r in rows) == pytest.approx(1.0, abs=1e-12)  # reach tv
    assert sorted(r[3] for r in rows) == ["30,000", "50,000", "90,000"]
    assert "e+" not in printed
