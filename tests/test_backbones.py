"""The six backbones: shapes, gradients, size limits, architecture facts, and training through the estimator."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from hyperspectral_cl import ContrastivePatchRegressor
from hyperspectral_cl._torch_utils import frozen_batchnorm_stats
from hyperspectral_cl.backbones import (
    BACKBONES,
    Atik,
    Backbone,
    Hamida,
    Li,
    Luo,
    PixelMLP,
    Varahagiri,
    get_backbone,
    list_backbones,
    register_backbone,
)
from hyperspectral_cl.backbones.base import conv_out

NAMES = ["luo", "hamida", "li", "atik", "varahagiri", "pixel-mlp"]

# (bands, patch) pairs each backbone must take: around its minimum, odd and even patches, the paper's sizes
SHAPES = {
    "luo": [(24, 3), (33, 4), (40, 5), (64, 8)],
    "hamida": [(3, 3), (12, 4), (17, 5), (40, 6)],
    "li": [(5, 5), (12, 6), (21, 7), (40, 8)],
    "atik": [(5, 4), (12, 5), (21, 6), (40, 9)],
    "varahagiri": [(9, 3), (16, 4), (25, 7), (40, 11), (24, 12)],
    "pixel-mlp": [(1, 1), (3, 2), (17, 5), (40, 10)],
}
# smallest accepted (bands, patch), from the architectures
MINIMA = {"luo": (24, 3), "hamida": (3, 3), "li": (5, 5), "atik": (5, 4), "varahagiri": (9, 3), "pixel-mlp": (1, 1)}
# small options so the tests stay fast; the defaults are checked separately
SMALL = {
    "luo": {"n_kernels": 4, "n_maps": 4, "n_hidden": 16},
    "hamida": {},
    "li": {"n_planes": 2},
    "atik": {"n_filters": 2},
    "varahagiri": {"dim": 16, "heads": 2},
    "pixel-mlp": {"n_hidden": 32},
}


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_registry_lists_the_six_and_resolves_aliases():
    assert list_backbones() == sorted(NAMES)
    assert get_backbone("3d-convsst") is Varahagiri is get_backbone("VARAHAGIRI")
    assert get_backbone("hsi-cnn") is Luo
    assert get_backbone("pixel") is PixelMLP
    assert [get_backbone(n) for n in NAMES] == [Luo, Hamida, Li, Atik, Varahagiri, PixelMLP]


@pytest.mark.parametrize("name,bands,patch", [(n, b, p) for n in NAMES for b, p in SHAPES[n]])
def test_output_and_feature_shapes(name, bands, patch):
    net = get_backbone(name)(bands, patch, 3, **SMALL[name])
    torch.manual_seed(0)
    pred, feats = net(torch.randn(6, 1, bands, patch, patch))
    assert pred.shape == (6, 3)
    assert feats.shape == (6, net.n_features) and net.embedding_dim == net.n_features
    assert torch.isfinite(pred).all() and torch.isfinite(feats).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_every_parameter(name):
    bands, patch = SHAPES[name][1]
    net = get_backbone(name)(bands, patch, 2, projection_dim=8, **SMALL[name])
    torch.manual_seed(1)
    pred, emb = net(torch.randn(5, 1, bands, patch, patch))
    (pred.square().sum() + emb.square().sum()).backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", NAMES)
def test_minimum_sizes_are_accepted_and_anything_smaller_is_a_clear_error(name):
    cls = get_backbone(name)
    bands, patch = MINIMA[name]
    assert (cls.min_bands, cls.min_patch_size) == (bands, patch)
    pred, _ = cls(bands, patch, 2, **SMALL[name])(torch.randn(2, 1, bands, patch, patch))
    assert pred.shape == (2, 2)
    with pytest.raises(ValueError, match=f"backbone '{name}' needs at least {bands} bands, got {bands - 1}"):
        cls(bands - 1, patch, 2)
    with pytest.raises(ValueError, match=f"backbone '{name}' needs patches of at least {patch} x {patch}"):
        cls(bands, patch - 1, 2)


@pytest.mark.parametrize("name", [n for n in NAMES if MINIMA[n][1] > 1])  # a 0-pixel patch is refused earlier
def test_too_small_input_through_the_estimator_names_backbone_and_minimum(name):
    bands, patch = MINIMA[name]
    X = np.zeros((8, 1, bands, patch - 1, patch - 1), np.float32)
    with pytest.raises(ValueError, match=f"backbone '{name}' needs patches of at least {patch} x {patch}"):
        ContrastivePatchRegressor(name, max_epochs=1).fit(X, np.zeros(8))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_initial_weights(name):
    bands, patch = SHAPES[name][0]
    nets = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        nets.append(get_backbone(name)(bands, patch, 3, **SMALL[name]).state_dict())
    assert all(torch.equal(nets[0][k], nets[1][k]) for k in nets[0])
    assert not all(torch.equal(nets[0][k], nets[2][k]) for k in nets[0] if nets[0][k].is_floating_point())


# Facts from the papers and public code (../shared/reference/backbones.md), at B=224, S=10, 3 targets.
@pytest.mark.parametrize(
    "cls,n_features,params",
    [(Hamida, 36_540, 140_243), (Li, 253_440, 775_203), (Atik, 346_528, 1_041_667), (Varahagiri, 64, 416_419)],
)
def test_published_architectures_match_the_published_sizes(cls, n_features, params):
    net = cls(224, 10, 3, **({} if cls is Varahagiri else {"pooling": None}))
    assert net.n_features == n_features
    assert n_params(net) == params


@pytest.mark.parametrize("cls,channels,depth,side", [(Hamida, 35, 29, 6), (Li, 32, 220, 6), (Atik, 16, 442, 7)])
def test_pooled_features_are_the_pixel_average_of_the_maps(cls, channels, depth, side):
    torch.manual_seed(0)
    pooled, flat = cls(224, 10, 3), cls(224, 10, 3, pooling=None)
    flat.load_state_dict({k: v for k, v in pooled.state_dict().items() if not k.startswith("regressor")},
                         strict=False)
    assert pooled.n_features == channels * depth  # the default: maps averaged over pixels
    assert flat.n_features == channels * depth * side * side
    x = torch.randn(2, 1, 224, 10, 10)
    maps = flat.features(x).reshape(2, channels, depth, side, side)
    torch.testing.assert_close(pooled.features(x), maps.mean(dim=(3, 4)).flatten(1), rtol=1e-5, atol=1e-6)
    assert pooled(x)[0].shape == (2, 3)


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        Li(20, 5, 1, pooling="max")


def test_hamida_spectral_length_by_hand():
    # B=224: conv1 222 -> pool1 111 -> conv2 111 -> pool2 56 -> conv3 56 -> conv4 29
    assert conv_out(conv_out(conv_out(conv_out(224, 3), 3, 2, 1), 3, 2, 1), 2, 2, 1) == 29
    net = Hamida(224, 10, 3)
    x = torch.zeros(1, 1, 224, 10, 10)
    x = net.pool2(net.conv2(net.pool1(net.conv1(x))))
    assert net.conv4(net.conv3(x)).shape == (1, 35, 29, 6, 6)


def test_hamida_channels_last_layout_gives_the_same_result():
    torch.manual_seed(0)
    net = Hamida(40, 6, 2)
    x = torch.randn(3, 1, 40, 6, 6)
    fast = net.features(x)
    net.channels_last_on_cpu = False
    torch.testing.assert_close(fast, net.features(x), rtol=1e-4, atol=1e-5)


def test_li_has_its_activations():
    # a version without ReLUs is affine: f(a + b) == f(a) + f(b) - f(0) would hold
    net = Li(12, 5, 2, n_planes=2)
    torch.manual_seed(0)
    a, b = torch.randn(2, 3, 1, 12, 5, 5)
    f = net.features
    assert (f(a) >= 0).all() and (f(a) == 0).any()
    assert not torch.allclose(f(a + b), f(a) + f(b) - f(torch.zeros_like(a)), atol=1e-3)


def test_luo_stacks_responses_as_the_paper_means():
    """Rows of the stacked image are spectral positions and columns are kernels (no scrambling view)."""
    torch.manual_seed(0)
    net = Luo(60, 4, 2, n_kernels=5, n_maps=3, n_hidden=7)
    x = torch.randn(2, 1, 60, 4, 4)
    h1 = (60 - 24) // 9 + 1
    assert net.n_rows == h1
    r = torch.relu(net.conv1(x))
    image = torch.empty(2, 4, h1, 5)  # (N, neighbourhoods, rows, columns)
    for n in range(2):
        for i in range(2):
            for j in range(2):
                for row in range(h1):
                    for k in range(5):
                        image[n, 2 * i + j, row, k] = r[n, k, row, i, j]
    expected = torch.relu(net.fc1(torch.relu(net.conv2(image)).flatten(1)))
    torch.testing.assert_close(net.features(x), expected)


def test_luo_at_3x3_is_the_papers_single_image():
    net = Luo(224, 3, 3)
    assert net.conv2.in_channels == 1 and net.n_rows == 23
    assert net.fc1.in_features == 16 * 23 * 8


def test_atik_concatenates_both_streams_along_the_spectral_axis():
    torch.manual_seed(0)
    net = Atik(20, 5, 2, n_filters=3, pooling=None)
    x = torch.randn(2, 1, 20, 5, 5)
    a = torch.relu(net.stream5(x))  # (2, 3, 16, 2, 2)
    b = torch.relu(net.stream3(x))  # (2, 3, 18, 2, 2)
    torch.testing.assert_close(net.features(x), torch.cat([a, b], dim=2).flatten(1))
    assert net.n_features == 3 * 34 * 4


@pytest.mark.parametrize("patch", [3, 5, 8, 11, 13])
def test_varahagiri_takes_any_patch_size(patch):
    net = Varahagiri(20, patch, 3, dim=16, heads=4)
    assert net.pos_embedding.shape == (1, patch * patch, 16)
    pred, feats = net(torch.randn(2, 1, 20, patch, patch))
    assert pred.shape == (2, 3) and feats.shape == (2, 16)


def reference_varahagiri_features(net, x):
    """The straightforward formulation: NCHW maps, explicit permute/reshape around each guide conv."""
    n, s = x.shape[0], x.shape[-1]
    m = net.hetconv(net.conv3d(x).flatten(1, 2))
    tokens = m.flatten(2).transpose(1, 2) + net.pos_embedding
    for i, block in enumerate(net.blocks):
        out = block(tokens)
        maps = [t.transpose(1, 2).reshape(n, -1, s, s) for t in (tokens, out)]  # (N, dim, S, S) each
        pair = torch.stack(maps, dim=2).contiguous()  # (N, dim, 2, S, S)
        merged = net.guides[min(i, len(net.guides) - 1)](pair)[:, :, 0]  # (N, dim, S, S)
        tokens = merged.flatten(2).transpose(1, 2)
    return net.norm(tokens).mean(dim=1)


@pytest.mark.parametrize("share", [True, False])
def test_varahagiri_matches_the_straightforward_formulation(share):
    torch.manual_seed(0)
    net = Varahagiri(20, 6, 2, dim=16, heads=4, share_guide_conv=share).eval()
    x = torch.randn(3, 1, 20, 6, 6)
    expected = reference_varahagiri_features(net, x)
    torch.testing.assert_close(net.features(x), expected, rtol=1e-4, atol=1e-5)
    net.channels_last_on_cpu = False
    torch.testing.assert_close(net.features(x), expected, rtol=1e-4, atol=1e-5)


def test_varahagiri_guide_convolution_sharing():
    shared, separate = Varahagiri(20, 5, 3), Varahagiri(20, 5, 3, share_guide_conv=False, depth=3)
    assert len(shared.guides) == 1 and len(separate.guides) == 3
    with pytest.raises(ValueError, match="dim must be a multiple of heads"):
        Varahagiri(20, 5, 3, dim=20, heads=8)


def test_varahagiri_is_permutation_sensitive_through_positions():
    # the positional embedding and 3x3 convolutions make the output depend on where pixels are
    torch.manual_seed(0)
    net = Varahagiri(16, 5, 2, dim=16, heads=2).eval()
    x = torch.randn(2, 1, 16, 5, 5)
    assert not torch.allclose(net(x)[1], net(x.transpose(-1, -2))[1], atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_simplex_head_gives_abundances(name):
    bands, patch = SHAPES[name][0]
    net = get_backbone(name)(bands, patch, 4, head="simplex", **SMALL[name])
    pred, _ = net(torch.randn(3, 1, bands, patch, patch) * 10)
    assert (pred >= 0).all()
    torch.testing.assert_close(pred.sum(dim=1), torch.ones(3))


@pytest.mark.parametrize("name", NAMES)
def test_projection_head_changes_the_embedding_not_the_prediction(name):
    bands, patch = SHAPES[name][0]
    torch.manual_seed(0)
    plain = get_backbone(name)(bands, patch, 2, **SMALL[name])
    torch.manual_seed(0)
    projected = get_backbone(name)(bands, patch, 2, projection_dim=6, projection_hidden=10, **SMALL[name])
    projected.load_state_dict(plain.state_dict(), strict=False)  # same trunk and regressor
    x = torch.randn(3, 1, bands, patch, patch)
    plain.eval(), projected.eval()
    (p1, f1), (p2, z) = plain(x), projected(x)
    torch.testing.assert_close(p1, p2)
    assert z.shape == (3, 6) and projected.embedding_dim == 6 and projected.n_features == f1.shape[1]
    torch.testing.assert_close(z, projected.projector(f1))


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_projection_dim(bad, error):
    # scikit-learn's split: a value of the wrong type is a TypeError, one out of range a ValueError
    with pytest.raises(error, match="projection_dim must be a positive integer"):
        Li(12, 5, 2, projection_dim=bad)


@pytest.mark.parametrize(
    "cls,kw,param,error", [(Li, {"n_planes": 0}, "n_planes", ValueError),
                           (Atik, {"n_filters": -1}, "n_filters", ValueError),
                           (Luo, {"n_hidden": 1.5}, "n_hidden", TypeError),
                           (Varahagiri, {"depth": 0}, "depth", ValueError)]
)
def test_bad_options_name_the_parameter(cls, kw, param, error):
    with pytest.raises(error, match=param):
        cls(40, 9, 2, **kw)


# ------------------------------------------------------------------ through the estimator
def regression_problem(bands, patch, n=96, seed=0):
    """Patches whose targets are smooth functions of the patch's mean spectrum."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1, bands, patch, patch)).astype(np.float32)
    X += rng.normal(size=(n, 1, bands, 1, 1)).astype(np.float32)  # a per-sample spectral signature
    m = X.mean(axis=(1, 3, 4))
    y = np.stack([m[:, : bands // 2].mean(1), m[:, bands // 2:].mean(1)], axis=1)
    return X, y


FIT_SHAPES = {"luo": (30, 5), "hamida": (12, 5), "li": (12, 5), "atik": (12, 5), "varahagiri": (12, 5), "pixel-mlp": (12, 5)}


@pytest.fixture(scope="module")
def fitted():
    """One small contrastive fit per backbone (shared by the tests below)."""
    out = {}
    for name in NAMES:
        X, y = regression_problem(*FIT_SHAPES[name])
        net = ContrastivePatchRegressor(
            name, alpha=0.1, augment="flip", max_epochs=40, batch_size=32, random_state=0,
            optimizer=torch.optim.Adam, lr=3e-3, ridge=None,  # the backbone alone must learn
            **{f"module__{k}": v for k, v in SMALL[name].items()},
        ).fit(X, y)
        out[name] = (net, X, y)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_each_backbone_learns_a_tiny_problem(fitted, name):
    net, X, y = fitted[name]
    mse = net.history[:, "train_mse"]
    assert np.isfinite(net.history[:, "train_contrastive"]).all()
    assert mse[-1] < 0.2 * mse[0], mse
    assert net.predict(X).shape == y.shape


@pytest.mark.parametrize("name", NAMES)
def test_pickled_fitted_estimator_predicts_the_same(fitted, name):
    net, X, _ = fitted[name]
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.predict(X), net.predict(X))
    assert type(clone.module_.backbone) is get_backbone(name)


def test_augmented_pass_leaves_batchnorm_statistics_to_real_data():
    """With one batch per epoch, running statistics after a contrastive step equal those of a baseline step."""
    X, y = regression_problem(12, 5, n=32)
    # no early stopping: restoring an untrained epoch 0 would restore its statistics too
    common = dict(max_epochs=1, batch_size=32, random_state=0, module__dim=16, module__heads=2, early_stopping=False)
    base = ContrastivePatchRegressor("varahagiri", alpha=0.0, augment=None, **common).fit(X, y)
    con = ContrastivePatchRegressor("varahagiri", alpha=1.0, augment="band_erasure", **common).fit(X, y)
    for key, value in base.module_.state_dict().items():
        if "running" in key or "num_batches" in key:
            torch.testing.assert_close(con.module_.state_dict()[key], value, msg=key)
    # and the statistics did move away from their initial values (the check is not vacuous)
    assert not torch.allclose(base.module_.backbone.conv3d[1].running_mean, torch.zeros(8))


def test_frozen_batchnorm_stats_restores_momentum_and_counter():
    net = Varahagiri(12, 5, 2, dim=16, heads=2).train()
    bn = net.conv3d[1]
    before = (bn.running_mean.clone(), bn.num_batches_tracked.clone(), bn.momentum)
    with frozen_batchnorm_stats(net):
        net(torch.randn(4, 1, 12, 5, 5))
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.num_batches_tracked, before[1])
    assert bn.momentum == before[2]


def test_a_users_own_module_class_works_and_can_be_registered():
    class MeanSpectrumNet(nn.Module):
        """Follows the interface without subclassing Backbone."""

        def __init__(self, n_bands, patch_size, n_targets, hidden=8):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(n_bands, hidden), nn.ReLU())
            self.out = nn.Linear(hidden, n_targets)

        def forward(self, x):
            f = self.body(x.mean(dim=(1, 3, 4)))
            return self.out(f), f

    X, y = regression_problem(10, 3, n=40)
    net = ContrastivePatchRegressor(MeanSpectrumNet, module__hidden=4, max_epochs=2, batch_size=20,
                                    random_state=0).fit(X, y)
    assert net.module_.backbone.out.in_features == 4 and net.predict(X).shape == y.shape
    assert net.module_.ridge == "blend"  # the blend needs no particular output layer

    try:
        register_backbone("mean-spectrum-test")(MeanSpectrumNet)
        assert get_backbone("mean-spectrum-test") is MeanSpectrumNet
        ContrastivePatchRegressor("mean-spectrum-test", max_epochs=1, random_state=0).fit(X, y)
        with pytest.raises(ValueError, match="already registered"):
            register_backbone("mean-spectrum-test")(MeanSpectrumNet)
    finally:
        BACKBONES.pop("mean-spectrum-test", None)


def test_register_backbone_rejects_non_modules():
    with pytest.raises(TypeError, match="nn.Module subclass"):
        register_backbone("not-a-module")(object)
    assert issubclass(Li, Backbone)


def test_pixel_mlp_predicts_the_mean_of_per_pixel_predictions_whatever_their_arrangement():
    torch.manual_seed(0)
    net = PixelMLP(7, 4, 3, n_hidden=5, n_layers=3).double().eval()
    x = torch.randn(6, 1, 7, 4, 4, dtype=torch.float64)
    pred, features = net(x)
    # naive reference: every pixel's spectrum through the network as a 1 x 1 patch, then the average
    per_pixel = torch.stack([net(x[:, :, :, i:i + 1, j:j + 1])[0] for i in range(4) for j in range(4)])
    torch.testing.assert_close(pred, per_pixel.mean(dim=0))
    assert features.shape == (6, 5) and sum(isinstance(m, torch.nn.Linear) for m in net.body) == 3
    shuffled = x.flatten(3)[..., torch.randperm(16)].reshape(x.shape)
    torch.testing.assert_close(net(shuffled)[0], pred)
    with pytest.raises(ValueError, match="n_layers"):
        PixelMLP(7, 4, 3, n_layers=0)
