#!/usr/bin/python3
"""Tests of the fpkit Python package (python/fpkit) on small outputs of every command.

Run by tests/cli/python_reader.sh, which makes the outputs (tests/python/make_outputs.sh) and
sets FPK_TEST_OUTPUTS to their directory and PYTHONPATH to <source>/python:
    FPK_TEST_OUTPUTS=DIR PYTHONPATH=python /usr/bin/python3 -m unittest tests/python/test_reader.py

Every value the package returns is compared with the same object read with raw h5py, and with
known facts (the exact density integrates to 1, times increase, shapes match the grid).
"""

import configparser
import importlib.util
import io
import os
import tempfile
import unittest
import unittest.mock

import h5py
import numpy as np

import fpkit
import fpkit.plot as fplot

OUT = os.environ.get("FPK_TEST_OUTPUTS", "")


def path(name):
    return os.path.join(OUT, name)


def raw(p, name):
    with h5py.File(p, "r") as f:
        return f[name][()]


@unittest.skipUnless(OUT and os.path.isdir(OUT), "FPK_TEST_OUTPUTS not set (run python_reader.sh)")
class RunFiles(unittest.TestCase):
    def test_methods_times_fields_1d_and_2d(self):
        for name, dim in (("ou1d.h5", 1), ("ou2d.h5", 2)):
            with fpkit.open(path(name)) as r:
                self.assertEqual(r.kind, "run")
                self.assertIsInstance(r, fpkit.RunResult)
                self.assertEqual(r.methods, ("exact", "fv", "mc"))
                self.assertEqual(r.grid.dim, dim)
                for m in r.methods:
                    t = r.times(m)
                    np.testing.assert_array_equal(t, raw(path(name), f"{m}/t"))
                    self.assertTrue(np.all(np.diff(t) > 0), "times increase")
                    p = r.field(m)
                    np.testing.assert_array_equal(p, raw(path(name), f"{m}/density"))
                    self.assertEqual(p.shape, (t.size,) + r.grid.shape)
                    self.assertEqual(list(r.coords(m)), ["t"] + list(r.grid.dims))
                    self.assertEqual(list(r.coords(m, "mean")), ["t", "component"])
                    self.assertEqual(list(r.coords(m, "cov")), ["t", "component", "component2"])
                self.assertEqual(list(r.coords("mc", "paths")), ["path", "path_t", "component"])
                # the exact density is a probability density on the grid (the box holds the
                # Gaussian to ~1e-9 here)
                mass = r.field("exact").reshape(r.times().size, -1).sum(axis=1)
                np.testing.assert_allclose(mass * r.grid.cell_volume, 1.0, atol=1e-6)

    def test_grid_axes(self):
        with fpkit.open(path("ou2d.h5")) as r:
            g = r.grid
            self.assertEqual(g.dims, ("y", "x"))
            for a in ("x", "y"):
                ax = g.axes[a]
                np.testing.assert_array_equal(ax.centres, raw(path("ou2d.h5"), f"grid/{a}"))
                self.assertEqual(ax.bc, "reflecting")
                np.testing.assert_allclose(0.5 * (ax.edges[1:] + ax.edges[:-1]), ax.centres,
                                           rtol=0, atol=1e-12)
                self.assertAlmostEqual(ax.edges[0], ax.lo)
                self.assertAlmostEqual(ax.edges[-1], ax.hi)
            self.assertAlmostEqual(g.cell_volume, g.x.h * g.y.h)

    def test_errors(self):
        with fpkit.open(path("ou1d.h5")) as r:
            pairs = r.error_pairs()
            self.assertIn(("l1", "fv", "exact"), pairs)
            self.assertEqual(len(pairs), 6 * 3)  # 6 metrics x 3 pairs
            e = r.errors("l1", "fv", "exact")
            np.testing.assert_array_equal(e, raw(path("ou1d.h5"), "errors/l1_fv_exact"))
            # the stored L1 distance is sum |p - q| h of the stored densities
            recomputed = np.abs(r.field("fv") - r.field("exact")).sum(axis=1) * r.grid.x.h
            np.testing.assert_allclose(e, recomputed, rtol=1e-12, atol=1e-15)
            with self.assertRaises(fpkit.FormatError) as cm:
                r.errors("l1", "spectral", "exact")
            self.assertIn("l1_fv_exact", str(cm.exception))  # lists what is there
            with self.assertRaises(fpkit.FormatError):
                r.field("spectral")

    def test_config_parsed_and_raw(self):
        with fpkit.open(path("ou2d.h5")) as r:
            with h5py.File(path("ou2d.h5"), "r") as f:
                stored = f.attrs["config"]
            stored = stored.decode() if isinstance(stored, bytes) else stored
            self.assertEqual(r.config.text, stored)
            self.assertEqual(r.config["model"]["type"], "ou")
            self.assertEqual(int(r.config["grid"]["n"]), 24)  # the --set override
            self.assertEqual(r.config["mc"]["paths"], "4000")
            self.assertIn("A", r.config["model"])  # case kept
            self.assertEqual(r.config.numbers("model", "A").size, 4)
            self.assertEqual(r.config.get_float("time", "t_end"), r.times()[-1])
            # the same sections and keys as Python's own INI parser sees
            cp = configparser.ConfigParser(interpolation=None)
            cp.optionxform = str
            cp.read_string(stored)
            self.assertEqual(sorted(cp.sections()), sorted(r.config))
            for s in cp.sections():
                self.assertEqual(dict(cp[s]), r.config[s])

    def test_attrs_and_provenance(self):
        with fpkit.open(path("ou1d.h5")) as r, h5py.File(path("ou1d.h5"), "r") as f:
            self.assertEqual(r.version, f.attrs["fpkit_version"])
            self.assertEqual(r.attrs["model"], "ou")
            self.assertIsInstance(r.attrs["seed"], int)
            prov = r.provenance
            self.assertIsInstance(prov, dict)
            self.assertNotIn("config", prov)
            if "provenance" in f:  # written by a newer fpkit: its attributes, all of them
                for k in f["provenance"].attrs:
                    self.assertIn(k, prov)
            else:
                self.assertEqual(prov["fpkit_version"], f.attrs["fpkit_version"])

    def test_group_and_datasets(self):
        with fpkit.open(path("ou1d.h5")) as r:
            g = r.group("mc")
            self.assertEqual(g.attrs["paths"], 4000)
            self.assertIn("density", g.datasets())
            np.testing.assert_array_equal(g["outside"], raw(path("ou1d.h5"), "mc/outside"))
            everything = r.datasets()
            self.assertIn("fv/density", everything)
            self.assertIn("grid/x", everything)

    def test_stationary_group(self):
        with fpkit.open(path("spectral/dw_beta1.h5")) as r:
            self.assertEqual(r.methods, ("fv", "spectral"))
            st = r.stationary
            self.assertIsNotNone(st)
            s = r.field("stationary", "spectral")
            self.assertEqual(s.shape, r.grid.shape)
            self.assertAlmostEqual(float(s.sum() * r.grid.x.h), 1.0, places=10)
            self.assertEqual(list(r.coords("stationary", "spectral")), ["x"])

    def test_labelled_with_xarray(self):
        if importlib.util.find_spec("xarray") is None:
            self.skipTest("no xarray")
        with fpkit.open(path("ou2d.h5")) as r:
            da = r.field("fv", labelled=True)
            self.assertEqual(da.dims, ("t", "y", "x"))
            np.testing.assert_array_equal(da["x"].values, r.grid.x.centres)
            np.testing.assert_array_equal(da["t"].values, r.times("fv"))
            np.testing.assert_array_equal(da.values, r.field("fv"))
            e = r.errors("l1", "mc", "exact", labelled=True)
            self.assertEqual(e.dims, ("t",))

    def test_to_xarray(self):
        if importlib.util.find_spec("xarray") is None or \
                importlib.util.find_spec("h5netcdf") is None:
            self.skipTest("no xarray or h5netcdf")
        with fpkit.open(path("ou2d.h5")) as r:
            ds = r.to_xarray("fv")
            np.testing.assert_array_equal(ds["density"].values, r.field("fv"))
            # every output carries dimension scales (docs/hdf5-layout.md): labelled by them
            self.assertTrue(r.has_dimension_scales("fv"))
            self.assertEqual(ds["density"].dims, ("t", "y", "x"))
            np.testing.assert_array_equal(ds["x"].values, r.grid.x.centres)
            np.testing.assert_array_equal(ds["y"].values, r.grid.y.centres)
            np.testing.assert_array_equal(ds["t"].values, r.times("fv"))
        with fpkit.open(path("ou1d.h5")) as r:
            self.assertEqual(r.to_xarray("fv")["density"].dims, ("t", "x"))
            # index axes (netCDF dimensions without values) are not data
            self.assertNotIn("component", r.datasets())


def h5_files():
    """Every output file make_outputs.sh wrote, relative to OUT."""
    out = []
    for d, _, names in os.walk(OUT):
        out.extend(os.path.relpath(os.path.join(d, n), OUT) for n in names if n.endswith(".h5"))
    return sorted(out)


def groups_and_datasets(p):
    """{group path: [dataset names]} of every group of p, index axes left out."""
    out = {}
    with h5py.File(p, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                out.setdefault("/" + name, [])
            elif not fpkit.reader._is_index_axis(obj):
                out.setdefault(obj.parent.name, []).append(name.rsplit("/", 1)[-1])
        out["/"] = []
        f.visititems(visit)
    return out


def strip_scales(src, dst):
    """A copy of src as fpkit wrote files before it wrote dimension scales: the same groups,
    datasets and attributes, with no scale attached, no dataset a scale, no index axis."""
    with h5py.File(src, "r") as fi, h5py.File(dst, "w") as fo:
        def copy_attrs(i, o):
            for k, v in i.attrs.items():
                if k not in fpkit.reader._SCALE_ATTRS:
                    o.attrs[k] = v

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                copy_attrs(obj, fo.require_group(name))
            elif not fpkit.reader._is_index_axis(obj):
                copy_attrs(obj, fo.create_dataset(name, data=obj[()]))
        copy_attrs(fi, fo)
        fi.visititems(visit)


@unittest.skipUnless(OUT and os.path.isdir(OUT), "FPK_TEST_OUTPUTS not set (run python_reader.sh)")
class DimensionNames(unittest.TestCase):
    """Labelled arrays are named by the file's dimension scales: the names and coordinates
    xarray.open_dataset gives, never guessed from lengths."""

    def setUp(self):
        if importlib.util.find_spec("xarray") is None or \
                importlib.util.find_spec("h5netcdf") is None:
            self.skipTest("no xarray or h5netcdf")

    def test_every_dataset_as_xarray_names_it(self):
        import xarray as xr
        files = h5_files()
        self.assertGreater(len(files), 30)  # every command's output (make_outputs.sh)
        kinds, checked = set(), 0
        for name in files:
            p = path(name)
            with fpkit.open(p) as r, h5py.File(p, "r") as f:
                kinds.add(r.kind)
                for group, names in groups_and_datasets(p).items():
                    with xr.open_dataset(p, engine="h5netcdf", group=group) as ds:
                        for n in names:
                            where = f"{name}:{group.rstrip('/')}/{n}"
                            with self.subTest(where):
                                self.assertIn(n, ds.variables, where)
                                want = ds[n]
                                da = r.labelled(f"{group}/{n}")
                                self.assertEqual(da.dims, want.dims, where)
                                self.assertEqual(r.dims(f"{group}/{n}"), want.dims, where)
                                self.assertEqual(sorted(da.coords), sorted(want.coords), where)
                                for c in da.coords:
                                    np.testing.assert_array_equal(da[c].values,
                                                                  want[c].values, where)
                                np.testing.assert_array_equal(da.values, f[group][n][()])
                                checked += 1
                        if r.kind == "run" and group.strip("/") in \
                                r.methods + (("stationary",) if r.stationary else ()):
                            # the run-file accessors return the same labels
                            m = group.strip("/")
                            for n in names:
                                self.assertEqual(r.field(m, n, labelled=True).dims, ds[n].dims)
                                self.assertEqual(tuple(r.coords(m, n)), ds[n].dims)
                if r.kind == "run":
                    for metric, a, b in r.error_pairs():
                        self.assertEqual(r.errors(metric, a, b, labelled=True).dims, ("t",))
        self.assertEqual(kinds, {"run", "converge", "bridge", "ot"})
        self.assertGreater(checked, 500)

    def test_output_times_equal_to_cells(self):
        # 20 output times on 20 cells: /stationary/fv is on the grid, not in time
        with fpkit.open(path("labels/st1d.h5")) as r:
            self.assertEqual(r.times("fv").size, r.grid.x.n)
            st = r.field("stationary", "fv", labelled=True)
            self.assertEqual(st.dims, ("x",))
            np.testing.assert_array_equal(st["x"].values, r.grid.x.centres)
            self.assertEqual(r.field("stationary", "kl_fv", labelled=True).dims, ("t",))
            self.assertEqual(r.field("fv", labelled=True).dims, ("t", "x"))

    def test_square_grid_equal_to_output_times_and_paths(self):
        # a 12 x 12 grid, 12 output times, 12 kept paths
        with fpkit.open(path("labels/sq2d.h5")) as r:
            self.assertEqual(r.grid.shape, (12, 12))
            self.assertEqual(r.times().size, 12)
            for m in ("fv", "exact"):
                st = r.field("stationary", m, labelled=True)
                self.assertEqual(st.dims, ("y", "x"))
                np.testing.assert_array_equal(st["y"].values, r.grid.y.centres)
            d = r.field("fv", labelled=True)
            self.assertEqual(d.dims, ("t", "y", "x"))
            np.testing.assert_array_equal(d["t"].values, r.times("fv"))
            paths = r.field("mc", "paths", labelled=True)
            self.assertEqual(paths.shape[0], 12)
            self.assertEqual(paths.dims, ("path", "path_t", "component"))
            np.testing.assert_array_equal(paths["path_t"].values, raw(path("labels/sq2d.h5"),
                                                                      "mc/path_t"))
            self.assertNotIn("path", paths.coords)  # an index axis: no coordinate values
            self.assertEqual(list(r.coords("mc", "paths")["path"]), list(range(12)))

    def test_files_without_scales(self):
        # older files: names by the layout's dataset names, by length only where unambiguous
        with tempfile.TemporaryDirectory() as d:
            for name, grid_dims in (("labels/st1d.h5", ("x",)), ("labels/sq2d.h5", ("y", "x"))):
                old = os.path.join(d, os.path.basename(name))
                strip_scales(path(name), old)
                with h5py.File(old, "a") as f:
                    n = f["grid/x"].size  # = the number of output times
                    f["fv/unknown_same_length"] = np.zeros(n)
                    f["fv/unknown_own_length"] = np.zeros(7)
                    f["fv/unknown_square"] = np.zeros((n, n))
                with fpkit.open(old) as r, fpkit.open(path(name)) as new:
                    self.assertFalse(r.has_dimension_scales("/"))
                    for m in ("fv", "stationary") + (("mc",) if "mc" in new.methods else ()):
                        for ds in new.group(m).datasets():
                            self.assertEqual(r.dims(f"{m}/{ds}"), new.dims(f"{m}/{ds}"),
                                             f"{old}: {m}/{ds}")
                    st = r.field("stationary", "fv", labelled=True)
                    self.assertEqual(st.dims, grid_dims)
                    np.testing.assert_array_equal(st["x"].values, r.grid.x.centres)
                    for metric, a, b in r.error_pairs():
                        self.assertEqual(r.dims(f"errors/{metric}_{a}_{b}"), ("t",))
                    self.assertEqual(r.dims("fv/unknown_same_length"), ("dim_0",))
                    self.assertEqual(r.dims("fv/unknown_square"), ("dim_0", "dim_1"))
                    self.assertEqual(r.dims("fv/unknown_own_length"), ("dim_0",))
            # where the lengths differ (5 output times, 64 cells) a length names its dimension
            old = os.path.join(d, "ou1d.h5")
            strip_scales(path("ou1d.h5"), old)
            with h5py.File(old, "a") as f:
                f["fv/unknown_t"] = np.zeros(5)
                f["fv/unknown_t_x"] = np.zeros((5, 64))
                f["fv/unknown_x_x"] = np.zeros((64, 64))
            with fpkit.open(old) as r:
                self.assertEqual(r.dims("fv/unknown_t"), ("t",))
                self.assertEqual(r.dims("fv/unknown_t_x"), ("t", "x"))
                self.assertEqual(r.dims("fv/unknown_x_x"), ("dim_0", "dim_1"))
                da = r.labelled("fv/unknown_t_x")
                np.testing.assert_array_equal(da["t"].values, r.times("fv"))
                np.testing.assert_array_equal(da["x"].values, r.grid.x.centres)
                self.assertEqual(r.dims("mc/paths"), ("path", "path_t", "component"))


@unittest.skipUnless(OUT and os.path.isdir(OUT), "FPK_TEST_OUTPUTS not set (run python_reader.sh)")
class OtherCommands(unittest.TestCase):
    def test_converge(self):
        p = path("converge/em_ou.h5")
        with fpkit.open(p) as r, h5py.File(p, "r") as f:
            self.assertEqual(r.kind, "converge")
            np.testing.assert_array_equal(r.h, f["converge/h"][()])
            np.testing.assert_array_equal(r.steps, f["converge/steps"][()])
            self.assertEqual(r.steps.dtype.kind, "i")  # step counts, whatever the file stores
            self.assertEqual(r.steps.tolist(), [8, 16, 32, 64, 128])
            self.assertTrue(np.all(np.diff(r.h) < 0), "levels coarse to fine")
            s = r.strong
            np.testing.assert_array_equal(s.error, f["converge/strong/error"][()])
            self.assertEqual(s.resolved, bool(f["converge/strong"].attrs["resolved"]))
            self.assertEqual(s.order, f["converge/strong"].attrs["order"])
            self.assertEqual(len(r.weak), len(f["converge/weak"]))
            w = r.weak[0]
            self.assertEqual(w.functional, "x")
            self.assertIsNotNone(w.discrete)
            self.assertIs(w.best, w.discrete)
            self.assertEqual(w.mean.size, r.h.size + 1)
            self.assertEqual(r.info["stepper"], "euler-maruyama")
            self.assertIsNone(r.grid)

    def test_bridge(self):
        p = path("bridge/bridge.h5")
        with fpkit.open(p) as r, h5py.File(p, "r") as f:
            self.assertEqual(r.kind, "bridge")
            self.assertEqual(r.parts, ("bridge", "kolmogorov", "ks_band"))
            b = r.bridge
            np.testing.assert_array_equal(b["mean"], f["bridge/mean"][()])
            self.assertEqual(b.attrs["paths"], 2000)
            t = b["t"]
            self.assertTrue(np.all(np.diff(t) > 0))
            # the exact mean is the straight line a + (b - a) t / T
            a, bb, T = b.attrs["a"], b.attrs["b"], b.attrs["T"]
            np.testing.assert_allclose(b["exact_mean"], a + (bb - a) * t / T, atol=1e-14)
            self.assertEqual(sorted(r.kolmogorov.datasets()),
                             sorted(k for k, v in f["kolmogorov"].items()
                                    if "This is a netCDF dimension" not in str(v.attrs.get("NAME", ""))))
            self.assertEqual(r.ks_band.attrs["n"], 100)

    def test_ot(self):
        p = path("ot_gauss2d.h5")
        with fpkit.open(p) as r, h5py.File(p, "r") as f:
            self.assertEqual(r.kind, "ot")
            self.assertEqual(r.command, "ot")
            np.testing.assert_array_equal(r.eps, [3, 1, 0.3])
            self.assertIsNone(r.t)
            self.assertEqual(len(r.kernels_used), 3)
            np.testing.assert_array_equal(r.exact["value"], f["ot/exact/value"][()])
            a, b = r.marginals()
            self.assertAlmostEqual(float(a.sum()), 1.0, places=9)  # cell probabilities
            da, _ = r.marginals(cell_densities=True)
            np.testing.assert_allclose(da * r.grid.cell_volume, a)
            self.assertEqual(len(r.history()), 3)
        with fpkit.open(path("ot_ou1d_fv_mc.h5")) as r:
            np.testing.assert_array_equal(r.t, raw(path("ou1d.h5"), "fv/t"))


class BadInput(unittest.TestCase):
    def test_missing_file(self):
        with self.assertRaises(FileNotFoundError):
            fpkit.open("/nonexistent/dir/x.h5")

    def test_not_hdf5(self):
        with tempfile.NamedTemporaryFile("w", suffix=".h5") as t:
            t.write("[model]\ntype = ou\n")
            t.flush()
            with self.assertRaises(fpkit.FormatError) as cm:
                fpkit.open(t.name)
            self.assertTrue(str(cm.exception).startswith(t.name))

    def test_hdf5_not_fpkit(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "other.h5")
            with h5py.File(p, "w") as f:
                f["grid/x"] = np.arange(3.0)
                f["data"] = np.zeros(3)
            with self.assertRaises(fpkit.FormatError) as cm:
                fpkit.open(p)
            self.assertIn("not an fpkit output", str(cm.exception))

    def test_checkpoint_refused(self):
        # a checkpoint (root attribute fpkit_checkpoint) holds fields cut at the interruption
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "run.h5.ckpt")
            with h5py.File(p, "w") as f:
                f.attrs["fpkit_version"] = "0.1.0"
                f.attrs["fpkit_checkpoint"] = "fpkit run checkpoint"
                f["grid/x"] = np.arange(3.0)
                f["fv/t"] = np.zeros(1)
                f["fv/density"] = np.zeros((1, 3))
            with self.assertRaises(fpkit.FormatError) as cm:
                fpkit.open(p)
            self.assertIn("checkpoint, not a result", str(cm.exception))
            self.assertIn("--resume", str(cm.exception))


class PlotModule(unittest.TestCase):
    def test_sizes_and_style(self):
        self.assertEqual(fplot.figure_size(1), (3.4, 3.4 * fplot.GOLDEN))
        self.assertEqual(fplot.figure_size(2, aspect=0.5), (7.0, 3.5))
        fig, ax = fplot.figure(columns=1)
        self.assertEqual(tuple(fig.get_size_inches()), fplot.figure_size(1))
        import matplotlib
        self.assertEqual(matplotlib.rcParams["pdf.fonttype"], 42)
        self.assertFalse(matplotlib.rcParams["axes.spines.top"])
        ax.plot([0, 1], [0, 1], **fplot.method_style("fv"))
        self.assertEqual(ax.lines[0].get_color(), fplot.METHOD_STYLE["fv"]["color"])
        self.assertIsNotNone(fplot.legend_outside(ax))
        with tempfile.TemporaryDirectory() as d:
            written = fplot.save(fig, os.path.join(d, "sub", "f.png"), ["pdf", "svg", "png"])
            self.assertEqual([os.path.basename(w) for w in written], ["f.pdf", "f.svg", "f.png"])
            with open(written[0], "rb") as fh:
                pdf = fh.read()
            self.assertTrue(pdf.startswith(b"%PDF"))
            self.assertNotIn(b"/Subtype /Type3", pdf)  # fonts as Type 42, not Type 3

    def test_methods_distinct(self):
        colours = [s["color"] for s in fplot.METHOD_STYLE.values()]
        markers = [s["marker"] for s in fplot.METHOD_STYLE.values()]
        self.assertEqual(len(set(colours)), len(colours))
        self.assertEqual(len(set(markers)), len(markers))
        self.assertTrue(set(colours) <= set(fplot.OKABE_ITO.values()))

    def test_format_argument(self):
        import argparse
        p = fplot.add_format_argument(argparse.ArgumentParser())
        self.assertEqual(p.parse_args([]).format, ["png"])
        self.assertEqual(p.parse_args(["--format", "pdf,svg", "--format", "png"]).format,
                         ["pdf", "svg", "png"])
        with self.assertRaises(SystemExit), \
                unittest.mock.patch("sys.stderr", io.StringIO()):
            p.parse_args(["--format", "jpg"])


if __name__ == "__main__":
    unittest.main()
