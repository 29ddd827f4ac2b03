"""The built-in synthetic dataset as an adapter: ``dataset=synthetic`` (no path), its pool
generated in memory by :func:`tuner.data.synthetic.make_synthetic`."""

from __future__ import annotations

from tuner.config import TrainConfig
from tuner.data.adapters import DATASETS
from tuner.data.pool import Pool
from tuner.registry import Option


@DATASETS.register("synthetic", takes_path=False, pool_fields=(), options=(
    Option("images", "int", 256, "images in the pool (256: 10 optimizer steps per epoch at "
           "the default split and batch size)", low=12, high=100_000),))
def load_synthetic(argument: str, cfg: TrainConfig, images: int = 256) -> Pool:
    """Textured objects on a textured, unevenly lit background, generated in memory."""
    from tuner.data.synthetic import make_synthetic

    return Pool(*make_synthetic(images, cfg.image_size), source=cfg.dataset)
