#!/usr/bin/env python3
"""examples/forecast.c in Python through ctypes: no compiled extension, no framework.

    python3 forecast_ctypes.py run/checkpoint.h5 series.csv

Forecasts the steps after the last window of the CSV with a trained checkpoint and prints them
as forecast.c and `reinpatch predict CHECKPOINT --data FILE --out -` do for a file without a date
column: a header of channel names, then one row per step (%.7g).

The shared library is found through $REINPATCH_LIB (a path to libreinpatch.so.N) or else the
system's search (ctypes.util.find_library, e.g. after `meson install` and ldconfig).
Exit status: 0, 1 on any error (one line on stderr), 2 on a usage error.
"""
import csv
import ctypes
import ctypes.util
import os
import sys

API_VERSION = 1  # RP_API_VERSION of the include/reinpatch.h these declarations follow


def load_library():
    path = os.environ.get("REINPATCH_LIB") or ctypes.util.find_library("reinpatch")
    if not path:
        sys.exit("forecast_ctypes: libreinpatch not found (set REINPATCH_LIB to its path)")
    lib = ctypes.CDLL(path)
    handle, error = ctypes.c_void_p, ctypes.c_void_p
    lib.rp_api_version.restype = ctypes.c_int
    lib.rp_error_message.argtypes = [error]
    lib.rp_error_message.restype = ctypes.c_char_p
    lib.rp_error_free.argtypes = [error]
    lib.rp_set_thread_count.argtypes = [ctypes.c_int]
    lib.rp_forecaster_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(error)]
    lib.rp_forecaster_open.restype = handle
    lib.rp_forecaster_close.argtypes = [handle]
    for name in ("lookback", "horizon", "channels", "threads"):
        getattr(lib, "rp_forecaster_" + name).argtypes = [handle]
        getattr(lib, "rp_forecaster_" + name).restype = ctypes.c_int
    lib.rp_forecaster_channel_name.argtypes = [handle, ctypes.c_int]
    lib.rp_forecaster_channel_name.restype = ctypes.c_char_p
    lib.rp_forecast.argtypes = [handle, ctypes.POINTER(ctypes.c_float), ctypes.c_int,
                                ctypes.POINTER(ctypes.c_float), ctypes.POINTER(error)]
    lib.rp_forecast.restype = ctypes.c_int
    if lib.rp_api_version() != API_VERSION:
        sys.exit(f"forecast_ctypes: written for reinpatch API {API_VERSION}, the library is {lib.rp_api_version()}")
    return lib


def fail(lib, err, what):
    message = lib.rp_error_message(err).decode()
    lib.rp_error_free(err)
    sys.exit(f"forecast_ctypes: {what}{message}")


def read_table(path):
    """Header names and rows of floats; a first column that is not numeric (a date) is skipped."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    header, data = rows[0], rows[1:]
    try:
        float(data[0][0])
        skip = 0
    except (ValueError, IndexError):
        skip = 1
    return header[skip:], [[float(v) for v in r[skip:]] for r in data]


def main():
    if len(sys.argv) != 3:
        print("usage: forecast_ctypes.py CHECKPOINT.h5 FILE.csv", file=sys.stderr)
        return 2
    lib = load_library()
    err = ctypes.c_void_p()
    f = lib.rp_forecaster_open(sys.argv[1].encode(), ctypes.byref(err))
    if not f:
        fail(lib, err, "")
    try:
        lib.rp_set_thread_count(lib.rp_forecaster_threads(f))  # compute as `reinpatch predict` does
        L, H, C = lib.rp_forecaster_lookback(f), lib.rp_forecaster_horizon(f), lib.rp_forecaster_channels(f)
        names, rows = read_table(sys.argv[2])
        wanted = [lib.rp_forecaster_channel_name(f, c) for c in range(C)]
        pick = [names.index(n.decode()) for n in wanted] if all(wanted) else list(range(len(names)))
        if len(rows) < L:
            sys.exit(f"forecast_ctypes: {sys.argv[2]}: {len(rows)} rows, the checkpoint's lookback needs {L}")
        # x is channel-major: channel c's last L values, oldest first.
        x = (ctypes.c_float * (len(pick) * L))(*[rows[len(rows) - L + t][k] for k in pick for t in range(L)])
        y = (ctypes.c_float * (len(pick) * H))()
        if lib.rp_forecast(f, x, len(pick), y, ctypes.byref(err)):
            fail(lib, err, f"{sys.argv[2]}: ")
        print(",".join(names[k] for k in pick))
        for h in range(H):
            print(",".join("%.7g" % y[c * H + h] for c in range(len(pick))))
    finally:
        lib.rp_forecaster_close(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
