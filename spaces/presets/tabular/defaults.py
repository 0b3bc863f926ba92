"""Published tabular networks written as points of the ``tabular`` space.

Each is what its authors ship as the default, translated where Keras differs; a search on a table tries them
first, cheapest first, and ``defaults:`` trains one of them with no search.
"""

from __future__ import annotations

from typing import Any

from kerashpo.spaces.choices import PublishedDefaults, Task

# RealMLP-TD (Holzmueller et al., "Better by Default: Strong Pre-Tuned MLPs and Boosted Trees on Tabular Data",
# NeurIPS 2024; pytabkit ``DefaultParams.RealMLP_TD_CLASS``): robust scaling with smooth clipping, PBLD
# embeddings (16 frequencies, scale 0.1, 4 values per column), one-hot up to 9 categories and 8-wide
# embeddings above, a front scale, 3 x 256 SELU blocks, dropout 0.15 on a flat-then-cosine schedule, label
# smoothing 0.1, Adam(beta_2 0.95) on coslog4, batch 256. Its learning rate 0.04 is for NTK-parametrised
# layers; 0.04 / sqrt(256) is the same step for Keras's standard 256-wide layers. Its parametric activations,
# per-parameter learning-rate factors and weight-decay schedule have no counterpart here. For regression
# (``RealMLP_TD_REG``) it uses Mish and a rate of 0.2: ``FOR_REGRESSION``.
REALMLP: dict[str, Any] = {
    "scaling": "robust", "numeric_embedding": "periodic_bias", "n_frequencies": 16, "frequency_scale": 0.1,
    "d_embedding": 4, "one_hot_max": 9, "category_embedding": 8, "front_scale": True, "n_blocks": 3,
    "d_block": 256, "activation": "selu", "dropout": 0.15, "dropout_schedule": "flat_cosine", "k": 1,
    "label_smoothing": 0.1, "optimizer": "adamw", "weight_decay": 0.02, "learning_rate": 0.0025,
    "beta_2": 0.95, "lr_schedule": "coslog4", "batch_size": 256,
}

# MLP-PLR (Gorishniy et al., "On Embeddings for Numerical Features in Tabular Deep Learning", NeurIPS 2022):
# the embedding defaults of ``rtdl_num_embeddings.PeriodicEmbeddings`` (48 frequencies, scale 0.01,
# 24 values) on quantile-scaled inputs, under the MLP that TabM's paper uses as its baseline (2 x 512 ReLU
# blocks, dropout 0.1, AdamW 2e-3 with weight decay 3e-4, batch 256).
MLP_PLR: dict[str, Any] = {
    "scaling": "quantile", "numeric_embedding": "periodic", "n_frequencies": 48, "frequency_scale": 0.01,
    "d_embedding": 24, "one_hot_max": 32, "category_embedding": 8, "front_scale": False, "n_blocks": 2,
    "d_block": 512, "activation": "relu", "dropout": 0.1, "dropout_schedule": "constant", "k": 1,
    "label_smoothing": 0.0, "optimizer": "adamw", "weight_decay": 3e-4, "learning_rate": 0.002,
    "beta_2": 0.999, "lr_schedule": "constant", "batch_size": 256,
}

# TabM (Gorishniy et al., "TabM: Advancing Tabular Deep Learning with Parameter-Efficient Ensembling",
# ICLR 2025; ``tabm.TabM.make`` and the README's default optimizer): 32 BatchEnsemble members sharing
# 3 x 512 ReLU blocks, dropout 0.1, quantile-scaled inputs without embeddings, AdamW 2e-3 with weight decay
# 3e-4, batch 256. Its members train each on its own loss; here they train on their average prediction.
TABM: dict[str, Any] = {
    "scaling": "quantile", "numeric_embedding": "none", "one_hot_max": 32, "category_embedding": 8,
    "front_scale": False, "n_blocks": 3, "d_block": 512, "activation": "relu", "dropout": 0.1,
    "dropout_schedule": "constant", "k": 32, "label_smoothing": 0.0, "optimizer": "adamw",
    "weight_decay": 3e-4, "learning_rate": 0.002, "beta_2": 0.999, "lr_schedule": "constant", "batch_size": 256,
}

# The points for classes; a regression point changes these values and has no label smoothing.
PUBLISHED: dict[PublishedDefaults, dict[str, Any]] = {
    PublishedDefaults.REALMLP: REALMLP,
    PublishedDefaults.MLP_PLR: MLP_PLR,
    PublishedDefaults.TABM: TABM,
}
FOR_REGRESSION: dict[PublishedDefaults, dict[str, Any]] = {
    PublishedDefaults.REALMLP: {"activation": "mish", "learning_rate": 0.0125},  # 0.2 / sqrt(256)
}


def published(name: PublishedDefaults, task: Task | None = None) -> dict[str, Any]:
    """The published configuration ``name`` for ``task`` (classes when not given)."""
    if task is not Task.REGRESSION:
        return dict(PUBLISHED[name])
    point = {**PUBLISHED[name], **FOR_REGRESSION.get(name, {})}
    point.pop("label_smoothing")
    return point


def starting_points(task: Task | None = None) -> tuple[dict[str, Any], ...]:
    """The published configurations for ``task``, cheapest first (PublishedDefaults is in that order)."""
    return tuple(published(name, task) for name in PublishedDefaults)
