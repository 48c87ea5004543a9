"""CCDF figures: what is drawn, where the fitted curve lies, and the degenerate cases.

References: the empirical CCDF computed by hand from the degrees, and the fit's own numbers.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from pl_powerlaw.fitting import fit_truncated_power_law, sample_tpl
from pl_powerlaw.plotting import ccdf_figure, ccdf_grid_figure, plot_ccdf, tile_images


@pytest.fixture(scope="module")
def layer():
    x = np.concatenate([sample_tpl(600, 1.7, 2, 400, rng=0), np.zeros(25, dtype=np.int64)])
    return x, fit_truncated_power_law(x, n_boot=10)


def _lines(ax):
    data, model = ax.get_lines()[0], ax.get_lines()[1]
    return data.get_xydata(), model.get_xydata()


def test_empirical_ccdf_points(layer):
    x, fit = layer
    ax = plot_ccdf(Figure().add_subplot(), x, fit, "fc1")
    points, _ = _lines(ax)
    positive = x[x > 0]
    expected = [(v, np.mean(positive >= v)) for v in np.unique(positive)]
    np.testing.assert_allclose(points, expected, rtol=1e-12)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_title() == "fc1"


def test_fitted_curve_lies_on_the_empirical_curve(layer):
    x, fit = layer
    _, model = _lines(plot_ccdf(Figure().add_subplot(), x, fit))
    positive = x[x > 0]
    assert model[0, 0] == fit.xmin and model[-1, 0] == fit.xmax
    # At xmin the scaled model is exactly the fraction of positive degrees >= xmin ...
    assert model[0, 1] == pytest.approx(np.mean(positive >= fit.xmin), rel=1e-12)
    # ... and in range it stays within the KS distance (scaled by n_tail / n) of the data.
    inside = model[:, 0]
    empirical = np.array([np.mean(positive >= v) for v in inside])
    assert np.max(np.abs(model[:, 1] - empirical)) <= fit.ks * fit.n_tail / fit.n + 1e-12


def test_legend_reports_the_fit(layer):
    x, fit = layer
    ax = plot_ccdf(Figure().add_subplot(), x, fit.as_dict())  # the JSON form works too
    text = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    for part in (
        f"\u03b1={fit.alpha:.3f}",
        f"xmin={fit.xmin}",
        f"xmax={fit.xmax}",
        f"KS={fit.ks:.4f}",
        f"p={fit.p_value:.3f}",
        "25 zeros",
    ):
        assert part in text


def test_flagged_fit_shows_its_reason():
    fit = fit_truncated_power_law([4] * 20)
    ax = plot_ccdf(Figure().add_subplot(), [4] * 20, fit)
    assert any(fit.reason in t.get_text() for t in ax.texts)
    assert len(ax.get_lines()) == 1  # data only


def test_no_fit_and_no_positive_degree():
    ax = plot_ccdf(Figure().add_subplot(), [1, 2, 2, 5], None)
    assert len(ax.get_lines()) == 1
    ax = plot_ccdf(Figure().add_subplot(), np.zeros(6), fit_truncated_power_law(np.zeros(6)))
    assert "no positive degrees" in ax.texts[0].get_text()


def test_figures_render_outside_pyplot(layer):
    x, fit = layer
    before = plt.get_fignums()
    figure = ccdf_figure(x, fit, "fc1")
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())
    assert pixels.shape == (400, 500, 4) and pixels[..., :3].std() > 0
    assert plt.get_fignums() == before
    plt.close(figure)  # what the callers do: harmless


def test_grid_has_one_panel_per_layer(layer):
    x, fit = layer
    layers = [
        ("input", x, None),
        ("fc1", x, fit),
        ("fc2", x, fit.as_dict()),
        ("conv", np.arange(1, 33) * 784, None),
        ("dead", np.zeros(4), None),
    ]
    figure = ccdf_grid_figure(layers)
    assert [ax.get_title() for ax in figure.axes] == ["input", "fc1", "fc2", "conv", "dead"]
    figure.canvas.draw()
    assert len(ccdf_grid_figure([]).texts) == 1


def test_bad_fit_type_raises():
    with pytest.raises(ValueError, match="Expected a TPLFit"):
        plot_ccdf(Figure().add_subplot(), [1, 2], 3.5)


def test_log_tick_labels_are_plain_text_powers_of_ten():
    """Narrow range (no decade inside): the minor ticks carry the labels, e.g. 1.2x10^2."""
    figure = ccdf_figure(np.arange(120, 181), None, "narrow")
    figure.canvas.draw()
    ax = figure.axes[0]
    minor = [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
    assert "1.2\u00d710\u00b2" in minor and "1.5\u00d710\u00b2" in minor
    major = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert "10\u207b\u00b9" in major and "10\u2070" in major
    assert not any("$" in label for label in minor + major)


def test_tile_images_places_each_panel_row_by_row():
    a = np.full((2, 3, 3), 10, np.uint8)
    b = np.full((1, 2, 3), 20, np.uint8)
    c = np.full((2, 3, 3), 30, np.uint8)
    grid = tile_images([a, b, c], ncols=2)
    assert grid.shape == (4, 6, 3)
    assert (grid[0:2, 0:3] == 10).all() and (grid[2:4, 0:3] == 30).all()
    assert (grid[0:1, 3:5] == 20).all()
    assert (grid[1, 3:6] == 255).all() and (grid[2:4, 3:6] == 255).all()  # white padding
    with pytest.raises(ValueError, match="at least one image"):
        tile_images([])
    with pytest.raises(ValueError, match="one channel count"):
        tile_images([a, np.zeros((2, 3, 4), np.uint8)])


@pytest.mark.parametrize("name", ["canvas", "ccdf", "preferential"])
def test_docstring_examples_of_the_plotting_modules_run(name):
    """The examples live in the submodules (the package's own docstring has none): each must run."""
    import doctest
    import importlib

    module = importlib.import_module(f"pl_powerlaw.plotting.{name}")
    outcome = doctest.testmod(module)
    assert outcome.attempted > 0, f"{module.__name__} has no example"
    assert outcome.failed == 0, module.__name__


def test_titled_renders_draw_once_per_content_and_give_the_full_drawings_pixels():
    from pl_powerlaw.plotting import ccdf_figure, render
    from pl_powerlaw.plotting.canvas import TitledRenders

    rng = np.random.default_rng(1)
    degrees = rng.binomial(400, 0.1, 300) + rng.integers(0, 20, 300)
    fit = fit_truncated_power_law(degrees)
    null = tuple(rng.binomial(400, 0.1, 300) for _ in range(4))
    renders, builds = TitledRenders(size=2), []

    def build(values=degrees):
        builds.append(1)
        return ccdf_figure(values, fit, None, null, "some verdict")

    for title in ("fc1 (epoch3)", "fc1 (retrain1_start)", "a much longer title (fit_end) xyz"):
        cached = renders.render("fc1", build, title)
        direct = render(ccdf_figure(degrees, fit, title, null, "some verdict"))
        assert cached.shape == direct.shape and np.array_equal(cached, direct), title
    assert len(builds) == 1
    # another content is another drawing; the oldest is dropped beyond ``size``
    other = degrees + 5
    assert not np.array_equal(renders.render("other", lambda: build(other), "t"), cached)
    renders.render("third", lambda: build(other + 5), "t")
    assert list(renders._entries) == ["other", "third"] and len(builds) == 3
