"""dmg_bmi: differentiable models (NN -> physical parameters -> PyTorch physics) with a NextGen BMI.

Layout: `core/` knows no domain (config, checkpoint, registry, networks, delta model, training loop);
`domains/` holds what differs (`hydrology/`, `crop/`, plugins by entry point); `bmi.py`, `ngen/`, `cli.py`
and `train/` (the CLI verbs) ask a domain for what differs. This file tells the core's registry where the
built-in domains' physics live.
"""

__version__ = "0.1.0"

from dmg_bmi.core import registry as _registry  # noqa: E402  (after __version__, which the core reads)

_registry.add_builtin_modules("physics", "dmg_bmi.domains.hydrology.hbv", "dmg_bmi.domains.crop.wofost72")
