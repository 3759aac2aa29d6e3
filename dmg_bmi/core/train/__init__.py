"""The core's training pieces: the window trainer (`trainer.train_windows`, what `DeltaModelDomain.train`
runs), losses, metrics, the minibatch sampler, the run directory, DDP (`distributed`), training checkpoints
and resume, what every trainer shares (`common`: the guarded step, skipped batches, the end of an epoch) and
the model tensors of a dataset (`inputs`).

What it may import: the core and the package's utilities (see `dmg_bmi.core`); its caller hands it the data
and the run config. The verbs that choose a domain (`dmg_bmi.train.run.train`, `dmg_bmi.train.commands`) and
the default data path (`dmg_bmi.train.data.window_data`) live outside the core, in `dmg_bmi.train`.
"""
