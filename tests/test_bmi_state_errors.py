"""State payloads are not trusted (issue 10, items 5 and 8): every header field and every array of a state
restored through ngen serialization or read as `initial_state` is checked, and each failure is a
`StateError` naming the source (protocol variable or file), the field or array and its value. A refused
restore leaves the instance as it was: the run continues exactly as if it had not been tried."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from conftest import REPO
from test_bmi import RUNOFF, synthetic, write_config
from test_bmi_crop import _hourly
from test_bmi_errors import crop_field, feed, observed

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core import payload
from dmg_bmi.errors import InputError, StateError

pytestmark = pytest.mark.numpy1

STATE = "ngen::serialization_state"
SM = "chains/chain5/m0/phy/SM"  # a soil-moisture store (mm) of one chain
MISSING = object()
HOURS = 30
ARCHIVE = r"the state's array archive \(\d+ bytes after the header\) is truncated or corrupt"


@pytest.fixture(scope="module")
def forcing() -> dict[str, np.ndarray]:
    return synthetic(HOURS + 10)


@pytest.fixture(scope="module")
def blob(tmp_path_factory, hamon_ckpt, forcing) -> bytes:
    """A valid state of the Hamon checkpoint after HOURS hourly updates from 2015-12-01 00:00 UTC."""
    bmi = DeltaModelBmi()
    bmi.initialize(str(write_config(tmp_path_factory.mktemp("writer"), hamon_ckpt)))
    feed(bmi, forcing, range(HOURS))
    bmi.set_value("ngen::serialization_create", np.array([1], dtype=np.int64))
    return bytes(bmi.get_value_ptr(STATE))


def at_hour(folder, ckpt, forcing, hours: int = HOURS) -> DeltaModelBmi:
    bmi = DeltaModelBmi()
    bmi.initialize(str(write_config(folder, ckpt)))
    feed(bmi, forcing, range(hours))
    return bmi


def restore(bmi: DeltaModelBmi, data: bytes) -> None:
    bmi.set_value(STATE, np.frombuffer(data, dtype=np.uint8))


def changed(data: bytes, header=None, **arrays) -> bytes:
    """`data` re-encoded with header fields (MISSING drops one) and arrays (MISSING drops one) replaced."""
    head, arrs = payload.decode(data)
    for target, replace in ((head, header or {}), (arrs, arrays)):
        for key, value in replace.items():
            if value is MISSING:
                del target[key]
            else:
                target[key] = value
    return payload.encode(head, arrs)


def refused_and_untouched(bmi: DeltaModelBmi, ref: DeltaModelBmi, forcing, attempts) -> None:
    """Each (data, regex) of `attempts` raises StateError matching `ngen::serialization_state: <regex>`;
    afterwards `bmi` continues exactly like `ref`, which never saw them."""
    for data, pattern in attempts:
        with pytest.raises(StateError, match=re.escape(f"{STATE}: ") + pattern):
            restore(bmi, data)
    assert bmi.get_current_time() == ref.get_current_time()
    hours = range(int(ref.get_current_time() // 3600), HOURS + 10)
    feed(bmi, forcing, hours)
    feed(ref, forcing, hours)
    assert observed(bmi) == observed(ref) and observed(ref)[0] > 0


def test_truncated_or_cut_payloads_are_named(tmp_path, hamon_ckpt, forcing, blob):
    """A payload cut anywhere (BadZipFile before) or a header that is not a JSON object."""
    n_head = struct.unpack_from("<8sII", blob)[2]
    archive = 16 + n_head
    short = r"state payload too short \({} bytes"
    cut_head = r"state payload truncated: its header is {} bytes"
    corrupt = ARCHIVE.replace(r"\d+", "{}")
    cuts = [(0, short.format(0)), (11, short.format(11)),
            (16, cut_head.format(n_head) + " but only 0 bytes follow"),
            (archive - 1, cut_head.format(n_head) + f" but only {n_head - 1} bytes follow"),
            (archive, corrupt.format(0)), (archive + 100, corrupt.format(100)),
            (len(blob) // 2, ARCHIVE), (len(blob) - 1, ARCHIVE)]
    bmi, ref = at_hour(tmp_path, hamon_ckpt, forcing), at_hour(tmp_path, hamon_ckpt, forcing)
    flipped = bytearray(blob)
    flipped[archive + 200] ^= 0xFF  # flipped bits inside the archive: its CRC or format check catches them
    method = bytearray(blob)
    method[blob.index(b"PK\x01\x02") + 10] = 99  # a compression method zipfile does not know
    not_object = struct.pack("<8sII", payload.MAGIC, 1, 2) + b"[]" + blob[archive:]
    deep = b"[" * 100000 + b"]" * 100000  # RecursionError before
    nested = struct.pack("<8sII", payload.MAGIC, 2, len(deep)) + deep + blob[archive:]
    refused_and_untouched(bmi, ref, forcing, [
        *[(blob[:cut], pattern) for cut, pattern in cuts],
        (bytes(flipped), ARCHIVE),
        (bytes(method), ARCHIVE.replace("corrupt", r"corrupt: NotImplementedError")),
        (not_object, r"state header is a JSON list, not an object"),
        (nested, r"state header is JSON nested too deeply to read"),
        (b"DMGBMIST" + struct.pack("<II", 7, 2) + b"{}", r"state payload version 7 is not one this dmg_bmi "
                                                         r"reads \(1\.\.2\)"),
    ])


@pytest.mark.parametrize(("field", "value", "pattern"), [
    ("fingerprint", MISSING, r"state header field 'fingerprint' is missing \(a 64-digit sha256 hex digest\)"),
    ("fingerprint", 5, r"state header field 'fingerprint' = 5 is not a 64-digit sha256 hex digest"),
    ("fingerprint", "0" * 64,
     r"the state was written by a different checkpoint/ensemble than this model loads "
     r"\(fingerprint 000000000000\.\.\., this model's [0-9a-f]{12}\.\.\.\)"),
    ("format", MISSING, r"state header field 'format' is missing \('dmg_bmi.bmi_state'\)"),
    ("format", "pickle", r"state header field 'format' = 'pickle' is not 'dmg_bmi.bmi_state'"),
    ("time_step", "abc", r"state header field 'time_step' = 'abc' is not a time step in s"),
    ("time_step", -3600.0, r"state header field 'time_step' = -3600.0 is not a time step in s"),
    ("time_step", True, r"state header field 'time_step' = True is not a time step in s"),
    ("time_step", 7200.0, r"state time_step 7200.0 s differs from this run's 3600 s"),
    ("time", MISSING, r"the state does not record its time"),
    ("time", "abc", r"state header field 'time': 'abc' is not an ISO 8601 time"),
    ("time", "2015-11-30T00:00:00Z",  # before the run's start: a negative current time before
     r"the state's time 2015-11-30 00:00:00 \(UTC\) is not a step of this run "
     r"\(2015-12-01 00:00:00 \+ k x 3600 s\)"),
    ("time", "9999-12-31T23:00:00Z",  # no step and day after it fit in the year 9999 (OverflowError before)
     r"state header field 'time' = '9999-12-31T23:00:00Z': a run from it cannot take one 3600-s step and a "
     r"day before the year 9999 ends"),
    ("input_names", "x", r"state header field 'input_names' = 'x' is not a list of BMI input names"),
    ("input_names", ["rain"], r"state header field 'input_names' = \['rain'\] is not a list of BMI input"),
])
def test_every_header_field_is_checked(tmp_path, hamon_ckpt, forcing, blob, field, value, pattern):
    bmi, ref = at_hour(tmp_path, hamon_ckpt, forcing), at_hour(tmp_path, hamon_ckpt, forcing)
    refused_and_untouched(bmi, ref, forcing, [(changed(blob, {field: value}), pattern)])


def test_the_record_count_and_records_are_checked(tmp_path, hamon_ckpt, forcing, blob):
    """'chains/n' (the state's step count: -5 gave a negative current time, text a ValueError), the forcing
    records ('inputs' of the wrong length gave a broadcast error) and their physical ranges."""
    _, arrays = payload.decode(blob)
    ring = arrays["chains/ring"].copy()
    ring[3, 1] = 15.0  # a temperature in degC inside the last day's records
    count = r"state record count 'chains/n' = {} is not one whole number >= 0"
    cases = [
        ("chains/n", np.array([-5]), re.escape(count.format("[-5] (int64)"))),
        ("chains/n", np.array(["abc"]), re.escape(count.format("['abc'] (<U3)"))),
        ("chains/n", np.array([2.5]), re.escape(count.format("[2.5] (float64)"))),
        ("chains/n", np.array([1, 2]), re.escape(count.format("[1, 2] (int64)"))),
        ("chains/n", MISSING, re.escape(count.format("missing"))),
        ("chains/n", np.array([2**62]),
         r"state record count 'chains/n' = \[4611686018427387904\] records of 3600 s is not plausible"),
        ("inputs", np.zeros(3), r"state array 'inputs' \(float64, shape \(3,\)\) must hold 2 numbers"),
        ("last_valid", np.array([0.0, 1e308]),
         r"state array 'last_valid' holds land_surface_air__temperature = 1e\+308 K, outside"),
        ("inputs", np.array([-0.5, 280.0]),
         r"state array 'inputs' holds atmosphere_water__liquid_equivalent_precipitation_rate = -0\.5 mm s-1, "
         r"outside its valid range 0\.\.0\.15"),
        ("chains/ring", ring,
         r"state array 'chains/ring' holds land_surface_air__temperature = 15\.0 K, outside its valid range "
         r"180\.\.340"),
        ("chains/ring", ring[:, :1], r"state array 'chains/ring' has shape \(24, 1\), expected \(24, 2\)"),
    ]
    bmi, ref = at_hour(tmp_path, hamon_ckpt, forcing), at_hour(tmp_path, hamon_ckpt, forcing)
    refused_and_untouched(bmi, ref, forcing, [(changed(blob, **{k: v}), p) for k, v, p in cases])


def test_stores_sums_and_chain_states_must_be_finite_and_physical(tmp_path, hamon_ckpt, forcing, blob):
    """NaN stores were restored without a word; now every array is checked (shape, kind, finite, and >= 0
    for water amounts in mm)."""
    _, arrays = payload.decode(blob)
    keys = arrays["chains/outputs_keys"]
    cases = [
        (SM, np.full_like(arrays[SM], np.nan), rf"state array '{SM}' holds nan at flat index 0 \(\d+ non-"),
        (SM, -arrays[SM], rf"state array '{SM}' holds -[0-9.e+-]+ at flat index \d, below its minimum 0\.0"),
        ("chains/storage", np.full(24, np.inf), r"state array 'chains/storage' holds inf"),
        ("chains/sums", np.zeros(2), r"state array 'chains/sums' has shape \(2,\), expected \(5,\)"),
        ("chains/p_received", np.array([-1.0]),
         r"state array 'chains/p_received' holds -1\.0 at flat index 0, below its minimum 0\.0"),
        ("chains/outputs_keys", keys[::-1][:3],
         rf"state array 'chains/outputs_keys' has shape \(3,\), expected \({keys.size},\)"),
        ("chains/outputs_keys", np.array(["x"] * keys.size),
         r"state array 'chains/outputs_keys' = \['x', .*\] is not this model's"),
        ("chains/outputs", np.array(["1"] * 10),
         r"state array 'chains/outputs' holds <U1 values, expected numbers"),
        ("chains/outputs", np.where(keys == "runoff", 1e20, arrays["chains/outputs"]),  # 4.2e15 m before
         r"state array 'chains/outputs': runoff = 1e\+20 is outside 0\.\.1e\+06 \(mm, or mm d-1 for a flux"),
        ("chains/outputs", np.where(keys == "swe", -1.0, arrays["chains/outputs"]),
         r"state array 'chains/outputs': swe = -1\.0 is outside 0\.\.1e\+06"),
        ("chains/outputs", np.where(keys == "leak", -2e6, arrays["chains/outputs"]),
         r"state array 'chains/outputs': leak = -2000000\.0 is outside -1e\+06\.\.1e\+06"),
        ("chains/chain0/m0/nn/#len", np.array([3]),
         r"state array 'chains/chain0/m0/nn/#len' = \[3\.0\], this model has \[2\]"),
        ("chains/chain0/m0/nn/0", MISSING,
         r"state arrays do not match this model under 'chains/chain0/': missing \['m0/nn/0'\]"),
        ("junk", np.zeros(1), r"the state holds array\(s\) \['junk'\] this model does not have"),
    ]
    bmi, ref = at_hour(tmp_path, hamon_ckpt, forcing), at_hour(tmp_path, hamon_ckpt, forcing)
    refused_and_untouched(bmi, ref, forcing, [(changed(blob, **{k: v}), p) for k, v, p in cases])


def test_every_array_dropped_or_damaged_is_named(tmp_path, hamon_ckpt, forcing, blob):
    """Every top-level array and every array of one chain, dropped, filled with NaN, given one more item or
    turned to text: a StateError naming it each time, never a raw exception, never a silent restore."""
    _, arrays = payload.decode(blob)
    keys = [k for k in arrays if not k.startswith("chains/chain") or k.startswith("chains/chain23/")]
    assert len(keys) > 20
    attempts = []
    for key in keys:
        value = arrays[key]
        short = re.escape(key.removeprefix("chains/chain23/"))
        attempts.append((changed(blob, **{key: MISSING}), rf".*{short}"))
        attempts.append((changed(blob, **{key: np.append(value, value[:1])}), rf".*{short}"))
        attempts.append((changed(blob, **{key: np.full(value.shape, "text")}), rf".*{short}"))
        if value.dtype.kind == "f" and key not in ("inputs", "last_valid"):  # NaN there: an unset input
            attempts.append((changed(blob, **{key: np.full_like(value, np.nan)}), rf".*{short}"))
    bmi, ref = at_hour(tmp_path, hamon_ckpt, forcing), at_hour(tmp_path, hamon_ckpt, forcing)
    refused_and_untouched(bmi, ref, forcing, attempts)


def test_initial_state_errors_name_the_key_and_the_file(tmp_path, hamon_ckpt, blob):
    """A `.pt` checkpoint given as initial_state says so (it said "bad magic bytes" without key or file);
    a damaged state file is named with the key and path."""
    checkpoint = REPO / "bmi_configs" / "demo_hbv11p.pt"
    path = write_config(tmp_path, hamon_ckpt, initial_state=str(checkpoint), start_time="2015-12-02 06:00:00")
    with pytest.raises(StateError, match=rf"initial_state {re.escape(str(checkpoint))}: this is a zip "
                                         r"archive such as a torch checkpoint \(.pt\), not a dmg_bmi state"
                                         r".*'checkpoint:'"):
        DeltaModelBmi().initialize(str(path))
    (tmp_path / "nan.state").write_bytes(changed(blob, **{"last_valid": np.array([np.inf, 280.0])}))
    (tmp_path / "cut.state").write_bytes(blob[: len(blob) - 50])
    for name, pattern in (("nan.state", r"state array 'last_valid' holds atmosphere_water__liquid_equivalent_"
                                        r"precipitation_rate = inf mm s-1, outside"),
                          ("cut.state", ARCHIVE)):
        path = write_config(tmp_path, hamon_ckpt, initial_state=name, start_time="2015-12-02 06:00:00")
        with pytest.raises(StateError, match=rf"initial_state {re.escape(str((tmp_path / name).resolve()))}: "
                                             rf"{pattern}"):
            DeltaModelBmi().initialize(str(path))
    (tmp_path / "good.state").write_bytes(blob)
    hot = DeltaModelBmi()
    hot.initialize(str(write_config(tmp_path, hamon_ckpt, initial_state="good.state",
                                    start_time="2015-12-02 06:00:00")))
    assert hot.get_current_time() == 0.0 and hot.get_value(RUNOFF, np.zeros(1))[0] > 0


def test_read_state_checks_for_every_reader(blob, hamon_ckpt):
    """`payload.read_state` (also used by `dmg-bmi simulate --initial-state`) checks the header and the
    common arrays without a time step, and names the source it is given."""
    from dmg_bmi.domains.hydrology.handler import HydrologyHandler

    fingerprint = HydrologyHandler.load(hamon_ckpt).fingerprint
    header, arrays, time = payload.read_state(blob, fingerprint, "basin.state")
    assert str(time) == "2015-12-02 06:00:00" and arrays["chains/ring"].shape == (24, 2)
    with pytest.raises(StateError, match=r"basin.state: state array 'inputs' \(<U1, shape \(2,\)\) must "):
        payload.read_state(changed(blob, inputs=np.array(["a", "b"])), fingerprint, "basin.state")
    with pytest.raises(StateError, match=r"basin.state: state header field 'fingerprint' is missing"):
        payload.read_state(changed(blob, {"fingerprint": MISSING}), fingerprint, "basin.state")
    assert issubclass(StateError, InputError)  # callers catching InputError keep working


def test_crop_states_are_checked_too(tmp_path):
    """A δWOFOST state: NaN in a crop variable or a flag of the wrong kind is named, and refused."""
    field = crop_field(tmp_path)
    feed(field, _hourly(2, 91), range(48))  # 2015-04-01 (day of year 91) and the next day
    field.set_value("ngen::serialization_create", np.array([1], dtype=np.int64))
    state = bytes(field.get_value_ptr(STATE))
    _, arrays = payload.decode(state)
    for key, value, pattern in (
            ("chains/crop/TSUM", np.array([np.nan]), r"state array 'chains/crop/TSUM' holds nan"),
            ("chains/crop/ALIVE", np.array([1.0]), r"state array 'chains/crop/ALIVE' holds float64 values, "
                                                   r"expected booleans"),
            ("chains/crop/DOE", np.array([True]),
             r"state array 'chains/crop/DOE' holds bool values, expected whole numbers"),
            ("chains/outputs", np.full(9, np.inf), r"state array 'chains/outputs' holds inf")):
        assert key in arrays
        with pytest.raises(StateError, match=re.escape(f"{STATE}: ") + pattern):
            restore(field, changed(state, **{key: value}))
    assert field.get_current_time() == 48 * 3600.0
    restore(field, state)
    assert field.get_current_time() == 48 * 3600.0


def test_a_failed_restore_does_not_leave_its_announced_size(tmp_path, hamon_ckpt, forcing, blob):
    """ngen announces the size (serialization_size) before the payload: after a refused payload, the next
    snapshot reports its own size, not the announced one."""
    bmi = at_hour(tmp_path, hamon_ckpt, forcing)
    bmi.set_value("ngen::serialization_size", np.array([len(blob)], dtype=np.int64))
    with pytest.raises(StateError, match=re.escape(f"{STATE}: ") + "state header is not UTF-8 JSON"):
        restore(bmi, blob[:16] + b"#" + blob[17:])  # as long as the announced size, its header broken
    bmi.set_value("ngen::serialization_create", np.array([1], dtype=np.int64))
    size = bmi.get_value("ngen::serialization_size", np.zeros(1, dtype=np.int64))[0]
    assert bmi.get_var_nbytes(STATE) == size == bmi.get_value_ptr(STATE).size
    bmi.set_value("ngen::serialization_size", np.array([len(blob) + 1], dtype=np.int64))
    with pytest.raises(InputError, match=rf"serialization_state: got {len(blob)} bytes, size was set to "
                                         rf"{len(blob) + 1}"):
        restore(bmi, blob)
    assert bmi.get_var_nbytes(STATE) == size


def test_absurd_but_finite_stores_are_refused(tmp_path, hamon_ckpt, forcing, blob):
    """Issue 10 (S4): 1e30 mm in an HBV store (or in routing water in transit) restored silently before;
    now a store above 1e6 mm (1 km of water) is named with its index and value. A large but possible store
    still restores."""
    _, arrays = payload.decode(blob)
    tail = "chains/chain2/m0/phy/route_tail"
    huge_tail = arrays[tail].copy()
    huge_tail.flat[3] = 2e6
    above = r"above its maximum 1000000\.0 mm \(1 km of water: no catchment store holds that much\)"
    bmi, ref = at_hour(tmp_path, hamon_ckpt, forcing), at_hour(tmp_path, hamon_ckpt, forcing)
    refused_and_untouched(bmi, ref, forcing, [
        (changed(blob, **{SM: np.full_like(arrays[SM], 1e30)}), rf"state array '{SM}' holds 1e\+30 at flat "
                                                                rf"index 0, {above}"),
        (changed(blob, **{tail: huge_tail}),
         rf"state array '{tail}' holds 2000000\.0 at flat index 3, {above}"),
    ])
    restore(bmi, changed(blob, **{SM: np.full_like(arrays[SM], 5e3)}))  # a wet soil: accepted


def test_absurd_crop_states_are_refused(tmp_path):
    """1e30 kg ha-1 of storage organs restored silently before; unwritten leaf-class slots (float max) are
    not numbers of the crop and still restore."""
    field = crop_field(tmp_path)
    feed(field, _hourly(2, 91), range(48))
    field.set_value("ngen::serialization_create", np.array([1], dtype=np.int64))
    state = bytes(field.get_value_ptr(STATE))
    _, arrays = payload.decode(state)
    assert arrays["chains/crop/LV_W"].max() == np.finfo(np.float64).max
    for key, value in (("chains/crop/WSO", 1e30), ("chains/crop/TSUM", -2e6)):
        side = "above its maximum 1000000.0" if value > 0 else "below its minimum -1000000.0"
        message = f"{STATE}: state array '{key}' holds {value} at flat index 0, {side} (a crop state"
        with pytest.raises(StateError, match=re.escape(message)):
            restore(field, changed(state, **{key: np.array([value])}))
    outputs = arrays["chains/outputs"].copy()
    outputs[3] = -1e20  # TWSO published until the next day closes (issue 10, S9)
    message = (f"{STATE}: state array 'chains/outputs' holds 1e+20 at flat index 3, above its maximum "
               "1000000.0 in magnitude (outputs ['DVS', 'LAI', 'TAGP', 'TWSO'")
    with pytest.raises(StateError, match=re.escape(message)):
        restore(field, changed(state, **{"chains/outputs": outputs}))
    restore(field, state)
    assert field.get_current_time() == 48 * 3600.0


def test_a_flipped_digit_in_the_time_fails_the_digest(tmp_path, hamon_ckpt, forcing, blob):
    """Issue 10 (S5): the header was covered by no checksum, so a state whose `time` lost one hour (a digit
    flipped, the header as long as before) restored silently one step early; now the digest names it."""
    head, _ = payload.decode(blob)
    assert head["time"] == "2015-12-02T06:00:00Z"
    early = blob.replace(b'"time": "2015-12-02T06', b'"time": "2015-12-02T05')
    assert early != blob and len(early) == len(blob)
    bmi, ref = at_hour(tmp_path, hamon_ckpt, forcing), at_hour(tmp_path, hamon_ckpt, forcing)
    refused_and_untouched(bmi, ref, forcing, [(early, r"the state does not match its sha256 digest")])
    (tmp_path / "early.state").write_bytes(early)
    with pytest.raises(StateError, match=re.escape(f"{tmp_path / 'early.state'}: the state does not match")):
        payload.read_state(early, head["fingerprint"], str(tmp_path / "early.state"))


def test_bit_flips_all_over_a_real_state_are_named(blob):
    """Issue 10 (R2), on a real BMI state: one bit flipped every 97 bytes (about 800 places): each decode is a
    StateError naming the source, or gives the very same header and arrays."""
    ref_head, ref_arrays = payload.decode(blob)
    for i in range(0, len(blob), 97):
        flipped = blob[:i] + bytes([blob[i] ^ (1 << (i % 8))]) + blob[i + 1:]
        try:
            head, arrays = payload.decode(flipped, "basin.state")
        except StateError as exc:
            assert str(exc).startswith("basin.state: ")
            continue
        assert head == ref_head and arrays.keys() == ref_arrays.keys()
        assert all(np.array_equal(arrays[k], v) and arrays[k].dtype == v.dtype for k, v in ref_arrays.items())
