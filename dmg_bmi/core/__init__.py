"""The core: what every domain shares, and knows no domain.

What lives here: typed configs validated at load (`config`), one self-describing checkpoint file per model
(`checkpoint`), physics and networks by name (`registry`), the parameter learners (`nn`), the delta model
(`delta`: NN -> bounded parameters -> physics step), the output correction network (`correction`), input
normalization (`normalization`), the physics interface (`physics`), the numpy/torch array namespace (`ops`),
the handler that steps a checkpoint (or ensemble) for one site and the base every domain's handler shares
(`handler`) and the training loop (`train/`).

What it may import: itself, the package's general utilities (`dmg_bmi.errors`, `dmg_bmi.atomic`,
`dmg_bmi.text`, `dmg_bmi.units`, `dmg_bmi.__version__`) and the input-derivation record a checkpoint carries
(`dmg_bmi.forcing`, read by the handler); nothing else, not even lazily (tests/test_layout.py).
What names a dataset reaches it from its caller: the window trainer (`train.trainer.train_windows`) takes a
`prepare(device, normalizer)` that returns the model tensors, site ids, target spread, normalizer and the
derivation record (plain data, `train.inputs.WindowData`), and the run config both as the object it reads
(`model`, `run`, `train`) and as plain data for `config.yaml` and the checkpoint. The default caller,
`dmg_bmi.domains.delta.DeltaModelDomain` through `dmg_bmi.train` (the dataset its domain reads for
`data.kind`, the forcing derivation, the experiment config schema and the resume check), stays outside the
core, as do the dataset NetCDF (`dmg_bmi.data`) and a domain's own trainer.
A domain's physics reach the registry by name (`registry.add_builtin_modules`, entry points); a domain object
reaches the core as an argument.
"""
