"""The interface every backbone shares, and the registry that maps names to classes."""

from numbers import Integral

import torch
from torch import nn

from .._registry import Registry
from .._validation import unknown_name_error

__all__ = ["Backbone", "BACKBONES", "MapBackbone", "get_backbone", "list_backbones", "register_backbone"]

# names are looked up case-insensitively
_REGISTRY = Registry("backbone", lookup_key=str.lower)
#: name -> backbone class. Fill it with :func:`register_backbone`.
BACKBONES = _REGISTRY.entries


def register_backbone(name, *, aliases=()):
    """Class decorator that registers a backbone under ``name`` (and ``aliases``).

    Parameters
    ----------
    name : str
        The name users pass as ``ContrastivePatchRegressor(backbone=name)``.
    aliases : iterable of str, default=()
        Other accepted names.

    Examples
    --------
    >>> from hyperspectral_cl.backbones import Backbone, register_backbone
    >>> @register_backbone("tiny")
    ... class Tiny(Backbone):
    ...     min_patch_size = 1
    ...     def __init__(self, n_bands, patch_size, n_targets, **options):
    ...         super().__init__(n_bands, patch_size, n_targets, **options)
    ...         self.build_head(n_bands)
    ...     def features(self, x):
    ...         return x.mean(dim=(1, 3, 4))
    """

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"register_backbone expects an nn.Module subclass, got {cls!r}")
        return _REGISTRY.register(name, cls, aliases=aliases)

    return decorator


def list_backbones():
    """Registered backbone names, sorted (aliases excluded)."""
    return _REGISTRY.names()


def get_backbone(name_or_class):
    """Resolve a backbone from a registered name, or check and return a module class.

    Parameters
    ----------
    name_or_class : str or type
        A registered name (or alias), or an ``nn.Module`` subclass built as
        ``cls(n_bands, patch_size, n_targets, **options)`` whose ``forward``
        returns ``(prediction, features)``.

    Returns
    -------
    type
    """
    if isinstance(name_or_class, str):
        return _REGISTRY.get(name_or_class)
    if isinstance(name_or_class, type) and issubclass(name_or_class, nn.Module):
        return name_or_class
    if isinstance(name_or_class, nn.Module):
        raise TypeError(
            "backbone must be a registered name or an nn.Module *class* (the network is built at fit "
            f"time from the data's shape); got an instance of {type(name_or_class).__name__}. "
            f"Pass {type(name_or_class).__name__} itself and its options as module__<name>=value."
        )
    raise TypeError(f"backbone must be a name ({', '.join(list_backbones())}) or an nn.Module class, got {name_or_class!r}")


HEADS = ("linear", "simplex")


def conv_out(length, kernel, stride=1, padding=0):
    """Output length of a convolution along one axis (floor mode, no dilation)."""
    return (length + 2 * padding - kernel) // stride + 1


def check_positive_int(value, name):
    """Refuse anything but a positive integer, naming ``name``.

    A TypeError for a value that is not an integer (a bool included), a ValueError for one below 1: the
    split scikit-learn's ``check_scalar`` makes.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def init_relu_convs(*convs, generator=None):
    """He (Kaiming) initialisation for layers followed by a ReLU, zero biases (drawn from ``generator``)."""
    for m in convs:
        nn.init.kaiming_uniform_(m.weight, nonlinearity="relu", generator=generator)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class Backbone(nn.Module):
    """Base class of the package's backbones.

    A backbone is built from the data's shape, takes patches ``(N, 1, B, S, S)``
    and returns ``(prediction, features)``: ``features`` (``(N, d)``) is the
    embedding the contrastive loss compares and ``prediction`` (``(N, n_targets)``)
    is the regression head applied to it.

    Subclasses set ``min_bands`` and ``min_patch_size``, build their layers in
    ``__init__`` (calling :meth:`build_head` with the feature width) and implement
    :meth:`features`.

    Parameters
    ----------
    n_bands : int
        Number of spectral bands ``B``.
    patch_size : int
        Spatial side ``S`` of the square patches.
    n_targets : int
        Number of regression outputs.
    head : {'linear', 'simplex'}, default='linear'
        ``'linear'``: unconstrained outputs. ``'simplex'``: a softmax over the
        outputs, so predictions are non-negative and sum to one (abundances).
    projection_dim : int or None, default=None
        When set, the contrastive loss sees a projection of the features
        through a small MLP (``Linear -> ReLU -> Linear`` to ``projection_dim``,
        as in SimCLR and SupCon) instead of the features themselves; the
        regression head still reads the un-projected features. Besides
        decoupling the contrastive geometry from the regression features, it
        makes the contrastive step cheaper for backbones whose features are
        wide flattened maps (``li``, ``hamida``, ``atik``).
    projection_hidden : int, default=256
        Width of the projection MLP's hidden layer (ignored without
        ``projection_dim``).

    Attributes
    ----------
    n_features : int
        Width of :meth:`features`' output (the regression head's input).
    embedding_dim : int
        Width of the embedding ``forward`` returns: ``projection_dim`` when set,
        else ``n_features``.
    """

    #: Smallest band count and patch size the architecture accepts.
    min_bands = 1
    min_patch_size = 1
    #: Whether :meth:`cpu_channels_last` converts maps (set by backbones where it measured faster on CPU;
    #: set it to False on an instance to compare with the plain layout).
    channels_last_on_cpu = False

    def __init__(self, n_bands, patch_size, n_targets, head="linear", projection_dim=None, projection_hidden=256):
        super().__init__()
        self.check_input_shape(n_bands, patch_size)
        if head not in HEADS:
            raise unknown_name_error("head", head, HEADS)
        if head == "simplex" and n_targets < 2:
            raise ValueError("head='simplex' needs at least 2 targets (a softmax over one output is constant)")
        if projection_dim is not None:
            check_positive_int(projection_dim, "projection_dim")
        check_positive_int(projection_hidden, "projection_hidden")
        self.n_bands, self.patch_size, self.n_targets, self.head_kind = n_bands, patch_size, n_targets, head
        self.projection_dim, self.projection_hidden = projection_dim, projection_hidden

    @classmethod
    def check_input_shape(cls, n_bands, patch_size):
        """Raise a ValueError naming the backbone and its minimum when the input is too small."""
        name = getattr(cls, "name", cls.__name__)
        if n_bands < cls.min_bands:
            raise ValueError(f"backbone {name!r} needs at least {cls.min_bands} bands, got {n_bands}")
        if patch_size < cls.min_patch_size:
            raise ValueError(
                f"backbone {name!r} needs patches of at least {cls.min_patch_size} x {cls.min_patch_size} "
                f"pixels, got {patch_size} x {patch_size}; raise PatchExtractor's patch_size"
            )

    def build_head(self, n_features):
        """Create the regression head (and the projection head, if any) on ``n_features``-wide features."""
        self.n_features = int(n_features)
        self.regressor = nn.Linear(self.n_features, self.n_targets)
        self.projector = None
        if self.projection_dim is not None:
            self.projector = nn.Sequential(
                nn.Linear(self.n_features, self.projection_hidden),
                nn.ReLU(),
                nn.Linear(self.projection_hidden, self.projection_dim),
            )
        self.embedding_dim = self.projection_dim if self.projector is not None else self.n_features

    def cpu_channels_last(self, x):
        """``x`` laid out channels-last (NDHWC / NHWC) when on CPU and ``channels_last_on_cpu``, else as is.

        The values are unchanged; only oneDNN's choice of kernels is (a one-channel
        input leaves the layout ambiguous, so convolutions otherwise stay NCDHW).
        """
        if not (self.channels_last_on_cpu and x.device.type == "cpu"):
            return x
        return x.contiguous(memory_format=torch.channels_last_3d if x.ndim == 5 else torch.channels_last)

    def features(self, x):
        """Embedding of a batch of patches: ``(N, 1, B, S, S) -> (N, d)``."""
        raise TypeError(f"{type(self).__name__} does not define features(x); backbones must implement it")

    def forward(self, x):
        """Map patches ``(N, 1, B, S, S)`` to ``(prediction (N, n_targets), embedding (N, embedding_dim))``."""
        f = self.features(x)
        out = self.regressor(f)
        if self.head_kind == "simplex":
            out = torch.softmax(out, dim=1)
        return out, (f if self.projector is None else self.projector(f))


POOLINGS = ("avg", None)


class MapBackbone(Backbone):
    """A backbone whose last layer is a stack of 3-D maps ``(N, C, D, H, W)``.

    Subclasses implement :meth:`feature_maps` and call :meth:`build_map_head`
    with the maps' shape; :meth:`features` turns the maps into the feature
    vector, as chosen by ``pooling``.

    Parameters
    ----------
    pooling : {'avg', None}, default='avg'
        ``'avg'``: average the maps over the patch's pixels, giving ``C x D``
        features (channels x remaining spectral positions); the convolutions
        still see the spatial context. ``None``: flatten the whole maps
        (``C x D x H x W`` features), as the published architectures do. Averaging
        suits window-mean labels (the mean over pixels of a per-pixel response),
        keeps the regression head and the contrastive embedding small (on
        ``li`` at 224 bands and 10 x 10 patches: 7,040 features instead of
        253,440), and was what made adaptive optimisers train stably in the
        package's measurements (``benchmarks/recipe_stability.py``).
    **options
        Passed to :class:`Backbone`.
    """

    def __init__(self, n_bands, patch_size, n_targets, pooling="avg", **options):
        super().__init__(n_bands, patch_size, n_targets, **options)
        if pooling not in POOLINGS:
            raise unknown_name_error("pooling", pooling, ["avg", "None"])
        self.pooling = pooling

    def feature_maps(self, x):
        """The last maps of the network: ``(N, 1, B, S, S) -> (N, C, D, H, W)``."""
        raise TypeError(f"{type(self).__name__} does not define feature_maps(x); map backbones must implement it")

    def build_map_head(self, channels, depth, side):
        """Create the heads for maps of ``channels x depth x side x side`` values."""
        self.build_head(channels * depth if self.pooling == "avg" else channels * depth * side * side)

    def features(self, x):
        maps = self.feature_maps(x)
        if self.pooling == "avg":
            maps = maps.mean(dim=(3, 4))
        return maps.flatten(1)
