"""Reading fpkit's HDF5 output files (layout: docs/hdf5-layout.md).

``open(path)`` looks at the file and returns the Result subclass for the command that wrote it:
RunResult (``fpkit run``), ConvergeResult (``fpkit converge``), BridgeResult (``fpkit bridge``),
OTResult (``fpkit ot``) or SBResult (``fpkit sb``). Every result is a context manager holding the
file open read-only; arrays are read when asked for and returned as numpy arrays (float64 where
the file stores doubles), strings as str, numeric attributes as Python numbers. Datasets are
looked up by name, never by position, so files with extra groups or datasets (newer fpkit)
still read.
"""

import configparser
import os

import h5py
import numpy as np

#: Method groups of `fpkit run` files in their display order; other groups holding `t` and
#: `density` datasets (solvers added later) follow in alphabetical order.
KNOWN_METHODS = ("exact", "fv", "spectral", "mc")
#: Metrics of /errors (docs/hdf5-layout.md).
METRICS = ("l1", "l2", "linf", "kl", "mean", "cov")


class FormatError(ValueError):
    """A file that is not HDF5 or not an fpkit output, or lacks what was asked for.

    The message starts with the file's path."""


_NETCDF_DIM_ONLY = b"This is a netCDF dimension but not a netCDF variable."


def _is_index_axis(obj):
    """Whether obj is an index axis of the netCDF convention (a dimension scale that stores no
    values: vector components, levels, iterations; docs/hdf5-layout.md): not data."""
    if not isinstance(obj, h5py.Dataset):
        return False
    name = obj.attrs.get("NAME")
    if isinstance(name, np.ndarray):
        name = name.tobytes()
    if isinstance(name, str):
        name = name.encode()
    return isinstance(name, bytes) and name.startswith(_NETCDF_DIM_ONLY)


def _value(v):
    """An HDF5 attribute as a plain Python value: str for strings, int/float for 1-element
    numbers, numpy arrays otherwise."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "SO" and v.size == 1:
            return _value(v.reshape(-1)[0])
        if v.size == 1 and v.dtype.kind in "iuf":
            return v.reshape(-1)[0].item()
        return v
    if isinstance(v, np.generic):
        return v.item()
    return v


#: Attributes of the HDF5 dimension-scale API and of netCDF-4 (object references, internal ids):
#: bookkeeping, not metadata of the data; left out as xarray leaves them out.
_SCALE_ATTRS = frozenset(("CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST", "_Netcdf4Dimid",
                          "_Netcdf4Coordinates", "_nc3_strict"))


def _attrs(obj):
    """All attributes of an h5py object as a dict of plain values, less the dimension-scale
    bookkeeping (_SCALE_ATTRS)."""
    return {k: _value(v) for k, v in obj.attrs.items() if k not in _SCALE_ATTRS}


def _scale_axes(dset):
    """The dimensions of dset as the file's HDF5 dimension scales name them: a list of
    (name, scale) per axis, scale the h5py Dataset of the dimension scale (its values are the
    coordinate, unless it is an index axis). The name of a dimension is the last component of
    the path of the scale attached to that axis (the last one where several are attached),
    which is what netCDF-4 and xarray's h5netcdf engine read; a dataset that is itself a
    dimension scale (a coordinate such as /fv/t) is its own single dimension. None when some
    axis has no scale attached (files written before fpkit wrote scales)."""
    if h5py.h5ds.is_scale(dset.id):
        return [(dset.name.rsplit("/", 1)[-1], dset)] if dset.ndim == 1 else None
    axes = []
    for dim in dset.dims:
        if len(dim) == 0:
            return None
        scale = dim[len(dim) - 1]
        axes.append((scale.name.rsplit("/", 1)[-1], scale))
    return axes


class Config(dict):
    """The resolved configuration stored in a file's ``config`` attribute: a dict of sections,
    each a dict of key -> value (str, as written; keys case-sensitive, e.g. ``A``), plus
    ``text``, the stored INI text itself (what ``fpkit run``/``rerun`` accept)."""

    def __init__(self, text):
        super().__init__()
        self.text = text
        parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"),
                                           comment_prefixes=(";", "#"), strict=False)
        parser.optionxform = str  # fpkit keys are case-sensitive (`A` of a 2D OU model)
        parser.read_string(text)
        for section in parser.sections():
            self[section] = dict(parser.items(section))

    def get_float(self, section, key, default=None):
        """``float(self[section][key])``, or default when absent. A value of several numbers
        (``mean = 1 0``) raises ValueError: use ``numbers``."""
        if section not in self or key not in self[section]:
            return default
        return float(self[section][key])

    def numbers(self, section, key):
        """A value of one or more numbers (``A = 1 0.5 -0.5 1``) as a float array."""
        return np.array([float(v) for v in self[section][key].replace(",", " ").split()])


class Axis:
    """One grid axis: ``centres`` (cell centres), ``lo``, ``hi``, ``bc``, ``n``, ``h``,
    ``edges`` (n + 1 cell edges; cell i is [lo + i h, lo + (i + 1) h])."""

    def __init__(self, name, dset):
        self.name = name
        self.centres = np.asarray(dset[()], dtype=float)
        self.n = self.centres.size
        a = _attrs(dset)
        if "lo" in a and "hi" in a:
            self.lo, self.hi = float(a["lo"]), float(a["hi"])
        else:  # older files: from the centres of a uniform grid
            h = (self.centres[-1] - self.centres[0]) / max(self.n - 1, 1)
            self.lo, self.hi = self.centres[0] - h / 2, self.centres[-1] + h / 2
        self.bc = a.get("bc")
        self.h = (self.hi - self.lo) / self.n
        self.edges = self.lo + self.h * np.arange(self.n + 1)
        self.attrs = a

    def __repr__(self):
        return f"Axis({self.name}: {self.n} cells on [{self.lo:g}, {self.hi:g}], bc={self.bc})"


class Grid:
    """The ``/grid`` group: ``axes`` (dict name -> Axis, x then y), ``x``, ``y`` (None in 1D),
    ``dim``, ``shape`` (of one field: (nx,) or (ny, nx), x fastest), ``cell_volume``."""

    def __init__(self, group):
        self.axes = {name: Axis(name, group[name]) for name in ("x", "y", "z") if name in group}
        self.x = self.axes["x"]
        self.y = self.axes.get("y")
        self.dim = len(self.axes)
        self.shape = tuple(self.axes[a].n for a in reversed(list(self.axes)))
        self.dims = tuple(reversed(list(self.axes)))  # ("y", "x"): the field's index order
        self.cell_volume = float(np.prod([a.h for a in self.axes.values()]))

    def __repr__(self):
        return f"Grid({', '.join(repr(a) for a in self.axes.values())})"


class Group:
    """One HDF5 group, read on demand: ``g[name]`` is a dataset as a numpy array (or a Group for
    a subgroup), ``g.attrs`` its attributes as plain values, ``name in g``, ``g.keys()``,
    ``g.datasets()`` (names of datasets only), ``g.get(name, default)``."""

    def __init__(self, h5group):
        self._g = h5group
        self.name = h5group.name
        self.attrs = _attrs(h5group)

    def __getitem__(self, name):
        obj = self._g[name]
        if isinstance(obj, h5py.Group):
            return Group(obj)
        return obj[()]

    def __contains__(self, name):
        return name in self._g

    def keys(self):
        return list(self._g.keys())

    def datasets(self):
        return [k for k, v in self._g.items()
                if isinstance(v, h5py.Dataset) and not _is_index_axis(v)]

    def get(self, name, default=None):
        return self[name] if name in self._g else default

    def dataset_attrs(self, name):
        """Attributes of the dataset (or subgroup) ``name``."""
        return _attrs(self._g[name])

    def __repr__(self):
        return f"Group({self.name}: {', '.join(self.keys())})"


class Result:
    """An fpkit output file, open read-only. Use as a context manager or call ``close()``.

    Common to every command's file:
      path, kind ('run', 'converge', 'bridge', 'ot', 'sb', 'sample'), command (root attribute
      ``command``, else kind), attrs (root attributes), version (``fpkit_version``), config
      (Config), provenance (dict), grid (Grid, or None where the file has none),
      group(path) -> Group, dataset(path) -> numpy array, datasets(group) -> dict, axes(path),
      dims(path) and labelled(path) (the file's dimension names and coordinates),
      has_dimension_scales(group), to_xarray(group).
    """

    kind = "unknown"

    def __init__(self, path, h5file, kind):
        self.path = path
        self._f = h5file
        self.kind = kind
        self.attrs = _attrs(h5file)
        self.command = self.attrs.get("command", kind)
        self.version = self.attrs.get("fpkit_version")
        self._config = None

    # -- file handling
    def close(self):
        """Closes the file; arrays already returned stay valid."""
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<fpkit {type(self).__name__} {self.path!r}: {self.command}>"

    def _error(self, what):
        return FormatError(f"{self.path}: {what}")

    # -- generic access
    @property
    def config(self):
        """The stored configuration (Config: dict of sections, plus ``.text``). An empty Config
        when the file has no ``config`` attribute."""
        if self._config is None:
            try:
                self._config = Config(self.attrs.get("config", ""))
            except configparser.Error as e:
                raise self._error(f"the stored config attribute is not INI text ({e})") from None
        return self._config

    @property
    def provenance(self):
        """Where the result came from, as a dict of whatever the file records: the attributes of
        a ``/provenance`` group (and, prefixed ``name/``, of its datasets and subgroups) when
        there is one, else the root attributes other than ``config``."""
        if "provenance" in self._f:
            g = self._f["provenance"]
            out = _attrs(g)

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    out[name] = _value(obj[()])
                for k, v in _attrs(obj).items():
                    out[f"{name}/{k}"] = v

            g.visititems(visit)
            return out
        return {k: v for k, v in self.attrs.items() if k != "config"}

    @property
    def grid(self):
        """The /grid group as a Grid, or None."""
        if "grid" not in self._f or "x" not in self._f["grid"]:
            return None
        return Grid(self._f["grid"])

    def group(self, path):
        """The group at ``path`` (e.g. ``"fv"``, ``"converge/strong"``) as a Group."""
        obj = self._f.get(path)
        if not isinstance(obj, h5py.Group):
            raise self._error(f"no group /{path.strip('/')}")
        return Group(obj)

    def dataset(self, path):
        """The dataset at ``path`` (e.g. ``"ot/eps"``) as a numpy array."""
        obj = self._f.get(path)
        if not isinstance(obj, h5py.Dataset):
            raise self._error(f"no dataset /{path.strip('/')}")
        return obj[()]

    def __contains__(self, path):
        return path in self._f

    def datasets(self, group="/"):
        """Every dataset below ``group`` as a dict: path relative to the group -> numpy array
        (e.g. ``{"ot/eps": ..., "grid/x": ...}`` for the root). Reads them all: for small
        files or groups. Index axes (dimension scales that store no values) are left out."""
        out = {}
        self._f[group].visititems(
            lambda name, obj: out.__setitem__(name, obj[()])
            if isinstance(obj, h5py.Dataset) and not _is_index_axis(obj) else None)
        return out

    def has_dimension_scales(self, group="/"):
        """True when some dataset in ``group`` is an HDF5 dimension scale or has scales
        attached: what xarray's h5netcdf engine needs to label dimensions."""
        found = []

        def visit(_name, obj):
            if isinstance(obj, h5py.Dataset) and (
                    "DIMENSION_LIST" in obj.attrs or h5py.h5ds.is_scale(obj.id)):
                found.append(True)
                return True
            return None

        self._f[group].visititems(visit)
        return bool(found)

    def to_xarray(self, group, **kwargs):
        """``xarray.open_dataset(path, engine="h5netcdf", group=group, **kwargs)``: the group as
        an xarray Dataset labelled by the file's dimension scales (python3-xarray,
        python3-h5netcdf). Axes without a scale get h5netcdf's ``phony_dim_<k>`` names
        (``phony_dims="sort"``, the default here; h5netcdf refuses such a file otherwise)."""
        import xarray  # optional dependency, imported only here

        kwargs.setdefault("phony_dims", "sort")
        return xarray.open_dataset(self.path, engine="h5netcdf", group=group, **kwargs)


    # -- labelled arrays: dimension names and coordinates from the file's dimension scales
    def _dataset_obj(self, path):
        obj = self._f.get(path)
        if not isinstance(obj, h5py.Dataset):
            raise self._error(f"no dataset /{path.strip('/')}")
        return obj

    def axes(self, path):
        """The axes of the dataset at ``path``: a list, one (dim, values) per axis, dim the
        dimension's name and values its coordinate (a numpy array), or None for an index axis
        (a dimension without values: ``component``, ``path``, ``level``, ...).

        The names and values are the file's own: those of the HDF5 dimension scales attached
        to the dataset (docs/hdf5-layout.md), the names xarray.open_dataset(path,
        engine="h5netcdf", group=...) gives. Files without scales (written before fpkit wrote
        them) get the names of docs/hdf5-layout.md by the dataset's name, else a name by length only
        where one dimension of the file has that length, else ``dim_<k>``: two dimensions of
        the same length (output times and cells, or x and y of a square grid) are never told
        apart by length."""
        dset = self._dataset_obj(path)
        scaled = _scale_axes(dset)
        if scaled is not None:
            return [(name, None if _is_index_axis(scale) else scale[()])
                    for name, scale in scaled]
        return self._guess_axes(dset)

    def dims(self, path):
        """The dimension names of the dataset at ``path`` (see ``axes``)."""
        return tuple(name for name, _ in self.axes(path))

    def labelled(self, path):
        """The dataset at ``path`` as an xarray.DataArray named by the path, with the file's
        dimension names, its coordinates (index axes are dimensions without coordinate values,
        as in xarray.open_dataset) and the dataset's attributes (needs xarray)."""
        import xarray  # optional dependency, imported only here

        dset = self._dataset_obj(path)
        if _is_index_axis(dset):
            raise self._error(f"/{path.strip('/')} is an index axis (a dimension without "
                              "values), not data")
        axes = self.axes(path)
        coords = {name: (name, values) for name, values in axes if values is not None}
        return xarray.DataArray(dset[()], dims=[name for name, _ in axes], coords=coords,
                                name=dset.name.lstrip("/"), attrs=_attrs(dset))

    #: Dimensions of fpkit's datasets by name (docs/hdf5-layout.md), for files without
    #: dimension scales; "<grid>" stands for the grid's dims, ("y", "x") or ("x",).
    _LAYOUT_DIMS = {
        "density": ("t", "<grid>"), "mean": ("t", "component"), "chain_mean": ("t", "component"),
        "cov": ("t", "component", "component2"), "chain_cov": ("t", "component", "component2"),
        "paths": ("path", "path_t", "component"), "path_t": ("path_t",), "t": ("t",),
        "x": ("x",), "y": ("y",), "mass": ("t",), "min_density": ("t",), "outside": ("t",),
        "survival": ("t",), "tail_energy": ("t",),
    }
    _LAYOUT_GROUP_DIMS = {"stationary": {"fv": ("<grid>",), "spectral": ("<grid>",),
                                         "exact": ("<grid>",), "gap": ("one",)}}

    def _fallback_times(self, group):
        """Output times for a file without scales: the group's ``t``, else the first method
        group's (every method of a run writes the same output times)."""
        for g in (group, *(self._f.get(m) for m in KNOWN_METHODS)):
            if isinstance(g, h5py.Group) and isinstance(g.get("t"), h5py.Dataset):
                return np.asarray(g["t"][()], dtype=float)
        return None

    def _guess_axes(self, dset):
        """(name, values) per axis of a dataset without scales: the layout's names by the
        dataset's name where rank and lengths agree, else by length where unambiguous."""
        shape = dset.shape
        group = dset.parent
        gname = group.name.strip("/")
        name = dset.name.rsplit("/", 1)[-1]
        grid = self.grid
        t = self._fallback_times(group)
        known = {"t": t}
        if grid is not None:
            known.update({a: grid.axes[a].centres for a in grid.dims})
        layout = self._LAYOUT_GROUP_DIMS.get(gname, {}).get(name)
        if layout is None and gname == "errors":
            layout = ("t",)
        if layout is None and gname == "stationary" and name.startswith("kl_"):
            layout = ("t",)
        if layout is None:
            layout = self._LAYOUT_DIMS.get(name)
        if layout is not None:
            names = []
            for d in layout:
                if d != "<grid>":
                    names.append(d)
                elif grid is not None:
                    names.extend(grid.dims)
            if len(names) == len(shape) and all(
                    known.get(d) is None or known[d].size == n for d, n in zip(names, shape)):
                return [(d, known.get(d)) for d in names]
        # By length, only where exactly one dimension of the file has that length and only one
        # axis of the dataset has it: never a choice between equal lengths.
        lengths = {d: v.size for d, v in known.items() if v is not None}
        out = []
        for k, n in enumerate(shape):
            match = [d for d, m in lengths.items() if m == n]
            if len(match) == 1 and list(shape).count(n) == 1:
                out.append((match[0], known[match[0]]))
            else:
                out.append((f"dim_{k}", None))
        return out

class RunResult(Result):
    """An ``fpkit run`` file: one group per method (``/exact``, ``/fv``, ``/spectral``,
    ``/mc``), ``/errors``, and optionally ``/stationary``.

      methods                       method groups present, e.g. ('exact', 'fv', 'mc')
      times(method)                 output times [nt]
      field(method, name, labelled) a dataset of a method group (default ``density``)
      coords(method, name)          dict dim -> coordinate array for that dataset
      errors(metric, p, q)          /errors/<metric>_<p>_<q> [nt]
      error_pairs()                 [(metric, p, q)] present
      stationary                    Group of /stationary, or None
    """

    kind = "run"
    @property
    def methods(self):
        """The method groups present: each holds ``t`` and ``density``."""
        found = [k for k, v in self._f.items() if isinstance(v, h5py.Group)
                 and "t" in v and "density" in v]
        known = [m for m in KNOWN_METHODS if m in found]
        return tuple(known + sorted(m for m in found if m not in KNOWN_METHODS))

    def _method(self, method):
        if method not in self.methods:
            raise self._error(f"no method group /{method} (present: {', '.join(self.methods)})")
        return self._f[method]

    def times(self, method=None):
        """Output times of ``method`` (default: the first method present)."""
        if method is None:
            if not self.methods:
                raise self._error("no method group (/exact, /fv, /spectral, /mc)")
            method = self.methods[0]
        return np.asarray(self._method(method)["t"][()], dtype=float)

    def _dataset_path(self, method, name):
        g = self._method(method) if method in KNOWN_METHODS or method in self.methods \
            else self._f.get(method)
        if not isinstance(g, h5py.Group) or name not in g:
            raise self._error(f"no dataset /{method}/{name}")
        return f"{method}/{name}"

    def coords(self, method, name="density"):
        """Coordinates of ``/<method>/<name>``: a dict dim -> array, one entry per axis of the
        dataset, in axis order; the dimension names and values are the file's dimension scales
        (``axes``, the names xarray gives): ``t`` (output times), ``y``, ``x`` (cell centres),
        ``component``, ``component2`` for mean vectors and covariance matrices, ``path``,
        ``path_t``, ``component`` for /mc/paths. An index axis (a dimension without values,
        such as ``component``) gets 0..n-1."""
        path = self._dataset_path(method, name)
        shape = self._f[path].shape
        return {d: (np.arange(n) if v is None else v)
                for (d, v), n in zip(self.axes(path), shape)}

    def field(self, method, name="density", labelled=False):
        """The dataset ``/<method>/<name>`` (``density``: [t][x] or [t][y][x], x fastest).

        labelled=False: a numpy array (coordinates from ``coords``). labelled=True: an
        xarray.DataArray (``labelled``: the file's dimension names and coordinates, the
        dataset's attributes; needs xarray, ImportError otherwise)."""
        path = self._dataset_path(method, name)
        if labelled:
            return self.labelled(path)
        return self._f[path][()]

    def error_pairs(self):
        """Every (metric, p, q) with a dataset /errors/<metric>_<p>_<q>."""
        if "errors" not in self._f:
            return []
        out = []
        for key in self._f["errors"]:
            parts = key.split("_")
            if len(parts) == 3:
                out.append(tuple(parts))
        return sorted(out)

    def has_errors(self, metric, p, q):
        return f"errors/{metric}_{p}_{q}" in self._f

    def errors(self, metric, p, q, labelled=False):
        """``/errors/<metric>_<p>_<q>`` against time (metric in METRICS; p, q methods, p the
        first of the pair as stored: ``fv_exact``, ``mc_exact``, ``mc_fv``, ...)."""
        key = f"errors/{metric}_{p}_{q}"
        if key not in self._f:
            have = ", ".join("_".join(e) for e in self.error_pairs()) or "none"
            raise self._error(f"no dataset /{key} (present: {have})")
        if labelled:
            return self.labelled(key)
        return np.asarray(self._f[key][()], dtype=float)

    @property
    def stationary(self):
        """The /stationary group (stationary densities, KL against time, gap), or None."""
        return Group(self._f["stationary"]) if "stationary" in self._f else None


class Series:
    """One convergence series (``/converge/strong``, ``.../monte_carlo``, ``.../discrete``):
    ``error``, ``standard_error`` arrays [L], ``fit`` (the group's attributes: ``order``,
    ``ci_lo``, ``ci_hi``, ``intercept``, ``correction``, ``resolved``, ...), ``resolved`` (bool),
    ``order`` (None when unresolved), ``name``."""

    def __init__(self, group, name):
        self.name = name
        self.error = np.asarray(group["error"], dtype=float)
        self.standard_error = np.asarray(group["standard_error"], dtype=float)
        self.fit = dict(group.attrs)
        self.resolved = bool(self.fit.get("resolved", "order" in self.fit))
        self.order = self.fit.get("order") if self.resolved else None

    def __repr__(self):
        state = f"order {self.order:.3f}" if self.resolved else "unresolved"
        return f"Series({self.name}: {self.error.size} levels, {state})"


class Weak:
    """One weak functional of ``/converge/weak/<j>``: ``functional`` (its expression),
    ``exact_value`` (None when unknown), ``mean``, ``variance`` [L + 1], ``monte_carlo``
    (Series), ``discrete`` (Series or None), ``best`` (discrete if present, else Monte Carlo)."""

    def __init__(self, group):
        self.functional = group.attrs.get("functional", "")
        self.exact_value = group.attrs.get("exact_value")
        self.mean = group.get("mean")
        self.variance = group.get("variance")
        self.monte_carlo = Series(group["monte_carlo"], "monte_carlo") \
            if "monte_carlo" in group else None
        self.discrete = Series(group["discrete"], "discrete") if "discrete" in group else None
        self.best = self.discrete or self.monte_carlo

    def __repr__(self):
        return f"Weak(E[{self.functional}]: {self.monte_carlo}, {self.discrete})"


class ConvergeResult(Result):
    """An ``fpkit converge`` file: ``info`` (attributes of /converge: stepper, T, paths, ...),
    ``steps``, ``h`` [L] (coarse to fine), ``strong`` (Series or None), ``weak`` (list of Weak,
    in the order of ``[converge] weak``)."""

    kind = "converge"

    @property
    def info(self):
        return _attrs(self._f["converge"])

    @property
    def steps(self):
        """The step counts of the levels, coarse to fine, as integers (the file may store them
        as doubles)."""
        steps = np.asarray(self._f["converge/steps"][()])
        as_int = np.rint(steps).astype(np.int64)
        if not np.array_equal(as_int, steps):
            raise self._error(f"/converge/steps holds non-integer step counts {steps}")
        return as_int

    @property
    def h(self):
        return np.asarray(self._f["converge/h"][()], dtype=float)

    @property
    def strong(self):
        g = self._f["converge"]
        return Series(Group(g["strong"]), "strong") if "strong" in g else None

    @property
    def weak(self):
        g = self._f["converge"]
        if "weak" not in g:
            return []
        keys = sorted(g["weak"], key=lambda k: int(k) if k.isdigit() else k)
        return [Weak(Group(g["weak"][k])) for k in keys]


class BridgeResult(Result):
    """An ``fpkit bridge`` file: ``parts`` (the groups present among bridge, kolmogorov,
    ks_band) and ``bridge``, ``kolmogorov``, ``ks_band``: each a Group (datasets and
    ``attrs``), or None when that part did not run."""

    kind = "bridge"
    PARTS = ("bridge", "kolmogorov", "ks_band")

    @property
    def parts(self):
        return tuple(p for p in self.PARTS if p in self._f)

    def _part(self, name):
        return Group(self._f[name]) if name in self._f else None

    @property
    def bridge(self):
        return self._part("bridge")

    @property
    def kolmogorov(self):
        return self._part("kolmogorov")

    @property
    def ks_band(self):
        return self._part("ks_band")


class OTResult(Result):
    """An ``fpkit ot`` file: ``ot`` (Group /ot: per-solve datasets, ``attrs``), ``exact``
    (Group /ot/exact or None), ``eps`` [neps], ``t`` (times of a time loop, or None),
    ``kernels_used`` (back-end of each solve's final stage), ``history()`` (dict name ->
    err_a + err_b at every check), ``marginals(cell_densities=False)`` (a, b: cell
    probabilities, or densities divided by the cell volume)."""

    kind = "ot"

    @property
    def ot(self):
        return Group(self._f["ot"])

    @property
    def exact(self):
        return Group(self._f["ot/exact"]) if "ot/exact" in self._f else None

    @property
    def eps(self):
        return np.asarray(self._f["ot/eps"][()], dtype=float)

    @property
    def t(self):
        return np.asarray(self._f["ot/t"][()], dtype=float) if "ot/t" in self._f else None

    @property
    def kernels_used(self):
        return str(self.ot.attrs.get("kernels_used", "")).split()

    def history(self):
        if "ot/history" not in self._f:
            return {}
        return {k: v[()] for k, v in self._f["ot/history"].items() if not _is_index_axis(v)}

    def marginals(self, cell_densities=False):
        """The marginals (a, b) as stored (cell probabilities); divided by the cell volume
        when cell_densities (a density on the grid)."""
        a, b = self._f["ot/a"][()], self._f["ot/b"][()]
        if cell_densities:
            vol = self.grid.cell_volume
            a, b = a / vol, b / vol
        return a, b


class SBResult(Result):
    """An ``fpkit sb`` file: the Schrödinger bridge between /mu0 and /muT (docs/sb.md; layout:
    docs/hdf5-layout.md, "`fpkit sb` output").

    Fields are indexed [t][y][x] (1D: [t][x]) and the drifts [t][component][y][x], component 0
    the x component; ``t`` is an output time, picked by value (``time_index``), None for all.

      info                    attributes of /sb (sigma, T, eps, reference, theta, tau_r,
                              iterations, converged, err_mu0, err_muT, kl_static, kl_girsanov,
                              kinetic, wall_seconds, ...)
      reference, sigma, T, eps, theta   the reference dX = -theta X dt + sigma dW (theta = 0:
                              Brownian) and eps of the static problem
      t, time_index(t)        output times [nt]; the index of output time t
      sb, sample, mu0, muT    Groups (sample None with ``[sample] method = none``)
      marginal(t, density=False, labelled=False)   p_t as cell probabilities (sum 1), or with
                              density=True divided by the cell volume (a density: sum x cell
                              volume = 1); ``density(t)`` is the latter
      log_phi(t), log_phi_hat(t)   the potentials (per unit volume; p = V exp(log_phi +
                              log_phi_hat), V the cell volume); ``log_marginal(t)`` that log p_t
      drift(t, backward=False, labelled=False)   b (or b-hat) [t][component][y][x]
      mask(t)                 bool: True where p_t underflows (the drift is the extrapolation)
      score(t), velocity(t)   grad log p_t = (b + b-hat) / sigma^2 and the probability-flow
                              velocity (b - b-hat) / 2, same shape as drift
      reference_drift(), control(t)   f(x) of the reference (-theta x) on the cells,
                              [component][y][x], and b - f = sigma^2 grad log phi_t
      points()                cell centres [component][y][x] (the drift's layout)
      mean, cov, mass, history   moments [nt][d], [nt][d][d], sum of p_t [nt], Sinkhorn
                              err_mu0 + err_muT at every check
      end_marginals(density=False)   (mu0, muT) [y][x] as cell probabilities or densities
      kl                      dict of the KL(P* | R) values present: static, girsanov, mc,
                              mc_se; ``kinetic`` the kinetic energy (None when not computed)
      sample_method, histogram(t, density=False), sample_l1(), paths
                              the Monte Carlo sample: method ('exact' or 'em'), histograms of
                              the paths on the grid, (l1_error, l1_floor) [nt], kept paths
                              [path][nt][d] at the output times
    """

    kind = "sb"

    # -- the bridge's parameters
    @property
    def info(self):
        return _attrs(self._f["sb"])

    @property
    def reference(self):
        return str(self.info.get("reference", "brownian"))

    @property
    def sigma(self):
        """The reference's sigma (brownian, ou); NaN for ``reference = model``, whose noise is the
        model's own (see ``model``)."""
        return float(self.info.get("sigma", np.nan))

    @property
    def model(self):
        """The reference model's name for ``reference = model`` (e.g. ``langevin-double-well``),
        else None; its configuration is in ``config`` ([model])."""
        return str(self.info["model"]) if "model" in self.info else None

    @property
    def T(self):  # noqa: N802 - the horizon's name in docs/sb.md
        return float(self.info["T"])

    @property
    def eps(self):
        """The static OT problem's eps (2 sigma^2 T; OU: 2 sigma^2 sinh(theta T)/theta); NaN for
        ``reference = model`` (no Gibbs kernel)."""
        return float(self.info.get("eps", np.nan))

    @property
    def theta(self):
        """The OU reference's theta; 0 for the Brownian reference."""
        return float(self.info.get("theta", 0.0))

    # -- groups
    def _group_or_none(self, name):
        return Group(self._f[name]) if isinstance(self._f.get(name), h5py.Group) else None

    @property
    def sb(self):
        return Group(self._f["sb"])

    @property
    def sample(self):
        """The /sample group, or None (``[sample] method = none``)."""
        return self._group_or_none("sample")

    @property
    def mu0(self):
        return self._group_or_none("mu0")

    @property
    def muT(self):  # noqa: N802 - the file's group name
        return self._group_or_none("muT")

    # -- times
    @property
    def t(self):
        """The output times [nt] (/sb/t)."""
        return np.asarray(self._f["sb/t"][()], dtype=float)

    def time_index(self, t):
        """The index k of output time t: the k with |t_k - t| <= 1e-9 max(T, 1). FormatError
        (listing the output times) when t is not one of them: nothing is interpolated."""
        times = self.t
        k = int(np.argmin(np.abs(times - t)))
        if not abs(times[k] - t) <= 1e-9 * max(self.T, 1.0):
            raise self._error(f"t = {t:g} is not an output time (/sb/t: "
                              f"{' '.join(f'{v:g}' for v in times)})")
        return k

    def _at(self, path, t, labelled=False):
        """The dataset at path, whole (t None) or at output time t (its first axis)."""
        if labelled:
            da = self.labelled(path)
            return da if t is None else da.isel({da.dims[0]: self.time_index(t)})
        dset = self._dataset_obj(path)
        return dset[()] if t is None else dset[self.time_index(t)]

    # -- fields on the grid
    def marginal(self, t=None, density=False, labelled=False):
        """p_t at output time t ([y][x]), or at every output time ([t][y][x]) when t is None:
        cell probabilities as stored (their sum is ``mass``, 1 up to the solver's tolerance),
        or with density=True divided by the cell volume (a density on the grid)."""
        p = self._at("sb/marginal", t, labelled)
        return p / self.grid.cell_volume if density else p

    def density(self, t=None, labelled=False):
        """``marginal(t, density=True)``: p_t / cell volume."""
        return self.marginal(t, density=True, labelled=labelled)

    def log_phi(self, t=None, labelled=False):
        """log phi_t (fpk_sb_log_phi; -inf where phi_t is zero)."""
        return self._at("sb/log_phi", t, labelled)

    def log_phi_hat(self, t=None, labelled=False):
        """log phi-hat_t (fpk_sb_log_phi_hat)."""
        return self._at("sb/log_phi_hat", t, labelled)

    def log_marginal(self, t=None):
        """log p_t of the cell probabilities from the potentials, log V + log_phi +
        log_phi_hat (finite where p_t underflows to 0 in ``marginal``)."""
        return np.log(self.grid.cell_volume) + self.log_phi(t) + self.log_phi_hat(t)

    def drift(self, t=None, backward=False, labelled=False):
        """The forward drift b(x, t) = f + sigma^2 grad log phi_t, or with backward=True the
        backward drift b-hat = -f + sigma^2 grad log phi-hat_t (of the reversal, at physical
        time t): [component][y][x] at t, [t][component][y][x] for every time."""
        return self._at("sb/backward_drift" if backward else "sb/drift", t, labelled)

    def mask(self, t=None):
        """Where p_t underflows (bool, [y][x] or [t][y][x]): the drift there is the finite
        extrapolation of docs/sb.md."""
        return self._at("sb/mask", t) != 0

    def score(self, t=None):
        """grad log p_t = (b + b-hat) / sigma^2, shaped as ``drift``."""
        return (self.drift(t) + self.drift(t, backward=True)) / self.sigma ** 2

    def velocity(self, t=None):
        """The probability-flow velocity v = (b - b-hat) / 2 = b - sigma^2/2 grad log p_t,
        shaped as ``drift`` (its kinetic energy is the ``kinetic`` attribute)."""
        return 0.5 * (self.drift(t) - self.drift(t, backward=True))

    def points(self):
        """The cell centres as [component][y][x] (1D: [1][x]), the layout of a drift at one
        time: a closed-form drift evaluated at points() compares with drift(t) elementwise."""
        g = self.grid
        centres = [g.axes[a].centres for a in g.axes]  # x, y
        mesh = np.meshgrid(*centres, indexing="ij")    # each [x][y]
        return np.stack([m.T for m in mesh])

    def reference_drift(self):
        """The reference's drift f on the cells, [component][y][x]: 0 (brownian), -theta x
        (ou). FormatError for a reference whose drift this reader does not know."""
        if self.reference == "brownian":
            return np.zeros_like(self.points())
        if self.reference == "ou":
            return -self.theta * self.points()
        raise self._error(f"reference {self.reference!r}: its drift f is not known to the "
                          "reader (brownian, ou; for reference = model evaluate [model] from "
                          "config)")

    def control(self, t=None):
        """b - f = sigma^2 grad log phi_t, the control the bridge adds to the reference (its
        p-weighted square / (2 sigma^2) integrates to the Girsanov KL)."""
        return self.drift(t) - self.reference_drift()

    # -- per-time numbers
    @property
    def mean(self):
        return np.asarray(self._f["sb/mean"][()], dtype=float)

    @property
    def cov(self):
        return np.asarray(self._f["sb/cov"][()], dtype=float)

    @property
    def mass(self):
        return np.asarray(self._f["sb/mass"][()], dtype=float)

    @property
    def history(self):
        return np.asarray(self._f["sb/history"][()], dtype=float)

    def end_marginals(self, density=False):
        """(mu0, muT) as /mu0/p, /muT/p store them (cell probabilities after ``normalize``),
        or divided by the cell volume."""
        a, b = self._f["mu0/p"][()], self._f["muT/p"][()]
        if density:
            a, b = a / self.grid.cell_volume, b / self.grid.cell_volume
        return a, b

    @property
    def kl(self):
        """KL(P* | R) as the file has it (docs/sb.md, "Path-measure diagnostics"): ``static``
        always, ``girsanov`` with [diagnostics] intervals > 0, ``mc`` and ``mc_se`` with the
        em sampler."""
        a, out = self.info, {}
        for key, name in (("kl_static", "static"), ("kl_girsanov", "girsanov")):
            if key in a:
                out[name] = float(a[key])
        if "sample" in self._f:
            s = _attrs(self._f["sample"])
            for key, name in (("kl_mc", "mc"), ("kl_mc_se", "mc_se")):
                if key in s:
                    out[name] = float(s[key])
        return out

    @property
    def kinetic(self):
        """The kinetic energy of the probability-flow velocity, or None when not computed."""
        k = self.info.get("kinetic")
        return None if k is None else float(k)

    # -- the Monte Carlo sample
    def _sample(self):
        if "sample" not in self._f:
            raise self._error("no /sample group (the run had [sample] method = none)")
        return self._f["sample"]

    @property
    def sample_method(self):
        """'exact', 'em', or None when there is no sample."""
        return str(_attrs(self._f["sample"])["method"]) if "sample" in self._f else None

    def histogram(self, t=None, density=False, labelled=False):
        """The fraction of the paths in each cell at output time t ([y][x]) or at every time,
        comparable with marginal(t); with density=True divided by the cell volume, comparable
        with density(t). Paths outside the box are in /sample/outside."""
        self._sample()
        h = self._at("sample/histogram", t, labelled)
        return h / self.grid.cell_volume if density else h

    def sample_l1(self):
        """(l1_error, l1_floor) [nt]: |histogram - p_t|_1 + outside, and the expected L1 of an
        exact sample of that size (their ratio is about 1 for a correct sampler)."""
        g = self._sample()
        return (np.asarray(g["l1_error"][()], dtype=float),
                np.asarray(g["l1_floor"][()], dtype=float))

    @property
    def paths(self):
        """The kept paths [path][nt][d] at the output times, or None without a sample."""
        return self._f["sample/paths"][()] if "sample/paths" in self._f else None


class SampleResult(Result):
    """An ``fpkit sample`` file: a diffusion-model sampler run with the exact score of a Gaussian
    mixture, against the exact target law (docs/diffusion.md "The command"; layout:
    docs/hdf5-layout.md, "`fpkit sample` output"). Grid fields are indexed [y][x] (1D: [x]).

      info                    attributes of /sample (family, method, grid, schedule, start,
                              steps, nfe, paths, seed, t_min, t_max, l1_error, l1_floor,
                              outside, ks in 1D, map_error in 1D PF-ODE runs, ...)
      family, method, nfe, paths   the sampler and its cost
      data                    dict weights [K], means [K][d], covs [K][d][d]: the data law
      t_target                the time of the target law (t_min, or 0 after denoising)
      target(density=False)   the exact target as cell probabilities (density: at the centres)
      histogram(density=False)  the sample's cell fractions (density: divided by the cell volume)
      points                  the kept points [point][d]
      mean, cov, target_mean, target_cov   sample and exact moments
      l1(), floors()          l1_error and (l1_error / l1_floor): the histogram's distance to
                              the target on cells + outside, in units of an exact sample's
      ks                      the Kolmogorov-Smirnov distance to the target (1D; else None)
      part(name)              an optional group (e.g. "convergence", "trace", "fp", "dsm",
                              "posterior") as a Group, or None when the run did not write it
    """

    kind = "sample"

    @property
    def info(self):
        return _attrs(self._f["sample"])

    @property
    def family(self):
        return str(self.info.get("family", ""))

    @property
    def method(self):
        return str(self.info.get("method", ""))

    @property
    def nfe(self):
        return int(self.info.get("nfe", 0))

    @property
    def paths(self):
        return int(self.info.get("paths", 0))

    @property
    def data(self):
        if "data" not in self._f:
            return {}
        return {k: self._f["data"][k][()] for k in ("weights", "means", "covs")
                if k in self._f["data"]}

    @property
    def t_target(self):
        return float(_attrs(self._f["target"]).get("t", float("nan")))

    def target(self, density=False):
        """The exact target: cell probabilities (1D by CDF differences, so they sum to the
        mass inside the box), or with density=True the density at the cell centres."""
        return self._f["target/density" if density else "target/p"][()]

    def histogram(self, density=False):
        h = self._f["sample/histogram"][()]
        return h / self.grid.cell_volume if density else h

    @property
    def points(self):
        return self._f["sample/points"][()] if "sample/points" in self._f else None

    @property
    def mean(self):
        return self._f["sample/mean"][()]

    @property
    def cov(self):
        return self._f["sample/cov"][()]

    @property
    def target_mean(self):
        return self._f["target/mean"][()]

    @property
    def target_cov(self):
        return self._f["target/cov"][()]

    def l1(self):
        return float(self.info["l1_error"])

    def floors(self):
        a = self.info
        return float(a["l1_error"]) / float(a["l1_floor"])

    @property
    def ks(self):
        v = self.info.get("ks")
        return None if v is None else float(v)

    def part(self, name):
        return Group(self._f[name]) if isinstance(self._f.get(name), h5py.Group) else None


_KINDS = {"run": RunResult, "converge": ConvergeResult, "bridge": BridgeResult, "ot": OTResult,
          "sb": SBResult, "sample": SampleResult}


def _kind(f):
    """Which command wrote the open file f, or None if it is not recognisably fpkit's."""
    command = _value(f.attrs.get("command", ""))
    if command in _KINDS:
        return command
    if "converge" in f:
        return "converge"
    if "sb" in f and "grid" in f and isinstance(f.get("sb/marginal"), h5py.Dataset):
        return "sb"
    if "ot" in f and "command" in f.attrs:
        return "ot"
    if any(p in f for p in BridgeResult.PARTS):
        return "bridge"
    if "grid" in f and any(isinstance(f.get(m), h5py.Group) and "density" in f[m]
                           for m in f):
        return "run"
    return None


def open(path):  # noqa: A001 - the natural name; the builtin stays reachable as builtins.open
    """Opens an fpkit output file read-only and returns its Result (RunResult,
    ConvergeResult, BridgeResult, OTResult, SBResult or SampleResult, by the command that
    wrote it).

    Raises FileNotFoundError for a missing file and FormatError (a ValueError whose message
    starts with the path) for a file that is not HDF5 or not an fpkit output."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise FormatError(f"{path}: not an HDF5 file ({e})") from None
    if "fpkit_checkpoint" in f.attrs:
        # a restart file of `fpkit run --checkpoint-every` (docs/checkpoint.md): its fields stop
        # where the run was interrupted, so it is not read as a result
        f.close()
        raise FormatError(f"{path}: an fpkit checkpoint, not a result: continue it with "
                          f"`fpkit run --resume {path}`")
    kind = _kind(f)
    if kind is None or "fpkit_version" not in f.attrs:
        f.close()
        raise FormatError(f"{path}: not an fpkit output file (no fpkit_version attribute or "
                          "no /grid, /converge, /bridge, /ot, /sb or /sample)")
    return _KINDS[kind](path, f, kind)
