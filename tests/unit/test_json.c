/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the JSON writer (warden/json.h): RFC 8259 escaping, UTF-8
 * sanitising, exact writer output, and never writing past the buffer.
 */

#include "unit.h"

#include <ctype.h>
#include <strings.h>

#include <warden/json.h>

#define BIG 65536

/* argv-style arrays want char *; string literals are const under -Wwrite-strings. */
#define A(s) ((char *)(s))

/* ---- a reference model, written independently of the implementation ---- */

/*
 * Length of the valid UTF-8 sequence at s[0..n), or 0 when the byte at s is
 * not the start of one (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF).
 */
static size_t utf8_valid_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		if (n < 2 || (s[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c < 0xf0) {
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
		if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c < 0xf5) {
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
		if (n < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* True when s[0..n) is entirely valid UTF-8. */
static int utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = utf8_valid_len(s + i, n - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* What the escaped string must decode to: every invalid byte as U+FFFD. */
static size_t reference_sanitize(const unsigned char *in, size_t n, unsigned char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_valid_len(in + i, n - i);
		if (k == 0) {
			out[o++] = 0xef;
			out[o++] = 0xbf;
			out[o++] = 0xbd;
			i++;
		} else {
			memcpy(out + o, in + i, k);
			o += k;
			i += k;
		}
	}
	return o;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t put_utf8(unsigned cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static int read_u4(const unsigned char *s, size_t n, size_t i, unsigned *cp)
{
	if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u')
		return -1;
	unsigned v = 0;
	for (int k = 2; k < 6; k++) {
		int h = hexval(s[i + k]);
		if (h < 0)
			return -1;
		v = v * 16 + (unsigned)h;
	}
	*cp = v;
	return 0;
}

/*
 * Decodes the inside of a JSON string as a strict RFC 8259 parser would.
 * Returns the decoded length, or -1 (with a reason) when s is not a valid
 * JSON string body: raw control characters, a raw quote, a bad escape, a
 * lone surrogate escape, or bytes that are not valid UTF-8.
 */
static long json_unescape(const unsigned char *s, size_t n, unsigned char *out, const char **why)
{
	size_t o = 0;

	*why = "";
	if (!utf8_valid(s, n)) {
		*why = "output is not valid UTF-8";
		return -1;
	}
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c < 0x20 || c == 0x7f) {
			*why = "raw control character in output";
			return -1;
		}
		if (c == '"') {
			*why = "unescaped quote in output";
			return -1;
		}
		if (c != '\\') {
			out[o++] = (unsigned char)c;
			i++;
			continue;
		}
		if (i + 1 >= n) {
			*why = "dangling backslash";
			return -1;
		}
		switch (s[i + 1]) {
		case '"':
			out[o++] = '"';
			i += 2;
			continue;
		case '\\':
			out[o++] = '\\';
			i += 2;
			continue;
		case '/':
			out[o++] = '/';
			i += 2;
			continue;
		case 'b':
			out[o++] = '\b';
			i += 2;
			continue;
		case 'f':
			out[o++] = '\f';
			i += 2;
			continue;
		case 'n':
			out[o++] = '\n';
			i += 2;
			continue;
		case 'r':
			out[o++] = '\r';
			i += 2;
			continue;
		case 't':
			out[o++] = '\t';
			i += 2;
			continue;
		case 'u':
			break;
		default:
			*why = "invalid escape";
			return -1;
		}
		unsigned cp, lo;
		if (read_u4(s, n, i, &cp) < 0) {
			*why = "bad \\u escape";
			return -1;
		}
		i += 6;
		if (cp >= 0xdc00 && cp <= 0xdfff) {
			*why = "lone low surrogate escape";
			return -1;
		}
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (read_u4(s, n, i, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
				*why = "lone high surrogate escape";
				return -1;
			}
			i += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		o += put_utf8(cp, out + o);
	}
	return (long)o;
}

/*
 * Canonical form for comparing escaped output: \uXXXX in lower case, and
 * U+FFFD and DEL written as \ufffd and \u007f whether raw or escaped (the
 * header allows either; RFC 8259 accepts both).
 */
static size_t normalize(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		const unsigned char *u = (const unsigned char *)s + i;
		if (u[0] == '\\' && i + 1 < n) {
			if (u[1] == 'u' && i + 6 <= n) {
				out[o++] = '\\';
				out[o++] = 'u';
				for (int k = 2; k < 6; k++)
					out[o++] = (char)tolower(u[k]);
				i += 6;
			} else {
				out[o++] = s[i];
				out[o++] = s[i + 1];
				i += 2;
			}
		} else if (i + 3 <= n && u[0] == 0xef && u[1] == 0xbf && u[2] == 0xbd) {
			memcpy(out + o, "\\ufffd", 6);
			o += 6;
			i += 3;
		} else if (u[0] == 0x7f) {
			memcpy(out + o, "\\u007f", 6);
			o += 6;
			i++;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	return o;
}

/* Escapes with a large buffer; the result is NUL-terminated for printing. */
static size_t esc(const char *in, size_t n, char *out, size_t *used)
{
	size_t u = (size_t)-1;
	fill_canary(out, BIG);
	size_t w = wd_json_escape(out, BIG - 1, in, n, &u);
	assert_true(w < BIG);
	out[w] = '\0';
	if (used)
		*used = u;
	return w;
}

/* Printable dump of bytes for failure messages. */
static const char *dump(const char *s, size_t n)
{
	static char buf[4][2048];
	static int k;
	char *b = buf[k++ % 4];
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < sizeof(buf[0]); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			b[o++] = (char)c;
		else
			o += (size_t)snprintf(b + o, sizeof(buf[0]) - o, "\\x%02x", c);
	}
	b[o] = '\0';
	return b;
}

/*
 * Checks that escaping in[0..n) gives expect (compared after normalize()),
 * and that all n bytes were consumed.
 */
static void check_escape_at(const char *in, size_t n, const char *expect, int line)
{
	static char out[BIG], na[BIG * 2], ne[BIG * 2];
	size_t used;
	size_t w = esc(in, n, out, &used);
	normalize(out, w, na);
	normalize(expect, strlen(expect), ne);
	if (strcmp(na, ne) != 0 || used != n) {
		print_error("line %d: escape(\"%s\") = \"%s\" (used %zu of %zu), expected \"%s\"\n",
			    line, dump(in, n), dump(out, w), used, n, dump(expect, strlen(expect)));
		fail();
	}
}
#define check_escape(in, n, expect) check_escape_at(in, n, expect, __LINE__)
#define check_escape_s(in, expect) check_escape_at(in, strlen(in), expect, __LINE__)

/* ---- escaping ---- */

static void test_escape_plain(void **state)
{
	check_escape_s("", "");
	check_escape_s("hello, world", "hello, world");
	check_escape_s(" !#$%&'()*+,-./0123456789:;<=>?@AZ[]^_`az{|}~",
		       " !#$%&'()*+,-./0123456789:;<=>?@AZ[]^_`az{|}~");
}

static void test_escape_quote_backslash(void **state)
{
	check_escape_s("\"", "\\\"");
	check_escape_s("\\", "\\\\");
	check_escape_s("a\"b\\c", "a\\\"b\\\\c");
	check_escape_s("\\\"\\\"", "\\\\\\\"\\\\\\\"");
	check_escape_s("\\u0041", "\\\\u0041"); /* a literal backslash-u stays literal */
}

/* Every control character, each alone and between letters. */
static void test_escape_control_chars(void **state)
{
	for (int c = 0; c < 0x20; c++) {
		char in[3] = {'a', (char)c, 'b'};
		char expect[16];
		const char *e;
		char u[8];
		switch (c) {
		case '\b':
			e = "\\b";
			break;
		case '\f':
			e = "\\f";
			break;
		case '\n':
			e = "\\n";
			break;
		case '\r':
			e = "\\r";
			break;
		case '\t':
			e = "\\t";
			break;
		default:
			snprintf(u, sizeof(u), "\\u%04x", c);
			e = u;
		}
		snprintf(expect, sizeof(expect), "a%sb", e);
		check_escape(in, 3, expect);
		check_escape(in + 1, 1, e);
	}
	/* all of them in a row */
	char all[32];
	for (int c = 0; c < 32; c++)
		all[c] = (char)c;
	check_escape(all, 32,
		     "\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
		     "\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
		     "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
		     "\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f");
}

/*
 * DEL is not a control character for RFC 8259, but it is one for Unicode
 * (Cc), and the header promises control characters as escapes: \u007f.
 */
static void test_escape_del(void **state)
{
	static char out[BIG];
	size_t used;
	size_t w = esc("a\x7f"
		       "b",
		       3, out, &used);
	assert_int_equal(used, 3);
	if (!(w == 8 && strncasecmp(out, "a\\u007fb", 8) == 0)) {
		print_error("DEL escaped as \"%s\"\n", dump(out, w));
		fail();
	}
	/* and a space and a tilde are never escaped */
	check_escape_s(" ~", " ~");
}

/* Valid multi-byte UTF-8 passes unchanged, at each range boundary. */
static void test_escape_valid_utf8(void **state)
{
	static const char *valid[] = {
		"\xc3\xa9",	    /* é, 2 bytes */
		"\xc2\x80",	    /* U+0080, smallest 2-byte */
		"\xdf\xbf",	    /* U+07FF, largest 2-byte */
		"\xe2\x82\xac",	    /* €, 3 bytes */
		"\xe0\xa0\x80",	    /* U+0800, smallest 3-byte */
		"\xed\x9f\xbf",	    /* U+D7FF, just below the surrogates */
		"\xee\x80\x80",	    /* U+E000, just above them */
		"\xef\xbf\xbf",	    /* U+FFFF */
		"\xf0\x9f\x98\x80", /* 😀, 4 bytes */
		"\xf0\x9d\x84\x9e", /* 𝄞 */
		"\xf0\x90\x80\x80", /* U+10000, smallest 4-byte */
		"\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
		"na\xc3\xafve caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89!",
	};
	static char out[BIG];
	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		size_t n = strlen(valid[i]), used;
		size_t w = esc(valid[i], n, out, &used);
		if (w != n || memcmp(out, valid[i], n) != 0 || used != n) {
			print_error("valid UTF-8 \"%s\" came out as \"%s\"\n", dump(valid[i], n),
				    dump(out, w));
			fail();
		}
	}
}

#define R "\\ufffd"

/* Each byte that is not part of valid UTF-8 becomes one U+FFFD. */
static void test_escape_invalid_utf8(void **state)
{
	/* lone continuation bytes */
	check_escape_s("\x80", R);
	check_escape_s("\xbf", R);
	check_escape_s("a\x80"
		       "b",
		       "a" R "b");
	check_escape_s("\x80\x80\x80", R R R);
	/* truncated sequences, at the end and before other characters */
	check_escape_s("\xc3", R);
	check_escape_s("\xe2\x82", R R);
	check_escape_s("\xf0\x9f\x98", R R R);
	check_escape_s("\xe2\x82"
		       "A",
		       R R "A");
	check_escape_s("\xc3\xc3\xa9", R "\xc3\xa9");
	check_escape_s("\xe2\x28\xa1", R "(" R);
	check_escape_s("\xf0\x9f\x98"
		       "\xf0\x9f\x98\x80",
		       R R R "\xf0\x9f\x98\x80");
	check_escape_s("\xc3\"", R "\\\"");
	check_escape_s("\xe2\n", R "\\n");
	/* overlong encodings */
	check_escape_s("\xc0\x80", R R);
	check_escape_s("\xc1\xbf", R R);
	check_escape_s("\xc0\xaf", R R); /* overlong '/' */
	check_escape_s("\xe0\x80\x80", R R R);
	check_escape_s("\xe0\x9f\xbf", R R R);
	check_escape_s("\xf0\x80\x80\x80", R R R R);
	check_escape_s("\xf0\x8f\xbf\xbf", R R R R);
	/* UTF-16 surrogates encoded as UTF-8 (CESU) */
	check_escape_s("\xed\xa0\x80", R R R);
	check_escape_s("\xed\xbf\xbf", R R R);
	check_escape_s("\xed\xa0\xbd\xed\xb8\x80", R R R R R R);
	/* past U+10FFFF */
	check_escape_s("\xf4\x90\x80\x80", R R R R);
	check_escape_s("\xf5\x80\x80\x80", R R R R);
	check_escape_s("\xf7\xbf\xbf\xbf", R R R R);
	/* bytes that never appear in UTF-8 */
	for (int c = 0xf5; c <= 0xff; c++) {
		char in[3] = {'x', (char)c, 'y'};
		check_escape(in, 3, "x" R "y");
	}
	check_escape_s("\xf8\x88\x80\x80\x80", R R R R R);
	check_escape_s("\xfc\x84\x80\x80\x80\x80", R R R R R R);
	check_escape_s("\xfe\xff", R R);
}

/* The replacement is U+FFFD, raw (EF BF BD) or as \ufffd: nothing else. */
static void test_escape_replacement_form(void **state)
{
	static char out[BIG];
	size_t w = esc("\xff", 1, out, NULL);
	if (!(w == 3 && memcmp(out, "\xef\xbf\xbd", 3) == 0) &&
	    !(w == 6 && strncasecmp(out, "\\ufffd", 6) == 0)) {
		print_error("invalid byte became \"%s\"\n", dump(out, w));
		fail();
	}
}

static void test_escape_embedded_nul(void **state)
{
	check_escape("a\0b", 3, "a\\u0000b");
	check_escape("\0", 1, "\\u0000");
	check_escape("\0\0", 2, "\\u0000\\u0000");
}

/* Escaping in[0..n) with the given outcap; the bytes past outcap are checked. */
static size_t esc_cap(const char *in, size_t n, size_t outcap, char *out, size_t *used)
{
	fill_canary(out, outcap + CANARY_LEN);
	*used = (size_t)-1;
	size_t w = wd_json_escape(out, outcap, in, n, used);
	if (!canary_intact(out + outcap, CANARY_LEN)) {
		print_error("escape(\"%s\", outcap %zu) wrote past outcap\n", dump(in, n), outcap);
		fail();
	}
	assert_true(w <= outcap);
	assert_true(*used <= n);
	return w;
}

/*
 * escape() stops before a character that would not fit, and reports how many
 * input bytes it consumed.
 */
static void test_escape_stops_before_char(void **state)
{
	char out[64 + CANARY_LEN];
	size_t used, w;

	w = esc_cap("ab\ncd", 5, 0, out, &used);
	assert_int_equal(w, 0);
	assert_int_equal(used, 0);

	w = esc_cap("ab\ncd", 5, 2, out, &used);
	assert_int_equal(w, 2);
	assert_int_equal(used, 2);
	assert_memory_equal(out, "ab", 2);

	w = esc_cap("ab\ncd", 5, 3, out, &used); /* "\n" needs 2 */
	assert_int_equal(w, 2);
	assert_int_equal(used, 2);

	w = esc_cap("ab\ncd", 5, 4, out, &used);
	assert_int_equal(w, 4);
	assert_int_equal(used, 3);
	assert_memory_equal(out, "ab\\n", 4);

	w = esc_cap("ab\ncd", 5, 6, out, &used);
	assert_int_equal(w, 6);
	assert_int_equal(used, 5);
	assert_memory_equal(out, "ab\\ncd", 6);

	/* a \u00XX escape is all or nothing */
	for (size_t cap = 1; cap < 7; cap++) {
		w = esc_cap("a\x01", 2, cap, out, &used);
		assert_int_equal(w, 1);
		assert_int_equal(used, 1);
	}
	w = esc_cap("a\x01", 2, 7, out, &used);
	assert_int_equal(w, 7);
	assert_int_equal(used, 2);

	/* a multi-byte character is never split */
	for (size_t cap = 1; cap < 5; cap++) {
		w = esc_cap("a\xf0\x9f\x98\x80", 5, cap, out, &used);
		assert_int_equal(w, 1);
		assert_int_equal(used, 1);
	}
	w = esc_cap("a\xf0\x9f\x98\x80", 5, 5, out, &used);
	assert_int_equal(w, 5);
	assert_int_equal(used, 5);

	/* the quote and the backslash escapes too */
	w = esc_cap("x\"", 2, 2, out, &used);
	assert_int_equal(w, 1);
	assert_int_equal(used, 1);
	w = esc_cap("x\\", 2, 2, out, &used);
	assert_int_equal(w, 1);
	assert_int_equal(used, 1);

	/* ret_used may be NULL */
	fill_canary(out, sizeof(out));
	w = wd_json_escape(out, 3, "abcdef", 6, NULL);
	assert_int_equal(w, 3);
	assert_true(canary_intact(out + 3, CANARY_LEN));
}

/* The replacement for an invalid byte is also all or nothing. */
static void test_escape_stops_before_replacement(void **state)
{
	char out[64 + CANARY_LEN];
	static char big[BIG];
	size_t used;
	size_t rlen = esc("\xff", 1, big, NULL);
	assert_true(rlen == 3 || rlen == 6);

	for (size_t cap = 1; cap < 1 + rlen; cap++) {
		size_t w = esc_cap("a\xff", 2, cap, out, &used);
		assert_int_equal(w, 1);
		assert_int_equal(used, 1);
	}
	size_t w = esc_cap("a\xff", 2, 1 + rlen, out, &used);
	assert_int_equal(w, 1 + rlen);
	assert_int_equal(used, 2);
}

/* ---- random inputs ---- */

/* A small deterministic generator (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* Random bytes, biased towards the interesting ones. */
static size_t random_input(char *buf, size_t max)
{
	static const char *pieces[] = {
		"\xc3\xa9",
		"\xe2\x82\xac",
		"\xf0\x9f\x98\x80",
		"\xf4\x8f\xbf\xbf",
		"\xed\x9f\xbf",
		"\xef\xbf\xbd",
		"\"",
		"\\",
		"\n",
		"\x7f",
	};
	size_t n = rnd() % (max + 1), i = 0;
	while (i < n) {
		uint32_t k = rnd() % 8;
		if (k < 4) {
			buf[i++] = (char)(rnd() & 0xff);
		} else if (k < 5) {
			buf[i++] = (char)(rnd() % 0x20);
		} else if (k < 6) {
			buf[i++] = (char)(0x80 + rnd() % 0x80);
		} else {
			const char *p = pieces[rnd() % ARRAY_SIZE(pieces)];
			size_t pl = strlen(p);
			if (i + pl > n)
				break;
			memcpy(buf + i, p, pl);
			i += pl;
		}
	}
	return i;
}

/*
 * For thousands of random byte strings: the output is valid UTF-8, has no
 * raw control character or quote, parses as a JSON string, and decodes to
 * the input with each invalid byte replaced by U+FFFD.
 */
static void test_escape_random(void **state)
{
	static char in[256], out[BIG];
	static unsigned char dec[BIG], ref[BIG];
	const char *why;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (int iter = 0; iter < 5000; iter++) {
		size_t n = random_input(in, 200), used;
		size_t w = esc(in, n, out, &used);
		long d = json_unescape((const unsigned char *)out, w, dec, &why);
		size_t rn = reference_sanitize((const unsigned char *)in, n, ref);
		if (used != n || d < 0 || (size_t)d != rn || memcmp(dec, ref, rn) != 0) {
			print_error("iteration %d: input \"%s\"\n  output \"%s\"\n  used %zu of "
				    "%zu; %s%s\n",
				    iter, dump(in, n), dump(out, w), used, n, why,
				    d >= 0 && ((size_t)d != rn || memcmp(dec, ref, rn) != 0)
					    ? "decodes to something other than the sanitised input"
					    : "");
			fail();
		}
	}
}

/*
 * With random output capacities: never past outcap, the output is exactly the
 * escape of the consumed prefix, the prefix ends on a character boundary, and
 * the next character really would not have fitted.
 */
static void test_escape_random_caps(void **state)
{
	static char in[128], full[BIG], out[BIG + CANARY_LEN], pre[BIG];

	rng_state = 0x243f6a8885a308d3ull;
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = random_input(in, 100), used;
		size_t fw = esc(in, n, full, NULL);
		size_t cap = rnd() % (fw + 2);
		size_t w = esc_cap(in, n, cap, out, &used);

		/* character boundaries of the input */
		size_t at = 0;
		while (at < used) {
			size_t k = utf8_valid_len((const unsigned char *)in + at, n - at);
			at += k ? k : 1;
		}
		if (at != used) {
			print_error("iteration %d: \"%s\" cap %zu: used %zu splits a character\n",
				    iter, dump(in, n), cap, used);
			fail();
		}
		size_t pw = esc(in, used, pre, NULL);
		if (pw != w || memcmp(pre, out, w) != 0) {
			print_error(
				"iteration %d: \"%s\" cap %zu: output \"%s\" is not the escape of "
				"the %zu consumed bytes \"%s\"\n",
				iter, dump(in, n), cap, dump(out, w), used, dump(pre, pw));
			fail();
		}
		if (used < n) {
			size_t k = utf8_valid_len((const unsigned char *)in + used, n - used);
			size_t next = k ? k : 1;
			size_t cw = esc(in + used, next, pre, NULL);
			if (w + cw <= cap) {
				print_error(
					"iteration %d: \"%s\" cap %zu: stopped at %zu (wrote %zu) "
					"though the next character (%zu bytes escaped) fits\n",
					iter, dump(in, n), cap, used, w, cw);
				fail();
			}
		} else {
			assert_int_equal(w, fw);
		}
	}
}

/* ---- the writer ---- */

static char wbuf[BIG + CANARY_LEN];

static void wstart(struct wd_json *j, size_t cap)
{
	fill_canary(wbuf, sizeof(wbuf));
	wd_json_begin(j, wbuf, cap);
}

static void wexpect_at(struct wd_json *j, const char *expect, int line)
{
	int r = wd_json_end(j);
	size_t n = strlen(expect);
	if (r != (int)n || memcmp(wbuf, expect, n + 1) != 0) {
		print_error("line %d: got %d \"%s\", expected %zu \"%s\"\n", line, r,
			    r >= 0 ? dump(wbuf, (size_t)r) : "", n, dump(expect, n));
		fail();
	}
}
#define wexpect(j, e) wexpect_at(j, e, __LINE__)

/* Ends j and compares with expect after normalize() (U+FFFD in either form). */
static void wexpect_norm_at(struct wd_json *j, const char *expect, int line)
{
	static char n1[BIG * 2], n2[BIG * 2];
	int r = wd_json_end(j);
	if (r <= 0) {
		print_error("line %d: end() = %d\n", line, r);
		fail();
	}
	normalize(wbuf, (size_t)r, n1);
	normalize(expect, strlen(expect), n2);
	if (strcmp(n1, n2) != 0) {
		print_error("line %d: got \"%s\", expected \"%s\"\n", line, dump(wbuf, (size_t)r),
			    dump(expect, strlen(expect)));
		fail();
	}
}
#define wexpect_norm(j, e) wexpect_norm_at(j, e, __LINE__)

static void test_writer_empty(void **state)
{
	struct wd_json j;
	wstart(&j, BIG);
	wexpect(&j, "{}\n");
}

static void test_writer_str(void **state)
{
	struct wd_json j;
	wstart(&j, BIG);
	wd_json_str(&j, "a", "b");
	wexpect(&j, "{\"a\":\"b\"}\n");

	wstart(&j, BIG);
	wd_json_str(&j, "a", "");
	wd_json_str(&j, "b", "x\"y\\z\n");
	wd_json_str(&j, "c", NULL);
	wexpect(&j, "{\"a\":\"\",\"b\":\"x\\\"y\\\\z\\n\",\"c\":null}\n");

	/* keys are escaped too */
	wstart(&j, BIG);
	wd_json_str(&j, "k\"\n", "v");
	wexpect(&j, "{\"k\\\"\\n\":\"v\"}\n");

	/* invalid UTF-8 in a value comes out as U+FFFD */
	wstart(&j, BIG);
	wd_json_str(&j, "u", "\xc3\xa9\xff");
	wexpect_norm(&j, "{\"u\":\"\xc3\xa9\\ufffd\"}\n");
}

static void test_writer_strn(void **state)
{
	struct wd_json j;
	wstart(&j, BIG);
	wd_json_strn(&j, "s", "a\0b", 3);
	wd_json_strn(&j, "t", "hello", 2);
	wd_json_strn(&j, "e", "", 0);
	wexpect(&j, "{\"s\":\"a\\u0000b\",\"t\":\"he\",\"e\":\"\"}\n");
}

static void test_writer_numbers(void **state)
{
	struct wd_json j;
	wstart(&j, BIG);
	wd_json_int(&j, "z", 0);
	wd_json_int(&j, "n", -1);
	wd_json_int(&j, "p", 42);
	wd_json_int(&j, "min", INT64_MIN);
	wd_json_int(&j, "max", INT64_MAX);
	wexpect(&j, "{\"z\":0,\"n\":-1,\"p\":42,\"min\":-9223372036854775808,"
		    "\"max\":9223372036854775807}\n");

	wstart(&j, BIG);
	wd_json_uint(&j, "z", 0);
	wd_json_uint(&j, "u", 1234567890123ull);
	wd_json_uint(&j, "max", UINT64_MAX);
	wexpect(&j, "{\"z\":0,\"u\":1234567890123,\"max\":18446744073709551615}\n");
}

static void test_writer_bool_null(void **state)
{
	struct wd_json j;
	wstart(&j, BIG);
	wd_json_bool(&j, "t", true);
	wd_json_bool(&j, "f", false);
	wd_json_null(&j, "n");
	wexpect(&j, "{\"t\":true,\"f\":false,\"n\":null}\n");
}

static void test_writer_strv(void **state)
{
	struct wd_json j;
	char *v[] = {A("a"), A("b\"c"), A("\xff"), NULL};
	char *one[] = {A("x"), NULL};
	char *none[] = {NULL};

	wstart(&j, BIG);
	wd_json_strv(&j, "v", one);
	wd_json_strv(&j, "e", none);
	wexpect(&j, "{\"v\":[\"x\"],\"e\":[]}\n");

	wstart(&j, BIG);
	wd_json_strv(&j, "argv", v);
	wd_json_int(&j, "n", 3);
	wexpect_norm(&j, "{\"argv\":[\"a\",\"b\\\"c\",\"\\ufffd\"],\"n\":3}\n");
}

static void test_writer_raw(void **state)
{
	struct wd_json j;
	wstart(&j, BIG);
	wd_json_raw(&j, "o", "{\"x\":[1,2]}");
	wd_json_raw(&j, "n", "12.5");
	wd_json_str(&j, "s", "t");
	wexpect(&j, "{\"o\":{\"x\":[1,2]},\"n\":12.5,\"s\":\"t\"}\n");
}

static void test_writer_mixed(void **state)
{
	struct wd_json j;
	char *argv[] = {A("/bin/sh"), A("-c"), A("echo \"hi\""), NULL};
	wstart(&j, BIG);
	wd_json_str(&j, "event", "exit");
	wd_json_int(&j, "pid", 1234);
	wd_json_strv(&j, "argv", argv);
	wd_json_bool(&j, "core", false);
	wd_json_null(&j, "signal");
	wd_json_uint(&j, "code", 3);
	wexpect(&j, "{\"event\":\"exit\",\"pid\":1234,\"argv\":[\"/bin/sh\",\"-c\","
		    "\"echo \\\"hi\\\"\"],\"core\":false,\"signal\":null,\"code\":3}\n");
}

/* Writes the same sequence of members into a buffer of capacity cap. */
static int write_sequence(char *buf, size_t cap, int variant)
{
	struct wd_json j;
	char *v[] = {A("one"), A("tw\"o"), A("\xe2\x82\xac"), NULL};
	wd_json_begin(&j, buf, cap);
	switch (variant) {
	case 0:
		wd_json_str(&j, "name", "web\tserver");
		wd_json_int(&j, "pid", -77);
		wd_json_uint(&j, "rss", 123456789);
		wd_json_bool(&j, "ok", true);
		wd_json_null(&j, "x");
		wd_json_strv(&j, "argv", v);
		wd_json_raw(&j, "r", "[1,{}]");
		wd_json_strn(&j, "bin", "\0\x01\xff", 3);
		break;
	case 1:
		wd_json_strn(&j, "s", "\xe2\x82\xac\xe2\x82\xac\x01\xf0\x9f\x98\x80", 11);
		break;
	case 2:
		wd_json_strv(&j, "v", v);
		break;
	}
	return wd_json_end(&j);
}

/*
 * For every capacity from 0 up: nothing is written past cap, and end()
 * either succeeds with the exact full output or returns -ENOBUFS.
 */
static void test_writer_overflow_every_cap(void **state)
{
	static char full[BIG], buf[BIG + CANARY_LEN];
	for (int variant = 0; variant < 3; variant++) {
		int flen = write_sequence(full, BIG, variant);
		assert_true(flen > 0);
		assert_int_equal(full[flen], '\0');
		assert_int_equal(strlen(full), (size_t)flen);
		for (size_t cap = 0; cap <= (size_t)flen + 3; cap++) {
			fill_canary(buf, sizeof(buf));
			int r = write_sequence(buf, cap, variant);
			if (!canary_intact(buf + cap, CANARY_LEN)) {
				print_error("variant %d cap %zu: wrote past cap\n", variant, cap);
				fail();
			}
			if (cap >= (size_t)flen + 1) {
				if (r != flen || memcmp(buf, full, (size_t)flen + 1) != 0) {
					print_error("variant %d cap %zu (needs %d): got %d\n",
						    variant, cap, flen + 1, r);
					fail();
				}
			} else if (r != -ENOBUFS) {
				print_error("variant %d cap %zu (needs %d): end() = %d, expected "
					    "-ENOBUFS\n",
					    variant, cap, flen + 1, r);
				fail();
			}
		}
	}
}

/* Overflow is remembered: later members that would fit do not undo it. */
static void test_writer_overflow_sticky(void **state)
{
	char buf[16 + CANARY_LEN];
	struct wd_json j;
	fill_canary(buf, sizeof(buf));
	wd_json_begin(&j, buf, 16);
	wd_json_str(&j, "long", "this value does not fit in sixteen bytes");
	wd_json_int(&j, "a", 1);
	assert_true(j.overflow);
	assert_int_equal(wd_json_end(&j), -ENOBUFS);
	assert_true(canary_intact(buf + 16, CANARY_LEN));
}

/* Nested objects and arrays, and array elements (NULL keys). */
static void test_writer_nested(void **state)
{
	char buf[256];
	struct wd_json j;
	int n;

	(void)state;
	wd_json_begin(&j, buf, sizeof(buf));
	wd_json_bool(&j, "ok", true);
	wd_json_open(&j, "list", '[');
	wd_json_open(&j, NULL, '{');
	wd_json_int(&j, "a", 1);
	wd_json_close(&j, '}');
	wd_json_str(&j, NULL, "x");
	wd_json_open(&j, NULL, '[');
	wd_json_close(&j, '[');
	wd_json_close(&j, '[');
	wd_json_open(&j, "o", '{');
	wd_json_close(&j, '}');
	n = wd_json_end(&j);
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "{\"ok\":true,\"list\":[{\"a\":1},\"x\",[]],\"o\":{}}\n");
}

/* A growing buffer: it takes what a fixed one could not, up to its maximum. */
static void test_writer_alloc(void **state)
{
	struct wd_json j;
	char big[20000];
	int n;

	(void)state;
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(wd_json_begin_alloc(&j, 1 << 20), 0);
	wd_json_str(&j, "q", big); /* every byte escaped: twice the size */
	n = wd_json_end(&j);
	assert_true(n > 2 * (int)(sizeof(big) - 1));
	assert_int_equal((size_t)n, strlen(j.buf));
	assert_memory_equal(j.buf + n - 3, "\"}\n", 3);
	free(j.buf);

	assert_int_equal(wd_json_begin_alloc(&j, 8192), 0);
	wd_json_str(&j, "q", big); /* more than the maximum */
	assert_int_equal(wd_json_end(&j), -ENOBUFS);
	assert_true(j.cap <= 8192);
	free(j.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_plain),
		cmocka_unit_test(test_escape_quote_backslash),
		cmocka_unit_test(test_escape_control_chars),
		cmocka_unit_test(test_escape_del),
		cmocka_unit_test(test_escape_valid_utf8),
		cmocka_unit_test(test_escape_invalid_utf8),
		cmocka_unit_test(test_escape_replacement_form),
		cmocka_unit_test(test_escape_embedded_nul),
		cmocka_unit_test(test_escape_stops_before_char),
		cmocka_unit_test(test_escape_stops_before_replacement),
		cmocka_unit_test(test_escape_random),
		cmocka_unit_test(test_escape_random_caps),
		cmocka_unit_test(test_writer_empty),
		cmocka_unit_test(test_writer_str),
		cmocka_unit_test(test_writer_strn),
		cmocka_unit_test(test_writer_numbers),
		cmocka_unit_test(test_writer_bool_null),
		cmocka_unit_test(test_writer_strv),
		cmocka_unit_test(test_writer_raw),
		cmocka_unit_test(test_writer_mixed),
		cmocka_unit_test(test_writer_overflow_every_cap),
		cmocka_unit_test(test_writer_overflow_sticky),
		cmocka_unit_test(test_writer_nested),
		cmocka_unit_test(test_writer_alloc),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
