"""The fit's own random streams: independent of torch's global generator, torch's own initialisations."""

import numpy as np
import pytest
import torch
from torch import nn

from hyperspectral_cl._rng import RandomStreams, active_streams, current_generator, current_streams, init_parameters
from hyperspectral_cl.backbones import get_backbone, list_backbones
from hyperspectral_cl.backbones.layers import Dropout, TransformerBlock


def test_streams_repeat_and_do_not_depend_on_the_order_they_are_asked_for():
    a = RandomStreams(7)
    first = torch.rand(5, generator=a.generator("shuffle"))
    b = RandomStreams(7)
    torch.rand(3, generator=b.generator("augment"))  # another purpose drawn from first
    assert torch.equal(torch.rand(5, generator=b.generator("shuffle")), first)
    assert not torch.equal(torch.rand(5, generator=RandomStreams(7).generator("augment")), first)
    assert not torch.equal(torch.rand(5, generator=RandomStreams(8).generator("shuffle")), first)
    assert a.generator("shuffle") is a.generator("shuffle", "cpu")  # one generator per purpose and device


def test_current_generator_is_the_active_fit_and_per_thread():
    assert current_generator("augment") is None and current_streams() is None
    streams = RandomStreams(0)
    with active_streams(streams):
        assert current_streams() is streams
        assert current_generator("augment") is streams.generator("augment")
        seen = []
        import threading

        thread = threading.Thread(target=lambda: seen.append(current_streams()))
        thread.start()
        thread.join()
        assert seen == [None]  # another thread does not see this fit's streams
    assert current_streams() is None


@pytest.mark.parametrize(
    "build",
    [lambda: nn.Linear(7, 3), lambda: nn.Linear(7, 3, bias=False), lambda: nn.Conv3d(2, 4, (3, 2, 2)),
     lambda: nn.Conv2d(6, 4, 3, groups=2), lambda: nn.MultiheadAttention(8, 2),
     lambda: nn.MultiheadAttention(8, 2, kdim=5, vdim=3, add_bias_kv=True), lambda: nn.Embedding(6, 4, padding_idx=1),
     lambda: nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.LayerNorm(4), nn.Linear(4, 2))],
    ids=["linear", "linear-nobias", "conv3d", "conv2d-groups", "attention", "attention-kdim-biaskv", "embedding",
         "sequential"],
)
def test_init_parameters_draws_what_torch_draws_at_construction(build):
    # naive reference: torch's own reset at construction, from the global generator seeded alike
    torch.manual_seed(11)
    reference = build()
    module = build()
    assert init_parameters(module, torch.Generator().manual_seed(11)) == []
    for (name, p), q in zip(module.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("name", list_backbones())
def test_backbone_initialisation_comes_from_the_generator_alone(name):
    cls = get_backbone(name)
    shape = (max(cls.min_bands, 30), max(cls.min_patch_size, 5), 2)
    torch.manual_seed(0)
    a = cls(*shape)
    torch.manual_seed(1)
    b = cls(*shape)
    assert init_parameters(a, torch.Generator().manual_seed(3)) == []  # every parameter re-drawn
    init_parameters(b, torch.Generator().manual_seed(3))
    for (pname, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=pname)
    c = cls(*shape)
    init_parameters(c, torch.Generator().manual_seed(4))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))


def test_backbones_keep_their_own_initialisation():
    li = get_backbone("li")(30, 5, 1)
    init_parameters(li, torch.Generator().manual_seed(0))
    bound = np.sqrt(6.0 / (li.conv1.weight[0].numel()))  # He uniform for ReLU: sqrt(6 / fan_in)
    w = li.conv1.weight.detach()
    assert w.abs().max() <= bound and w.abs().max() > 0.8 * bound  # not torch's default bound (sqrt(1/fan_in))
    assert torch.count_nonzero(li.conv1.bias) == 0
    vit = get_backbone("varahagiri")(30, 5, 1)
    init_parameters(vit, torch.Generator().manual_seed(0))
    pos = vit.pos_embedding.detach()
    assert 0.018 < float(pos.std()) < 0.022 and abs(float(pos.mean())) < 0.002  # trunc_normal_(std=0.02)


def test_parameters_of_unknown_layers_are_named():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.randn(3))
            self.inner = nn.Linear(3, 3)

    module = nn.Sequential(Scale())
    before = module[0].gain.detach().clone()
    assert init_parameters(module, torch.Generator().manual_seed(0)) == ["0.gain"]
    assert torch.equal(module[0].gain.detach(), before)


def test_dropout_draws_from_the_fit_stream_and_is_torch_dropout_outside():
    x = torch.ones(4000)
    drop = Dropout(0.25).train()
    torch.manual_seed(0)
    outside = drop(x)
    torch.manual_seed(0)
    torch.testing.assert_close(outside, nn.Dropout(0.25).train()(x), rtol=0, atol=0)
    with active_streams(RandomStreams(5)):
        torch.manual_seed(0)
        a = drop(x)
    with active_streams(RandomStreams(5)):
        torch.manual_seed(1)
        b = drop(x)
    assert torch.equal(a, b)  # the global generator plays no part
    np.testing.assert_allclose(torch.unique(a).numpy(), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs(float((a == 0).float().mean()) - 0.25) < 0.03
    assert torch.equal(drop.eval()(x), x)


def test_transformer_block_is_torchs_encoder_layer():
    torch.manual_seed(0)
    ours = TransformerBlock(16, 4, dropout=0.1)
    theirs = nn.TransformerEncoderLayer(16, 4, dim_feedforward=64, dropout=0.1, activation="gelu",
                                        batch_first=True, norm_first=True)
    theirs.load_state_dict(ours.state_dict())  # strict: the same names and shapes
    x = torch.randn(3, 9, 16)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    ours.train()
    with active_streams(RandomStreams(0)):
        a = ours(x)
    with active_streams(RandomStreams(0)):
        b = ours(x)
    assert torch.equal(a, b) and not torch.allclose(a, ours.eval()(x))  # dropout acts, reproducibly
    # without dropout, training mode computes the same function as torch's (the manual attention path aside)
    ours0 = TransformerBlock(16, 4)
    theirs.load_state_dict(ours0.state_dict())
    theirs.dropout.p = theirs.dropout1.p = theirs.dropout2.p = theirs.self_attn.dropout = 0.0
    torch.testing.assert_close(ours0.train()(x), theirs.train()(x), rtol=1e-5, atol=1e-5)


def test_streams_are_the_same_on_every_device_index():
    streams = RandomStreams(3)
    assert streams.seed_for("augment", "cuda:0") == streams.seed_for("augment", "cuda:1")
    assert streams.seed_for("augment", "cuda") != streams.seed_for("augment", "cpu")


def test_init_parameters_gives_nn_transformer_its_xavier_matrices():
    model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    assert init_parameters(model, torch.Generator().manual_seed(0)) == []
    for name, p in model.named_parameters():
        if p.dim() > 1:  # Xavier uniform: U(-b, b), b = sqrt(6 / (fan_in + fan_out))
            bound = np.sqrt(6.0 / (p.shape[0] + p.shape[1]))
            assert p.abs().max() <= bound and p.abs().max() > 0.9 * bound, name


def test_dropout_of_one_zeroes_everything_as_torch_does():
    x = torch.ones(10)
    with active_streams(RandomStreams(0)):
        assert torch.equal(Dropout(1.0).train()(x), nn.Dropout(1.0).train()(x))
