#define _GNU_SOURCE
/* Uses libsigmaline through its header the way a third-party host would,
 * including bad inputs and NULLs. Usage: abi_test RULES_DIR
 * Prints one line per check and "N passed, N failed"; exits non-zero on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sigmaline.h"

static int passed, failed;
#define CHECK(cond, what) do { if (cond) { passed++; printf("ok   %s\n", what); } \
    else { failed++; printf("FAIL %s (line %d)\n", what, __LINE__); } } while (0)

static const char *MATCH =
    "{\"EventID\":13,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\","
    "\"TargetObject\":\"HKLM\\\\System\\\\CurrentControlSet\\\\Services\\\\DHCPServer\\\\Parameters\\\\CalloutDlls\"}";
static const char *BENIGN = "{\"EventID\":13,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"TargetObject\":\"HKLM\\\\x\"}";

static sigmaline_engine *build(const char *rules, const char *mode, sigmaline_error **err) {
    sigmaline_options *o = sigmaline_options_new();
    sigmaline_options_set(o, "rules", rules, NULL);
    if (mode) sigmaline_options_set(o, "mode", mode, NULL);
    sigmaline_engine *e = sigmaline_engine_new(o, err);
    sigmaline_options_free(o);
    return e;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: abi_test RULES_DIR\n"); return 2; }
    sigmaline_error *err = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;

    CHECK(sigmaline_abi_version() == SIGMALINE_ABI_VERSION, "ABI version matches the header");
    CHECK(strlen(sigmaline_version()) > 0, "version string");

    /* Options errors. */
    sigmaline_options *o = sigmaline_options_new();
    CHECK(sigmaline_options_set(o, "colour", "blue", &err) == SIGMALINE_ERROR && err, "unknown option is an error");
    CHECK(strstr(sigmaline_error_message(err), "colour") != NULL, "error names the option");
    sigmaline_error_free(err); err = NULL;
    CHECK(sigmaline_options_set(o, "mode", "sideways", &err) == SIGMALINE_ERROR, "bad mode is an error");
    sigmaline_error_free(err); err = NULL;
    CHECK(sigmaline_options_set(NULL, "mode", "tag", &err) == SIGMALINE_ERROR, "NULL options is an error");
    sigmaline_error_free(err); err = NULL;
    CHECK(sigmaline_options_set(o, NULL, "tag", &err) == SIGMALINE_ERROR, "NULL key is an error");
    sigmaline_error_free(err); err = NULL;
    CHECK(sigmaline_engine_new(o, &err) == NULL && err, "engine without rules fails");
    CHECK(strstr(sigmaline_error_message(err), "no rules") != NULL, "and says why");
    sigmaline_error_free(err); err = NULL;
    sigmaline_options_set(o, "rules", "/nonexistent/rules", NULL);
    CHECK(sigmaline_engine_new(o, &err) == NULL && strstr(sigmaline_error_message(err), "/nonexistent/rules"), "missing rules path is named");
    sigmaline_error_free(err); err = NULL;
    sigmaline_options_free(o);
    CHECK(sigmaline_engine_new(NULL, &err) == NULL && err, "NULL options to engine_new");
    sigmaline_error_free(err); err = NULL;
    CHECK(strlen(sigmaline_error_message(NULL)) > 0, "message of a NULL error is not NULL");

    /* Tag mode. */
    sigmaline_engine *e = build(argv[1], NULL, &err);
    CHECK(e != NULL && err == NULL, "engine from the seed rules");
    if (!e) { printf("%s\n", sigmaline_error_message(err)); return 1; }
    int v = sigmaline_eval_json(e, (const uint8_t *)MATCH, strlen(MATCH), &out, &out_len, &err);
    CHECK(v == SIGMALINE_TAGGED && out && out_len > strlen(MATCH), "matching record is tagged");
    CHECK(out && memmem(out, out_len, "\"author\":\"Dimitrios Slamaris\"", 29) != NULL, "tag carries the author");
    CHECK(out && memcmp(out, MATCH, strlen(MATCH) - 1) == 0, "original bytes kept");
    sigmaline_free(out); out = NULL;
    v = sigmaline_eval_json(e, (const uint8_t *)BENIGN, strlen(BENIGN), &out, &out_len, &err);
    CHECK(v == SIGMALINE_PASS && out == NULL && out_len == 0, "benign record passes untouched");
    v = sigmaline_eval_json(e, (const uint8_t *)"{\"a\":", 5, &out, &out_len, &err);
    CHECK(v == SIGMALINE_ERROR && err && out == NULL, "malformed JSON is an error value");
    sigmaline_error_free(err); err = NULL;
    v = sigmaline_eval_json(e, NULL, 10, &out, &out_len, &err);
    CHECK(v == SIGMALINE_ERROR, "NULL record with a length");
    sigmaline_error_free(err); err = NULL;
    v = sigmaline_eval_json(NULL, (const uint8_t *)MATCH, strlen(MATCH), &out, &out_len, &err);
    CHECK(v == SIGMALINE_ERROR, "NULL engine");
    sigmaline_error_free(err); err = NULL;
    v = sigmaline_eval_json(e, (const uint8_t *)MATCH, strlen(MATCH), NULL, NULL, NULL);
    CHECK(v == SIGMALINE_ERROR, "NULL out pointers, NULL err");

    /* A Fluent Bit chunk: [[ext-ts, {}], {"EventID": 13, ...}] built by hand. */
    sigmaline_stats st;
    CHECK(sigmaline_engine_stats(e, &st) == SIGMALINE_OK && st.records_in >= 3 && st.matched >= 1 && st.rules == 2, "stats");
    CHECK(sigmaline_engine_stats(e, NULL) == SIGMALINE_ERROR, "stats into NULL");
    v = sigmaline_filter_chunk(e, (const uint8_t *)"\xc1\xc1", 2, &out, &out_len, &err);
    CHECK(v == SIGMALINE_UNCHANGED && out == NULL, "undecodable chunk passes through");
    v = sigmaline_filter_chunk(e, NULL, 0, &out, &out_len, &err);
    CHECK(v == SIGMALINE_UNCHANGED, "empty chunk");
    CHECK(sigmaline_engine_reload(e, &err) == SIGMALINE_OK, "reload");
    sigmaline_engine_stats(e, &st);
    CHECK(st.reloads == 1, "reload counted");
    /* Prometheus text: counters and per-rule matches (which survive the reload). */
    CHECK(sigmaline_engine_metrics(e, &out, &out_len, &err) == SIGMALINE_OK && out && out_len == strlen((char *)out), "metrics text");
    CHECK(out && strstr((char *)out, "\nsigmaline_records_in_total ") != NULL, "metrics: records in");
    CHECK(out && strstr((char *)out, "sigmaline_reloads_total 1\n") != NULL, "metrics: reloads");
    CHECK(out && strstr((char *)out, "sigmaline_rule_matches_total{id=\"9d3436ef-9476-4c43-acca-90ce06bdf33a\",title=\"DHCP Callout DLL Installation\",level=\"high\"} 1\n") != NULL, "metrics: per-rule count");
    sigmaline_free(out);
    CHECK(sigmaline_engine_metrics(NULL, &out, &out_len, &err) == SIGMALINE_ERROR && out == NULL, "metrics of NULL engine");
    sigmaline_error_free(err); err = NULL;
    sigmaline_engine_free(e);

    /* Drop mode. */
    e = build(argv[1], "drop", &err);
    v = sigmaline_eval_json(e, (const uint8_t *)MATCH, strlen(MATCH), &out, &out_len, &err);
    CHECK(v == SIGMALINE_DROP && out == NULL, "drop mode removes a match");
    v = sigmaline_eval_json(e, (const uint8_t *)BENIGN, strlen(BENIGN), &out, &out_len, &err);
    CHECK(v == SIGMALINE_PASS, "drop mode keeps the rest");
    sigmaline_engine_free(e);

    sigmaline_engine_free(NULL);
    sigmaline_options_free(NULL);
    sigmaline_error_free(NULL);
    sigmaline_free(NULL);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
