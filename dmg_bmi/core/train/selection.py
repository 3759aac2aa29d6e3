"""Model selection: which epoch `best.pt` holds, and when a run stops early.

With a validation set (`data.valid` and/or `data.valid_basins`) the trainers score the model on it every
`train.validate_every` epochs (and at the last epoch); `best.pt` is the epoch with the best validation score
named by `train.select_on`: the median NSE or KGE over the validation basins (higher is better), or the
training loss function over the whole validation period (`loss`, lower is better). After `train.patience`
validation rounds in a row without a better score, the run stops (0: never early). Without a validation set
`best.pt` is the epoch with the lowest mean training loss, and no run stops early.

The state (best score, its epoch, rounds without improvement) travels in the checkpoint's `training.selection`
(plain data), so a resumed run chooses and stops exactly as an unbroken one would.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SELECT_ON = ("nse", "kge", "loss")
TRAINING_LOSS = "training loss"
_LABELS = {"nse": "validation median NSE", "kge": "validation median KGE", "loss": "validation loss"}


@dataclass
class Selection:
    """What picks `best.pt` (`score`: `TRAINING_LOSS` or one of `SELECT_ON`) and stops a run (`patience`
    validation rounds without improvement; 0 never); `best` is the best score so far (NaN before any),
    reached at `best_epoch` (0: none yet)."""

    score: str
    patience: int = 0
    best: float = math.nan
    best_epoch: int = 0
    bad_rounds: int = 0

    @classmethod
    def for_run(cls, select_on: str, patience: int, validating: bool, saved: dict | None = None,
                best_loss: float = math.inf) -> Selection:
        """The selection of a run (`train.select_on`, `train.patience`, whether it validates), continued from
        a resumed checkpoint's `training.selection` (`saved`; one written before selection was recorded
        gives its lowest training loss `best_loss`)."""
        score = select_on if validating else TRAINING_LOSS
        if saved and saved.get("score") == score:
            restored = cls.from_dict(saved)
            restored.patience = patience
            return restored
        best = best_loss if score == TRAINING_LOSS and math.isfinite(best_loss) else math.nan
        return cls(score=score, patience=patience, best=best)

    @property
    def validating(self) -> bool:
        return self.score != TRAINING_LOSS

    @property
    def higher_is_better(self) -> bool:
        return self.score in ("nse", "kge")

    @property
    def label(self) -> str:
        """What the score is, in words (e.g. `validation median NSE`)."""
        return _LABELS.get(self.score, TRAINING_LOSS)

    def offer(self, epoch: int, value: float) -> bool:
        """Take the score `value` of `epoch`; returns whether it is the best so far (a NaN never is, and
        counts as a round without improvement)."""
        better = math.isfinite(value) and (
            not math.isfinite(self.best)
            or (value > self.best if self.higher_is_better else value < self.best))
        if better:
            self.best, self.best_epoch, self.bad_rounds = float(value), epoch, 0
        else:
            self.bad_rounds += 1
        return better

    def take(self, epoch: int, training_loss: float, validation: dict[str, float] | None) -> bool:
        """Offer `epoch` with its mean `training_loss` and validation scores (None: not validated this
        epoch); returns whether it is the best so far. A validating selection ignores unvalidated epochs."""
        if not self.validating:
            return self.offer(epoch, training_loss)
        return validation is not None and self.offer(epoch, validation[self.score])

    @property
    def stop(self) -> bool:
        """Whether `patience` rounds in a row brought no better score."""
        return self.patience > 0 and self.bad_rounds >= self.patience

    @classmethod
    def from_dict(cls, saved: dict) -> Selection:
        """What `to_dict` wrote (a checkpoint's `training.selection`; None as NaN)."""
        best = saved.get("best")
        return cls(score=str(saved["score"]), patience=int(saved.get("patience", 0)),
                   best=math.nan if best is None else float(best), best_epoch=int(saved.get("best_epoch", 0)),
                   bad_rounds=int(saved.get("bad_rounds", 0)))

    def to_dict(self) -> dict:
        """Plain data for the checkpoint (`training.selection`); NaN as None."""
        out = asdict(self)
        out["best"] = self.best if math.isfinite(self.best) else None
        return out

    def describe(self) -> str:
        """E.g. `best.pt: epoch 12, validation median NSE 0.712`."""
        if not self.best_epoch and not math.isfinite(self.best):
            return f"best.pt: no epoch had a finite {self.label}"
        at = f"epoch {self.best_epoch}" if self.best_epoch else "an earlier epoch"
        return f"best.pt: {at}, {self.label} {self.best:.4g}"
