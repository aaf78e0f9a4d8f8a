/* test_luahost.c: the Lua bridge on its own: the sandbox's allow-list, the
 * instruction budget (which pcall cannot swallow), the memory cap, errors with
 * tracebacks, JSON both ways and the display of values. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <lua.h>
#include <lauxlib.h>
#include "check.h"
#include "cxhost/luahost.h"

static luahost *host;
static cx_error err;

/* Runs code in a fresh sandbox; 0 when it ran, -1 when it failed (err says why).
 * When it returns a value, that value's display is put in out. */
static int run(const char *code, buf *out)
{
    lua_State *L = luahost_state(host);
    int top = lua_gettop(L);
    luahost_push_sandbox(host, "test");
    if (luahost_load(host, code, strlen(code), "=test", -1, &err) < 0) {
        lua_settop(L, top);
        return -1;
    }
    int rc = luahost_call(host, 0, 1, "test", &err);
    if (rc == 0 && out) {
        buf_clear(out);
        luahost_describe(L, -1, 4, out);
    }
    lua_settop(L, top);
    return rc;
}

static const char *value_of(const char *code)
{
    static buf out = BUF_INIT;
    if (run(code, &out) < 0)
        return err.text;
    return buf_str(&out);
}

static void test_allow_list(void)
{
    /* Present: the safe base and copies of the libraries. */
    CHECK_EQ_STR(value_of("return type(string.format) .. type(table.concat) .. type(math.floor) .. type(os.time)"),
                 "\"functionfunctionfunctionfunction\"");
    CHECK_EQ_STR(value_of("return type(utf8.char) .. ',' .. type(coroutine.wrap) .. ',' .. type(pcall)"),
                 "\"function,function,function\"");
    /* Absent: every door out of the box. Reading an undefined global is an error. */
    const char *closed[] = {"io", "debug", "package", "require", "dofile", "loadfile", "loadstring", "module",
                            "collectgarbage_stop", NULL};
    for (int i = 0; closed[i]; i++) {
        char code[128];
        snprintf(code, sizeof code, "return %s", closed[i]);
        CHECK(run(code, NULL) < 0);
        CHECK_CONTAINS(err.text, "undefined global");
    }
    CHECK_EQ_STR(value_of("return os.execute"), "nil");
    CHECK_EQ_STR(value_of("return os.getenv"), "nil");
    CHECK_EQ_STR(value_of("return os.remove"), "nil");
    CHECK_EQ_STR(value_of("return os.exit"), "nil");
    CHECK_EQ_STR(value_of("return string.dump"), "nil");
    CHECK_EQ_STR(value_of("return ('x').dump"), "nil");   /* through the string metatable too */
    CHECK_EQ_STR(value_of("return getmetatable('')"), "false");
    CHECK(run("collectgarbage('stop')", NULL) < 0);
    CHECK_CONTAINS(err.text, "invalid option 'stop'");
}

static void test_sandboxes_are_separate(void)
{
    /* A sandbox's changes to its globals and libraries stay in it. */
    CHECK_EQ_INT(run("shared = 1; string.upper = nil; return true", NULL), 0);
    CHECK(run("return shared", NULL) < 0);
    CHECK_EQ_STR(value_of("return string.upper('a')"), "\"A\"");
    CHECK_EQ_STR(value_of("string.upper = nil; return ('a'):upper()"), "\"A\"");
}

static void test_binary_chunks_refused(void)
{
    CHECK(run("local f, e = load('\\27Lua\\x54\\0'); assert(f, e)", NULL) < 0);
    CHECK_CONTAINS(err.text, "binary chunk");
    const char binary[] = "\x1bLua\x54";
    lua_State *L = luahost_state(host);
    luahost_push_sandbox(host, "test");
    CHECK(luahost_load(host, binary, sizeof binary - 1, "=bin", -1, &err) < 0);
    lua_pop(L, 1);
    /* Text load works and stays in the sandbox. */
    CHECK(run("return load('return io')()", NULL) < 0);
    CHECK_CONTAINS(err.text, "undefined global 'io'");
    CHECK_EQ_STR(value_of("return load('return 1 + 1')()"), "2");
}

static void test_instruction_budget(void)
{
    luahost_set_instruction_budget(host, 1000000);
    CHECK(run("while true do end", NULL) < 0);
    CHECK_CONTAINS(err.text, "instruction budget");
    /* pcall cannot swallow the stop, nor can a coroutine dodge it. */
    CHECK(run("while true do pcall(function() while true do end end) end", NULL) < 0);
    CHECK_CONTAINS(err.text, "instruction budget");
    CHECK(run("local co = coroutine.wrap(function() while true do end end); co()", NULL) < 0);
    CHECK_CONTAINS(err.text, "instruction budget");
    CHECK(run("local ok = pcall(function() while true do end end); return ok", NULL) < 0);
    /* The next call has a fresh budget. */
    CHECK_EQ_STR(value_of("local n = 0; for i = 1, 1000 do n = n + i end; return n"), "500500");
    luahost_set_instruction_budget(host, LUAHOST_DEFAULT_INSTRUCTIONS);
}

/* Lazy mode (imports): short calls run without the count hook, a long one
 * is stopped all the same, whatever it hides behind. */
static void test_lazy_budget(void)
{
    luahost_set_instruction_budget(host, 1000000);
    CHECK(luahost_lazy_begin(host, &err) == 0);
    CHECK(luahost_lazy_begin(host, &err) == 0);   /* twice is once */
    /* A short call: 5,000 instructions (above a budget of 1,000,000 would be the
     * same): it runs, with its result. */
    CHECK_EQ_STR(value_of("local n = 0; for i = 1, 1000 do n = n + i end; return n"), "500500");
    const char *runaways[] = {
        "while true do end",
        "while true do pcall(function() while true do end end) end",
        "local co = coroutine.wrap(function() while true do end end); co()",
        "local co = coroutine.create(function() while true do coroutine.yield() end end) "
        "while true do coroutine.resume(co) end",
        "local co = coroutine.wrap(function() while true do pcall(function() while true do end end) end end) co()",
        "local n = 0 while true do n = n + 1 pcall(error, 'x') end",
        "local ok = pcall(function() while true do end end); return ok",
        NULL};
    for (int i = 0; runaways[i]; i++) {
        CHECK(run(runaways[i], NULL) < 0);
        CHECK_CONTAINS(err.text, "instruction budget of 1000000");
    }
    /* Many short calls in a row: none is stopped (each has its own budget). */
    for (int i = 0; i < 2000; i++)
        CHECK(run("local n = 0; for i = 1, 200 do n = n + i end; return n", NULL) == 0);
    luahost_lazy_end(host);
    luahost_lazy_end(host);
    /* Exact again: a loop of ~4,000,000 instructions is over a 1,000,000 budget at once. */
    CHECK(run("local s = 0 for i = 1, 1000000 do s = s + i end return s", NULL) < 0);
    CHECK_CONTAINS(err.text, "instruction budget");
    luahost_set_instruction_budget(host, LUAHOST_DEFAULT_INSTRUCTIONS);
}

static void test_memory_cap(void)
{
    size_t old = luahost_memory_limit(host);
    luahost_set_memory_limit(host, luahost_memory_used(host) + (8u << 20));
    CHECK(run("local s = string.rep('x', 64 * 1024 * 1024); return #s", NULL) < 0);
    CHECK_CONTAINS(err.text, "memory cap");
    CHECK(run("local t = {}; for i = 1, 1e8 do t[i] = i end", NULL) < 0);
    CHECK_CONTAINS(err.text, "memory cap");
    CHECK(run("local t = {}; while true do t[#t + 1] = {} end", NULL) < 0);
    /* And the state still works afterwards. */
    CHECK_EQ_STR(value_of("return 6 * 7"), "42");
    luahost_set_memory_limit(host, old);
}

static void test_errors(void)
{
    CHECK(run("local x = nil\nreturn x.field", NULL) < 0);
    CHECK_CONTAINS(err.text, "test:2:");
    CHECK_CONTAINS(err.text, "stack traceback");
    CHECK(run("error(setmetatable({}, {__tostring = function() return 'custom' end}))", NULL) < 0);
    CHECK_CONTAINS(err.text, "custom");
    CHECK(run("error(setmetatable({}, {__tostring = function() error('again') end}))", NULL) < 0);
    CHECK(run("error(setmetatable({}, {__tostring = function() while true do end end}))", NULL) < 0);
    CHECK(run("error({})", NULL) < 0);
    CHECK_CONTAINS(err.text, "error object is a table");
    CHECK(run("local function f() return f() + 1 end return f()", NULL) < 0);
    CHECK_CONTAINS(err.text, "stack overflow");
    CHECK(run("return (", NULL) < 0);
    CHECK_CONTAINS(err.text, "test:1:");
}

static void test_json(void)
{
    lua_State *L = luahost_state(host);
    const char *text = "{\"a\":[1,2.5,\"x\"],\"b\":{\"c\":true,\"d\":null},\"e\":\"\\u00e9\"}";
    buf out = BUF_INIT;
    CHECK_EQ_INT(luahost_push_json(L, text, strlen(text), &err), 0);
    CHECK_EQ_INT(luahost_to_json(L, -1, &out, &err), 0);
    CHECK_EQ_STR(buf_str(&out), "{\"a\":[1,2.5,\"x\"],\"b\":{\"c\":true},\"e\":\"\xc3\xa9\"}");
    lua_pop(L, 1);
    /* Every shape the decoder meets, with blanks wherever JSON allows them. */
    static const struct { const char *in, *out; } cases[] = {
        {" { \"k\\\"ey\" : [ ] , \"n\" : { } } ", "{\"k\\\"ey\":{},\"n\":{}}"},
        {"[0,-0,12,-34,123456789012345678,-123456789012345678]", "[0,0,12,-34,123456789012345678,-123456789012345678]"},
        {"[1234567890123456789,-9223372036854775808,99999999999999999999]",
         "[1234567890123456789,-9223372036854775808,1e+20]"},
        {"[1.5,-2.25e2,3E-1,1e2]", "[1.5,-225.0,0.3,100.0]"},
        {"[\"\",\"a\\nb\",\"\\ud83d\\ude00\",\"\xe2\x82\xac\"]", "[\"\",\"a\\nb\",\"\xf0\x9f\x98\x80\",\"\xe2\x82\xac\"]"},
        {"[[1,[2,[3]]],{\"a\":{\"b\":[true,false]}}]", "[[1,[2,[3]]],{\"a\":{\"b\":[true,false]}}]"},
        {"\t\"top\"\n", "\"top\""},
        {" 42 ", "42"},
        {"true", "true"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf_clear(&out);
        CHECK_EQ_INT(luahost_push_json(L, cases[i].in, strlen(cases[i].in), &err), 0);
        CHECK_EQ_INT(luahost_to_json(L, -1, &out, &err), 0);
        CHECK_EQ_STR(buf_str(&out), cases[i].out);
        lua_pop(L, 1);
    }
    CHECK_EQ_INT(luahost_push_json(L, "null", 4, &err), 0);
    CHECK(lua_isnil(L, -1));
    lua_pop(L, 1);
    CHECK_EQ_INT(luahost_push_json(L, "[7,7.0]", 7, &err), 0);   /* integers stay integers */
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    CHECK(lua_isinteger(L, -2) && !lua_isinteger(L, -1));
    lua_pop(L, 3);
    CHECK(luahost_push_json(L, "{\"a\":", 5, &err) < 0);
    CHECK_CONTAINS(err.text, "bad JSON");
    /* Values JSON cannot hold are refused, cycles included. */
    luahost_push_sandbox(host, "test");
    luahost_load(host, "local t = {}; t.self = t; return t", 34, "=t", -1, &err);
    luahost_call(host, 0, 1, "test", &err);
    buf_clear(&out);
    CHECK(luahost_to_json(L, -1, &out, &err) < 0);
    CHECK_CONTAINS(err.text, "nested more than");
    lua_pop(L, 2);
    buf_free(&out);
}

static void test_describe(void)
{
    CHECK_EQ_STR(value_of("return {b = 2, a = 'x', [3] = true}"), "{ [3] = true, a = \"x\", b = 2 }");
    CHECK_EQ_STR(value_of("return {1, 2, {3}}"), "{ 1, 2, { 3 } }");
    CHECK_EQ_STR(value_of("return {}"), "{}");
    CHECK_EQ_STR(value_of("local t = {}; t.me = t; return t"), "{ me = <cycle> }");
    CHECK_CONTAINS(value_of("return setmetatable({}, {__tostring = function() error('no') end})"), "cannot show it");
}

/* Ctrl-C, as the REPL delivers it: luahost_interrupt from a signal
 * handler stops the running call, whatever pcall or coroutine it hides in,
 * and the next call runs. */
static void interrupt_now(int sig)
{
    (void)sig;
    luahost_interrupt(host);
}

static int run_interrupted(const char *code)
{
    struct itimerval soon = {{0, 0}, {0, 50000}};
    signal(SIGALRM, interrupt_now);
    setitimer(ITIMER_REAL, &soon, NULL);
    int rc = run(code, NULL);
    signal(SIGALRM, SIG_DFL);
    return rc;
}

static void test_interrupt(void)
{
    CHECK(!luahost_running(host));
    luahost_interrupt(host);                           /* nothing runs: nothing happens */
    CHECK_EQ_STR(value_of("return 1 + 1"), "2");
    CHECK(run_interrupted("while true do end") < 0);
    CHECK_CONTAINS(err.text, "interrupted");
    CHECK(run_interrupted("while true do pcall(function() while true do end end) end") < 0);
    CHECK_CONTAINS(err.text, "interrupted");
    CHECK(run_interrupted("local co = coroutine.wrap(function() while true do end end); co()") < 0);
    CHECK_CONTAINS(err.text, "interrupted");
    CHECK(run_interrupted("while true do xpcall(function() while true do end end, function() return 1 end) end") < 0);
    CHECK_CONTAINS(err.text, "interrupted");
    CHECK_EQ_STR(value_of("local n = 0; for i = 1, 1000 do n = n + i end; return n"), "500500");
}

/* The REPL's display: a table that does not fit on a line gets a line per entry. */
static void test_describe_lines(void)
{
    lua_State *L = luahost_state(host);
    buf out = BUF_INIT;
    luahost_push_sandbox(host, "test");
    const char *code = "local t = {name = 'a rather long name for a customer', tags = {'gold', 'vip'}, n = 3}; "
                       "t.self = t; return t";
    CHECK(luahost_load(host, code, strlen(code), "=t", -1, &err) == 0);
    CHECK(luahost_call(host, 0, 1, "t", &err) == 0);
    luahost_describe_lines(L, -1, 40, &out);
    CHECK_EQ_STR(buf_str(&out), "{\n  n = 3,\n  name = \"a rather long name for a customer\",\n  self = <cycle>,\n"
                                "  tags = { \"gold\", \"vip\" },\n}");
    buf_clear(&out);
    luahost_describe_lines(L, -1, 200, &out);   /* it fits: one line */
    CHECK_CONTAINS(buf_str(&out), "{ n = 3, name = ");
    lua_pop(L, 2);
    buf_free(&out);
}

int main(void)
{
    host = luahost_new(0, &err);
    if (!host) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    test_allow_list();
    test_sandboxes_are_separate();
    test_binary_chunks_refused();
    test_instruction_budget();
    test_lazy_budget();
    test_memory_cap();
    test_errors();
    test_json();
    test_describe();
    test_describe_lines();
    test_interrupt();
    luahost_free(host);
    return CHECK_DONE();
}
