"""The HBV sequence on the native C++ kernel (`native/hbv_kernel.cpp`): forward, and a custom autograd
Function whose backward is the kernel's hand-written reverse pass.

Same contract as the fused runners in `hbv_fused.py`: forcing `[T, B, 3]`, stores 5 x `[B, nmul]`,
static parameters `[B, nmul]`, dynamic ones `[T, B, nmul]`; returns the basin means `[T, 17, B]` in
SERIES order and the final stores. CPU tensors, float32 or float64. The kernel loops over days inside
C++ (no per-day torch operations); between forward and backward it keeps the inputs and the stores
every SEGMENT days, and the reverse pass recomputes each segment from its checkpoint: memory
O(T/SEGMENT B nmul), cache-sized buffers per thread, time linear in T. Basins are split across
`torch.get_num_threads()` threads (ctypes releases the GIL).

The kernel is built once per machine with the system's C++ compiler and cached (`dmg_bmi.core.native`).
Where it cannot be built, `kernel()` returns None after one warning that says why, and the model uses
the torch fused path (same numbers, slower).
"""

from __future__ import annotations

import ctypes
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from dmg_bmi.core import native
from dmg_bmi.domains.hydrology.hbv_core import STORES, Variant
from dmg_bmi.domains.hydrology.hbv_fused import N_DIFF, SERIES

SOURCE = Path(__file__).parent / "native" / "hbv_kernel.cpp"
PARAMS = ("parBETA", "parFC", "parK0", "parK1", "parK2", "parLP", "parPERC", "parUZL", "parTT", "parCFMAX",
          "parCFR", "parCWH", "parBETAET", "parC", "LF")  # the kernel's `Par` order
_ABI = 4
SEGMENT = 64  # days between the forward pass's checkpoints of the stores (the reverse pass's segments)

_state: dict = {}
_POOL: dict[tuple[int, int], ThreadPoolExecutor] = {}  # (process id, threads): a forked child makes its own


def kernel() -> native.Library | None:
    """The loaded kernel, or None (warned once, with the reason) where it cannot be built here."""
    if "lib" not in _state:
        try:
            loaded = native.load(SOURCE, vector_math=True)
            _declare(loaded.lib)
            if loaded.lib.hbv_abi_version() != _ABI:
                raise native.NativeUnavailable(f"{loaded.path} has ABI {loaded.lib.hbv_abi_version()}, "
                                               f"expected {_ABI}")
            _state["lib"] = loaded
            if loaded.built:  # the one-off warm-up, said once per machine
                print(f"dmg_bmi: built the HBV {loaded.describe()}", file=sys.stderr, flush=True)
        except native.NativeUnavailable as exc:
            _state["lib"] = None
            _state["why"] = str(exc)
            warnings.warn(f"HBV native kernel unavailable, using the slower torch path: {exc}",
                          RuntimeWarning, stacklevel=2)
    return _state["lib"]


def why_unavailable() -> str | None:
    """The reason the kernel could not be loaded (None when it loaded or was not tried)."""
    return _state.get("why")


def usable(forcing: torch.Tensor) -> bool:
    """True when the kernel serves this input: a CPU float32/float64 tensor and a kernel that loads."""
    return (forcing.device.type == "cpu" and forcing.dtype in (torch.float32, torch.float64)
            and kernel() is not None)


def _declare(lib) -> None:
    ptr, i64, ptrs = ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p)
    for dt in ("f32", "f64"):
        fwd = getattr(lib, f"hbv_forward_{dt}")
        fwd.restype = ctypes.c_int
        fwd.argtypes = [i64, i64, i64, ctypes.c_int, ptr, ptrs, ctypes.POINTER(ctypes.c_int), ptr, ptr, ptr,
                        ptr, i64, i64, i64]
        bwd = getattr(lib, f"hbv_backward_{dt}")
        bwd.restype = ctypes.c_int
        bwd.argtypes = [i64, i64, i64, ctypes.c_int, ptr, ptrs, ctypes.POINTER(ctypes.c_int), ptr, i64, ptr,
                        i64, ptr, ptr, ptrs, i64, i64]
    lib.hbv_abi_version.restype = ctypes.c_int
    lib.hbv_abi_version.argtypes = []


def _flags(v: Variant) -> int:
    return int(v.betaet) | int(v.capillary) << 1 | int(v.exchange) << 2


def _addr(x: torch.Tensor | None) -> int | None:
    return None if x is None else x.data_ptr()


def _check_shapes(v: Variant, forcing, stores_shape, params: dict) -> None:
    """The parameters the variant needs (an absent one would read as 0) and the layouts the kernel indexes
    (a mismatch would read or write out of bounds): ValueError naming what is wrong."""
    needed = set(PARAMS[:12]) | {k for k, on in (("parBETAET", v.betaet), ("parC", v.capillary),
                                                 ("LF", v.exchange)) if on}
    wrong = sorted(needed ^ set(params))
    if wrong:
        raise ValueError(f"HBV native kernel: parameters {wrong} are missing or not used by {v}")
    if forcing.dim() != 3 or forcing.shape[-1] != 3:
        raise ValueError(f"HBV native kernel: forcing must be [T, B, 3], got {list(forcing.shape)}")
    n_t, n_b = forcing.shape[:2]
    if len(stores_shape) != 3 or tuple(stores_shape[:2]) != (len(STORES), n_b):
        raise ValueError(f"HBV native kernel: stores must be [5, {n_b}, nmul], got {list(stores_shape)}")
    nmul = stores_shape[-1]
    for k, x in params.items():
        if tuple(x.shape) not in ((n_b, nmul), (n_t, n_b, nmul)) or x.dtype != forcing.dtype:
            raise ValueError(f"HBV native kernel: parameter {k} must be {forcing.dtype} [{n_b}, {nmul}] or "
                             f"[{n_t}, {n_b}, {nmul}], got {x.dtype} {list(x.shape)}")


def _table(tensors: dict) -> tuple:
    """(pointer array, dynamic flags) over PARAMS for contiguous tensors `{name: tensor}`."""
    ptrs = (ctypes.c_void_p * len(PARAMS))(*(_addr(tensors.get(k)) for k in PARAMS))
    dyn = (ctypes.c_int * len(PARAMS))(*(int(k in tensors and tensors[k].dim() == 3) for k in PARAMS))
    return ptrs, dyn


def _parallel(call, n_b: int, what: str) -> None:
    """Run `call(b0, b1)` over basin blocks on `torch.get_num_threads()` threads.

    Raises MemoryError naming `what` where the kernel could not allocate its buffers."""
    n = max(1, min(torch.get_num_threads(), n_b))
    if n == 1:
        codes = [call(0, n_b)]
    else:
        key = (os.getpid(), n)
        pool = _POOL.get(key) or _POOL.setdefault(key, ThreadPoolExecutor(n, thread_name_prefix="dmg-hbv"))
        edges = [n_b * i // n for i in range(n + 1)]
        codes = [f.result() for f in [pool.submit(call, edges[i], edges[i + 1]) for i in range(n)]]
    if any(codes):
        raise MemoryError(f"HBV native kernel: out of memory in the {what} pass ({n_b} basins); run fewer "
                          f"basins at a time")


def forward(v: Variant, forcing, stores, params: dict, checkpoints: bool = False):
    """Kernel forward (no autograd): `(means [T, 17, B], final stores [5, B, nmul], checkpoints)`.

    params: `{name: [B, nmul] or [T, B, nmul]}` with the names of PARAMS the variant uses.
    checkpoints: also return the stores entering every SEGMENT-th day `[ceil(T / SEGMENT), 5, B, nmul]`
    (what `backward` starts from), else None.
    """
    lib = kernel().lib
    forcing = forcing.detach().contiguous()
    stores = torch.stack([s.detach() for s in stores]).contiguous().to(forcing.dtype)
    params = {k: x.detach().contiguous() for k, x in params.items()}
    _check_shapes(v, forcing, stores.shape, params)
    n_t, n_b = forcing.shape[:2]
    nmul = stores.shape[-1]
    means = forcing.new_empty((n_t, len(SERIES), n_b))
    final = torch.empty_like(stores)
    ckpt = stores.new_empty(((n_t + SEGMENT - 1) // SEGMENT,) + tuple(stores.shape)) if checkpoints else None
    ptrs, dyn = _table(params)
    fn = lib.hbv_forward_f32 if forcing.dtype == torch.float32 else lib.hbv_forward_f64
    flags = _flags(v)

    def call(b0, b1):
        return fn(n_t, n_b, nmul, flags, forcing.data_ptr(), ptrs, dyn, stores.data_ptr(), means.data_ptr(),
                  final.data_ptr(), _addr(ckpt), SEGMENT, b0, b1)

    _parallel(call, n_b, "forward")
    return means, final, ckpt


def backward(v: Variant, forcing, checkpoints, params: dict, g_means, g_final):
    """Kernel reverse pass: `(adjoint of the initial stores [5, B, nmul], {name: parameter adjoint})`.

    checkpoints: from `forward(..., checkpoints=True)` with the same inputs.
    g_means: adjoints of the means `[T, K, B]` with K >= 9 (only the 9 differentiable series, the first
    ones, are read); g_final: of the final stores `[5, B, nmul]` (either may be None for zero).
    """
    lib = kernel().lib
    forcing = forcing.contiguous()
    checkpoints = checkpoints.contiguous()
    params = {k: x.contiguous() for k, x in params.items()}
    _check_shapes(v, forcing, checkpoints.shape[1:], params)
    n_seg = (forcing.shape[0] + SEGMENT - 1) // SEGMENT
    if checkpoints.shape[0] != n_seg or checkpoints.dtype != forcing.dtype:
        raise ValueError(f"HBV native kernel: checkpoints must be {forcing.dtype} with {n_seg} segments, got "
                         f"{checkpoints.dtype} {list(checkpoints.shape)}")
    g_means = None if g_means is None else g_means.contiguous()
    g_final = None if g_final is None else g_final.contiguous()
    if g_means is not None and (g_means.dim() != 3 or g_means.shape[0] != forcing.shape[0]
                                or g_means.shape[2] != forcing.shape[1] or g_means.dtype != forcing.dtype):
        raise ValueError(f"HBV native kernel: adjoints of the means must be [T, >= 9, B], got "
                         f"{list(g_means.shape)}")
    if g_final is not None and (g_final.shape != checkpoints.shape[1:] or g_final.dtype != forcing.dtype):
        raise ValueError(f"HBV native kernel: adjoints of the final stores must be "
                         f"{list(checkpoints.shape[1:])}, got {list(g_final.shape)}")
    n_t, n_b = forcing.shape[:2]
    nmul = checkpoints.shape[-1]
    rows = 0 if g_means is None else g_means.shape[1]
    if rows and rows < N_DIFF:
        raise ValueError(f"HBV native kernel: adjoints of the means need >= {N_DIFF} series, got {rows}")
    g_stores = torch.empty_like(checkpoints[0])
    grads = {k: torch.empty_like(x) for k, x in params.items()}
    ptrs, dyn = _table(params)
    gptrs, _ = _table(grads)
    fn = lib.hbv_backward_f32 if forcing.dtype == torch.float32 else lib.hbv_backward_f64
    flags = _flags(v)

    def call(b0, b1):
        return fn(n_t, n_b, nmul, flags, forcing.data_ptr(), ptrs, dyn, checkpoints.data_ptr(), SEGMENT,
                  _addr(g_means), rows, _addr(g_final), g_stores.data_ptr(), gptrs, b0, b1)

    _parallel(call, n_b, "reverse")
    return g_stores, grads


class _NativeSequence(torch.autograd.Function):
    """(means [T, 17, B], final stores) with the kernel's reverse pass. Gradients reach the inputs through
    the first 9 series only: the caller must detach the diagnostic ones (`run`'s contract)."""

    @staticmethod
    def forward(ctx, v, names, forcing, stores0, *params):
        ctx.set_materialize_grads(False)
        means, final, ckpt = forward(v, forcing, stores0.unbind(0), dict(zip(names, params, strict=True)),
                                     checkpoints=True)
        ctx.v, ctx.names = v, names
        ctx.save_for_backward(forcing, ckpt, *params)
        return means, final

    @staticmethod
    def backward(ctx, g_means, g_final):
        forcing, ckpt, *params = ctx.saved_tensors
        with torch.no_grad():
            g_stores, grads = backward(ctx.v, forcing, ckpt, dict(zip(ctx.names, params, strict=True)),
                                       g_means, g_final)
        return (None, None, None, g_stores, *(grads[k] for k in ctx.names))


def run(v: Variant, forcing, stores, static: dict, dynamic: dict):
    """Sequence with gradient through the kernel's reverse pass (hbv_fused.run_fused's contract).

    Returns `(means [T, 17, B], final stores)`. Gradient flows through the stores and Q0, Q1, Q2, ET
    (the first 9 series) only: a caller must detach the diagnostic series (`_Hbv.forward` does), so a
    loss on them fails loudly instead of getting no gradient.
    """
    table = {**static, **dynamic}
    means, final = _NativeSequence.apply(v, tuple(table), forcing, torch.stack(stores), *table.values())
    return means, tuple(final.unbind(0))


def run_nograd(v: Variant, forcing, stores, static: dict, dynamic: dict):
    """Forward only: `(means [T, 17, B], final stores)` as hbv_fused.run_nograd."""
    with torch.no_grad():
        means, final, _ = forward(v, forcing, stores, {**static, **dynamic})
    return means, tuple(final.unbind(0))
