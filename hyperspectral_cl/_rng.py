"""The random streams of one training call, kept apart from torch's global generator.

A fit draws from its own ``torch.Generator`` objects, one per purpose (weight
initialisation, batch order, unlabeled draws, augmentations, dropout) and per
device type, all derived from one seed. Two fits running in threads of one
process therefore never draw from each other's stream, and a seeded fit is
reproducible wherever it runs. Separate purposes also keep ablations paired: a
fit with the contrastive term and one without it start from the same weights
and see the batches in the same order.

Layers that draw during the forward pass (dropout) find the active fit's
streams through a context variable, which each thread holds on its own.

One step still touches torch's global generator: building the network, because
torch's layers draw their first values when they are created. The build runs
with the global generator seeded and restored around it (:func:`seeded_build`),
under a lock that keeps builds (and the seed draws of unseeded fits) of the
package's fits in different threads apart, and the values are then drawn again
from the fit's own generator (:func:`init_parameters`).
"""

import inspect
import math
import threading
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch
from torch import nn

__all__ = ["RandomStreams", "active_streams", "current_generator", "current_streams", "draw_seed", "init_parameters",
           "seeded_build"]

#: Fixed indices, so that the stream of a purpose does not depend on which others were asked for first.
_PURPOSES = {"construct": 0, "init": 1, "shuffle": 2, "unlabeled": 3, "augment": 4, "dropout": 5}
_DEVICE_TYPES = {"cpu": 0, "cuda": 1, "mps": 2, "xpu": 3}


class RandomStreams:
    """Independent ``torch.Generator`` streams derived from one seed.

    Parameters
    ----------
    seed : int
        Non-negative integer every stream is derived from (with numpy's
        ``SeedSequence``, so nearby seeds give unrelated streams).

    Examples
    --------
    >>> streams = RandomStreams(0)
    >>> a = torch.rand(2, generator=streams.generator("shuffle"))
    >>> b = torch.rand(2, generator=RandomStreams(0).generator("shuffle"))
    >>> bool(torch.equal(a, b))
    True
    """

    def __init__(self, seed):
        self.seed = int(seed)
        self._generators = {}

    def seed_for(self, purpose, device="cpu"):
        """The integer seed of ``purpose`` on ``device``'s type (the same for every call and every index)."""
        # by device type only: the same seed gives the same streams on any GPU
        key = [self.seed, _PURPOSES[purpose], _DEVICE_TYPES.get(torch.device(device).type, len(_DEVICE_TYPES))]
        return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))

    def generator(self, purpose, device="cpu"):
        """The generator of ``purpose`` on ``device``: created on first use, then advanced by every draw.

        Parameters
        ----------
        purpose : {'init', 'shuffle', 'unlabeled', 'augment', 'dropout'}
        device : str or torch.device, default='cpu'

        Returns
        -------
        torch.Generator
        """
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        key = (purpose, device.type, device.index)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed_for(purpose, device))
        return self._generators[key]


_ACTIVE = ContextVar("hyperspectral_cl_random_streams", default=None)


@contextmanager
def active_streams(streams):
    """Make ``streams`` the ones :func:`current_generator` returns in this thread for the block."""
    token = _ACTIVE.set(streams)
    try:
        yield streams
    finally:
        _ACTIVE.reset(token)


def current_streams():
    """The :class:`RandomStreams` of the fit running in this thread, or None."""
    return _ACTIVE.get()


def current_generator(purpose, device="cpu"):
    """The active fit's generator for ``purpose`` on ``device``, or None outside a fit (torch's global one)."""
    streams = _ACTIVE.get()
    return None if streams is None else streams.generator(purpose, device)


# ----------------------------------------------------------------------------- torch's global generator
#: Held while a fit seeds torch's global generator to build its network, or draws an unseeded fit's seed
#: from it: two fits in threads would otherwise restore each other's saved state (milliseconds per fit).
_GLOBAL_GENERATOR_LOCK = threading.RLock()


@contextmanager
def seeded_build(seed):
    """Build modules with torch's global CPU generator seeded by ``seed``, its state restored afterwards.

    Other code drawing from the global generator in another thread during the
    block gets this seeded stream; fits of this package wait for each other.
    """
    with _GLOBAL_GENERATOR_LOCK, torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(int(seed))
        yield


def draw_seed():
    """A seed for an unseeded fit, drawn from torch's global generator (so ``torch.manual_seed`` governs it)."""
    with _GLOBAL_GENERATOR_LOCK:
        return int(torch.randint(0, 2**62, ()).item())


# ----------------------------------------------------------------------------- initialisation
def _fan_in_bias(module, generator):
    # torch's default for Linear and ConvNd: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    if module.bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(module.bias, -bound, bound, generator=generator)


def _init_linear_or_conv(module, generator):
    nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
    _fan_in_bias(module, generator)


def _init_attention(module, generator):
    # nn.MultiheadAttention._reset_parameters, drawing from ``generator``
    if module.in_proj_weight is not None:
        nn.init.xavier_uniform_(module.in_proj_weight, generator=generator)
    else:
        for w in (module.q_proj_weight, module.k_proj_weight, module.v_proj_weight):
            nn.init.xavier_uniform_(w, generator=generator)
    if module.in_proj_bias is not None:
        nn.init.zeros_(module.in_proj_bias)
        nn.init.zeros_(module.out_proj.bias)
    for b in (module.bias_k, module.bias_v):
        if b is not None:
            nn.init.xavier_normal_(b, generator=generator)


def _init_embedding(module, generator):
    nn.init.normal_(module.weight, generator=generator)
    if module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].fill_(0)


def _init_transformer(module, generator):
    # nn.Transformer._reset_parameters: Xavier on every matrix, after its layers' own initialisation
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p, generator=generator)


def _init_deterministic(module, generator):
    # norms, PReLU: torch's own reset draws nothing
    module.reset_parameters()


#: torch's default initialisations, drawing from a given generator (first match by isinstance)
_DEFAULT_INITS = (
    (nn.Linear, _init_linear_or_conv),
    (nn.modules.conv._ConvNd, _init_linear_or_conv),
    (nn.MultiheadAttention, _init_attention),
    (nn.Transformer, _init_transformer),
    (nn.Embedding, _init_embedding),
    ((nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.PReLU), _init_deterministic),
)


def _takes_generator(module):
    reset = getattr(module, "reset_parameters", None)
    if reset is None:
        return False
    try:
        return "generator" in inspect.signature(reset).parameters
    except (TypeError, ValueError):
        return False


def init_parameters(module, generator):
    """Re-initialise the parameters of ``module`` from ``generator``, as torch and the layers would.

    Children come first. A module whose ``reset_parameters`` takes a
    ``generator`` argument (every backbone of the package) is reset through
    it, after its children, so its own choices (He initialisation, a head
    started at zero) win; torch's standard layers get torch's default
    initialisation drawn from ``generator``. Parameters of any other module
    keep the values they were built with.

    Parameters
    ----------
    module : nn.Module
    generator : torch.Generator
        On the parameters' device.

    Returns
    -------
    list of str
        Names of the parameters left as built (none for the package's backbones).
    """
    covered = set()

    def visit(m):
        for child in m.children():
            visit(child)
        init = next((fn for kind, fn in _DEFAULT_INITS if isinstance(m, kind)), None)
        if _takes_generator(m):  # answers for its own parameters; its children were visited
            m.reset_parameters(generator=generator)
            covered.update(id(p) for p in m.parameters(recurse=False))
        elif init is not None:  # a torch layer: all of it (nn.MultiheadAttention resets its out_proj)
            init(m, generator)
            covered.update(id(p) for p in m.parameters())

    with torch.no_grad():
        visit(module)
    return [name for name, p in module.named_parameters() if id(p) not in covered]
