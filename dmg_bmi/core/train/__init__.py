"""The core's training pieces: the window trainer (`trainer.train_windows`, every domain's default), losses,
metrics, the minibatch sampler, the run directory, DDP (`distributed`), training checkpoints and resume,
and the model tensors of a dataset (`inputs`).

What it may import: the core, the package's utilities and (see `dmg_bmi.core`) the training config and
data loading of `dmg_bmi.train`; no domain. The verbs that choose a domain
(`dmg_bmi.train.run.train`, `dmg_bmi.train.commands`) live outside the core, in `dmg_bmi.train`.
"""
