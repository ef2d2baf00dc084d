"""Read fpkit's HDF5 results and draw them in one paper style.

Importable with no build step: put ``<fpkit source>/python`` on ``sys.path`` (or ``PYTHONPATH``).
Needs numpy and h5py (Debian: python3-numpy, python3-h5py); ``fpkit.plot`` needs matplotlib;
xarray (python3-xarray, python3-h5netcdf) is optional and imported only when asked for.

    import fpkit
    with fpkit.open("results/ou1d.h5") as r:
        print(r.kind, r.methods)                  # 'run', ('exact', 'fv', 'mc')
        p = r.field("fv")                         # numpy array [t][x]
        e = r.errors("l1", "fv", "exact")         # [t]
    with fpkit.open("results/sb/gauss2d_s1.h5") as r:  # `fpkit sb`: an SBResult
        p = r.density(0.5)                        # p_t / cell volume [y][x]
        b = r.drift(0.5)                          # [component][y][x]

See docs/python.md for the whole interface and docs/hdf5-layout.md for the files.
"""

from .reader import (  # noqa: F401
    Axis, BridgeResult, Config, ConvergeResult, FormatError, Grid, Group, OTResult, Result,
    RunResult, SampleResult, SBResult, Series, Weak, open,
)

__all__ = ["open", "Result", "RunResult", "ConvergeResult", "BridgeResult", "OTResult", "SBResult",
           "SampleResult", "Grid", "Axis", "Group", "Config", "Series", "Weak", "FormatError"]
