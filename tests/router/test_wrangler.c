/*
 * test_wrangler.c: the readers of wrangler files (router/wrangler.c): the
 * TOML subset and JSONC, good and bad inputs, and the lines they report.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../router/wrangler.h"
#include "isocore.h"

static json_t *t_lines;
static char t_err[1024];

static json_t *t_toml(const char *text)
{
    json_t *root = NULL;
    t_err[0] = '\0';
    if (t_lines)
        json_decref(t_lines);
    t_lines = NULL;
    if (ic__toml_parse("w.toml", text, strlen(text), &root, &t_lines, t_err, sizeof(t_err)) != 0)
        return NULL;
    return root;
}

static json_t *t_jsonc(const char *text)
{
    json_t *root = NULL;
    t_err[0] = '\0';
    if (t_lines)
        json_decref(t_lines);
    t_lines = NULL;
    if (ic__jsonc_parse("w.jsonc", text, strlen(text), &root, &t_lines, t_err, sizeof(t_err)) != 0)
        return NULL;
    return root;
}

static void t_fini(void)
{
    json_decref(t_lines);
    t_lines = NULL;
}

TestSuite(wrangler, .fini = t_fini);

Test(wrangler, toml_keys_tables_arrays_and_lines)
{
    json_t *r = t_toml("# a comment\n"
                       "name = \"shop\" # trailing comment\n"
                       "main = 'src/index.ts'\n"
                       "workers_dev = true\n"
                       "n = -1_000\n"
                       "hex = 0xff\n"
                       "pi = 3.5\n"
                       "site.bucket = \"./public\"\n"
                       "\"quoted key\" = \"a\\tb\\u00e9\"\n"
                       "routes = [\n"
                       "  \"a.com/*\", # first\n"
                       "  { pattern = \"b.com/*\", zone_name = \"b.com\" },\n"
                       "]\n"
                       "\n"
                       "[vars]\n"
                       "A = \"1\"\n"
                       "\n"
                       "[[services]]\n"
                       "binding = \"AUTH\"\n"
                       "service = \"auth\"\n"
                       "\n"
                       "[[services]]\n"
                       "binding = \"DB\"\n"
                       "service = \"db\"\n"
                       "\n"
                       "[limits]\n"
                       "cpu_ms = 50\n"
                       "multi = \"\"\"\n"
                       "two\n"
                       "lines\"\"\"\n");
    cr_assert_not_null(r, "%s", t_err);
    cr_assert_str_eq(json_string_value(json_object_get(r, "name")), "shop");
    cr_assert_str_eq(json_string_value(json_object_get(r, "main")), "src/index.ts");
    cr_assert(json_is_true(json_object_get(r, "workers_dev")));
    cr_assert_eq(json_integer_value(json_object_get(r, "n")), -1000);
    cr_assert_eq(json_integer_value(json_object_get(r, "hex")), 255);
    cr_assert_float_eq(json_real_value(json_object_get(r, "pi")), 3.5, 1e-9);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "site"), "bucket")), "./public");
    cr_assert_str_eq(json_string_value(json_object_get(r, "quoted key")), "a\tb\xc3\xa9");
    json_t *routes = json_object_get(r, "routes");
    cr_assert_eq(json_array_size(routes), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(routes, 1), "zone_name")), "b.com");
    json_t *sv = json_object_get(r, "services");
    cr_assert_eq(json_array_size(sv), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sv, 1), "service")), "db");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "limits"), "cpu_ms")), 50);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "limits"), "multi")), "two\nlines");
    /* The lines where the values are. */
    cr_assert_eq(ic__wrangler_line(t_lines, "name"), 2);
    cr_assert_eq(ic__wrangler_line(t_lines, "routes[1]"), 12);
    cr_assert_eq(ic__wrangler_line(t_lines, "routes[1].zone_name"), 12);
    cr_assert_eq(ic__wrangler_line(t_lines, "vars.A"), 16);
    cr_assert_eq(ic__wrangler_line(t_lines, "services[1].binding"), 23);
    cr_assert_eq(ic__wrangler_line(t_lines, "services[1]"), 22);
    cr_assert_eq(ic__wrangler_line(t_lines, "limits.cpu_ms"), 27);
    cr_assert_eq(ic__wrangler_line(t_lines, "limits.nothing"), 26, "a missing key is at its table");
    json_decref(r);
}

Test(wrangler, toml_errors_name_the_line)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"name = \"a\"\nname = \"b\"\n", "w.toml:2: name is defined twice"},
        {"a = 1\n[t]\nx = 1\n[t]\n", "w.toml:4: [t] is defined twice"},
        {"a = \"open\n", "w.toml:1: a string without its closing quote on its line"},
        {"\n\nd = 2024-01-01\n", "w.toml:3: dates and times are not supported"},
        {"a = [1, 2\nb = 3\n", "w.toml:2: expected ',' or ']' in an array"},
        {"a = 1 b = 2\n", "w.toml:1: expected the end of the line"},
        {"x\n", "w.toml:1: expected '=' after the key x"},
        {"[t\n", "w.toml:1: expected ']' at the end of the table's name"},
        {"a = \"\\q\"\n", "w.toml:1: unknown escape '\\q'"},
        {"a = { b = 1\n", "w.toml:1: expected ',' or '}' in an inline table"},
        {"\na = \n", "w.toml:2: a: expected a value"},
        {"a = 1\n[[a]]\n", "w.toml:2: [[a]]: a is not an array of tables"},
        {"a = nope\n", "w.toml:1: 'nope' is not a number"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *r = t_toml(bad[i].text);
        cr_assert_null(r, "accepted: %s", bad[i].text);
        cr_assert(strstr(t_err, bad[i].want), "for %s: got '%s', want '%s'", bad[i].text, t_err, bad[i].want);
    }
}

Test(wrangler, jsonc_comments_and_trailing_commas_keep_lines)
{
    json_t *r = t_jsonc("{\n"
                        "  // the name\n"
                        "  \"name\": \"a // not a comment\",\n"
                        "  /* a block\n"
                        "     comment */ \"vars\": {\"A\": \"x\",},\n"
                        "  \"routes\": [\"a.com/*\",\n"
                        "    \"b.com/*\",],\n"
                        "}\n");
    cr_assert_not_null(r, "%s", t_err);
    cr_assert_str_eq(json_string_value(json_object_get(r, "name")), "a // not a comment");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "vars"), "A")), "x");
    cr_assert_eq(json_array_size(json_object_get(r, "routes")), 2);
    cr_assert_eq(ic__wrangler_line(t_lines, "name"), 3);
    cr_assert_eq(ic__wrangler_line(t_lines, "vars.A"), 5);
    cr_assert_eq(ic__wrangler_line(t_lines, "routes[1]"), 7);
    json_decref(r);

    cr_assert_null(t_jsonc("{\n  \"a\": 1,\n  \"a\": 2\n}\n"));
    cr_assert(strstr(t_err, "w.jsonc:3:"), "a duplicate key: %s", t_err);
    cr_assert_null(t_jsonc("{\n  // fine\n  \"a\": nope\n}\n"));
    cr_assert(strstr(t_err, "w.jsonc:3:"), "a syntax error at its line: %s", t_err);
}

Test(wrangler, which_files_are_wrangler_files)
{
    cr_assert(ic__wrangler_is("wrangler.toml"));
    cr_assert(ic__wrangler_is("/p/wrangler.json"));
    cr_assert(ic__wrangler_is("x/wrangler.jsonc"));
    cr_assert(ic__wrangler_is("staging.toml"));
    cr_assert_not(ic__wrangler_is("isocore.json"));
}
