"""Read fpkit's HDF5 results and draw them in one paper style.

Importable with no build step: put ``<fpkit source>/python`` on ``sys.path`` (or ``PYTHONPATH``).
Needs numpy and h5py (Debian: python3-numpy, python3-h5py); ``fpkit.plot`` needs matplotlib;
xarray (python3-xarray, python3-h5netcdf) is optional and imported only when asked for.

    import fpkit
    with fpkit.open("results/ou1d.h5") as r:
        print(r.kind, r.methods)                  # 'run', ('exact', 'fv', 'mc')
        p = r.field("fv")                         # numpy array [t][x]
        e = r.errors("l1", "fv", "exact")         # [t]

See docs/python.md for the whole interface and docs/hdf5-layout.md for the files.
"""

from .reader import (  # noqa: F401
    Axis, BridgeResult, Config, ConvergeResult, FormatError, Grid, Group, OTResult, Result,
    RunResult, Series, Weak, open,
)

__all__ = ["open", "Result", "RunResult", "ConvergeResult", "BridgeResult", "OTResult", "Grid",
           "Axis", "Group", "Config", "Series", "Weak", "FormatError"]
