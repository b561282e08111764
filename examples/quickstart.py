"""Quick start: windows from a scene, a Pipeline, a grid search over alpha and radius.

Run: python examples/quickstart.py   (about a minute on 2 CPU cores)
"""

import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor
from hyperspectral_cl.datasets import make_synthetic_scene

scene = make_synthetic_scene(n_endmembers=3, shape=(40, 40), n_bands=32, smoothness=2.0, random_state=0)
X, y, coords = scene.windows(size=9, stride=1)  # X: (n, 9, 9, 32), y: (n, 3) mean abundances

model = Pipeline([
    ("patchextractor", PatchExtractor(patch_size=7)),
    ("net", ContrastivePatchRegressor("li", spectrum_norm="l2", max_epochs=10, random_state=0)),
])

# overlapping windows leak across random folds: group them by vertical strips of the scene; the windows'
# positions also reach the network (net__groups), whose early stopping then holds out spatial blocks
groups = coords[:, 1] // 10
search = GridSearchCV(model, {"net__alpha": [0.0, 1.0], "net__radius": [0.01, 0.03]}, cv=GroupKFold(2))
search.fit(X, y, groups=groups, net__groups=coords)
print(f"best parameters: {search.best_params_}, cross-validated R^2: {search.best_score_:.3f}")
print("predictions for 3 windows:\n", np.round(search.predict(X[:3]), 3))
