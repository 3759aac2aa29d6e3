"""The core: what every domain shares, and knows no domain.

What lives here: typed configs validated at load (`config`), one self-describing checkpoint file per model
(`checkpoint`), physics and networks by name (`registry`), the parameter learners (`nn`), the delta model
(`delta`: NN -> bounded parameters -> physics step), input normalization (`normalization`), the physics
interface (`physics`), the numpy/torch array namespace (`ops`), the handler that steps a checkpoint (or
ensemble) for one site and the base every domain's handler shares (`handler`) and the training loop
(`train/`).

What it may import: the package's general utilities (`dmg_bmi.errors`, `dmg_bmi.atomic`, `dmg_bmi.text`) and
itself; never a domain (`dmg_bmi.domains` and below). Not yet in the core, and imported by it: the dataset
NetCDF (`dmg_bmi.data.dataset`), the forcing derivation (`dmg_bmi.forcing`), the state-array checks and
input names the handler uses (`dmg_bmi.ngen.payload`, `dmg_bmi.variables`) and the training config and data
loading (`dmg_bmi.train.config`, `dmg_bmi.train.data`), which still name dataset kinds. A domain's physics
reach the registry by name (`registry.add_builtin_modules`, entry points); a domain object reaches the core as
an argument.
"""
