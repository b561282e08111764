"""PatchNetwork: input normalisation fitted on training patches, the ridge skip connection, and the estimator's use of them."""

import warnings

import numpy as np
import pytest
import torch
from conftest import tiny_net_params
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from torch import nn

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor, load_weights, save_weights
from hyperspectral_cl.backbones import Li, list_backbones
from hyperspectral_cl.datasets import make_synthetic_scene
from hyperspectral_cl.model_selection import spatial_holdout
from hyperspectral_cl.network import RIDGE_ALPHAS, PatchNetwork

SMALL = {"luo": {}, "hamida": {}, "li": {"n_planes": 2}, "atik": {"n_filters": 2},
         "varahagiri": {"dim": 16, "heads": 2}, "pixel-mlp": {"n_hidden": 8}}


@pytest.fixture(scope="module")
def data():
    """Raw (unstandardised) 5 x 5 patches of a 30-band scene, their window targets and positions."""
    scene = make_synthetic_scene(n_endmembers=3, shape=(18, 18), n_bands=30, smoothness=1.5, random_state=0)
    X, y, coords = scene.windows(5)
    P = PatchExtractor(5).fit_transform(X)
    return P, y, coords


def naive_features(P, spectrum_norm=None):
    """What the ridge map sees, in float64 numpy: mean over pixels of the normalised, standardised patches."""
    P = P.astype(np.float64)
    if spectrum_norm == "l2":
        P = P / np.linalg.norm(P, axis=2, keepdims=True)
    mean = P.mean(axis=(0, 1, 3, 4))
    std = P.std(axis=(0, 1, 3, 4))
    return ((P - mean[:, None, None]) / std[:, None, None]).mean(axis=(1, 3, 4))


@pytest.mark.parametrize("spectrum_norm", [None, "l2"])
@pytest.mark.parametrize("one_d", [False, True])
@pytest.mark.parametrize("mode", ["blend", "residual"])
def test_with_no_epoch_the_model_is_ridgecv_on_the_mean_spectrum(data, spectrum_norm, one_d, mode):
    P, y, _ = data
    y = y[:, 0] if one_d else y
    net = ContrastivePatchRegressor("li", max_epochs=0, early_stopping=False, spectrum_norm=spectrum_norm,
                                    ridge=mode, random_state=0, module__n_planes=2).fit(P, y)
    features = naive_features(P, spectrum_norm)
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(features, y)
    pred = net.predict(P)
    assert pred.shape == y.shape
    np.testing.assert_allclose(pred, ridge.predict(features), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(net.module_.ridge_alpha.numpy(), np.broadcast_to(ridge.alpha_, net.n_targets_))


@pytest.mark.parametrize("mode", ["blend", "residual"])
def test_with_no_epoch_a_weighted_model_is_weighted_ridgecv(data, mode):
    P, y, _ = data
    w = np.random.default_rng(0).uniform(0, 3, len(y))
    w[:5] = 0.0
    net = ContrastivePatchRegressor("li", max_epochs=0, early_stopping=False, ridge=mode, random_state=0,
                                    spectrum_norm=None, module__n_planes=2).fit(P, y, sample_weight=w)
    features = naive_features(P)
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(features, y, sample_weight=w)
    np.testing.assert_allclose(net.predict(P), ridge.predict(features), rtol=1e-4, atol=1e-5)
    unweighted = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(features, y)
    assert not np.allclose(net.predict(P), unweighted.predict(features), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_starts_at_the_ridge_solution(data, name):
    P, y, _ = data
    net = ContrastivePatchRegressor(name, max_epochs=0, early_stopping=False, random_state=0, ridge="residual",
                                    **{f"module__{k}": v for k, v in SMALL[name].items()}).fit(P, y)
    backbone = net.module_.backbone
    assert torch.count_nonzero(backbone.regressor.weight) == 0 and torch.count_nonzero(backbone.regressor.bias) == 0
    with torch.no_grad():
        z = net.module_.normalize(torch.as_tensor(P))
        torch.testing.assert_close(net.module_(torch.as_tensor(P))[0], net.module_.skip(z))


@pytest.mark.parametrize("name", list_backbones())
@pytest.mark.parametrize("mode", ["blend", "residual"])
def test_embed_is_the_forward_passs_embedding(data, name, mode):
    P, y, coords = data
    net = ContrastivePatchRegressor(name, max_epochs=1, ridge=mode, random_state=0, batch_size=64,
                                    **{f"module__{k}": v for k, v in SMALL[name].items()}).fit(P, y, groups=coords)
    x = torch.as_tensor(P[:40])
    with torch.no_grad():
        torch.testing.assert_close(net.module_.embed(x), net.module_(x)[1], rtol=0, atol=0)


class _PredictionOnly(nn.Module):
    def forward(self, z):
        return z.mean(dim=(1, 3, 4))[:, :1]


def test_embed_refuses_a_backbone_without_an_embedding():
    net = PatchNetwork(_PredictionOnly(), n_bands=4, n_targets=1)
    with pytest.raises(TypeError, match="_PredictionOnly returns its prediction alone: it has no embedding"):
        net.embed(torch.ones(2, 1, 4, 3, 3))


def test_the_augmented_view_is_embedded_without_a_prediction(data, monkeypatch):
    P, y, _ = data
    calls = []
    embed = PatchNetwork.embed
    monkeypatch.setattr(PatchNetwork, "embed", lambda self, x: calls.append(len(x)) or embed(self, x))
    net = ContrastivePatchRegressor("pixel-mlp", alpha=1.0, max_epochs=2, early_stopping=False, batch_size=64,
                                    random_state=0, module__n_hidden=8).fit(P, y)
    # one call per training batch, on the whole batch
    assert calls == [n for epoch in net.history[:, "batches", :, "train_batch_size"] for n in epoch]
    calls.clear()
    ContrastivePatchRegressor("pixel-mlp", alpha=0.0, max_epochs=1, early_stopping=False, module__n_hidden=8).fit(P, y)
    assert calls == []  # no second view without the contrastive term


class _PassThrough(nn.Module):
    """A wrapper that hands attribute lookups to the wrapped network, as FSDP and torch.compile's do."""

    def __init__(self, network):
        super().__init__()
        self.network, self.calls = network, 0

    def forward(self, x):
        self.calls += 1
        return self.network(x)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.network, name)


def test_a_wrapped_network_embeds_the_second_view_through_its_own_forward(data, monkeypatch):
    P, y, _ = data
    calls = []
    monkeypatch.setattr(PatchNetwork, "embed", lambda self, x: calls.append(len(x)))
    net = ContrastivePatchRegressor("pixel-mlp", alpha=1.0, max_epochs=0, early_stopping=False, batch_size=64,
                                    random_state=0, module__n_hidden=8).fit(P, y)
    net.module_ = _PassThrough(net.module_)
    batch = (torch.as_tensor(P[:64]), torch.as_tensor(y[:64], dtype=torch.float32))
    net.train_step(batch)
    assert net.module_.calls == 2 and calls == []  # both views through the wrapper, never around it


@pytest.mark.parametrize("mode", ["blend", "residual"])
def test_ridge_and_normalisation_are_fitted_on_the_training_part_only(data, mode):
    P, y, coords = data
    net = ContrastivePatchRegressor("li", max_epochs=0, random_state=3, early_stopping=True, ridge=mode,
                                    spectrum_norm=None, module__n_planes=2).fit(P, y, groups=coords)
    valid = net.validation_indices_
    # the buffer of the hold-out drops some windows from training too: recompute it
    expected_train, expected_valid = spatial_holdout(coords, 5, test_size=0.15, y=y,
                                                     random_state=np.random.RandomState(
                                                         np.random.SeedSequence([3, 1]).generate_state(1)[0]))
    np.testing.assert_array_equal(valid, expected_valid)
    Pt = P[expected_train].astype(np.float64)
    np.testing.assert_allclose(net.module_.band_mean.numpy(), Pt.mean(axis=(0, 1, 3, 4)), rtol=1e-5)
    np.testing.assert_allclose(net.module_.band_scale.numpy(), Pt.std(axis=(0, 1, 3, 4)), rtol=1e-4)
    mean, std = Pt.mean(axis=(0, 1, 3, 4)), Pt.std(axis=(0, 1, 3, 4))
    features = ((P.astype(np.float64) - mean[:, None, None]) / std[:, None, None]).mean(axis=(1, 3, 4))
    # residual: the ridge the network was trained against, on the training part; blend: once the held-out
    # windows have judged the blend, the ridge is refitted on every window (with the same normalisation)
    rows = expected_train if mode == "residual" else np.arange(len(P))
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(features[rows], y[rows])
    np.testing.assert_allclose(net.predict(P), ridge.predict(features), rtol=1e-4, atol=1e-5)


def test_normalisation_is_fitted_once(data):
    P, y, _ = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, early_stopping=False)).fit(P, y)
    stats = [t.clone() for t in (net.module_.band_mean, net.module_.skip_weight)]
    net.partial_fit(P * 3 + 1, y)  # different data: a refit would change the statistics and the ridge map
    assert torch.equal(net.module_.band_mean, stats[0]) and torch.equal(net.module_.skip_weight, stats[1])
    net.set_params(warm_start=True).fit(P * 3 + 1, y)
    assert torch.equal(net.module_.band_mean, stats[0])
    net.set_params(warm_start=False).fit(P * 3 + 1, y)  # a fresh fit starts again
    assert not torch.equal(net.module_.band_mean, stats[0])


def test_weights_files_keep_the_fitted_input_layers(data, tmp_path):
    P, y, _ = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, early_stopping=False)).fit(P, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_weights(net, tmp_path / "m.pt")
    loaded = load_weights(tmp_path / "m.pt")
    assert bool(loaded.module_.inputs_fitted)
    np.testing.assert_array_equal(loaded.blend_, net.blend_)
    np.testing.assert_array_equal(loaded.predict(P), net.predict(P))
    loaded.partial_fit(P * 2, y)  # continues from the saved layers, does not refit them on new data
    assert torch.equal(loaded.module_.band_mean, net.module_.band_mean)


def test_input_scale_does_not_matter(data):
    P, y, _ = data
    make = lambda: ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=2, early_stopping=False))  # noqa: E731
    p1 = make().fit(P, y).predict(P)
    p2 = make().fit(P * np.float32(1e4), y).predict(P * np.float32(1e4))
    np.testing.assert_allclose(p1, p2, rtol=1e-3, atol=1e-4)


def test_l2_normalisation_does_not_overflow_for_huge_float32_spectra():
    backbone = Li(8, 5, 1, n_planes=2)
    net = PatchNetwork(backbone, 8, 1, spectrum_norm="l2", standardize=False, ridge=None)
    x = torch.full((2, 1, 8, 5, 5), 1e20)
    x[1] = 1e-40  # denormal
    z = net.normalize(x)
    torch.testing.assert_close(torch.linalg.vector_norm(z, dim=2), torch.ones(2, 1, 5, 5))


def test_constant_band_is_only_centred(data):
    P, y, _ = data
    P = np.array(P)
    P[:, :, 3] = 7.0
    net = ContrastivePatchRegressor("li", max_epochs=0, early_stopping=False, spectrum_norm=None,
                                    module__n_planes=2).fit(P, y)
    assert net.module_.band_scale[3] == 1.0 and net.module_.band_mean[3] == pytest.approx(7.0)
    assert np.isfinite(net.predict(P)).all()


def test_ridge_options(data):
    P, y, _ = data
    net = ContrastivePatchRegressor("li", max_epochs=0, ridge=None, early_stopping=False,
                                    module__n_planes=2, random_state=0).fit(P, y)
    assert net.module_.ridge is None and torch.count_nonzero(net.module_.skip_weight) == 0 and net.blend_ is None
    assert torch.count_nonzero(net.module_.backbone.regressor.weight) > 0  # its own initialisation
    blend = ContrastivePatchRegressor("li", max_epochs=0, early_stopping=False, module__n_planes=2).fit(P, y)
    assert blend.module_.ridge == "blend"  # 'auto'
    assert torch.count_nonzero(blend.module_.backbone.regressor.weight) > 0  # trained on its own, not from zero
    simplex = ContrastivePatchRegressor("li", max_epochs=0, module__head="simplex", module__n_planes=2).fit(P, y)
    assert simplex.module_.ridge is None  # 'auto': a linear map would leave the simplex
    for mode in ("blend", "residual"):
        with pytest.raises(ValueError, match=f"ridge='{mode}' cannot be combined with module__head='simplex'"):
            ContrastivePatchRegressor("li", ridge=mode, module__head="simplex", module__n_planes=2).fit(P, y)
    with pytest.raises(ValueError, match="ridge must be 'auto', 'blend', 'residual' or None"):
        ContrastivePatchRegressor("li", ridge="lasso").fit(P, y)


def test_ridge_residual_needs_an_output_layer_named_regressor(data):
    P, y, _ = data

    class Bare(nn.Module):
        def __init__(self, n_bands, patch_size, n_targets):
            super().__init__()
            self.out = nn.Linear(n_bands, n_targets)

        def forward(self, x):
            f = x.mean(dim=(1, 3, 4))
            return self.out(f), f

    with pytest.raises(TypeError, match="nn.Linear attribute named 'regressor'"):
        ContrastivePatchRegressor(Bare, ridge="residual", max_epochs=0).fit(P, y)
    assert ContrastivePatchRegressor(Bare, max_epochs=2).fit(P, y).module_.ridge == "blend"  # needs no head


def test_pipeline_defaults_hand_raw_values_to_the_network(scene):
    X, y, _ = scene.windows(5)
    model = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor(
        "li", **tiny_net_params(max_epochs=0, early_stopping=False)))
    model.fit(X, y)
    assert model[0].mean_ is None  # the extractor no longer standardises by default
    np.testing.assert_allclose(model[-1].module_.band_mean.numpy(), X.mean(axis=(0, 1, 2)), rtol=1e-5)


# ----------------------------------------------------------------------------- the blend
def test_blend_weight_is_the_least_squares_weight_on_the_validation_windows(data):
    P, y, coords = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=3, early_stopping=True)).fit(
        P, y, groups=coords)
    valid = net.validation_indices_
    train, _ = spatial_holdout(coords, 5, y=y, random_state=np.random.RandomState(
        np.random.SeedSequence([0, 1]).generate_state(1)[0]))
    z = (y - net.y_mean_) / net.y_scale_
    with torch.no_grad():
        zp = net.module_.normalize(torch.as_tensor(P))
        features = zp.mean(dim=(1, 3, 4)).double().numpy()
        backbone = net.module_.backbone(zp)[0].double().numpy()
    # the ridge that judged the blend was fitted on the training part only
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(features[train], z[train]).predict(features)
    # brute force: the weight in [0, 1] with the smallest validation error, per target
    grid = np.linspace(0, 1, 10001)
    r, b, t = ridge[valid], backbone[valid], z[valid]
    errors = ((r[None] + grid[:, None, None] * (b - r)[None] - t[None]) ** 2).sum(axis=1)
    best = grid[errors.argmin(axis=0)]
    # ... kept only where it beats ridge by more than one standard error of the mean gain, taken over the
    # patch-sized spatial cells the held-out windows fall in (overlapping windows are not independent)
    cell_of = [tuple(c // 5) for c in coords[valid]]
    cells = sorted(set(cell_of))
    expected = []
    for k in range(z.shape[1]):
        gains = [(t[i, k] - r[i, k]) ** 2 - (t[i, k] - r[i, k] - best[k] * (b[i, k] - r[i, k])) ** 2
                 for i in range(len(t))]
        per_cell = [np.mean([g for g, c in zip(gains, cell_of, strict=True) if c == cell]) for cell in cells]
        se = np.std(per_cell, ddof=1) / np.sqrt(len(per_cell))
        expected.append(best[k] if np.mean(gains) > se else 0.0)
    np.testing.assert_allclose(net.blend_, expected, atol=2e-4)
    mse = lambda p: ((p - t) ** 2).mean(axis=0)  # noqa: E731
    assert (mse(r + net.blend_ * (b - r)) <= mse(r) + 1e-9).all()  # never worse than ridge on the hold-out
    # predict: the blend with the ridge map refitted on every window
    ridge_all = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(features, z).predict(features)
    blended = ridge_all + net.blend_ * (backbone - ridge_all)
    np.testing.assert_allclose(net.predict(P), blended * net.y_scale_ + net.y_mean_, rtol=1e-4, atol=1e-5)


def test_blend_counts_the_evidence_per_cluster(data, monkeypatch):
    P, y, _ = data
    network = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, early_stopping=False)).fit(P, y).module_
    # ridge predicts 0, the target is 1; the backbone is right on the 50 windows of cluster 0 and wrong
    # (-0.5) on the 50 of cluster 1: w = (50 - 25) / (50 + 12.5) = 0.4, gains 0.64 and -0.44 per window
    backbone = np.repeat(np.r_[np.ones(50), np.full(50, -0.5)][:, None], 3, axis=1)
    monkeypatch.setattr(network, "parts", lambda batches: (np.zeros((100, 3)), backbone))
    targets, clusters = np.ones((100, 3)), np.repeat([0, 1], 50)
    # per window: mean gain 0.1 against a standard error of 0.054, kept
    network.fit_blend([None], targets)
    np.testing.assert_allclose(network.blend.numpy(), 0.4, rtol=1e-6)
    # per cluster: two units of evidence, one of them a loss: the standard error is 0.54, ridge alone
    network.fit_blend([None], targets, clusters=clusters)
    np.testing.assert_array_equal(network.blend.numpy(), 0.0)
    # a cluster that gains too: both units agree, the blend is kept
    backbone[50:] = 1.0
    network.fit_blend([None], targets, clusters=clusters)
    np.testing.assert_allclose(network.blend.numpy(), 1.0)
    # one cluster is no evidence of a gain at all
    network.fit_blend([None], targets, clusters=np.zeros(100))
    np.testing.assert_array_equal(network.blend.numpy(), 0.0)
    # a cell whose windows all weigh 0 takes no part (it would otherwise be 0 / 0 and switch the blend off)
    weights = np.r_[np.zeros(10), np.ones(90)]
    network.fit_blend([None], targets, sample_weight=weights, clusters=np.repeat(np.arange(10), 10))
    np.testing.assert_allclose(network.blend.numpy(), 1.0)


def test_blend_without_validation_windows_is_the_backbone_alone(data):
    P, y, _ = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=2, early_stopping=False)).fit(P, y)
    np.testing.assert_array_equal(net.blend_, np.ones(3))
    with torch.no_grad():
        torch.testing.assert_close(net.module_(torch.as_tensor(P))[0],
                                   net.module_.backbone(net.module_.normalize(torch.as_tensor(P)))[0])


def test_blend_uses_the_rows_of_a_users_valid_split(data):
    from skorch.dataset import ValidSplit

    P, y, _ = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=2, train_split=ValidSplit(4))).fit(P, y)
    np.testing.assert_array_equal(net.validation_indices_, np.arange(len(P) // 4))
    assert ((0 <= net.blend_) & (net.blend_ <= 1)).all()


def test_partial_fit_trains_the_backbone_alone_then_blends_again(data):
    P, y, coords = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=2, early_stopping=True)).fit(
        P, y, groups=coords)
    seen = []
    net.module_.register_forward_hook(lambda module, inputs, output: seen.append(module.blend.clone()))
    net.partial_fit(P, y, groups=coords)
    assert all(torch.equal(b, torch.ones(3)) for b in seen[:-1])  # training and validation: the backbone alone
    assert ((0 <= net.blend_) & (net.blend_ <= 1)).all()


# ----------------------------------------------------------------------------- the kernel partner
@pytest.fixture(scope="module")
def big():
    """Raw 5 x 5 patches of a larger scene (enough windows for spatial cross-validation) and their positions."""
    scene = make_synthetic_scene(n_endmembers=3, shape=(34, 34), n_bands=30, smoothness=1.5, random_state=0)
    X, _, coords = scene.windows(5)
    return PatchExtractor(5).fit_transform(X), coords


def _kernel_problem(P):
    """Targets of the data's windows: one linear in their mean spectrum, one a bump no linear map can follow."""
    features = naive_features(P)
    linear = features @ np.linspace(-1, 1, features.shape[1])
    u = features[:, :3].sum(axis=1)
    bump = np.exp(-((u - np.median(u)) / u.std()) ** 2)
    return features, np.stack([linear, 3 * bump], axis=1)


def test_choose_kernel_is_a_grid_search_over_ridge_and_rbf_kernel_ridge(data):
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import KFold

    from hyperspectral_cl.kernel_ridge import RBF_ALPHAS, RBF_GAMMAS

    P, _, _ = data
    features, y = _kernel_problem(P)
    network = ContrastivePatchRegressor("li", max_epochs=0, early_stopping=False, spectrum_norm=None,
                                        module__n_planes=2).fit(P, y).module_
    folds = list(KFold(3, shuffle=True, random_state=1).split(features))
    network.choose_kernel([torch.as_tensor(P)], y, folds)
    # brute force with scikit-learn: the out-of-fold squared error of every candidate, per target
    candidates = [None] + [(g / features.shape[1], a) for g in RBF_GAMMAS for a in RBF_ALPHAS]
    errors = np.zeros((len(candidates), 2))
    for train, test in folds:
        mean, std = features[train].mean(0), features[train].std(0)
        for c, cand in enumerate(candidates):
            if cand is None:
                pred = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(features[train], y[train])
                pred = pred.predict(features[test])
            else:
                model = KernelRidge(alpha=cand[1], kernel="rbf", gamma=cand[0])
                pred = model.fit((features[train] - mean) / std, y[train] - y[train].mean(0)).predict(
                    (features[test] - mean) / std) + y[train].mean(0)
            errors[c] += ((pred - y[test]) ** 2).sum(axis=0)
    best = [candidates[i] for i in errors.argmin(axis=0)]
    assert best[0] is None and best[1] is not None  # the linear target keeps ridge, the bump takes a kernel
    gamma, alpha = network.kernel_gamma.numpy(), network.kernel_alpha.numpy()
    assert gamma[0] == 0 and (gamma[1], alpha[1]) == pytest.approx(best[1], rel=1e-12)
    # the chosen model is refitted on every window given
    mean, std = features.mean(0), features.std(0)
    expected = KernelRidge(alpha=best[1][1], kernel="rbf", gamma=best[1][0]).fit(
        (features - mean) / std, y[:, 1] - y[:, 1].mean()).predict((features - mean) / std) + y[:, 1].mean()
    with torch.no_grad():
        got = network.partner(network.normalize(torch.as_tensor(P)))
    np.testing.assert_allclose(got[:, 1].numpy(), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got[:, 0], network.skip(network.normalize(torch.as_tensor(P)))[:, 0])
    # no usable fold: nothing is chosen
    network.choose_kernel([torch.as_tensor(P)], y, [(np.arange(1), np.arange(1, 5))])
    assert not network.kernel_gamma.any()


def test_an_untrained_blend_with_an_rbf_partner_predicts_kernel_ridge(big):
    P, coords = big
    _, y = _kernel_problem(P)
    net = ContrastivePatchRegressor("li", max_epochs=0, spectrum_norm=None, module__n_planes=2,
                                    random_state=0).fit(P, y, groups=coords)
    np.testing.assert_array_equal(net.partner_, ["linear", "rbf"])
    np.testing.assert_array_equal(net.blend_, [0.0, 0.0])  # no epoch: the partners alone
    mean, std = P[net.training_indices_].astype(np.float64).mean(axis=(0, 1, 3, 4)), \
        P[net.training_indices_].astype(np.float64).std(axis=(0, 1, 3, 4))
    features = ((P.astype(np.float64) - mean[:, None, None]) / std[:, None, None]).mean(axis=(1, 3, 4))
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(features, y[:, 0]).predict(features)
    np.testing.assert_allclose(net.predict(P)[:, 0], ridge, rtol=1e-4, atol=1e-4)
    rbf_error = ((net.predict(P)[:, 1] - y[:, 1]) ** 2).mean()
    linear_error = ((RidgeCV(alphas=RIDGE_ALPHAS).fit(features, y[:, 1]).predict(features) - y[:, 1]) ** 2).mean()
    assert rbf_error < 0.5 * linear_error
    linear = ContrastivePatchRegressor("li", max_epochs=0, spectrum_norm=None, module__n_planes=2, random_state=0,
                                       ridge_kernel="linear").fit(P, y, groups=coords)
    np.testing.assert_array_equal(linear.partner_, ["linear", "linear"])
    assert not linear.module_.kernel_gamma.any() and len(linear.module_.kernel_support) == 0
    # no validation windows, no choice; no blend, no partner
    assert (ContrastivePatchRegressor("li", max_epochs=0, early_stopping=False, module__n_planes=2)
            .fit(P, y).partner_ == "linear").all()
    assert ContrastivePatchRegressor("li", max_epochs=0, ridge="residual", module__n_planes=2).fit(
        P, y, groups=coords).partner_ is None
    with pytest.raises(ValueError, match="ridge_kernel must be 'auto' or 'linear', got 'poly'"):
        ContrastivePatchRegressor("li", ridge_kernel="poly").fit(P, y)


def test_a_kernel_partner_survives_state_dicts_weights_files_and_pickles(big, tmp_path):
    import pickle

    P, coords = big
    _, y = _kernel_problem(P)
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=2, early_stopping=True)).fit(
        P, y, groups=coords)
    assert net.module_.kernel_gamma[1] > 0 and len(net.module_.kernel_support) > 0
    fresh = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=0, early_stopping=False)).fit(P[:20], y[:20])
    fresh.module_.load_state_dict(net.module_.state_dict())  # the support's row count comes with the state
    fresh.y_mean_, fresh.y_scale_ = net.y_mean_, net.y_scale_
    np.testing.assert_array_equal(fresh.predict(P), net.predict(P))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_weights(net, tmp_path / "m.pt")
    loaded = load_weights(tmp_path / "m.pt")
    np.testing.assert_array_equal(loaded.partner_, net.partner_)
    np.testing.assert_array_equal(loaded.predict(P), net.predict(P))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(net)).predict(P), net.predict(P))


def test_kernel_folds_are_spatial_blocks_with_enough_training_windows(data, big):
    from hyperspectral_cl.model_selection import SpatialBlockSplit

    P, coords = big
    net = ContrastivePatchRegressor("li", max_epochs=0, early_stopping=False, module__n_planes=2).fit(
        P[:40], np.zeros((40, 1)))
    rows = np.arange(0, len(P), 2)
    folds = net._kernel_folds(rows, coords)
    expected = list(SpatialBlockSplit(5, n_blocks=(2, 2)).split(rows, groups=coords[rows]))
    assert len(folds) == len(expected) == 4
    for (train, test), (train_e, test_e) in zip(folds, expected, strict=True):
        np.testing.assert_array_equal(train, train_e)
        np.testing.assert_array_equal(test, test_e)
    # on the small scene the buffers leave a handful of windows to train on: no honest choice, a linear partner
    P_small, y_small, coords_small = data
    assert net._kernel_folds(np.arange(len(P_small)), coords_small) == []
    small = ContrastivePatchRegressor("li", max_epochs=0, module__n_planes=2).fit(
        P_small, _kernel_problem(P_small)[1], groups=coords_small)
    assert (small.partner_ == "linear").all()
    # without positions: four shuffled folds, reproducibly
    folds = net._kernel_folds(rows, None)
    assert len(folds) == 4 and np.array_equal(np.sort(np.concatenate([t for _, t in folds])), np.arange(len(rows)))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, net._kernel_folds(rows, None), strict=True))
    assert net._kernel_folds(rows[:3], None) == []


def test_a_refit_drops_the_kernel_partner_it_no_longer_chooses(big):
    P, coords = big
    _, y = _kernel_problem(P)
    net = ContrastivePatchRegressor("li", max_epochs=0, spectrum_norm=None, module__n_planes=2,
                                    random_state=0).fit(P, y, groups=coords)
    assert len(net.module_.kernel_support) > 0
    net.set_params(warm_start=True, ridge_kernel="linear").fit(P, y, groups=coords)
    np.testing.assert_array_equal(net.partner_, ["linear", "linear"])
    assert len(net.module_.kernel_support) == 0 and len(net.module_.kernel_coef) == 0  # nothing stale is saved
    net.set_params(ridge_kernel="auto").fit(P, y, groups=coords)
    net.set_params(early_stopping=False).partial_fit(P, y)  # no validation windows: no choice, a linear partner
    np.testing.assert_array_equal(net.partner_, ["linear", "linear"])


def test_a_users_train_split_with_positions_chooses_the_partner_on_spatial_folds(big, monkeypatch):
    from skorch.dataset import ValidSplit

    from hyperspectral_cl.model_selection import SpatialBlockSplit

    P, coords = big
    seen = []
    original = ContrastivePatchRegressor._kernel_folds
    monkeypatch.setattr(ContrastivePatchRegressor, "_kernel_folds",
                        lambda self, rows, c: seen.append(c) or original(self, rows, c))
    split = ValidSplit(SpatialBlockSplit(5, n_blocks=(2, 2)))
    ContrastivePatchRegressor("li", max_epochs=0, module__n_planes=2, train_split=split).fit(
        P, _kernel_problem(P)[1], groups=coords)
    assert len(seen) == 1 and np.array_equal(seen[0], coords)


def test_states_from_before_the_kernel_partner_load_without_one(data):
    import copy
    import pickle

    P, y, _ = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, early_stopping=False)).fit(P, y)
    network = net.module_
    network.blend.fill_(0.5)  # the blend evaluates the partner
    expected = network(torch.as_tensor(P))[0].detach()
    old = {k: v for k, v in network.state_dict().items() if not k.startswith("kernel_")}
    fresh = copy.deepcopy(network)
    fresh.kernel_gamma.fill_(1.0)  # a partner the old state must not inherit
    fresh.load_state_dict(old)
    assert not fresh.kernel_gamma.any() and len(fresh.kernel_support) == 0
    torch.testing.assert_close(fresh(torch.as_tensor(P))[0], expected)
    # a network pickled before: its buffers lack the partner's
    state = network.__getstate__()
    state["_buffers"] = {k: v for k, v in state["_buffers"].items() if not k.startswith("kernel_")}
    restored = PatchNetwork.__new__(PatchNetwork)
    restored.__setstate__(pickle.loads(pickle.dumps(state)))
    torch.testing.assert_close(restored(torch.as_tensor(P))[0], expected)
