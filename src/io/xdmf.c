/* XDMF 3 sidecar of an HDF5 result (fpkit/io.h: fpk_xdmf_write): the light XML that ParaView and
 * VisIt read to find the mesh and the fields over time in the heavy HDF5 file. The XML is made
 * from the committed HDF5 file itself (shapes, the scales attached to each axis, the times), so
 * it can only describe what the file holds. */
#define _GNU_SOURCE /* mkostemp */
#include "fpkit/io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "io/xdmf_internal.h"

/* The whole output name plus ".xmf" (as the checkpoint is OUT.ckpt): out.h5, out.hdf5 and out
 * are different results and get different sidecars. */
void fpk_xdmf_path(const char *h5_path, char *buf, size_t len) {
  snprintf(buf, len, "%s.xmf", h5_path);
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* 1 if s is valid UTF-8 (XML requires it of the whole document). */
static int valid_utf8(const unsigned char *s) {
  while (*s) {
    int more = *s < 0x80 ? 0 : (*s >> 5) == 6 ? 1 : (*s >> 4) == 14 ? 2 : (*s >> 3) == 30 ? 3 : -1;
    if (more < 0) return 0;
    for (s++; more > 0; more--, s++)
      if ((*s >> 6) != 2) return 0;
  }
  return 1;
}

/* What ParaView 5.11's XDMF reader (xdmf2, XdmfHDF.cxx) does with the text "FILE:/dataset",
 * tried with pvbatch on every printable ASCII character and on UTF-8 names: it splits at the
 * first ':' (an absolute or "./" path does not help), and it drops leading white space and
 * leading non-ASCII bytes ("é.h5" opened ".h5"); spaces, '&', '<', '"', '#', '%', '|' and
 * non-ASCII bytes after the first character are read as they are. */
const char *fpk_xdmf_name_problem(const char *h5_path) {
  const char *name = base_name(h5_path);
  if (strchr(name, ':'))
    return "its name holds a ':', where XDMF readers end the file name of \"FILE:/dataset\"";
  if (!valid_utf8((const unsigned char *)name))
    return "its name is not valid UTF-8, which the XML of a sidecar must be";
  for (const char *c = name; *c; c++)
    if ((unsigned char)*c < 0x20 && *c != '\t' && *c != '\n')
      return "its name holds a control character, which XML cannot carry";
  return NULL;
}

/* The file as the sidecar names it: its name, after "./" when it begins with white space or a
 * non-ASCII byte, which the reader would drop. */
static void hdf_file_ref(const char *h5_path, char *buf, size_t len) {
  const char *name = base_name(h5_path);
  const unsigned char c = (unsigned char)name[0];
  const int guard = c == ' ' || c == '\t' || c == '\n' || c >= 0x80;
  snprintf(buf, len, "%s%s", guard ? "./" : "", name);
}

#define MAX_FIELDS 16

/* What the XML needs of one field: its shape, the paths of the scales on its axes, its times. */
typedef struct field {
  char path[512], name[512];
  int rank; /* 3 ([t][y][x]) or 4 ([t][z][y][x]) */
  hsize_t dims[4];
  char axis[4][512]; /* scale paths, axis 0 = time */
  double origin[4], spacing[4]; /* of the spatial axes 1.. (cell centres) */
  double *t;
  size_t collection;
} field;

typedef struct scale_path {
  char *buf;
  size_t len;
} scale_path;

static herr_t scale_name_cb(hid_t d, unsigned dim, hid_t scale, void *data) {
  (void)d, (void)dim;
  scale_path *p = data;
  if (H5Iget_name(scale, p->buf, p->len) <= 0) p->buf[0] = '\0';
  return 1; /* the first scale: stop */
}

static int read_field(hid_t file, const char *path, field *fl, fpk_error *err) {
  snprintf(fl->path, sizeof fl->path, "%s", path);
  const char *slash = strrchr(path, '/');
  if (slash && !strcmp(slash + 1, "density") && slash != path) /* "/fv/density" -> "fv" */
    snprintf(fl->name, sizeof fl->name, "%.*s", (int)(slash - path - 1), path + 1);
  else
    snprintf(fl->name, sizeof fl->name, "%s", path[0] == '/' ? path + 1 : path);
  for (char *c = fl->name; *c; c++)
    if (*c == '/') *c = '_';
  hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
  if (d < 0) return fpk_error_set(err, FPK_EINVAL, "no dataset '%s'", path);
  hid_t sp = H5Dget_space(d);
  fl->rank = H5Sget_simple_extent_ndims(sp);
  int rc = FPK_SUCCESS;
  if (fl->rank != 3 && fl->rank != 4) {
    rc = fpk_error_set(err, FPK_EINVAL, "'%s' has rank %d: an XDMF field is [t][y][x] or "
                       "[t][z][y][x]", path, fl->rank);
  } else {
    H5Sget_simple_extent_dims(sp, fl->dims, NULL);
    for (int a = 0; a < fl->rank && !rc; a++) {
      scale_path p = {fl->axis[a], sizeof fl->axis[a]};
      fl->axis[a][0] = '\0';
      if (H5DSget_num_scales(d, (unsigned)a) < 1 ||
          H5DSiterate_scales(d, (unsigned)a, NULL, scale_name_cb, &p) < 0 || !fl->axis[a][0])
        rc = fpk_error_set(err, FPK_EINVAL, "'%s' has no dimension scale on axis %d", path, a);
    }
  }
  H5Sclose(sp);
  H5Dclose(d);
  if (rc) return rc;
  /* The mesh: the cell centres of the scales on the spatial axes, which fpkit's grids space
   * evenly (checked: a sidecar of another grid would misplace every value). */
  for (int a = 1; a < fl->rank && !rc; a++) {
    const size_t n = (size_t)fl->dims[a];
    double *c = malloc((n ? n : 1) * sizeof *c);
    hid_t sc = c ? H5Dopen2(file, fl->axis[a], H5P_DEFAULT) : -1;
    if (!c) rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
    else if (sc < 0 || H5Dread(sc, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) < 0)
      rc = fpk_error_set(err, FPK_EIO, "cannot read the coordinates '%s' of '%s'", fl->axis[a],
                         path);
    if (sc >= 0) H5Dclose(sc);
    if (!rc) {
      fl->origin[a] = n ? c[0] : 0.0;
      fl->spacing[a] = n > 1 ? (c[n - 1] - c[0]) / (double)(n - 1) : 1.0;
      for (size_t i = 1; i < n && !rc; i++)
        if (fabs(c[i] - c[0] - (double)i * fl->spacing[a]) > 1e-9 * fabs(fl->spacing[a]) * (double)n)
          rc = fpk_error_set(err, FPK_EINVAL, "the coordinates '%s' of '%s' are not evenly "
                             "spaced: the XDMF sidecar describes uniform grids only",
                             fl->axis[a], path);
    }
    free(c);
  }
  H5Eclear2(H5E_DEFAULT);
  if (!(fl->t = malloc(fl->dims[0] * sizeof *fl->t)))
    return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  hid_t ts = H5Dopen2(file, fl->axis[0], H5P_DEFAULT);
  if (ts < 0 || H5Dread(ts, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, fl->t) < 0)
    rc = fpk_error_set(err, FPK_EIO, "cannot read the times '%s' of '%s'", fl->axis[0], path);
  if (ts >= 0) H5Dclose(ts);
  return rc;
}

/* The entity of a character that XML character data or an attribute value cannot hold as it
 * is; NULL for the others. */
static const char *xml_entity(char c) {
  switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    default: return NULL;
  }
}

/* Text as XML character data or attribute value. */
static void put_escaped(FILE *o, const char *s) {
  for (; *s; s++) {
    const char *e = xml_entity(*s);
    if (e) fputs(e, o);
    else fputc(*s, o);
  }
}

static void put_hdf_item(FILE *o, const char *indent, const char *file, const char *dataset,
                         int rank, const hsize_t *dims) {
  fprintf(o, "%s<DataItem Dimensions=\"", indent);
  for (int a = 0; a < rank; a++) fprintf(o, "%s%llu", a ? " " : "", (unsigned long long)dims[a]);
  fprintf(o, "\" NumberType=\"Float\" Precision=\"8\" Format=\"HDF\">");
  put_escaped(o, file);
  fputc(':', o);
  put_escaped(o, dataset);
  fputs("</DataItem>\n", o);
}

/* The XML of every collection into o. */
static void put_xml(FILE *o, const char *file, const field *fl, size_t nf, size_t ncoll) {
  /* No name goes into the comment: "--" is not allowed there, and names are in the DataItems
   * (escaped), the first of which says which file this sidecar describes (fpk_xdmf_remove_own). */
  fprintf(o, "<?xml version=\"1.0\" ?>\n<!-- " FPK_XDMF_MARK " %s: the fields of the HDF5 file "
          "named in the DataItems over time (XDMF 3; open this file in ParaView or VisIt, with "
          "that file beside it) -->\n", FPK_VERSION);
  fputs("<Xdmf Version=\"3.0\">\n  <Domain>\n", o);
  for (size_t c = 0; c < ncoll; c++) {
    const field *f0 = NULL;
    for (size_t i = 0; i < nf && !f0; i++)
      if (fl[i].collection == c) f0 = &fl[i];
    const int sd = f0->rank - 1; /* spatial dimension */
    fprintf(o, "    <Grid Name=\"fields%zu\" GridType=\"Collection\" CollectionType=\"Temporal\">\n",
            c);
    for (hsize_t k = 0; k < f0->dims[0]; k++) {
      fprintf(o, "      <Grid Name=\"t%llu\" GridType=\"Uniform\">\n", (unsigned long long)k);
      fprintf(o, "        <Time Value=\"%.17g\"/>\n", f0->t[k]);
      /* A 3D mesh of nodes at the cell centres, one layer thick in 2D: ParaView 5.11's XDMF
       * reader put the x coordinates on the y axis of a 2D/3DRectMesh read from the file, and
       * misread the values of a 2DCoRectMesh.
       * Origin, spacing and dimensions are listed z, y, x (slowest first), as in the data. */
      fprintf(o, "        <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"%s",
              sd == 2 ? "1 " : "");
      for (int a = 1; a <= sd; a++)
        fprintf(o, "%s%llu", a > 1 ? " " : "", (unsigned long long)f0->dims[a]);
      fputs("\"/>\n        <Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n", o);
      fputs("          <DataItem Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" "
            "Format=\"XML\">", o);
      if (sd == 2) fputs("0 ", o);
      for (int a = 1; a <= sd; a++) fprintf(o, "%s%.17g", a > 1 ? " " : "", f0->origin[a]);
      fputs("</DataItem>\n", o);
      fputs("          <DataItem Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" "
            "Format=\"XML\">", o);
      if (sd == 2) fputs("1 ", o);
      for (int a = 1; a <= sd; a++) fprintf(o, "%s%.17g", a > 1 ? " " : "", f0->spacing[a]);
      fputs("</DataItem>\n", o);
      fputs("        </Geometry>\n", o);
      for (size_t i = 0; i < nf; i++) {
        if (fl[i].collection != c) continue;
        fputs("        <Attribute Name=\"", o);
        put_escaped(o, fl[i].name);
        fputs("\" AttributeType=\"Scalar\" Center=\"Node\">\n", o);
        fprintf(o, "          <DataItem ItemType=\"HyperSlab\" Dimensions=\"1");
        for (int a = 1; a <= sd; a++) fprintf(o, " %llu", (unsigned long long)fl[i].dims[a]);
        fprintf(o, "\" NumberType=\"Float\" Precision=\"8\" Type=\"HyperSlab\">\n");
        /* start, stride, count of the slab, one column per axis */
        fprintf(o, "            <DataItem Dimensions=\"3 %d\" NumberType=\"UInt\" Precision=\"4\" "
                "Format=\"XML\">%llu", sd + 1,
                (unsigned long long)k);
        for (int a = 1; a <= sd; a++) fputs(" 0", o);
        for (int a = 0; a <= sd; a++) fputs(" 1", o);
        fputs(" 1", o);
        for (int a = 1; a <= sd; a++) fprintf(o, " %llu", (unsigned long long)fl[i].dims[a]);
        fputs("</DataItem>\n", o);
        put_hdf_item(o, "            ", file, fl[i].path, fl[i].rank, fl[i].dims);
        fputs("          </DataItem>\n        </Attribute>\n", o);
      }
      fputs("      </Grid>\n", o);
    }
    fputs("    </Grid>\n", o);
  }
  fputs("  </Domain>\n</Xdmf>\n", o);
}

static int sync_parent(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  int fd = open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  if (rc && (errno == EINVAL || errno == ENOTSUP)) rc = 0;
  close(fd);
  return rc;
}

/* What is at a sidecar's path. */
typedef enum side_state {
  SIDE_NONE,    /* nothing */
  SIDE_OURS,    /* fpkit's sidecar of the HDF5 file in question */
  SIDE_FOREIGN, /* a regular file: someone else's, or fpkit's sidecar of another file */
  SIDE_LINK,    /* a symbolic link (rename would replace the link, not its target) */
  SIDE_SPECIAL  /* a directory, a FIFO, a device... */
} side_state;

/* 1 if the first HDF reference of a sidecar's text is the file `name` ("name:/..."), escaped as
 * put_hdf_item writes it: the file the sidecar describes. */
static int refers_to(const char *text, const char *name) {
  static const char tag[] = "Format=\"HDF\">";
  const char *p = strstr(text, tag);
  if (!p) return 0;
  p += sizeof tag - 1;
  for (const char *c = name; *c; c++) {
    const char *e = xml_entity(*c);
    if (e) {
      if (strncmp(p, e, strlen(e))) return 0;
      p += strlen(e);
    } else if (*p++ != *c) {
      return 0;
    }
  }
  return p[0] == ':' && p[1] == '/';
}

static int side_state_of(const char *side, const char *h5_path, side_state *state,
                         fpk_error *err) {
  struct stat st;
  if (lstat(side, &st)) {
    if (errno == ENOENT) return *state = SIDE_NONE, FPK_SUCCESS;
    return fpk_error_set(err, FPK_EIO, "cannot check the XDMF sidecar '%s': %s", side,
                         strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) return *state = SIDE_LINK, FPK_SUCCESS;
  if (!S_ISREG(st.st_mode)) return *state = SIDE_SPECIAL, FPK_SUCCESS;
  FILE *in = fopen(side, "r");
  if (!in)
    return fpk_error_set(err, FPK_EIO, "cannot check the XDMF sidecar '%s': %s", side,
                         strerror(errno));
  /* the first HDF reference comes within the first 2 KiB plus the escaped names */
  char head[16384];
  const size_t k = fread(head, 1, sizeof head - 1, in);
  head[k] = '\0';
  fclose(in);
  char ref[1024];
  hdf_file_ref(h5_path, ref, sizeof ref);
  *state = strstr(head, FPK_XDMF_MARK) && refers_to(head, ref) ? SIDE_OURS : SIDE_FOREIGN;
  return FPK_SUCCESS;
}

int fpk_xdmf_check_destination(const char *h5_path, int force, fpk_error *err) {
  char side[4200];
  fpk_xdmf_path(h5_path, side, sizeof side);
  side_state state;
  int rc = side_state_of(side, h5_path, &state, err);
  if (rc) return rc;
  switch (state) {
    case SIDE_SPECIAL:
      return fpk_error_set(err, FPK_EINVAL, "'%s', where the XDMF sidecar of '%s' goes, is not a "
                           "regular file (a directory?): move it, or choose another output path",
                           side, h5_path);
    case SIDE_LINK:
      if (force) return FPK_SUCCESS;
      return fpk_error_set(err, FPK_EINVAL, "'%s', where the XDMF sidecar of '%s' goes, is a "
                           "symbolic link: fpkit would replace the link, not its target; choose "
                           "another output path, or set force (fpkit: --force) to replace the "
                           "link", side, h5_path);
    case SIDE_FOREIGN:
      if (force) return FPK_SUCCESS;
      return fpk_error_set(err, FPK_EINVAL, "'%s' exists and is not the XDMF sidecar fpkit wrote "
                           "for '%s': refusing to replace it; move it, choose another output "
                           "path, or set force (fpkit: --force) to replace it", side, h5_path);
    default:
      return FPK_SUCCESS;
  }
}

/* The sidecar name of fpkit before 0.x: "out.h5" and "out.hdf5" -> "out.xmf", in buf; "" for
 * other names (whose sidecar was already NAME.xmf). */
static void legacy_path(const char *h5_path, char *buf, size_t len) {
  const size_t k = strlen(h5_path);
  size_t stem = 0;
  if (k > 3 && !strcmp(h5_path + k - 3, ".h5")) stem = k - 3;
  else if (k > 5 && !strcmp(h5_path + k - 5, ".hdf5")) stem = k - 5;
  if (stem) snprintf(buf, len, "%.*s.xmf", (int)stem, h5_path);
  else buf[0] = '\0';
}

/* Removes a sidecar at `side` if it is fpkit's sidecar of h5_path. */
static void remove_if_ours(const char *side, const char *h5_path) {
  fpk_error e = {0};
  side_state state;
  if (side[0] && !side_state_of(side, h5_path, &state, &e) && state == SIDE_OURS) unlink(side);
}

void fpk_xdmf_remove_own(const char *h5_path) {
  char side[4200];
  fpk_xdmf_path(h5_path, side, sizeof side);
  remove_if_ours(side, h5_path);
  legacy_path(h5_path, side, sizeof side);
  remove_if_ours(side, h5_path);
}

int fpk_xdmf_write(const char *h5_path, const char *const *fields, size_t nfields,
                   fpk_error *err) {
  return fpk_xdmf_write_forced(h5_path, fields, nfields, 0, err);
}

int fpk_xdmf_write_forced(const char *h5_path, const char *const *fields, size_t nfields,
                          int force, fpk_error *err) {
  if (nfields == 0 || nfields > MAX_FIELDS)
    return fpk_error_set(err, FPK_EINVAL, "XDMF sidecar of '%s': %zu fields (1 to %d)", h5_path,
                         nfields, MAX_FIELDS);
  const char *problem = fpk_xdmf_name_problem(h5_path);
  if (problem)
    return fpk_error_set(err, FPK_EINVAL, "no XDMF sidecar can describe '%s': %s", h5_path,
                         problem);
  char side[4200];
  fpk_xdmf_path(h5_path, side, sizeof side);
  int rc = fpk_xdmf_check_destination(h5_path, force, err);
  if (rc) return rc;
  field *fl = calloc(nfields, sizeof *fl);
  if (!fl) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t file = H5Fopen(h5_path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) rc = fpk_error_set(err, FPK_EIO, "cannot open '%s'", h5_path);
  for (size_t i = 0; i < nfields && !rc; i++) rc = read_field(file, fields[i], &fl[i], err);
  if (file >= 0) H5Fclose(file);
  H5Eclear2(H5E_DEFAULT);
  /* Fields with the same times and the same spatial shape share a collection: one grid per time
   * with an attribute per field, so ParaView colours one mesh by any of them. */
  size_t ncoll = 0;
  for (size_t i = 0; i < nfields && !rc; i++) {
    fl[i].collection = ncoll;
    for (size_t j = 0; j < i; j++) {
      int same = fl[j].rank == fl[i].rank;
      for (int a = 0; same && a < fl[i].rank; a++) same = fl[j].dims[a] == fl[i].dims[a];
      same = same && !memcmp(fl[j].t, fl[i].t, fl[i].dims[0] * sizeof *fl[i].t);
      for (int a = 1; same && a < fl[i].rank; a++)
        same = fl[j].origin[a] == fl[i].origin[a] && fl[j].spacing[a] == fl[i].spacing[a];
      if (same) {
        fl[i].collection = fl[j].collection;
        break;
      }
    }
    if (fl[i].collection == ncoll) ncoll++;
  }
  char tmp[4300] = "";
  int fd = -1;
  FILE *o = NULL;
  if (!rc) {
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", side);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) rc = fpk_error_set(err, FPK_EIO, "cannot write '%s': %s", side, strerror(errno));
    else if (!(o = fdopen(fd, "w")))
      rc = fpk_error_set(err, FPK_EIO, "cannot write '%s': %s", tmp, strerror(errno));
  }
  if (!rc) {
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask)) { /* not fatal: the file stays private */ }
    char ref[1024];
    hdf_file_ref(h5_path, ref, sizeof ref);
    put_xml(o, ref, fl, nfields, ncoll);
    if (fflush(o) || ferror(o) || fsync(fd))
      rc = fpk_error_set(err, FPK_EIO, "cannot write '%s': %s", tmp, strerror(errno));
  }
  if (o) {
    if (fclose(o) && !rc) rc = fpk_error_set(err, FPK_EIO, "cannot write '%s': %s", tmp,
                                             strerror(errno));
  } else if (fd >= 0) {
    close(fd);
  }
  if (!rc && rename(tmp, side))
    rc = fpk_error_set(err, FPK_EIO, "cannot rename '%s' to '%s': %s", tmp, side,
                       strerror(errno));
  if (rc && tmp[0]) unlink(tmp);
  if (!rc) { /* the sidecar this file had under fpkit's earlier name describes its old contents */
    char legacy[4200];
    legacy_path(h5_path, legacy, sizeof legacy);
    remove_if_ours(legacy, h5_path);
  }
  if (!rc && sync_parent(side))
    rc = fpk_error_set(err, FPK_EIO, "'%s' written, but its directory could not be flushed: %s",
                       side, strerror(errno));
  for (size_t i = 0; i < nfields; i++) free(fl[i].t);
  free(fl);
  return rc;
}
