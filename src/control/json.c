/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON parser and writer for the control socket (see json.h for the rules).
 *
 * The parser is recursive descent; recursion is bounded by HL_JSON_MAX_DEPTH
 * and input by HL_JSON_MAX_INPUT, so stack and memory use are bounded no
 * matter what a client sends. Each node owns its children by value in one
 * array, so a failed parse unwinds by clearing whatever was built so far:
 * every parse_* function leaves its output node owning nothing on failure.
 *
 * The writer keeps one bit per open container (object or array) and a
 * "key pending" flag, which is enough to place commas and to catch a caller
 * that writes a value where a key belongs; the first error sticks.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/common.h>
#include <hugelink/json.h>

struct hl_json {
	enum hl_json_type type;
	union {
		bool b;
		struct {
			double d;
			uint64_t mag; /* |value| when is_int */
			bool is_int;  /* integer literal that fits in 64 bits of magnitude */
			bool neg;
		} num;
		struct {
			char *s;
			size_t len;
		} str;
		struct {
			struct hl_json *items;
			char **keys; /* objects only, parallel to items */
			size_t n, cap;
		} c;
	} u;
};

struct parser {
	const unsigned char *start, *p, *end;
	int depth;
};

/* ---- shared helpers ---- */

/* Length of the valid UTF-8 sequence at p (at most avail bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		if (c == 0xed)
			hi = 0x9f; /* UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static size_t utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* ---- parser ---- */

__attribute__((format(printf, 3, 4)))
static int perr(const struct parser *ps, const unsigned char *at, const char *fmt, ...)
{
	char what[160];
	size_t line = 1, col = 1;
	va_list ap;

	for (const unsigned char *q = ps->start; q < at; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return hl_error(-EINVAL, "%s at offset %zu (line %zu, column %zu)", what,
			(size_t)(at - ps->start), line, col);
}

static void node_clear(struct hl_json *v)
{
	switch (v->type) {
	case HL_JSON_STR:
		free(v->u.str.s);
		break;
	case HL_JSON_ARR:
	case HL_JSON_OBJ:
		for (size_t i = 0; i < v->u.c.n; i++) {
			node_clear(&v->u.c.items[i]);
			if (v->u.c.keys)
				free(v->u.c.keys[i]);
		}
		free(v->u.c.items);
		free(v->u.c.keys);
		break;
	default:
		break;
	}
	memset(v, 0, sizeof(*v));
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* ps->p at the opening quote. */
static int parse_string(struct parser *ps, char **out, size_t *out_len)
{
	const unsigned char *open = ps->p, *q = ps->p + 1, *close;
	char *s, *o;

	/* find the closing quote first: the decoded string is never longer */
	while (q < ps->end && *q != '"')
		q += (*q == '\\' && ps->end - q >= 2) ? 2 : 1;
	if (q >= ps->end)
		return perr(ps, open, "unterminated string");
	close = q;
	s = malloc((size_t)(close - open));
	if (s == NULL)
		return hl_error(-ENOMEM, "out of memory parsing JSON");
	o = s;
	q = open + 1;
	while (q < close) {
		unsigned char c = *q;
		if (c < 0x20) {
			free(s);
			return perr(ps, q, "control character 0x%02x in string", c);
		}
		if (c != '\\') {
			size_t n = utf8_len(q, (size_t)(close - q));
			if (n == 0) {
				free(s);
				return perr(ps, q, "invalid UTF-8 in string");
			}
			memcpy(o, q, n);
			o += n;
			q += n;
			continue;
		}
		/* escape: close is past q, so q[1] exists */
		switch (q[1]) {
		case '"': *o++ = '"'; q += 2; continue;
		case '\\': *o++ = '\\'; q += 2; continue;
		case '/': *o++ = '/'; q += 2; continue;
		case 'b': *o++ = '\b'; q += 2; continue;
		case 'f': *o++ = '\f'; q += 2; continue;
		case 'n': *o++ = '\n'; q += 2; continue;
		case 'r': *o++ = '\r'; q += 2; continue;
		case 't': *o++ = '\t'; q += 2; continue;
		case 'u': break;
		default:
			free(s);
			return perr(ps, q, "bad escape '\\%c'", q[1] >= 0x20 && q[1] < 0x7f ? q[1] : '?');
		}
		uint32_t cp, lo;
		if (close - q < 6 || hex4(q + 2, &cp) < 0) {
			free(s);
			return perr(ps, q, "bad \\u escape (needs 4 hex digits)");
		}
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			free(s);
			return perr(ps, q, "lone low surrogate \\u%04x", (unsigned)cp);
		}
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (close - q < 12 || q[6] != '\\' || q[7] != 'u' || hex4(q + 8, &lo) < 0 ||
			    lo < 0xdc00 || lo > 0xdfff) {
				free(s);
				return perr(ps, q, "lone high surrogate \\u%04x", (unsigned)cp);
			}
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			q += 12;
		} else {
			if (cp == 0) {
				free(s);
				return perr(ps, q, "\\u0000 (NUL) in string");
			}
			q += 6;
		}
		o += utf8_put(o, cp);
	}
	*o = '\0';
	*out = s;
	*out_len = (size_t)(o - s);
	ps->p = close + 1;
	return 0;
}

static int parse_number(struct parser *ps, struct hl_json *v)
{
	const unsigned char *b = ps->p, *q = ps->p;
	char tmp[HL_JSON_MAX_NUMBER + 1];
	uint64_t mag = 0;
	bool is_int = true, neg = false;

	if (q < ps->end && *q == '-') {
		neg = true;
		q++;
	}
	if (q >= ps->end || *q < '0' || *q > '9')
		return perr(ps, b, "bad number");
	if (*q == '0') {
		q++;
		if (q < ps->end && *q >= '0' && *q <= '9')
			return perr(ps, b, "number with a leading zero");
	} else {
		while (q < ps->end && *q >= '0' && *q <= '9') {
			unsigned d = (unsigned)(*q - '0');
			if (mag > (UINT64_MAX - d) / 10)
				is_int = false; /* still a number, just not an exact one */
			else
				mag = mag * 10 + d;
			q++;
		}
	}
	if (q < ps->end && *q == '.') {
		is_int = false;
		q++;
		if (q >= ps->end || *q < '0' || *q > '9')
			return perr(ps, b, "bad number (digit expected after '.')");
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < ps->end && (*q == 'e' || *q == 'E')) {
		is_int = false;
		q++;
		if (q < ps->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= ps->end || *q < '0' || *q > '9')
			return perr(ps, b, "bad number (digit expected in exponent)");
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	}
	if ((size_t)(q - b) > HL_JSON_MAX_NUMBER)
		return perr(ps, b, "number longer than %d characters", HL_JSON_MAX_NUMBER);
	memcpy(tmp, b, (size_t)(q - b));
	tmp[q - b] = '\0';
	double d = strtod(tmp, NULL);
	if (!isfinite(d))
		return perr(ps, b, "number out of range");
	v->type = HL_JSON_NUM;
	v->u.num.d = d;
	v->u.num.is_int = is_int;
	v->u.num.neg = neg;
	v->u.num.mag = is_int ? mag : 0;
	ps->p = q;
	return 0;
}

static int parse_value(struct parser *ps, struct hl_json *v);

/* Append a zeroed slot to a container; on failure v is unchanged. */
static struct hl_json *push_slot(struct hl_json *v, bool with_key)
{
	if (v->u.c.n == v->u.c.cap) {
		size_t cap = v->u.c.cap ? v->u.c.cap * 2 : 4;
		struct hl_json *items = realloc(v->u.c.items, cap * sizeof(*items));
		if (items == NULL)
			return NULL;
		v->u.c.items = items;
		if (with_key) {
			char **keys = realloc(v->u.c.keys, cap * sizeof(*keys));
			if (keys == NULL)
				return NULL;
			v->u.c.keys = keys;
		}
		v->u.c.cap = cap;
	}
	memset(&v->u.c.items[v->u.c.n], 0, sizeof(v->u.c.items[0]));
	return &v->u.c.items[v->u.c.n];
}

static int cmp_keyp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_dup_keys(struct parser *ps, const struct hl_json *v, const unsigned char *at)
{
	size_t n = v->u.c.n;
	char **sorted;
	int rc = 0;

	if (n < 2)
		return 0;
	sorted = malloc(n * sizeof(*sorted));
	if (sorted == NULL)
		return hl_error(-ENOMEM, "out of memory parsing JSON");
	memcpy(sorted, v->u.c.keys, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_keyp);
	for (size_t i = 1; i < n && rc == 0; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			rc = perr(ps, at, "duplicate key \"%.40s\" in object", sorted[i]);
	free(sorted);
	return rc;
}

static int parse_container(struct parser *ps, struct hl_json *v, bool obj)
{
	const unsigned char *open = ps->p;
	char close = obj ? '}' : ']';
	int rc;

	if (++ps->depth > HL_JSON_MAX_DEPTH)
		return perr(ps, open, "nesting deeper than %d", HL_JSON_MAX_DEPTH);
	v->type = obj ? HL_JSON_OBJ : HL_JSON_ARR;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		size_t klen;

		skip_ws(ps);
		if (obj) {
			if (ps->p >= ps->end || *ps->p != '"') {
				rc = perr(ps, ps->p, ps->p >= ps->end ? "truncated object" : "object key expected");
				goto fail;
			}
			rc = parse_string(ps, &key, &klen);
			if (rc < 0)
				goto fail;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				free(key);
				rc = perr(ps, ps->p, "':' expected after key");
				goto fail;
			}
			ps->p++;
		}
		struct hl_json *slot = push_slot(v, obj);
		if (slot == NULL) {
			free(key);
			rc = hl_error(-ENOMEM, "out of memory parsing JSON");
			goto fail;
		}
		rc = parse_value(ps, slot);
		if (rc < 0) {
			free(key);
			goto fail;
		}
		if (obj)
			v->u.c.keys[v->u.c.n] = key;
		v->u.c.n++;
		skip_ws(ps);
		if (ps->p >= ps->end) {
			rc = perr(ps, ps->p, obj ? "truncated object" : "truncated array");
			goto fail;
		}
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			break;
		}
		rc = perr(ps, ps->p, "',' or '%c' expected", close);
		goto fail;
	}
	if (obj && (rc = check_dup_keys(ps, v, open)) < 0)
		goto fail;
	ps->depth--;
	return 0;
fail:
	node_clear(v);
	return rc;
}

static int parse_value(struct parser *ps, struct hl_json *v)
{
	static const struct {
		const char *word;
		size_t len;
		enum hl_json_type type;
		bool b;
	} lits[] = {
		{"true", 4, HL_JSON_BOOL, true},
		{"false", 5, HL_JSON_BOOL, false},
		{"null", 4, HL_JSON_NULL, false},
	};
	int rc;

	skip_ws(ps);
	if (ps->p >= ps->end)
		return perr(ps, ps->p, "truncated input (value expected)");
	switch (*ps->p) {
	case '{':
		return parse_container(ps, v, true);
	case '[':
		return parse_container(ps, v, false);
	case '"':
		rc = parse_string(ps, &v->u.str.s, &v->u.str.len);
		if (rc == 0)
			v->type = HL_JSON_STR;
		return rc;
	case '-':
	case '0' ... '9':
		return parse_number(ps, v);
	default:
		for (size_t i = 0; i < HL_ARRAY_SIZE(lits); i++) {
			if ((size_t)(ps->end - ps->p) >= lits[i].len &&
			    memcmp(ps->p, lits[i].word, lits[i].len) == 0) {
				v->type = lits[i].type;
				v->u.b = lits[i].b;
				ps->p += lits[i].len;
				return 0;
			}
		}
		if (*ps->p >= 0x21 && *ps->p < 0x7f)
			return perr(ps, ps->p, "unexpected character '%c'", *ps->p);
		return perr(ps, ps->p, "unexpected byte 0x%02x", *ps->p);
	}
}

int hl_json_parse(const char *text, size_t len, struct hl_json **out)
{
	struct parser ps;
	struct hl_json *root;
	int rc;

	*out = NULL;
	if (text == NULL)
		return hl_error(-EINVAL, "JSON: no input");
	if (len > HL_JSON_MAX_INPUT)
		return hl_error(-EINVAL, "JSON input of %zu bytes is larger than the limit of %u",
				len, HL_JSON_MAX_INPUT);
	ps.start = ps.p = (const unsigned char *)text;
	ps.end = ps.start + len;
	ps.depth = 0;
	root = calloc(1, sizeof(*root));
	if (root == NULL)
		return hl_error(-ENOMEM, "out of memory parsing JSON");
	rc = parse_value(&ps, root);
	if (rc == 0) {
		skip_ws(&ps);
		if (ps.p != ps.end) {
			rc = perr(&ps, ps.p, "trailing garbage after the value");
			node_clear(root);
		}
	}
	if (rc < 0) {
		free(root);
		return rc;
	}
	*out = root;
	return 0;
}

void hl_json_free(struct hl_json *v)
{
	if (v == NULL)
		return;
	node_clear(v);
	free(v);
}

/* ---- getters ---- */

enum hl_json_type hl_json_type(const struct hl_json *v)
{
	return v ? v->type : HL_JSON_NULL;
}

bool hl_json_is_null(const struct hl_json *v)
{
	return v != NULL && v->type == HL_JSON_NULL;
}

const struct hl_json *hl_json_get(const struct hl_json *obj, const char *key)
{
	if (obj == NULL || obj->type != HL_JSON_OBJ || key == NULL)
		return NULL;
	for (size_t i = 0; i < obj->u.c.n; i++)
		if (strcmp(obj->u.c.keys[i], key) == 0)
			return &obj->u.c.items[i];
	return NULL;
}

const char *hl_json_str(const struct hl_json *v)
{
	return v && v->type == HL_JSON_STR ? v->u.str.s : NULL;
}

bool hl_json_num(const struct hl_json *v, double *out)
{
	if (v == NULL || v->type != HL_JSON_NUM)
		return false;
	*out = v->u.num.d;
	return true;
}

bool hl_json_u64(const struct hl_json *v, uint64_t *out)
{
	if (v == NULL || v->type != HL_JSON_NUM || !v->u.num.is_int)
		return false;
	if (v->u.num.neg && v->u.num.mag != 0)
		return false;
	*out = v->u.num.mag;
	return true;
}

bool hl_json_i64(const struct hl_json *v, int64_t *out)
{
	if (v == NULL || v->type != HL_JSON_NUM || !v->u.num.is_int)
		return false;
	if (v->u.num.neg) {
		if (v->u.num.mag > (uint64_t)INT64_MAX + 1)
			return false;
		*out = v->u.num.mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v->u.num.mag;
	} else {
		if (v->u.num.mag > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v->u.num.mag;
	}
	return true;
}

int hl_json_bool(const struct hl_json *v)
{
	if (v == NULL || v->type != HL_JSON_BOOL)
		return -1;
	return v->u.b ? 1 : 0;
}

size_t hl_json_len(const struct hl_json *v)
{
	if (v == NULL || (v->type != HL_JSON_ARR && v->type != HL_JSON_OBJ))
		return 0;
	return v->u.c.n;
}

const struct hl_json *hl_json_at(const struct hl_json *v, size_t i)
{
	if (i >= hl_json_len(v))
		return NULL;
	return &v->u.c.items[i];
}

const char *hl_json_key_at(const struct hl_json *obj, size_t i)
{
	if (obj == NULL || obj->type != HL_JSON_OBJ || i >= obj->u.c.n)
		return NULL;
	return obj->u.c.keys[i];
}

/* ---- writer ---- */

void hl_jw_init(struct hl_jw *w)
{
	memset(w, 0, sizeof(*w));
}

void hl_jw_free(struct hl_jw *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

void hl_jw_reset(struct hl_jw *w)
{
	char *buf = w->buf;
	size_t cap = w->cap;

	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
	if (buf)
		buf[0] = '\0';
}

static void jw_fail(struct hl_jw *w, int err)
{
	if (w->err == 0)
		w->err = err;
}

static void put(struct hl_jw *w, const char *s, size_t n)
{
	if (w->err)
		return;
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n + 1) {
			if (cap > SIZE_MAX / 2) {
				jw_fail(w, -ENOMEM);
				return;
			}
			cap *= 2;
		}
		char *b = realloc(w->buf, cap);
		if (b == NULL) {
			jw_fail(w, -ENOMEM);
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static bool top_is_obj(const struct hl_jw *w)
{
	return w->depth > 0 && (w->in_obj >> (w->depth - 1)) & 1;
}

/* Before any value: check it is allowed here and place the comma. */
static bool pre_value(struct hl_jw *w)
{
	if (w->err)
		return false;
	if (w->done) {
		jw_fail(w, -EINVAL); /* a second top-level value */
		return false;
	}
	if (top_is_obj(w)) {
		if (!w->have_key) {
			jw_fail(w, -EINVAL); /* value without a key */
			return false;
		}
		w->have_key = false;
	} else if (w->need_comma)
		put(w, ",", 1);
	return true;
}

static void post_value(struct hl_jw *w)
{
	w->need_comma = true;
	if (w->depth == 0)
		w->done = true;
}

static void str_body(struct hl_jw *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;

	put(w, "\"", 1);
	while (p < end) {
		unsigned char c = *p;
		const char *esc = NULL;
		char ubuf[8];
		size_t l;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0x80 && (l = utf8_len(p, (size_t)(end - p))) != 0) {
			p += l;
			continue;
		}
		put(w, (const char *)run, (size_t)(p - run));
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			if (c < 0x20) {
				snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
				esc = ubuf;
			} else
				esc = "\\ufffd"; /* a byte that is not valid UTF-8 */
		}
		put(w, esc, strlen(esc));
		p++;
		run = p;
	}
	put(w, (const char *)run, (size_t)(p - run));
	put(w, "\"", 1);
}

void hl_jw_obj_begin(struct hl_jw *w)
{
	if (!pre_value(w))
		return;
	if (w->depth >= HL_JW_MAX_DEPTH) {
		jw_fail(w, -EINVAL);
		return;
	}
	put(w, "{", 1);
	w->in_obj |= 1ull << w->depth;
	w->depth++;
	w->need_comma = false;
}

void hl_jw_arr_begin(struct hl_jw *w)
{
	if (!pre_value(w))
		return;
	if (w->depth >= HL_JW_MAX_DEPTH) {
		jw_fail(w, -EINVAL);
		return;
	}
	put(w, "[", 1);
	w->in_obj &= ~(1ull << w->depth);
	w->depth++;
	w->need_comma = false;
}

static void end_container(struct hl_jw *w, bool obj)
{
	if (w->err)
		return;
	if (w->depth == 0 || top_is_obj(w) != obj || w->have_key) {
		jw_fail(w, -EINVAL);
		return;
	}
	put(w, obj ? "}" : "]", 1);
	w->depth--;
	post_value(w);
}

void hl_jw_obj_end(struct hl_jw *w)
{
	end_container(w, true);
}

void hl_jw_arr_end(struct hl_jw *w)
{
	end_container(w, false);
}

void hl_jw_key(struct hl_jw *w, const char *key)
{
	if (w->err)
		return;
	if (!top_is_obj(w) || w->have_key || key == NULL) {
		jw_fail(w, -EINVAL);
		return;
	}
	if (w->need_comma)
		put(w, ",", 1);
	str_body(w, key, strlen(key));
	put(w, ":", 1);
	w->have_key = true;
}

void hl_jw_strn(struct hl_jw *w, const char *s, size_t n)
{
	if (s == NULL) {
		hl_jw_null(w);
		return;
	}
	if (!pre_value(w))
		return;
	str_body(w, s, n);
	post_value(w);
}

void hl_jw_str(struct hl_jw *w, const char *s)
{
	hl_jw_strn(w, s, s ? strlen(s) : 0);
}

static void raw_value(struct hl_jw *w, const char *s)
{
	if (!pre_value(w))
		return;
	put(w, s, strlen(s));
	post_value(w);
}

void hl_jw_u64(struct hl_jw *w, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRIu64, v);
	raw_value(w, b);
}

void hl_jw_i64(struct hl_jw *w, int64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRId64, v);
	raw_value(w, b);
}

void hl_jw_dbl(struct hl_jw *w, double v)
{
	char b[40];

	if (!isfinite(v)) {
		raw_value(w, "null");
		return;
	}
	/* the shortest of the two precisions that reads back exactly */
	snprintf(b, sizeof(b), "%.15g", v);
	if (strtod(b, NULL) != v)
		snprintf(b, sizeof(b), "%.17g", v);
	raw_value(w, b);
}

void hl_jw_bool(struct hl_jw *w, bool v)
{
	raw_value(w, v ? "true" : "false");
}

void hl_jw_null(struct hl_jw *w)
{
	raw_value(w, "null");
}

void hl_jw_value(struct hl_jw *w, const struct hl_json *v)
{
	char b[32];

	if (v == NULL) {
		hl_jw_null(w);
		return;
	}
	switch (v->type) {
	case HL_JSON_NULL:
		hl_jw_null(w);
		break;
	case HL_JSON_BOOL:
		hl_jw_bool(w, v->u.b);
		break;
	case HL_JSON_NUM:
		if (v->u.num.is_int) {
			snprintf(b, sizeof(b), "%s%" PRIu64, v->u.num.neg ? "-" : "", v->u.num.mag);
			raw_value(w, b);
		} else
			hl_jw_dbl(w, v->u.num.d);
		break;
	case HL_JSON_STR:
		hl_jw_strn(w, v->u.str.s, v->u.str.len);
		break;
	case HL_JSON_ARR:
		hl_jw_arr_begin(w);
		for (size_t i = 0; i < v->u.c.n; i++)
			hl_jw_value(w, &v->u.c.items[i]);
		hl_jw_arr_end(w);
		break;
	case HL_JSON_OBJ:
		hl_jw_obj_begin(w);
		for (size_t i = 0; i < v->u.c.n; i++) {
			hl_jw_key(w, v->u.c.keys[i]);
			hl_jw_value(w, &v->u.c.items[i]);
		}
		hl_jw_obj_end(w);
		break;
	}
}

/* A key and its value: one writer a value type. */
#define HL_JW_KV(name, type)                                                   \
	void hl_jw_kv_##name(struct hl_jw *w, const char *key, type v)         \
	{                                                                      \
		hl_jw_key(w, key);                                             \
		hl_jw_##name(w, v);                                            \
	}

HL_JW_KV(str, const char *)
HL_JW_KV(u64, uint64_t)
HL_JW_KV(i64, int64_t)
HL_JW_KV(dbl, double)
HL_JW_KV(bool, bool)

int hl_jw_error(const struct hl_jw *w)
{
	if (w->err)
		return w->err;
	return w->done ? 0 : -EINVAL;
}

const char *hl_jw_cstr(const struct hl_jw *w)
{
	return hl_jw_error(w) == 0 ? w->buf : NULL;
}

size_t hl_jw_len(const struct hl_jw *w)
{
	return hl_jw_error(w) == 0 ? w->len : 0;
}
