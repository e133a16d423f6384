/* zstd on small events, as the lean store uses it (Debian's libzstd, the library Sluice links):
 * dictionaries trained on the first 1,000 or 8,000 records of a corpus (bench/zstd_corpora.py),
 * then the last 10,000 compressed one by one at levels 1 and 3 (checksum on, no dictionary id),
 * and decompressed. Prints training time, ratio and microseconds per record.
 *   gcc -O2 -o /tmp/zstd_probe bench/zstd_probe.c -lzstd && /tmp/zstd_probe CORPUS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zdict.h>
#include <zstd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

enum { N = 20000 };
static unsigned char corpus[64 << 20];
static size_t off[N], len[N];

static void measure(const char *what, const void *dict, size_t dictSize, int level) {
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    ZSTD_CDict *cd = dict ? ZSTD_createCDict(dict, dictSize, level) : NULL;
    ZSTD_DDict *dd = dict ? ZSTD_createDDict(dict, dictSize) : NULL;
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_dictIDFlag, 0);
    static unsigned char frames[N][4096];
    static size_t sizes[N];
    unsigned char back[65536];
    size_t plain = 0, stored = 0;
    double t0 = now();
    for (int i = N - 10000; i < N; i++) {
        ZSTD_CCtx_refCDict(cc, cd);
        sizes[i] = ZSTD_compress2(cc, frames[i], sizeof frames[i], corpus + off[i], len[i]);
        plain += len[i];
        stored += sizes[i];
    }
    double t1 = now();
    for (int i = N - 10000; i < N; i++) {
        size_t r = dd ? ZSTD_decompress_usingDDict(dc, back, sizeof back, frames[i], sizes[i], dd) : ZSTD_decompressDCtx(dc, back, sizeof back, frames[i], sizes[i]);
        if (r != len[i] || memcmp(back, corpus + off[i], len[i]) != 0) { printf("round trip failed\n"); exit(1); }
    }
    double t2 = now();
    printf("  %-34s level %d: ratio %5.2f, %6.1f B/record, compress %.2f us, decompress %.2f us\n", what, level,
           (double)plain / stored, (double)stored / 10000, (t1 - t0) / 10000 * 1e6, (t2 - t1) / 10000 * 1e6);
    ZSTD_freeCCtx(cc); ZSTD_freeDCtx(dc); ZSTD_freeCDict(cd); ZSTD_freeDDict(dd);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s CORPUS\n", argv[0]); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    size_t n = fread(corpus, 1, sizeof corpus, f), p = 0;
    for (int i = 0; i < N; i++) {
        unsigned l;
        if (p + 4 > n) { fprintf(stderr, "short corpus\n"); return 1; }
        memcpy(&l, corpus + p, 4);
        off[i] = p + 4; len[i] = l; p += 4 + l;
    }
    printf("%s\n", argv[1]);
    measure("zstd alone", NULL, 0, 1);
    measure("zstd alone", NULL, 0, 3);
    int samples[] = {1000, 8000};
    size_t capacities[] = {16384, 65536};
    for (int k = 0; k < 2; k++) {
        size_t total = 0, *sizes = malloc(samples[k] * sizeof(size_t));
        for (int i = 0; i < samples[k]; i++) { sizes[i] = len[i]; total += len[i]; }
        unsigned char *joined = malloc(total), *dict = malloc(capacities[k]);
        for (int i = 0, q = 0; i < samples[k]; q += len[i], i++) memcpy(joined + q, corpus + off[i], len[i]);
        double t0 = now();
        size_t dictSize = ZDICT_trainFromBuffer(dict, capacities[k], joined, sizes, samples[k]);
        double t1 = now();
        if (ZDICT_isError(dictSize)) { printf("training failed: %s\n", ZDICT_getErrorName(dictSize)); return 1; }
        char what[64];
        snprintf(what, sizeof what, "%zu KiB dictionary, %d samples", capacities[k] / 1024, samples[k]);
        printf("  training on %d samples: %.3f s\n", samples[k], t1 - t0);
        measure(what, dict, dictSize, 1);
        measure(what, dict, dictSize, 3);
        free(sizes); free(joined); free(dict);
    }
    return 0;
}
