#!/usr/bin/env python3
"""Generates src/sde/ziggurat_tables.h: the tables of fpkit's ziggurat normal generator.

    /usr/bin/python3 src/sde/ziggurat_tables.py > src/sde/ziggurat_tables.h

Layout (C. D. McFarland, "A modified ziggurat algorithm for generating exponentially and
normally distributed pseudorandom numbers", J. Stat. Comput. Simul. 86(7), 2016), for the half
density f(x) = exp(-x^2/2), x >= 0, of total mass M = sqrt(pi/2), cut into SLOTS = 512 equal
volumes v = M / SLOTS:
  rectangle 0 is [0, X_0] x [0, Y_0] with X_0 f(X_0) = v,
  rectangle i >= 1 is [0, X_i] x [Y_{i-1}, Y_i] with X_i (f(X_i) - Y_{i-1}) = v, Y_i = f(X_i),
stacked while such an X_i exists: RECTS = 509 rectangles, each entirely under the curve. A slot
s < RECTS is rectangle s (probability 1/SLOTS each); the SLOTS - RECTS = 3 remaining slots hold
the rest of the mass, RECTS + 1 components: the tail x > X_0 (c = 0), the overhangs
c = 1 .. RECTS-1 (x in [X_c, X_{c-1}], y in [Y_{c-1}, f(x)]) and the cap c = RECTS
(x in [0, X_{RECTS-1}], y in [Y_{RECTS-1}, f(x)]).
The X_i are solved to 60 digits (mpmath) and rounded to the nearest double; Y_i = f(X_i) of
the rounded X_i, rounded down (so that every rectangle stays under the curve). Component masses
are integrated to 60 digits for these rounded corners, and their cumulative sums are scaled to
integers on [0, 3 * 2^32], the range of the slow path's selector V = (s - RECTS) 2^32 + w (w the
draw's 32-bit value word); an alias table over them maps V to a component with exactly these
probabilities. Each overhang/cap box also gets the largest distance between the curve and its
chord (maximised to 60 digits, then enlarged), from which the slow path decides most tries
without exp; and the fast path gets its factors +-X_s 2^-32 (exact scalings).
Every value is 60-digit arithmetic rounded once to a double, or exact integer arithmetic, and
doubles are written as hex-float literals: the header is the same whoever generates it.
"""
import math

import mpmath as mp

mp.mp.dps = 60
SLOTS = 512
VBITS = 32


def f(x):
    return mp.exp(-x * x / 2)


def down(x):
    """Largest double <= x."""
    d = float(x)
    if mp.mpf(d) > x:
        d = math.nextafter(d, -math.inf)
    return d


M = mp.sqrt(mp.pi / 2)
v = M / SLOTS
X = [mp.findroot(lambda x: x * f(x) - v, 3.8)]
Y = [f(X[0])]
while True:
    y0 = Y[-1]
    # x (f(x) - y0) is largest where f(x) (1 - x^2) = y0
    xm = mp.findroot(lambda x: f(x) * (1 - x * x) - y0, (mp.mpf('1e-30'), X[-1]), solver='anderson')
    if xm * (f(xm) - y0) < v:
        break
    X.append(mp.findroot(lambda x: x * (f(x) - y0) - v, (xm, X[-1]), solver='anderson'))
    Y.append(f(X[-1]))
RECTS = len(X)
Xd = [float(x) for x in X]
Yd = [down(f(mp.mpf(x))) for x in Xd]
Xm = [mp.mpf(x) for x in Xd]
Ym = [mp.mpf(y) for y in Yd]

# Components: 0 tail, 1..RECTS-1 overhangs, RECTS cap. Box [xl, xh] x [yl, yh].
mass = [M - mp.quad(f, [0, Xm[0]])]
box = [(Xd[0], Xd[0], 0.0, Yd[0])]  # unused for the tail
for c in range(1, RECTS):
    mass.append(mp.quad(f, [Xm[c], Xm[c - 1]]) - Ym[c - 1] * (Xm[c - 1] - Xm[c]))
    box.append((Xd[c], Xd[c - 1], Yd[c - 1], Yd[c]))
mass.append(mp.quad(f, [0, Xm[RECTS - 1]]) - Ym[RECTS - 1] * Xm[RECTS - 1])
box.append((0.0, Xd[RECTS - 1], Yd[RECTS - 1], 1.0))
left = sum(mass)
rect = [Xm[0] * Ym[0]] + [Xm[i] * (Ym[i] - Ym[i - 1]) for i in range(1, RECTS)]
span = (SLOTS - RECTS) << VBITS
cum, acc = [], mp.mpf(0)
for c in range(RECTS + 1):
    acc += mass[c]
    cum.append(int(mp.nint(acc / left * span)))
cum[-1] = span
assert all(a < b for a, b in zip(cum, cum[1:])) and cum[0] > 0
# Alias table (Walker 1977; Vose 1991), in integers: the selector's low 9 bits pick a column j
# (of 512), its other bits r = V >> 9 (uniform on [0, 3 2^23)) the primary component j if
# r < T_j, else the alias A_j. With integer masses m_c = CUM[c] - CUM[c-1] (summing to
# 3 2^32) the construction is exact: component c comes out with probability m_c / (3 2^32),
# the same law as the cumulative search.
ACOLS = 512
cap = span // ACOLS
m = [cum[0]] + [cum[c] - cum[c - 1] for c in range(1, RECTS + 1)] + [0] * (ACOLS - RECTS - 1)
AT, AA = [cap] * ACOLS, list(range(ACOLS))
small = [j for j in range(ACOLS) if m[j] < cap]
large = [j for j in range(ACOLS) if m[j] >= cap]
while small and large:
    lo, hi = small.pop(), large.pop()
    AT[lo], AA[lo] = m[lo], hi
    m[hi] -= cap - m[lo]
    (small if m[hi] < cap else large).append(hi)
for j in small + large:
    AT[j] = cap  # exact arithmetic: only leftovers with m[j] == cap remain
assert all(0 <= t <= cap for t in AT)
got = [0] * ACOLS
for j in range(ACOLS):
    got[j] += AT[j]
    got[AA[j]] += cap - AT[j]
assert got[:RECTS + 1] == [cum[0]] + [cum[c] - cum[c - 1] for c in range(1, RECTS + 1)] and sum(got[RECTS + 1:]) == 0


# Per component: the box (xl, dx = xh - xl, yl, dy = yh - yl) and the no-exp decision
# thresholds on s = u1 + u2 (u the box coordinates; the curve runs from (0, 1) to (1, 0)):
# delta = max |curve - chord| in box units (maximised by mpmath, then enlarged by 1e-6 relative
# and 2^-40 absolute). Convex (xl >= 1): points with s > 1 are reflected (refl = 1), accepted at
# once if s <= A = 1 - delta, R = 1 (never rejected at once). Concave (xh <= 1): accepted at once
# if s <= A = 1, rejected at once if s > R = 1 + delta. Otherwise (the box containing x = 1, and
# the unused tail record) A = -1, R = 3: always the exp test.
def margin(c):
    a, b, lo, hi = (mp.mpf(t) for t in box[c])
    d = lambda u: (f(a + u * (b - a)) - lo) / (hi - lo) - (1 - u)
    grid = [mp.mpf(i) / 1024 for i in range(1025)]
    ub = max(grid, key=lambda u: abs(d(u)))
    best = abs(d(ub))
    try:
        ur = mp.findroot(lambda u: mp.diff(d, u), ub)
        if 0 <= ur <= 1:
            best = max(best, abs(d(ur)))
    except (ValueError, ZeroDivisionError):
        pass
    return float(best * (1 + mp.mpf('1e-6')) + mp.mpf(2) ** -40)


rec = [(box[0][0], 0.0, 0.0, 0.0, -1.0, 3.0, 0.0, 0.0)]
for c in range(1, RECTS + 1):
    xl, xh, yl, yh = box[c]
    if xl >= 1.0:
        dl = margin(c)
        A, R, refl = 1.0 - dl, 1.0, 1.0
    elif xh <= 1.0:
        dl = margin(c)
        A, R, refl = 1.0, 1.0 + dl, 0.0
    else:
        A, R, refl = -1.0, 3.0, 0.0
    rec.append((xl, xh - xl, yl, yh - yl, A, R, refl, 0.0))


def hexs(vals, per=4):
    out = []
    for i in range(0, len(vals), per):
        out.append('    ' + ', '.join(vals[i:i + per]) + ',')
    return '\n'.join(out)


print(f"""/* Generated by src/sde/ziggurat_tables.py (mpmath {mp.__version__}, 60 digits); do not edit.
 * {SLOTS} slots, {RECTS} rectangles: the fast path takes {RECTS}/{SLOTS} = {RECTS / SLOTS:.6f} of the draws.
 * X_0 = {Xd[0]!r}. Rectangle masses match v = sqrt(pi/2)/{SLOTS} to {mp.nstr(max(abs(r / v - 1) for r in rect), 2)}
 * (relative; corners rounded to doubles), the rest (tail, overhangs, cap) to
 * {mp.nstr(abs(left / ((SLOTS - RECTS) * v) - 1), 2)}. Tail: {mp.nstr(mass[0] / left, 6)} of the slow-path mass. */
_Static_assert(FPK_ZIG_SLOTS == {SLOTS} && FPK_ZIG_RECTS == {RECTS}, "sde_internal.h and the tables disagree");

/* X_s, s < RECTS: right edge of rectangle s (s >= RECTS: 0, never used). Declared in sde_internal.h. */
const double fpk_zig_x[FPK_ZIG_SLOTS] = {{
{hexs([x.hex() for x in Xd] + ['0x0p+0'] * (SLOTS - RECTS))}
}};
/* The fast path's factors, indexed by the 10-bit field (sign << 9 | slot): +-X_s 2^-32 (an exact
 * scaling of X_s), so that |z| = (w + 1/2) 2^-32 X_s is one multiplication. Declared in
 * sde_internal.h. */
const double fpk_zig_xs[2 * FPK_ZIG_SLOTS] __attribute__((aligned(64))) = {{
{hexs([(x * 2.0**-32).hex() for x in Xd] + ['0x0p+0'] * (SLOTS - RECTS) + [(-x * 2.0**-32).hex() for x in Xd] + ['-0x0p+0'] * (SLOTS - RECTS))}
}};
/* Slow-path components c = 0 .. RECTS (0: tail, record unused): box x in [xl, xl + dx],
 * y in [yl, yl + dy]; immediate accept if s <= A, immediate reject if s > R, reflect if refl. */
static const double zig_comp[FPK_ZIG_RECTS + 1][8] __attribute__((aligned(64))) = {{
{chr(10).join('    {' + ', '.join(v.hex() for v in r) + '},' for r in rec)}
}};
/* Alias table: T_j | A_j << 32 for column j = V & 511 (see ziggurat_tables.py). */
static const uint64_t zig_alias[{ACOLS}] = {{
{hexs([f'{AT[j] | AA[j] << 32}u' for j in range(ACOLS)], 4)}
}};""")
