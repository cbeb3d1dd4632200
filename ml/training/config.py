"""The configuration of one training run (what `v2m train segvmnet|vmnet` fills in)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ml.losses.vmnet import VMNetLossWeights
from ml.miners.segments import MINING_STRATEGIES
from ml.models.pooling import POOLING_KINDS
from ml.models.vmnet import MODEL_KINDS

__all__ = ["MONITORS", "RECIPES", "TrainConfig"]

MONITORS = ("val_loss", "val_mean_rank")
#: How a two-branch model is fit (ml.training.trainer.train): "cca" in closed form
#: (ml.training.cca), "triplet" by the published triplet loss, "auto" CCA for tens of
#: clips and the better of the two on validation past that.
RECIPES = ("auto", "cca", "triplet")

# Default loss weights per model kind: Seg-VM-Net as published (cross-modal only);
# for VM-Net the intra-modal structure terms are on, with small weights of our choice.
_DEFAULT_WEIGHTS = {"segvmnet": (1.0, 1.0, 0.0, 0.0), "vmnet": (1.0, 1.0, 0.1, 0.1)}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run; stored in every checkpoint.

    ``dataset_dir`` is a directory written by :func:`ml.data.clips.build_dataset`;
    checkpoints and ``metrics.jsonl`` go to ``out_dir``. With ``resume`` (default) a
    run whose ``out_dir`` already holds ``last.pt`` continues from it if it was trained
    on the same data (else that run is set aside and a new one starts; see
    :mod:`ml.training.trainer`).
    Loss weights left at None take the kind's default.
    """

    kind: str
    dataset_dir: Path
    out_dir: Path
    recipe: str = "auto"
    # model (the triplet recipe's; CCA has no hidden layer and one dimension per direction)
    embedding_dim: int = 512
    music_hidden: tuple[int, ...] = (2048, 1024)
    video_hidden: tuple[int, ...] = (2048,)
    dropout: float = 0.5
    pooling: str | None = None  # vmnet only: None (clip mean), "mean", "attention", "auto"
    frames_per_clip: int = 100  # frames drawn per clip per epoch when pooling
    # loss and mining
    weight_video_to_music: float | None = None
    weight_music_to_video: float | None = None
    weight_video_video: float | None = None
    weight_music_music: float | None = None
    margin: float = 0.1
    mining: str = "random"
    negatives_per_anchor: int = 1
    # optimisation: Adam at 1e-3 with early stopping on the validation mean rank, the
    # recipe a validation sweep chose over the published 1e-6..1e-4 (README); the
    # validation loss stops Seg-VM-Net within a few epochs while its rank still improves
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 100
    patience: int = 10
    min_delta: float = 0.0
    monitor: str = "val_mean_rank"
    # run
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    resume: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset_dir", Path(self.dataset_dir))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        object.__setattr__(self, "music_hidden", tuple(int(h) for h in self.music_hidden))
        object.__setattr__(self, "video_hidden", tuple(int(h) for h in self.video_hidden))
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {MODEL_KINDS}")
        if self.pooling is not None and self.pooling not in POOLING_KINDS:
            raise ValueError(f"unknown pooling {self.pooling!r}; expected one of {POOLING_KINDS}")
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; expected one of {RECIPES}")
        if self.recipe == "cca" and self.pooling is not None:
            raise ValueError("the cca recipe takes fixed vectors; pooling needs the triplet recipe")
        if self.pooling is not None and self.kind != "vmnet":
            raise ValueError("pooling applies to the clip-level VM-Net only")
        if self.mining not in MINING_STRATEGIES:
            raise ValueError(f"unknown mining {self.mining!r}; expected one of {MINING_STRATEGIES}")
        if self.monitor not in MONITORS:
            raise ValueError(f"unknown monitor {self.monitor!r}; expected one of {MONITORS}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda[:n], got {self.device!r}")
        positive = {
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "patience": self.patience,
            "frames_per_clip": self.frames_per_clip,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (batch norm and negatives)")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        self.loss_weights()  # validates the weights

    def loss_weights(self) -> VMNetLossWeights:
        defaults = _DEFAULT_WEIGHTS[self.kind]
        given = (
            self.weight_video_to_music,
            self.weight_music_to_video,
            self.weight_video_video,
            self.weight_music_music,
        )
        w = [d if g is None else float(g) for g, d in zip(given, defaults, strict=True)]
        return VMNetLossWeights(*w, margin=self.margin)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dataset_dir"] = str(self.dataset_dir)
        data["out_dir"] = str(self.out_dir)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training options: {sorted(unknown)}")
        return cls(**data)
