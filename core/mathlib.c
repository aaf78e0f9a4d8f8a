/* mathlib.c: cx.math, the numerics of the customer-value models (see
 * include/cxhost/mathlib.h). The likelihoods themselves are Lua; what is
 * here is what Lua does slowly or not at all. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "cxhost/mathlib.h"

/* cx.math.lgamma(x) [-1, +1, v]: log |Gamma(x)| */
static int math_lgamma(lua_State *L)
{
    lua_pushnumber(L, lgamma(luaL_checknumber(L, 1)));
    return 1;
}

/* cx.math.lbeta(a, b) [-2, +1, v]: log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b) */
static int math_lbeta(lua_State *L)
{
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    lua_pushnumber(L, lgamma(a) + lgamma(b) - lgamma(a + b));
    return 1;
}

/* The power series, for 0 <= z < 1: its terms shrink like z^k once k
 * passes a, b and c, so a few thousand terms reach z = 0.99. */
static int hyp2f1_series(double a, double b, double c, double z, double *out)
{
    double term = 1.0, sum = 1.0;
    for (int k = 0; k < 200000; k++) {
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if (!isfinite(sum))
            return -1;
        if (fabs(term) <= 1e-16 * fabs(sum) && k > (int)fabs(a) + (int)fabs(b))
            break;
        if (term == 0.0)
            break;
        if (k == 199999)
            return -1;
    }
    *out = sum;
    return 0;
}

int mathlib_hyp2f1(double a, double b, double c, double z, double *out)
{
    if (!(z < 1.0) || !isfinite(a) || !isfinite(b) || !isfinite(c) || !isfinite(z))
        return -1;
    if (c <= 0 && c == floor(c))
        return -1;
    if (z < 0) {
        /* Pfaff: 2F1(a, b; c; z) = (1 - z)^-a 2F1(a, c - b; c; z / (z - 1)), z / (z - 1) in (0, 1). */
        double inner;
        if (hyp2f1_series(a, c - b, c, z / (z - 1.0), &inner) < 0)
            return -1;
        *out = pow(1.0 - z, -a) * inner;
        return 0;
    }
    return hyp2f1_series(a, b, c, z, out);
}

/* cx.math.hyp2f1(a, b, c, z) [-4, +1, v] */
static int math_hyp2f1(lua_State *L)
{
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2), c = luaL_checknumber(L, 3),
           z = luaL_checknumber(L, 4), out = 0;
    if (mathlib_hyp2f1(a, b, c, z, &out) < 0)
        return luaL_error(L, "cx.math.hyp2f1(%f, %f, %f, %f): the series does not converge (it needs z < 1, "
                             "and c not 0 or a negative whole number)", a, b, c, z);
    lua_pushnumber(L, out);
    return 1;
}

/* --- Nelder-Mead ------------------------------------------------------------------ */

/* f at x (n values), by calling the Lua function at index fn with a table.
 * A value that is not a finite number counts as +infinity, so the simplex
 * moves away from it. [-0, +0, e] */
static double call_objective(lua_State *L, int fn, const double *x, int n, int *evals)
{
    lua_pushvalue(L, fn);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, x[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_call(L, 1, 1);
    int isnum = 0;
    double f = lua_tonumberx(L, -1, &isnum);
    lua_pop(L, 1);
    (*evals)++;
    return isnum && isfinite(f) ? f : HUGE_VAL;
}

/* A number field of the options table at idx, or def. [-0, +0, v] */
static double opt_number(lua_State *L, int idx, const char *field, double def)
{
    if (lua_isnoneornil(L, idx))
        return def;
    lua_getfield(L, idx, field);
    double v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

struct simplex {
    int n;
    double *x;   /* (n + 1) points of n values, point i at x + i * n */
    double *f;   /* f at each point */
};

static void simplex_order(struct simplex *s)
{
    /* Insertion sort by f: n is small (a model's parameters). */
    int n = s->n;
    double *tmp = s->x + (n + 1) * n;   /* scratch after the points */
    for (int i = 1; i <= n; i++) {
        double fi = s->f[i];
        memcpy(tmp, s->x + i * n, n * sizeof *tmp);
        int j = i - 1;
        while (j >= 0 && s->f[j] > fi) {
            s->f[j + 1] = s->f[j];
            memcpy(s->x + (j + 1) * n, s->x + j * n, n * sizeof *tmp);
            j--;
        }
        s->f[j + 1] = fi;
        memcpy(s->x + (j + 1) * n, tmp, n * sizeof *tmp);
    }
}

/* cx.math.minimize(f, x0 [, {step =, tol =, max_evals =}]) [-(2|3), +3, e]:
 * x (a table), f(x), {evals =, converged =}. Nelder & Mead (1965), with the
 * usual coefficients: reflection 1, expansion 2, contraction 1/2, shrink 1/2. */
static int math_minimize(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);   /* the options at 3 (nil or a table), what is pushed above */
    int n = (int)luaL_len(L, 2);
    if (n < 1 || n > 64)
        return luaL_error(L, "cx.math.minimize: x0 must hold 1 to 64 numbers, not %d", n);
    double tol = opt_number(L, 3, "tol", 1e-10);
    double max_evals = opt_number(L, 3, "max_evals", 20000);
    if (!(tol > 0) || !(max_evals >= n + 1))
        return luaL_error(L, "cx.math.minimize: tol must be above 0 and max_evals at least %d", n + 1);
    /* Lua owns the memory, so an error in f leaks nothing. */
    double *mem = lua_newuserdatauv(L, sizeof(double) * (size_t)((n + 2) * n + (n + 1) + 4 * n), 0);
    struct simplex s = {n, mem, mem + (n + 2) * n};
    double *centroid = s.f + (n + 1), *xr = centroid + n, *xe = xr + n, *xc = xe + n;
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        int isnum = 0;
        s.x[i] = lua_tonumberx(L, -1, &isnum);
        lua_pop(L, 1);
        if (!isnum)
            return luaL_error(L, "cx.math.minimize: x0[%d] is not a number", i + 1);
    }
    for (int j = 1; j <= n; j++) {
        memcpy(s.x + j * n, s.x, n * sizeof(double));
        double step = 0.5;
        if (!lua_isnoneornil(L, 3)) {
            int t = lua_getfield(L, 3, "step");
            if (t == LUA_TTABLE) {
                lua_rawgeti(L, -1, j);
                step = luaL_optnumber(L, -1, 0.5);
                lua_pop(L, 1);
            } else if (t != LUA_TNIL) {
                step = luaL_checknumber(L, -1);
            }
            lua_pop(L, 1);
        }
        s.x[j * n + (j - 1)] += step;
    }
    int evals = 0, converged = 0;
    for (int j = 0; j <= n; j++)
        s.f[j] = call_objective(L, 1, s.x + j * n, n, &evals);
    while (evals < max_evals) {
        simplex_order(&s);
        double spread = 0;
        for (int j = 1; j <= n; j++)
            for (int i = 0; i < n; i++)
                spread = fmax(spread, fabs(s.x[j * n + i] - s.x[i]) / (1.0 + fabs(s.x[i])));
        if (fabs(s.f[n] - s.f[0]) <= tol * (1.0 + fabs(s.f[0])) && spread <= sqrt(tol)) {
            converged = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            centroid[i] = 0;
            for (int j = 0; j < n; j++)
                centroid[i] += s.x[j * n + i] / n;
        }
        double *worst = s.x + n * n;
        for (int i = 0; i < n; i++)
            xr[i] = centroid[i] + (centroid[i] - worst[i]);
        double fr = call_objective(L, 1, xr, n, &evals);
        if (fr < s.f[0]) {
            for (int i = 0; i < n; i++)
                xe[i] = centroid[i] + 2.0 * (centroid[i] - worst[i]);
            double fe = call_objective(L, 1, xe, n, &evals);
            memcpy(worst, fe < fr ? xe : xr, n * sizeof(double));
            s.f[n] = fmin(fe, fr);
        } else if (fr < s.f[n - 1]) {
            memcpy(worst, xr, n * sizeof(double));
            s.f[n] = fr;
        } else {
            /* Contract towards the better of the worst point and its reflection. */
            int outside = fr < s.f[n];
            for (int i = 0; i < n; i++)
                xc[i] = centroid[i] + 0.5 * ((outside ? xr[i] : worst[i]) - centroid[i]);
            double fc = call_objective(L, 1, xc, n, &evals);
            if (fc < (outside ? fr : s.f[n])) {
                memcpy(worst, xc, n * sizeof(double));
                s.f[n] = fc;
            } else {
                for (int j = 1; j <= n; j++) {
                    for (int i = 0; i < n; i++)
                        s.x[j * n + i] = s.x[i] + 0.5 * (s.x[j * n + i] - s.x[i]);
                    s.f[j] = call_objective(L, 1, s.x + j * n, n, &evals);
                }
            }
        }
    }
    simplex_order(&s);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, s.x[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushnumber(L, s.f[0]);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, evals);
    lua_setfield(L, -2, "evals");
    lua_pushboolean(L, converged);
    lua_setfield(L, -2, "converged");
    return 3;
}

void mathlib_add(lua_State *L)
{
    static const luaL_Reg fns[] = {{"lgamma", math_lgamma}, {"lbeta", math_lbeta}, {"hyp2f1", math_hyp2f1},
                                   {"minimize", math_minimize}, {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_setfield(L, -2, "math");
}
