/* test_mathlib.c: cx.math's numerics against closed forms, and the
 * Nelder-Mead minimiser on functions with a known minimum. */
#include <math.h>
#include <lauxlib.h>
#include <lualib.h>
#include "check.h"
#include "cxhost/mathlib.h"

static int near(double got, double want, double tol)
{
    int ok = fabs(got - want) <= tol * (1.0 + fabs(want));
    if (!ok)
        fprintf(stderr, "got %.17g, want %.17g\n", got, want);
    return ok;
}

static double f21(double a, double b, double c, double z)
{
    double out = NAN;
    return mathlib_hyp2f1(a, b, c, z, &out) == 0 ? out : NAN;
}

static void test_hyp2f1(void)
{
    /* 2F1(1, 1; 2; z) = -log(1 - z) / z */
    CHECK(near(f21(1, 1, 2, 0.5), -log(0.5) / 0.5, 1e-14));
    CHECK(near(f21(1, 1, 2, 0.99), -log(0.01) / 0.99, 1e-12));
    CHECK(near(f21(1, 1, 2, -0.5), log(1.5) / 0.5, 1e-14));     /* through Pfaff's transformation */
    CHECK(near(f21(1, 1, 2, -20), log(21.0) / 20, 1e-13));
    /* 2F1(a, b; b; z) = (1 - z)^-a */
    CHECK(near(f21(2.5, 3, 3, 0.3), pow(0.7, -2.5), 1e-14));
    /* 2F1(1/2, 1/2; 3/2; z^2) = asin(z) / z */
    CHECK(near(f21(0.5, 0.5, 1.5, 0.81), asin(0.9) / 0.9, 1e-12));
    /* a terminating series: 2F1(-2, b; c; z) = 1 - 2bz/c + b(b+1)z^2/(c(c+1)) */
    CHECK(near(f21(-2, 3, 4, 0.5), 1 - 2 * 3 * 0.5 / 4 + 3 * 4 * 0.25 / (4 * 5), 1e-15));
    CHECK(near(f21(1, 1, 2, 0), 1.0, 0));
    double out;
    CHECK(mathlib_hyp2f1(1, 1, 2, 1.0, &out) < 0);     /* diverges at z = 1 */
    CHECK(mathlib_hyp2f1(1, 1, -2, 0.5, &out) < 0);    /* c a negative whole number */
    CHECK(mathlib_hyp2f1(1, 1, 2, NAN, &out) < 0);
}

/* Runs a chunk with cx.math as the global `m`; the number it returns. */
static double run(lua_State *L, const char *chunk)
{
    if (luaL_dostring(L, chunk) != LUA_OK) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return NAN;
    }
    double v = lua_tonumber(L, -1);
    lua_settop(L, 0);
    return v;
}

static void test_lua(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_newtable(L);
    mathlib_add(L);
    lua_getfield(L, -1, "math");
    lua_setglobal(L, "m");
    lua_pop(L, 1);
    CHECK(near(run(L, "return m.lgamma(0.5)"), log(sqrt(M_PI)), 1e-15));
    CHECK(near(run(L, "return m.lgamma(10)"), log(362880.0), 1e-15));
    CHECK(near(run(L, "return m.lbeta(2, 3)"), log(1.0 / 12), 1e-15));
    CHECK(near(run(L, "return m.hyp2f1(1, 1, 2, 0.5)"), -log(0.5) / 0.5, 1e-14));
    CHECK(isnan(run(L, "return m.hyp2f1(1, 1, 2, 1)")));   /* an error, reported by run() */
    /* Rosenbrock's valley, from the classic start: the minimum is at (1, 1). */
    CHECK(near(run(L, "local x, f = m.minimize(function(p) return 100 * (p[2] - p[1]^2)^2 + (1 - p[1])^2 end,"
                      " {-1.2, 1}, { tol = 1e-14 }) return x[1]"), 1.0, 1e-5));
    CHECK(near(run(L, "local x, f = m.minimize(function(p) return 100 * (p[2] - p[1]^2)^2 + (1 - p[1])^2 end,"
                      " {-1.2, 1}, { tol = 1e-14 }) return x[2]"), 1.0, 1e-5));
    /* A quadratic bowl in four dimensions, minimum 3 at (1, 2, 3, 4). */
    CHECK(near(run(L, "local x, f, info = m.minimize(function(p) local s = 3 for i = 1, 4 do s = s + i * (p[i] - i)^2 end"
                      " return s end, {0, 0, 0, 0}, { step = 1 }) assert(info.converged) return f"), 3.0, 1e-9));
    CHECK(near(run(L, "local x = m.minimize(function(p) local s = 3 for i = 1, 4 do s = s + i * (p[i] - i)^2 end"
                      " return s end, {0, 0, 0, 0}, { step = {1, 1, 1, 1}, tol = 1e-14 }) return x[4]"), 4.0, 1e-6));
    /* Not-a-number counts as +infinity: the minimum of |x| on x > 0 (NaN below) is found. */
    CHECK(near(run(L, "local x = m.minimize(function(p) if p[1] < 0.5 then return 0/0 end return (p[1] - 2)^2 end,"
                      " {3}) return x[1]"), 2.0, 1e-4));
    /* It stops at max_evals and says it did not converge. */
    CHECK(run(L, "local x, f, info = m.minimize(function(p) return p[1] * p[1] end, {100}, { max_evals = 5 })"
                 " return info.converged and 1 or 0") == 0);
    CHECK(isnan(run(L, "return m.minimize(function(p) return 1 end, {})")));
    /* An error in the function goes through. */
    CHECK(isnan(run(L, "return m.minimize(function(p) error('inside') end, {1})")));
    lua_close(L);
}

int main(void)
{
    test_hyp2f1();
    test_lua();
    return CHECK_DONE();
}
