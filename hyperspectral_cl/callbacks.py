"""skorch callbacks used by the estimator."""

import sys

from skorch.callbacks import Callback
from tqdm.auto import tqdm

__all__ = ["EpochProgressBar"]


class EpochProgressBar(Callback):
    """A progress bar over the epochs of one fit, showing the latest losses.

    skorch's own ``ProgressBar`` tracks batches within an epoch; for the short
    epochs of patch regression a bar over the whole fit is more useful.

    Parameters
    ----------
    keys : tuple of str, default=('train_loss', 'valid_loss', 'train_contrastive')
        History keys shown beside the bar when present.
    file : file-like, default=None
        Where to draw (``sys.stderr`` when None).
    """

    def __init__(self, keys=("train_loss", "valid_loss", "train_contrastive"), file=None):
        self.keys = keys
        self.file = file

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.bar_ = tqdm(
            total=net.max_epochs, desc=type(net).__name__, unit="epoch", leave=False,
            file=self.file if self.file is not None else sys.stderr, dynamic_ncols=True,
        )

    def on_epoch_end(self, net, **kwargs):
        bar = getattr(self, "bar_", None)
        if bar is None:
            return
        row = net.history[-1]
        bar.set_postfix({k: f"{row[k]:.4g}" for k in self.keys if k in row}, refresh=False)
        bar.update(1)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        bar = getattr(self, "bar_", None)
        if bar is not None:
            bar.close()
            self.bar_ = None

    def __getstate__(self):
        # tqdm objects hold a file handle and a lock: not picklable
        state = self.__dict__.copy()
        state.pop("bar_", None)
        return state
