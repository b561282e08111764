"""Layers that draw random numbers from the fit's own generator instead of torch's global one."""

import torch
import torch.nn.functional as F
from torch import nn

from .._rng import current_generator

__all__ = ["Dropout", "TransformerBlock"]


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` whose masks come from the active fit's ``'dropout'`` stream.

    Inside a :class:`~hyperspectral_cl.ContrastivePatchRegressor` fit the mask
    is drawn from that fit's generator, so seeded fits running in threads do not
    share torch's global stream; outside a fit it is torch's own dropout.
    """

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        generator = current_generator("dropout", x.device)
        if generator is None:
            return super().forward(x)
        if self.p == 1:
            return x * 0.0
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)


class TransformerBlock(nn.Module):
    """A pre-norm transformer encoder layer with GELU, as ``nn.TransformerEncoderLayer`` builds it.

    Same parameters under the same names as ``nn.TransformerEncoderLayer(dim,
    heads, 4 * dim, dropout, activation='gelu', batch_first=True,
    norm_first=True)`` (state dicts load either way), and the same output; its
    dropouts (on the attention weights, after attention and inside the
    feed-forward part) are :class:`Dropout` layers drawing from the fit's
    generator.

    Parameters
    ----------
    dim : int
        Token width (a multiple of ``heads``).
    heads : int
        Number of attention heads.
    dropout : float, default=0.0
    """

    def __init__(self, dim, heads, dropout=0.0):
        super().__init__()
        # holds the attention's parameters; the product itself is computed in forward (its dropout would
        # draw from torch's global generator)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.linear1 = nn.Linear(dim, 4 * dim)
        self.linear2 = nn.Linear(4 * dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.attn_dropout = Dropout(dropout)
        self.dropout = Dropout(dropout)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def attention(self, x):
        """Multi-head self-attention of tokens ``(N, T, dim)``."""
        attn = self.self_attn
        n, t, d = x.shape
        h = attn.num_heads
        q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).view(n, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
        if self.training and self.attn_dropout.p > 0:
            weights = torch.softmax(q @ k.transpose(-2, -1) / (d // h) ** 0.5, dim=-1)
            out = self.attn_dropout(weights) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        return attn.out_proj(out.transpose(1, 2).reshape(n, t, d))

    def forward(self, x):
        """Tokens ``(N, T, dim)`` to tokens of the same shape."""
        x = x + self.dropout1(self.attention(self.norm1(x)))
        return x + self.dropout2(self.linear2(self.dropout(F.gelu(self.linear1(self.norm2(x))))))
