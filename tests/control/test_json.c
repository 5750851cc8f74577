/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's JSON: documents survive parse + write unchanged (in
 * compact form), escapes and numbers decode exactly, every class of malformed
 * input is refused with -EINVAL and a message saying where, and the writer
 * refuses to produce anything that is not one valid document. Leaks are the
 * leak sanitizer's to catch (the ASan build runs this).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/common.h>
#include <hugelink/json.h>

#include "hl_test.h"

/* parse, write back, compare with want (NULL: same as input) */
static bool roundtrip(const char *in, const char *want)
{
	struct hl_json *v;
	struct hl_jw w;
	bool same;

	if (hl_json_parse(in, strlen(in), &v) < 0) {
		hl_test_fail(__FILE__, __LINE__, "parse of '%s' failed: %s", in, hl_last_error());
		return false;
	}
	hl_jw_init(&w);
	hl_jw_value(&w, v);
	same = hl_jw_cstr(&w) != NULL && strcmp(hl_jw_cstr(&w), want ? want : in) == 0;
	if (!same)
		hl_test_fail(__FILE__, __LINE__, "'%s' came back as '%s'", in,
			     hl_jw_cstr(&w) ? hl_jw_cstr(&w) : "(error)");
	hl_jw_free(&w);
	hl_json_free(v);
	return same;
}

HL_TEST(json_roundtrip)
{
	static const char *const same[] = {
		"{}", "[]", "null", "true", "false", "0", "-1", "\"\"",
		"{\"cmd\":\"port-add\",\"kind\":\"vhost\",\"name\":\"a\",\"isolated\":false}",
		"[1,2,[3,[4,{}]],{\"a\":[]},null]",
		"{\"s\":\"q\\\"b\\\\n\\nt\\tr\\rb\\bf\\f\",\"c\":\"\\u0001\\u001f\"}",
		"18446744073709551615", "-9223372036854775808", "-18446744073709551615",
		"1.5", "-0.25", "1e+300", "0.1", "123456.789",
		"\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"",
		"{\"ports\":[{\"name\":\"vm1\",\"rx\":12,\"drops\":{\"ring_full\":3}}],\"uptime_s\":1.25}",
	};
	for (size_t i = 0; i < HL_ARRAY_SIZE(same); i++)
		CHECK(roundtrip(same[i], NULL));
	/* whitespace goes, escapes that need none are written plainly */
	CHECK(roundtrip(" { \"a\" : [ 1 , 2 ] ,\n\t\"b\" : { } }\r\n", "{\"a\":[1,2],\"b\":{}}"));
	CHECK(roundtrip("\"\\/\\u0041\\u00e9\"", "\"/A\xc3\xa9\""));
	CHECK(roundtrip("1E2", "100"));
	CHECK(roundtrip("-0", "-0"));
	CHECK(roundtrip("2.50", "2.5"));
}

HL_TEST(json_escapes)
{
	struct hl_json *v;
	const char *in = "[\"\\u00e9\",\"\\u20ac\",\"\\ud83d\\ude00\",\"\\uDBFF\\uDFFF\",\"a\\/b\",\"\\b\\f\\n\\r\\t\\\"\\\\\"]";

	REQUIRE_OK(hl_json_parse(in, strlen(in), &v));
	CHECK_EQ(hl_json_len(v), 6);
	CHECK(strcmp(hl_json_str(hl_json_at(v, 0)), "\xc3\xa9") == 0);
	CHECK(strcmp(hl_json_str(hl_json_at(v, 1)), "\xe2\x82\xac") == 0);
	CHECK(strcmp(hl_json_str(hl_json_at(v, 2)), "\xf0\x9f\x98\x80") == 0);
	CHECK(strcmp(hl_json_str(hl_json_at(v, 3)), "\xf4\x8f\xbf\xbf") == 0);
	CHECK(strcmp(hl_json_str(hl_json_at(v, 4)), "a/b") == 0);
	CHECK(strcmp(hl_json_str(hl_json_at(v, 5)), "\b\f\n\r\t\"\\") == 0);
	hl_json_free(v);
}

HL_TEST(json_numbers_and_getters)
{
	struct hl_json *v;
	const char *in = "{\"i\":42,\"n\":-7,\"f\":1.5,\"e\":1e3,\"big\":18446744073709551616,"
			 "\"max\":18446744073709551615,\"min\":-9223372036854775808,\"below\":-9223372036854775809,"
			 "\"s\":\"42\",\"t\":true,\"z\":null,\"a\":[1,2,3]}";
	uint64_t u;
	int64_t i;
	double d;

	REQUIRE_OK(hl_json_parse(in, strlen(in), &v));
	CHECK(hl_json_type(v) == HL_JSON_OBJ);
	CHECK_EQ(hl_json_len(v), 12);
	CHECK(strcmp(hl_json_key_at(v, 2), "f") == 0);
	CHECK(hl_json_u64(hl_json_get(v, "i"), &u) && u == 42);
	CHECK(hl_json_i64(hl_json_get(v, "n"), &i) && i == -7);
	CHECK(!hl_json_u64(hl_json_get(v, "n"), &u));
	CHECK(hl_json_num(hl_json_get(v, "f"), &d) && d == 1.5);
	CHECK(!hl_json_u64(hl_json_get(v, "f"), &u));
	CHECK(hl_json_num(hl_json_get(v, "e"), &d) && d == 1000);
	CHECK(!hl_json_i64(hl_json_get(v, "e"), &i)); /* not written as an integer */
	CHECK(!hl_json_u64(hl_json_get(v, "big"), &u));
	CHECK(hl_json_num(hl_json_get(v, "big"), &d) && d == 18446744073709551616.0);
	CHECK(hl_json_u64(hl_json_get(v, "max"), &u) && u == UINT64_MAX);
	CHECK(!hl_json_i64(hl_json_get(v, "max"), &i));
	CHECK(hl_json_i64(hl_json_get(v, "min"), &i) && i == INT64_MIN);
	CHECK(!hl_json_i64(hl_json_get(v, "below"), &i));
	CHECK(!hl_json_num(hl_json_get(v, "s"), &d));
	CHECK(strcmp(hl_json_str(hl_json_get(v, "s")), "42") == 0);
	CHECK(hl_json_str(hl_json_get(v, "i")) == NULL);
	CHECK(hl_json_bool(hl_json_get(v, "t")) == 1);
	CHECK(hl_json_bool(hl_json_get(v, "z")) == -1);
	CHECK(hl_json_is_null(hl_json_get(v, "z")));
	CHECK(!hl_json_is_null(hl_json_get(v, "nope")));
	CHECK(hl_json_get(v, "nope") == NULL);
	CHECK(hl_json_get(hl_json_get(v, "a"), "x") == NULL); /* not an object */
	CHECK_EQ(hl_json_len(hl_json_get(v, "a")), 3);
	CHECK(hl_json_at(hl_json_get(v, "a"), 3) == NULL);
	CHECK(hl_json_key_at(hl_json_get(v, "a"), 0) == NULL);
	CHECK_EQ(hl_json_len(hl_json_get(v, "i")), 0);
	/* every getter takes NULL */
	CHECK(hl_json_str(NULL) == NULL && hl_json_bool(NULL) == -1 && !hl_json_num(NULL, &d));
	CHECK(hl_json_type(NULL) == HL_JSON_NULL && hl_json_at(NULL, 0) == NULL);
	hl_json_free(v);
	hl_json_free(NULL);
}

struct bad {
	const char *in;
	size_t len; /* 0: strlen */
	const char *why;
};

HL_TEST(json_malformed)
{
	static const struct bad bad[] = {
		/* truncated */
		{"", 0, "truncated"}, {"   ", 0, "truncated"}, {"{", 0, "truncated"}, {"[1,", 0, "truncated"},
		{"{\"a\"", 0, "':' expected"}, {"{\"a\":", 0, "truncated"}, {"{\"a\":1", 0, "truncated"},
		{"\"abc", 0, "unterminated string"}, {"\"abc\\", 0, "unterminated string"},
		{"[1,2", 0, "truncated"}, {"tru", 0, "unexpected character"}, {"nul", 0, "unexpected"},
		/* structure */
		{"[1 2]", 0, "',' or ']' expected"}, {"{\"a\" 1}", 0, "':' expected"},
		{"{1:2}", 0, "object key expected"}, {"[1,]", 0, "unexpected character ']'"},
		{"{\"a\":1,}", 0, "object key expected"}, {"[,1]", 0, "unexpected character ','"},
		{"{\"a\":1]", 0, "',' or '}' expected"}, {"]", 0, "unexpected"},
		/* trailing garbage */
		{"[1] x", 0, "trailing garbage"}, {"{} {}", 0, "trailing garbage"}, {"1 2", 0, "trailing"},
		{"truex", 0, "trailing"},
		/* numbers */
		{"01", 0, "leading zero"}, {"1.", 0, "after '.'"}, {"1e", 0, "exponent"}, {"-", 0, "bad number"},
		{"+1", 0, "unexpected character '+'"}, {".5", 0, "unexpected character '.'"},
		{"1e999", 0, "out of range"}, {"-1e999", 0, "out of range"}, {"0x10", 0, "trailing"},
		{"NaN", 0, "unexpected"}, {"Infinity", 0, "unexpected"},
		{"1234567890123456789012345678901234567890123456789012345678901234567890", 0, "longer than"},
		/* bad escapes */
		{"\"\\x\"", 0, "bad escape"}, {"\"\\u12\"", 0, "\\u escape"}, {"\"\\u12g4\"", 0, "\\u escape"},
		{"\"\\U0041\"", 0, "bad escape"}, {"\"\\'\"", 0, "bad escape"},
		/* surrogates and NUL */
		{"\"\\ud800\"", 0, "lone high surrogate"}, {"\"\\udc00\"", 0, "lone low surrogate"},
		{"\"\\ud800\\u0041\"", 0, "lone high surrogate"}, {"\"\\ud800x\"", 0, "lone high surrogate"},
		{"\"\\ud800\\ud800\"", 0, "lone high surrogate"}, {"\"\\u0000\"", 0, "NUL"},
		{"[1,\0]", 5, "unexpected byte 0x00"}, {"\"a\0b\"", 5, "control character 0x00"},
		/* control characters and bad UTF-8 in strings */
		{"\"a\tb\"", 0, "control character 0x09"}, {"\"a\nb\"", 0, "control character 0x0a"},
		{"\"\x1f\"", 0, "control character"}, {"\"\xc3\x28\"", 0, "invalid UTF-8"},
		{"\"\xc0\xaf\"", 0, "invalid UTF-8"}, {"\"\xed\xa0\x80\"", 0, "invalid UTF-8"},
		{"\"\xf4\x90\x80\x80\"", 0, "invalid UTF-8"}, {"\"\xe2\x82\"", 0, "invalid UTF-8"},
		{"\xff", 0, "unexpected byte 0xff"},
		/* duplicate keys: refused (documented in json.h) */
		{"{\"a\":1,\"a\":2}", 0, "duplicate key \"a\""}, {"{\"x\":{\"b\":1,\"c\":2,\"b\":3}}", 0, "duplicate"},
	};

	for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
		struct hl_json *v = (struct hl_json *)&v; /* must be reset to NULL */
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].in);
		int rc;

		hl_clear_error();
		rc = hl_json_parse(bad[i].in, len, &v);
		HL_CHECKED();
		if (rc != -EINVAL || v != NULL) {
			hl_test_fail(__FILE__, __LINE__, "case %zu ('%s'): rc %d, tree %p", i, bad[i].in, rc, (void *)v);
			hl_json_free(rc == 0 ? v : NULL);
			continue;
		}
		if (strstr(hl_last_error(), bad[i].why) == NULL || strstr(hl_last_error(), "offset") == NULL)
			hl_test_fail(__FILE__, __LINE__, "case %zu ('%s'): message '%s' lacks '%s' or a position", i,
				     bad[i].in, hl_last_error(), bad[i].why);
	}
}

HL_TEST(json_error_position)
{
	struct hl_json *v;
	const char *in = "{\"a\": [1,\n  2,\n   x]}";

	CHECK_EQ(hl_json_parse(in, strlen(in), &v), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "offset 18 (line 3, column 4)");
}

/* n levels of {"k":[ ... (2n containers), unterminated */
static char *open_levels(unsigned n)
{
	char *s = malloc(6 * n + 1);
	for (unsigned i = 0; s && i < n; i++)
		memcpy(s + 6 * i, "{\"k\":[", 6);
	if (s)
		s[6 * n] = '\0';
	return s;
}

HL_TEST(json_depth_limit)
{
	struct hl_json *v;
	char *s;

	/* {"k":[ ... alternating; objects need keys, so build arrays only */
	s = malloc(2 * (HL_JSON_MAX_DEPTH + 1) + 1);
	REQUIRE(s != NULL);
	memset(s, '[', HL_JSON_MAX_DEPTH);
	memset(s + HL_JSON_MAX_DEPTH, ']', HL_JSON_MAX_DEPTH);
	s[2 * HL_JSON_MAX_DEPTH] = '\0';
	CHECK(hl_json_parse(s, strlen(s), &v) == 0);
	hl_json_free(v);
	memset(s, '[', HL_JSON_MAX_DEPTH + 1);
	memset(s + HL_JSON_MAX_DEPTH + 1, ']', HL_JSON_MAX_DEPTH + 1);
	s[2 * HL_JSON_MAX_DEPTH + 2] = '\0';
	CHECK_EQ(hl_json_parse(s, strlen(s), &v), -EINVAL);
	CHECK(v == NULL);
	CHECK_STR_HAS(hl_last_error(), "nesting deeper than 32");
	free(s);

	/* deep and unterminated, with objects: unwinding frees every level */
	s = open_levels(20);
	REQUIRE(s != NULL);
	CHECK_EQ(hl_json_parse(s, strlen(s), &v), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "nesting deeper");
	free(s);
	s = open_levels(15);
	REQUIRE(s != NULL);
	CHECK_EQ(hl_json_parse(s, strlen(s), &v), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "truncated");
	free(s);
	const char *objs = "{\"a\":{\"b\":[1,{\"c\":[2,\"x\"]},3],\"d\":{\"e\":[";
	CHECK_EQ(hl_json_parse(objs, strlen(objs), &v), -EINVAL);
	CHECK_STR_HAS(hl_last_error(), "truncated");
}

HL_TEST(json_size_limit)
{
	struct hl_json *v;
	size_t n = HL_JSON_MAX_INPUT + 1;
	char *s = malloc(n);

	REQUIRE(s != NULL);
	/* exactly the limit: a big but valid document */
	s[0] = '[';
	for (size_t i = 1; i < HL_JSON_MAX_INPUT - 3; i += 2) {
		s[i] = '0';
		s[i + 1] = ',';
	}
	s[HL_JSON_MAX_INPUT - 3] = '0';
	s[HL_JSON_MAX_INPUT - 2] = ' ';
	s[HL_JSON_MAX_INPUT - 1] = ']';
	REQUIRE_OK(hl_json_parse(s, HL_JSON_MAX_INPUT, &v));
	CHECK_EQ(hl_json_len(v), (HL_JSON_MAX_INPUT - 1) / 2);
	hl_json_free(v);
	/* one byte more (whitespace even) is refused before any parsing */
	s[HL_JSON_MAX_INPUT] = ' ';
	CHECK_EQ(hl_json_parse(s, n, &v), -EINVAL);
	CHECK(v == NULL);
	CHECK_STR_HAS(hl_last_error(), "larger than the limit");
	/* many keys: the duplicate check must not blow up */
	size_t off = 0;
	s[off++] = '{';
	for (unsigned k = 0; off + 16 < HL_JSON_MAX_INPUT; k++)
		off += (size_t)snprintf(s + off, 16, "%s\"%x\":%u", k ? "," : "", k, k % 10);
	s[off++] = '}';
	REQUIRE_OK(hl_json_parse(s, off, &v));
	CHECK(hl_json_len(v) > 5000);
	CHECK(hl_json_get(v, "ff") != NULL);
	hl_json_free(v);
	free(s);
}

HL_TEST(jw_builds_valid_json)
{
	struct hl_jw w;
	struct hl_json *v;

	hl_jw_init(&w);
	CHECK(hl_jw_cstr(&w) == NULL); /* nothing written yet */
	hl_jw_obj_begin(&w);
	hl_jw_kv_bool(&w, "ok", true);
	hl_jw_kv_str(&w, "s", "tab\there \"q\" \x01 bad\xff utf8 \xc3\xa9");
	hl_jw_kv_u64(&w, "u", UINT64_MAX);
	hl_jw_kv_i64(&w, "i", INT64_MIN);
	hl_jw_kv_dbl(&w, "d", 0.1);
	hl_jw_kv_dbl(&w, "nan", NAN);
	hl_jw_kv_dbl(&w, "inf", -INFINITY);
	hl_jw_key(&w, "a");
	hl_jw_arr_begin(&w);
	hl_jw_null(&w);
	hl_jw_str(&w, NULL);
	hl_jw_strn(&w, "ab\0c", 4);
	hl_jw_arr_begin(&w);
	hl_jw_arr_end(&w);
	hl_jw_obj_begin(&w);
	hl_jw_obj_end(&w);
	hl_jw_arr_end(&w);
	hl_jw_obj_end(&w);
	REQUIRE(hl_jw_error(&w) == 0);
	CHECK(strcmp(hl_jw_cstr(&w),
		     "{\"ok\":true,\"s\":\"tab\\there \\\"q\\\" \\u0001 bad\\ufffd utf8 \xc3\xa9\","
		     "\"u\":18446744073709551615,\"i\":-9223372036854775808,\"d\":0.1,\"nan\":null,"
		     "\"inf\":null,\"a\":[null,null,\"ab\\u0000c\",[],{}]}") == 0);
	CHECK_EQ(hl_jw_len(&w), strlen(hl_jw_cstr(&w)));
	/* and it parses back, except for the \u0000 the parser refuses by policy */
	REQUIRE(hl_json_parse(hl_jw_cstr(&w), hl_jw_len(&w), &v) == -EINVAL);
	hl_jw_reset(&w);
	CHECK(hl_jw_cstr(&w) == NULL);
	hl_jw_dbl(&w, 1.0 / 3);
	REQUIRE(hl_jw_cstr(&w) != NULL);
	REQUIRE_OK(hl_json_parse(hl_jw_cstr(&w), hl_jw_len(&w), &v));
	double d = 0;
	CHECK(hl_json_num(v, &d) && d == 1.0 / 3); /* shortest text that reads back exactly */
	hl_json_free(v);
	hl_jw_free(&w);
}

HL_TEST(jw_refuses_misuse)
{
	struct hl_jw w;

	hl_jw_init(&w);
	hl_jw_obj_begin(&w);
	hl_jw_u64(&w, 1); /* value without a key */
	CHECK_EQ(hl_jw_error(&w), -EINVAL);
	CHECK(hl_jw_cstr(&w) == NULL);
	hl_jw_free(&w);

	hl_jw_init(&w);
	hl_jw_arr_begin(&w);
	hl_jw_key(&w, "k"); /* key in an array */
	CHECK_EQ(hl_jw_error(&w), -EINVAL);
	hl_jw_free(&w);

	hl_jw_init(&w);
	hl_jw_obj_begin(&w);
	hl_jw_arr_end(&w); /* wrong closer */
	CHECK_EQ(hl_jw_error(&w), -EINVAL);
	hl_jw_free(&w);

	hl_jw_init(&w);
	hl_jw_obj_begin(&w);
	hl_jw_key(&w, "k");
	hl_jw_obj_end(&w); /* key without value */
	CHECK_EQ(hl_jw_error(&w), -EINVAL);
	hl_jw_free(&w);

	hl_jw_init(&w);
	hl_jw_obj_begin(&w);
	hl_jw_kv_u64(&w, "k", 1);
	CHECK_EQ(hl_jw_error(&w), -EINVAL); /* unbalanced: not finished */
	CHECK(hl_jw_cstr(&w) == NULL);
	hl_jw_obj_end(&w);
	CHECK_EQ(hl_jw_error(&w), 0);
	hl_jw_null(&w); /* a second top-level value */
	CHECK_EQ(hl_jw_error(&w), -EINVAL);
	hl_jw_free(&w);

	hl_jw_init(&w);
	hl_jw_arr_end(&w); /* close with nothing open */
	CHECK_EQ(hl_jw_error(&w), -EINVAL);
	hl_jw_free(&w);

	hl_jw_init(&w);
	for (int i = 0; i <= HL_JW_MAX_DEPTH; i++)
		hl_jw_arr_begin(&w);
	CHECK_EQ(hl_jw_error(&w), -EINVAL);
	hl_jw_free(&w);
}

/* Writer output for arbitrary parsed documents parses again to the same text. */
HL_TEST(jw_output_reparses)
{
	static const char *const docs[] = {
		"{\"a\":[1,2.5,-3e-7,\"x\\u0007y\"],\"b\":{\"c\":null,\"d\":[true,false]}}",
		"[\"\\ud83d\\ude00\",\"\\u2028\\u2029\",\"\\u007f\"]",
		"{\"\xc3\xa9\":\"\\\"\\\\\"}",
	};
	for (size_t i = 0; i < HL_ARRAY_SIZE(docs); i++) {
		struct hl_json *a, *b;
		struct hl_jw w1, w2;
		REQUIRE_OK(hl_json_parse(docs[i], strlen(docs[i]), &a));
		hl_jw_init(&w1);
		hl_jw_value(&w1, a);
		REQUIRE(hl_jw_cstr(&w1) != NULL);
		REQUIRE_OK(hl_json_parse(hl_jw_cstr(&w1), hl_jw_len(&w1), &b));
		hl_jw_init(&w2);
		hl_jw_value(&w2, b);
		CHECK(hl_jw_cstr(&w2) != NULL && strcmp(hl_jw_cstr(&w1), hl_jw_cstr(&w2)) == 0);
		hl_jw_free(&w1);
		hl_jw_free(&w2);
		hl_json_free(a);
		hl_json_free(b);
	}
}
