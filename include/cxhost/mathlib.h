/* mathlib.h: the numerics the customer-value models need, for Lua as cx.math.
 *
 * Owns: log-gamma and log-beta, the Gauss hypergeometric function 2F1 (the
 * BG/NBD model's conditional expectation needs it), and a Nelder-Mead
 * minimiser that calls a Lua function (the models' likelihoods are Lua).
 * The model code is Lua (plugins/lib/value.lua); docs/value.md says where
 * each formula comes from. */
#ifndef CXHOST_MATHLIB_H
#define CXHOST_MATHLIB_H
#include <lua.h>

/* 2F1(a, b; c; z) for z < 1 by its power series (after Pfaff's
 * transformation for z < 0): 0 and *out set, or -1 when it does not
 * converge (c a non-positive integer, z too close to 1). */
int mathlib_hyp2f1(double a, double b, double c, double z, double *out);

/* Sets field "math" of the table on top to the cx.math functions. [-0, +0, m] */
void mathlib_add(lua_State *L);

#endif
