"""The HBV sequence on the native C++ kernel (`native/hbv_kernel.cpp`): forward, and a custom autograd
Function whose backward is the kernel's hand-written reverse pass.

Same contract as the fused runners in `hbv_fused.py`: forcing `[T, B, 3]`, stores 5 x `[B, nmul]`,
static parameters `[B, nmul]`, dynamic ones `[T, B, nmul]`; returns the basin means `[T, 17, B]` in
SERIES order and the final stores. CPU tensors, float32 or float64. The kernel loops over days inside
C++ (no per-day torch operations), keeps nothing between forward and backward but the inputs, and
recomputes each basin's stores in the reverse pass: memory O(B nmul) plus O(T nmul) per thread, time
linear in T. Basins are split across `torch.get_num_threads()` threads (ctypes releases the GIL).

The kernel is built once per machine with the system's C++ compiler and cached (`dmg_bmi.core.native`).
Where it cannot be built, `kernel()` returns None after one warning that says why, and the model uses
the torch fused path (same numbers, slower).
"""

from __future__ import annotations

import ctypes
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from dmg_bmi.core import native
from dmg_bmi.domains.hydrology.hbv_core import DIAG_FLUXES, DIFF_FLUXES, STORES, Variant

SOURCE = Path(__file__).parent / "native" / "hbv_kernel.cpp"
PARAMS = ("parBETA", "parFC", "parK0", "parK1", "parK2", "parLP", "parPERC", "parUZL", "parTT", "parCFMAX",
          "parCFR", "parCWH", "parBETAET", "parC", "LF")  # the kernel's `Par` order
N_SERIES = len(STORES) + len(DIFF_FLUXES) + len(DIAG_FLUXES)
N_DIFF = len(STORES) + len(DIFF_FLUXES)
_ABI = 2

_state: dict = {}
_POOL: dict[int, ThreadPoolExecutor] = {}


def kernel() -> native.Library | None:
    """The loaded kernel, or None (warned once, with the reason) where it cannot be built here."""
    if "lib" not in _state:
        try:
            loaded = native.load(SOURCE)
            _declare(loaded.lib)
            if loaded.lib.hbv_abi_version() != _ABI:
                raise native.NativeUnavailable(f"{loaded.path} has ABI {loaded.lib.hbv_abi_version()}, "
                                               f"expected {_ABI}")
            _state["lib"] = loaded
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
                        i64, i64]
        bwd = getattr(lib, f"hbv_backward_{dt}")
        bwd.restype = ctypes.c_int
        bwd.argtypes = [i64, i64, i64, ctypes.c_int, ptr, ptrs, ctypes.POINTER(ctypes.c_int), ptr, ptr, ptr,
                        ptr, ptrs, i64, i64]
    lib.hbv_abi_version.restype = ctypes.c_int
    lib.hbv_abi_version.argtypes = []


def _flags(v: Variant) -> int:
    return int(v.betaet) | int(v.capillary) << 1 | int(v.exchange) << 2


def _addr(x: torch.Tensor | None) -> int | None:
    return None if x is None else x.data_ptr()


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
        pool = _POOL.get(n) or _POOL.setdefault(n, ThreadPoolExecutor(n, thread_name_prefix="dmg-hbv"))
        edges = [n_b * i // n for i in range(n + 1)]
        codes = [f.result() for f in [pool.submit(call, edges[i], edges[i + 1]) for i in range(n)]]
    if any(codes):
        raise MemoryError(f"HBV native kernel: out of memory in the {what} pass ({n_b} basins); run fewer "
                          f"basins at a time")


def forward(v: Variant, forcing, stores, params: dict):
    """Kernel forward (no autograd): `(means [T, 17, B], final stores [5, B, nmul])`.

    params: `{name: [B, nmul] or [T, B, nmul]}` with the names of PARAMS the variant uses.
    """
    lib = kernel().lib
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise ValueError(f"HBV native kernel: unknown parameter(s) {unknown}; it takes {list(PARAMS)}")
    forcing = forcing.detach().contiguous()
    stores = torch.stack([s.detach() for s in stores]).contiguous()
    params = {k: x.detach().contiguous() for k, x in params.items()}
    n_t, n_b = forcing.shape[:2]
    nmul = stores.shape[-1]
    means = forcing.new_empty((n_t, N_SERIES, n_b))
    final = torch.empty_like(stores)
    ptrs, dyn = _table(params)
    fn = lib.hbv_forward_f32 if forcing.dtype == torch.float32 else lib.hbv_forward_f64
    flags = _flags(v)

    def call(b0, b1):
        return fn(n_t, n_b, nmul, flags, forcing.data_ptr(), ptrs, dyn, stores.data_ptr(), means.data_ptr(),
                  final.data_ptr(), b0, b1)

    _parallel(call, n_b, "forward")
    return means, final


def backward(v: Variant, forcing, stores0, params: dict, g_means, g_final):
    """Kernel reverse pass: `(adjoint of the initial stores [5, B, nmul], {name: parameter adjoint})`.

    g_means: adjoints of the differentiable means `[T, 9, B]`; g_final: of the final stores `[5, B, nmul]`
    (either may be None for zero).
    """
    lib = kernel().lib
    forcing = forcing.contiguous()
    stores0 = stores0.contiguous()
    params = {k: x.contiguous() for k, x in params.items()}
    g_means = None if g_means is None else g_means.contiguous()
    g_final = None if g_final is None else g_final.contiguous()
    n_t, n_b = forcing.shape[:2]
    nmul = stores0.shape[-1]
    g_stores = torch.empty_like(stores0)
    grads = {k: torch.empty_like(x) for k, x in params.items()}
    ptrs, dyn = _table(params)
    gptrs, _ = _table(grads)
    fn = lib.hbv_backward_f32 if forcing.dtype == torch.float32 else lib.hbv_backward_f64
    flags = _flags(v)

    def call(b0, b1):
        return fn(n_t, n_b, nmul, flags, forcing.data_ptr(), ptrs, dyn, stores0.data_ptr(), _addr(g_means),
                  _addr(g_final), g_stores.data_ptr(), gptrs, b0, b1)

    _parallel(call, n_b, "reverse")
    return g_stores, grads


class _NativeSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, names, forcing, stores0, *params):
        table = dict(zip(names, params, strict=True))
        means, final = forward(v, forcing, stores0.unbind(0), table)
        ctx.v, ctx.names = v, names
        ctx.save_for_backward(forcing, stores0, *params)
        diag = means[:, N_DIFF:]
        ctx.mark_non_differentiable(diag)
        return means[:, :N_DIFF].contiguous(), diag.contiguous(), final

    @staticmethod
    def backward(ctx, g_diff, _g_diag, g_final):
        forcing, stores0, *params = ctx.saved_tensors
        with torch.no_grad():
            g_stores, grads = backward(ctx.v, forcing, stores0, dict(zip(ctx.names, params, strict=True)),
                                       g_diff, g_final)
        return (None, None, None, g_stores, *(grads[k] for k in ctx.names))


def run(v: Variant, forcing, stores, static: dict, dynamic: dict):
    """Sequence with gradient through the kernel's reverse pass (hbv_fused.run_fused's contract).

    Returns `(means [T, 17, B], final stores)`; the diagnostic series carry no gradient.
    """
    table = {**static, **dynamic}
    names = tuple(table)
    diff, diag, final = _NativeSequence.apply(v, names, forcing, torch.stack(stores), *table.values())
    return torch.cat([diff, diag], dim=1), tuple(final.unbind(0))


def run_nograd(v: Variant, forcing, stores, static: dict, dynamic: dict):
    """Forward only: `(means [T, 17, B], final stores)` as hbv_fused.run_nograd."""
    with torch.no_grad():
        means, final = forward(v, forcing, stores, {**static, **dynamic})
    return means, tuple(final.unbind(0))
