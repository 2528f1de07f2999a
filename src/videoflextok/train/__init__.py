"""The training engine: config, AdamW + schedule, EMA, checkpoints, distributed setup and the loop.

Used by ``videoflextok train <model>`` (see ``videoflextok.cli.train``) for every model that has a
dataclass ``.config`` and ``training_losses(batch) -> {"loss": scalar, ...}``::

    from videoflextok.train import Trainer, TrainConfig
    result = Trainer(model, TrainConfig(steps=1000), "runs/x", dataset, prepare=lambda b: b["video"]).fit()
"""

from videoflextok.train.config import TrainConfig
from videoflextok.train.loop import NonFiniteLossError, Trainer, TrainResult

__all__ = ["NonFiniteLossError", "TrainConfig", "TrainResult", "Trainer"]
