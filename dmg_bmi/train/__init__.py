"""The CLI's training, evaluation and simulation verbs and the default (window) path they share.

What lives here: `run.train` (hands a training config to its domain), the training config (`config`),
data loading (`data`), evaluation and simulation on the default window path (`evaluate`, `simulate`,
`plots`, `recovery`, `state_files`), the shipped configs (`configs`) and the verbs (`commands/`). What it may
import: the core, the domain registry (`dmg_bmi.domains`: each verb asks the domain for what differs), and
the package's utilities; never a domain package by name.
"""
