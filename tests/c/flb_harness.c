#define _GNU_SOURCE
/* Does what Fluent Bit's loader does with flb-filter_sigma.so, without
 * Fluent Bit: dlopen by file name, dlsym filter_sigma_plugin, copy the
 * 88-byte struct, build a filter instance with a property list at the
 * documented offsets, then cb_init / cb_filter / cb_exit.
 *
 * Usage: flb_harness PLUGIN.so PROPS_FILE [IN_CHUNK OUT_CHUNK]...
 *   PROPS_FILE: one "key value" per line.
 *   For each chunk: runs cb_filter; writes the returned chunk to OUT_CHUNK
 *   when MODIFIED, or prints "NOTOUCH" and leaves OUT_CHUNK absent.
 * Exit: 0 ok, 3 cb_init failed, 4 bad struct, 2 usage/IO.
 * Exports flb_log_print (link with -rdynamic) so the plugin's messages come
 * out as Fluent Bit would print them. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mk_list { struct mk_list *prev, *next; };
struct flb_kv { char *key; char *val; struct mk_list _head; };

struct flb_filter_plugin {
    int event_type;
    int flags;
    char *name;
    char *description;
    void *config_map;
    int (*cb_pre_run)(void *, void *, void *);
    int (*cb_init)(void *ins, void *config, void *data);
    int (*cb_filter)(const void *data, size_t bytes, const char *tag, int tag_len,
                     void **out_buf, size_t *out_bytes, void *ins, void *i_ins,
                     void *context, void *config);
    int (*cb_exit)(void *context, void *config);
    int (*cb_notification)(void *, void *, void *);
    struct mk_list _head;
};

#define CONTEXT_OFFSET 80
#define PROPERTIES_OFFSET 104

void flb_log_print(int type, const char *file, int line, const char *fmt, ...) {
    (void)file; (void)line;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[flb log %d] ", type);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

#ifndef OLD_FLUENT_BIT
/* Present in Fluent Bit v3.2.0 and later: the plugin checks for it. */
int flb_notification_enqueue(void) { return 0; }
#endif

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? n : 1);
    *len = fread(b, 1, n, f);
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    if (argc < 3 || (argc - 3) % 2) { fprintf(stderr, "usage\n"); return 2; }
    void *so = dlopen(argv[1], RTLD_LAZY);
    if (!so) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
    struct flb_filter_plugin *sym = dlsym(so, "filter_sigma_plugin");
    if (!sym) { fprintf(stderr, "no filter_sigma_plugin\n"); return 4; }
    struct flb_filter_plugin p;
    memcpy(&p, sym, sizeof p);
    if (sizeof p != 88 || strcmp(p.name, "sigma") != 0 || p.event_type != 1 || p.config_map != NULL ||
        !p.cb_init || !p.cb_filter || !p.cb_exit) {
        fprintf(stderr, "unexpected plugin struct\n");
        return 4;
    }
    printf("plugin %s: %s\n", p.name, p.description);

    /* The instance: only the property list and the context are used. */
    unsigned char *ins = calloc(1, 512);
    struct mk_list *head = (struct mk_list *)(ins + PROPERTIES_OFFSET);
    head->prev = head->next = head;
    FILE *pf = fopen(argv[2], "r");
    if (!pf) return 2;
    char line[4096];
    while (fgets(line, sizeof line, pf)) {
        line[strcspn(line, "\r\n")] = 0;
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = 0;
        struct flb_kv *kv = calloc(1, sizeof *kv);
        kv->key = strdup(line);
        kv->val = strdup(sp + 1);
        /* mk_list_add: append before head. */
        kv->_head.prev = head->prev;
        kv->_head.next = head;
        head->prev->next = &kv->_head;
        head->prev = &kv->_head;
    }
    fclose(pf);

    if (p.cb_init(ins, NULL, NULL) != 0) { printf("INIT FAILED\n"); return 3; }
    void *ctx = *(void **)(ins + CONTEXT_OFFSET);
    if (!ctx) { printf("no context\n"); return 3; }

    for (int i = 3; i + 1 < argc; i += 2) {
        size_t len = 0;
        unsigned char *chunk = slurp(argv[i], &len);
        if (!chunk) return 2;
        void *out = NULL;
        size_t out_len = 0;
        int r = p.cb_filter(chunk, len, "winlog.test", 11, &out, &out_len, ins, NULL, ctx, NULL);
        if (r == 1) {
            FILE *o = fopen(argv[i + 1], "wb");
            fwrite(out, 1, out_len, o);
            fclose(o);
            free(out); /* Fluent Bit frees the buffer with free(). */
            printf("MODIFIED %zu\n", out_len);
        } else if (r == 2) {
            printf("NOTOUCH\n");
        } else {
            printf("UNEXPECTED %d\n", r);
            return 1;
        }
        free(chunk);
    }
    p.cb_exit(ctx, NULL);
    /* Fluent Bit owns the instance and its properties: free them as it
       does, so a leak valgrind reports is the plugin's. */
    while (head->next != head) {
        struct mk_list *n = head->next;
        head->next = n->next;
        struct flb_kv *kv = (struct flb_kv *)((char *)n - offsetof(struct flb_kv, _head));
        free(kv->key);
        free(kv->val);
        free(kv);
    }
    free(ins);
    dlclose(so);
    return 0;
}
