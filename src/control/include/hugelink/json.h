/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON for the control plane: a parser that turns untrusted text into a
 * read-only tree, and a writer that builds compact JSON in a growable buffer.
 *
 * The parser is strict RFC 8259 with bounds meant for hostile peers:
 *  - input of at most HL_JSON_MAX_INPUT bytes, nesting of at most
 *    HL_JSON_MAX_DEPTH arrays/objects, number literals of at most
 *    HL_JSON_MAX_NUMBER characters and finite as a double;
 *  - strings must be valid UTF-8 without raw control characters; escapes are
 *    decoded (\uXXXX surrogate pairs become one 4-byte UTF-8 sequence), lone
 *    surrogates and \u0000 are refused, so every string is a C string;
 *  - duplicate keys in one object are refused (a request that says two
 *    things about one field is ambiguous, and peers disagree on which wins);
 *  - nothing but whitespace may follow the value.
 * Anything else is -EINVAL, with hl_last_error() naming what and where
 * (byte offset, line, column), and nothing allocated.
 *
 * The writer never fails midway for the caller: the first error (out of
 * memory, a value where a key is expected, unbalanced containers) is kept,
 * later calls are ignored, and hl_jw_error()/hl_jw_cstr() report it at the end.
 */
#ifndef HUGELINK_JSON_H
#define HUGELINK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HL_JSON_MAX_INPUT  (64u * 1024)
#define HL_JSON_MAX_DEPTH  32
#define HL_JSON_MAX_NUMBER 64

enum hl_json_type {
	HL_JSON_NULL,
	HL_JSON_BOOL,
	HL_JSON_NUM,
	HL_JSON_STR,
	HL_JSON_ARR,
	HL_JSON_OBJ,
};

struct hl_json;

/*
 * Parse len bytes of text (need not be NUL-terminated). On success *out is a
 * tree owned by the caller (hl_json_free). Returns 0 or -EINVAL.
 */
int hl_json_parse(const char *text, size_t len, struct hl_json **out);
void hl_json_free(struct hl_json *v);

/* Every getter accepts NULL (as "absent") and never fails loudly. */
enum hl_json_type hl_json_type(const struct hl_json *v); /* NULL -> HL_JSON_NULL */
bool hl_json_is_null(const struct hl_json *v);           /* a present null */

/* Member of an object by key; NULL if v is not an object or has no such key. */
const struct hl_json *hl_json_get(const struct hl_json *obj, const char *key);
/* The string, or NULL if v is not a string. */
const char *hl_json_str(const struct hl_json *v);
/* Numbers: false if v is not a number (out untouched). */
bool hl_json_num(const struct hl_json *v, double *out);
/* Exact integers only: false for 1.5, 1e3, negatives (u64) or out of range. */
bool hl_json_u64(const struct hl_json *v, uint64_t *out);
bool hl_json_i64(const struct hl_json *v, int64_t *out);
/* 1 for true, 0 for false, -1 if v is not a boolean. */
int hl_json_bool(const struct hl_json *v);
/* Number of elements of an array or members of an object, else 0. */
size_t hl_json_len(const struct hl_json *v);
/* Element i of an array or value of member i of an object (in input order). */
const struct hl_json *hl_json_at(const struct hl_json *v, size_t i);
/* Key of member i of an object, NULL otherwise. */
const char *hl_json_key_at(const struct hl_json *obj, size_t i);

/* Writer. Zero-initialised or hl_jw_init()ed; released with hl_jw_free(). */
struct hl_jw {
	char *buf;
	size_t len, cap;
	int err;           /* first error, sticky */
	unsigned depth;
	uint64_t in_obj;   /* bit d set: container at depth d+1 is an object */
	bool need_comma;   /* a value was written at this level */
	bool have_key;     /* in an object, a key waits for its value */
	bool done;         /* the top-level value is complete */
};

#define HL_JW_MAX_DEPTH 64

void hl_jw_init(struct hl_jw *w);
void hl_jw_free(struct hl_jw *w);
void hl_jw_reset(struct hl_jw *w); /* empty again, memory kept */

void hl_jw_obj_begin(struct hl_jw *w);
void hl_jw_obj_end(struct hl_jw *w);
void hl_jw_arr_begin(struct hl_jw *w);
void hl_jw_arr_end(struct hl_jw *w);
void hl_jw_key(struct hl_jw *w, const char *key);
/*
 * Escaped; invalid UTF-8 bytes are written as U+FFFD so output stays valid.
 * A NULL string is written as null.
 */
void hl_jw_str(struct hl_jw *w, const char *s);
void hl_jw_strn(struct hl_jw *w, const char *s, size_t n);
void hl_jw_u64(struct hl_jw *w, uint64_t v);
void hl_jw_i64(struct hl_jw *w, int64_t v);
void hl_jw_dbl(struct hl_jw *w, double v); /* NaN and infinities as null */
void hl_jw_bool(struct hl_jw *w, bool v);
void hl_jw_null(struct hl_jw *w);
/* A parsed tree, written back (numbers as exact integers where they were). */
void hl_jw_value(struct hl_jw *w, const struct hl_json *v);

/* key + value in one call, for replies. */
void hl_jw_kv_str(struct hl_jw *w, const char *key, const char *s);
void hl_jw_kv_u64(struct hl_jw *w, const char *key, uint64_t v);
void hl_jw_kv_i64(struct hl_jw *w, const char *key, int64_t v);
void hl_jw_kv_dbl(struct hl_jw *w, const char *key, double v);
void hl_jw_kv_bool(struct hl_jw *w, const char *key, bool v);

/* 0, or the first error (-ENOMEM, -EINVAL for misuse, unbalanced at the end). */
int hl_jw_error(const struct hl_jw *w);
/* The finished document (NUL-terminated), or NULL if incomplete or in error. */
const char *hl_jw_cstr(const struct hl_jw *w);
size_t hl_jw_len(const struct hl_jw *w);

#ifdef __cplusplus
}
#endif
#endif
