"""Exception types. Every message names the key, variable or value at fault."""


class DmgBmiError(Exception):
    """Base class of all errors raised by dmg_bmi."""


class ConfigError(DmgBmiError, ValueError):
    """An invalid configuration value or file (the message names the key)."""


class InputError(DmgBmiError, ValueError):
    """Bad model input: wrong shape, dtype, NaN, out-of-bounds parameter (the message names it)."""


class CheckpointError(DmgBmiError, ValueError):
    """A missing, corrupt, truncated or incompatible checkpoint (the message says which)."""


class StateError(InputError):
    """An unreadable or inconsistent model state (state file or ngen serialization payload): the message
    names the field or array, its value, and the file or protocol variable it came from."""
