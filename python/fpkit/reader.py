"""Reading fpkit's HDF5 output files (layout: docs/hdf5-layout.md).

``open(path)`` looks at the file and returns the Result subclass for the command that wrote it:
RunResult (``fpkit run``), ConvergeResult (``fpkit converge``), BridgeResult (``fpkit bridge``)
or OTResult (``fpkit ot``). Every result is a context manager holding the file open read-only;
arrays are read when asked for and returned as numpy arrays (float64 where the file stores
doubles), strings as str, numeric attributes as Python numbers. Datasets are looked up by name,
never by position, so files with extra groups or datasets (newer fpkit) still read.
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
      path, kind ('run', 'converge', 'bridge', 'ot'), command (root attribute ``command``, else
      kind), attrs (root attributes), version (``fpkit_version``), config (Config), provenance
      (dict), grid (Grid, or None where the file has none), group(path) -> Group,
      dataset(path) -> numpy array, datasets(group) -> dict, axes(path), dims(path) and
      labelled(path) (the file's dimension names and coordinates), has_dimension_scales(group),
      to_xarray(group).
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


_KINDS = {"run": RunResult, "converge": ConvergeResult, "bridge": BridgeResult, "ot": OTResult}


def _kind(f):
    """Which command wrote the open file f, or None if it is not recognisably fpkit's."""
    command = _value(f.attrs.get("command", ""))
    if command in _KINDS:
        return command
    if "converge" in f:
        return "converge"
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
    ConvergeResult, BridgeResult or OTResult, by the command that wrote it).

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
                          "no /grid, /converge, /bridge or /ot)")
    return _KINDS[kind](path, f, kind)
