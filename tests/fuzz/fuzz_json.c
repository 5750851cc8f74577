/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the control plane's JSON. Three properties, each an
 * assertion:
 *  - the parser never crashes, leaks or accepts and then loses memory, on
 *    any bytes (a refusal must leave no tree behind);
 *  - what it accepts, the writer writes back as a document the parser
 *    accepts again, and writing that second tree gives the same text
 *    (parse . write is a fixed point after one round);
 *  - any bytes given to the writer as a string come out as valid JSON, which
 *    parses back to the same bytes when they were printable ASCII.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/common.h>
#include <hugelink/json.h>

static void walk(const struct hl_json *v, unsigned depth)
{
	double d;
	uint64_t u;
	int64_t i;

	assert(depth <= HL_JSON_MAX_DEPTH);
	switch (hl_json_type(v)) {
	case HL_JSON_STR:
		assert(hl_json_str(v) != NULL);
		break;
	case HL_JSON_NUM:
		assert(hl_json_num(v, &d));
		(void)hl_json_u64(v, &u);
		(void)hl_json_i64(v, &i);
		break;
	case HL_JSON_OBJ:
		for (size_t k = 0; k < hl_json_len(v); k++) {
			assert(hl_json_key_at(v, k) != NULL);
			/* keys are unique, so look-up by key finds this very member */
			assert(hl_json_get(v, hl_json_key_at(v, k)) == hl_json_at(v, k));
			walk(hl_json_at(v, k), depth + 1);
		}
		break;
	case HL_JSON_ARR:
		for (size_t k = 0; k < hl_json_len(v); k++)
			walk(hl_json_at(v, k), depth + 1);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hl_json *a = NULL, *b = NULL;
	struct hl_jw w1, w2, w3;
	int rc;

	hl_log_set_level(HL_LOG_OFF);
	rc = hl_json_parse((const char *)data, size, &a);
	assert((rc == 0) == (a != NULL));
	if (rc == 0) {
		walk(a, 0);
		hl_jw_init(&w1);
		hl_jw_value(&w1, a);
		assert(hl_jw_cstr(&w1) != NULL);
		/* numbers may grow when rewritten (5e-324), so only within the limit */
		if (hl_jw_len(&w1) <= HL_JSON_MAX_INPUT) {
			rc = hl_json_parse(hl_jw_cstr(&w1), hl_jw_len(&w1), &b);
			assert(rc == 0);
			hl_jw_init(&w2);
			hl_jw_value(&w2, b);
			assert(hl_jw_cstr(&w2) != NULL && strcmp(hl_jw_cstr(&w1), hl_jw_cstr(&w2)) == 0);
			hl_jw_free(&w2);
			hl_json_free(b);
		}
		hl_jw_free(&w1);
		hl_json_free(a);
	}

	/* the bytes as one string value */
	hl_jw_init(&w3);
	hl_jw_obj_begin(&w3);
	hl_jw_key(&w3, "k");
	hl_jw_strn(&w3, (const char *)data, size);
	hl_jw_obj_end(&w3);
	assert(hl_jw_cstr(&w3) != NULL);
	if (memchr(data, 0, size) == NULL && hl_jw_len(&w3) <= HL_JSON_MAX_INPUT) {
		bool ascii = true;
		for (size_t k = 0; k < size; k++)
			ascii = ascii && data[k] >= 0x20 && data[k] < 0x7f;
		rc = hl_json_parse(hl_jw_cstr(&w3), hl_jw_len(&w3), &b);
		assert(rc == 0);
		const char *s = hl_json_str(hl_json_get(b, "k"));
		assert(s != NULL);
		if (ascii)
			assert(strlen(s) == size && memcmp(s, data, size) == 0);
		hl_json_free(b);
	}
	hl_jw_free(&w3);
	return 0;
}
