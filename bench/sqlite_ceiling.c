/*
 * SQLite's own insert ceiling on this machine, in C (no driver overhead): fresh WAL database,
 * rows of a JSON event with a unique id, ROWS_PER_TX rows a transaction, for SECONDS seconds.
 * Prints one JSON line with rows/s and MB/s of row bytes.
 *
 *   gcc -O2 -o /tmp/sqlite-ceiling bench/sqlite_ceiling.c -lsqlite3
 *   /tmp/sqlite-ceiling DB_PATH EVENT_FILE ROWS_PER_TX SECONDS [full|normal|off] [index|noindex]
 *
 * "index" adds a UNIQUE index on the id (as Sluice's dedupe key, in append order); the table
 * otherwise has only its rowid. Autocheckpoint stays at SQLite's default (1,000 pages), so the
 * second write of every page (WAL, then the database file) is part of the figure.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s DB EVENT_FILE ROWS_PER_TX SECONDS [full|normal|off] [index|noindex]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    int perTx = atoi(argv[3]);
    double seconds = atof(argv[4]);
    const char *sync = argc > 5 ? argv[5] : "full";
    int withIndex = argc > 6 ? strcmp(argv[6], "index") == 0 : 1;

    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 1; }
    static char body[1 << 16];
    size_t bodyLength = fread(body, 1, sizeof body - 1, f);
    fclose(f);
    while (bodyLength > 0 && (body[bodyLength - 1] == '\n' || body[bodyLength - 1] == ' ')) bodyLength--;

    char wal[4096], shm[4096];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(path); unlink(wal); unlink(shm);

    sqlite3 *db;
    check(sqlite3_open(path, &db), db, "open");
    char pragma[128];
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL", 0, 0, 0), db, "wal");
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", sync);
    check(sqlite3_exec(db, pragma, 0, 0, 0), db, "synchronous");
    check(sqlite3_exec(db, "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, source TEXT NOT NULL, raw BLOB NOT NULL)", 0, 0, 0), db, "create");
    if (withIndex) check(sqlite3_exec(db, "CREATE UNIQUE INDEX events_id ON events(id)", 0, 0, 0), db, "index");

    sqlite3_stmt *insert;
    check(sqlite3_prepare_v2(db, "INSERT INTO events (id, source, raw) VALUES (?, 'webhook', ?)", -1, &insert, 0), db, "prepare");

    long rows = 0;
    double start = now(), elapsed = 0;
    char id[32];
    while ((elapsed = now() - start) < seconds) {
        check(sqlite3_exec(db, "BEGIN", 0, 0, 0), db, "begin");
        for (int i = 0; i < perTx; i++) {
            int idLength = snprintf(id, sizeof id, "evt-%012ld", rows);
            /* a distinct body per row: the id is written over the body's first bytes after "{" */
            memcpy(body + 1, id, (size_t)idLength < bodyLength - 2 ? (size_t)idLength : 0);
            sqlite3_bind_text(insert, 1, id, idLength, SQLITE_TRANSIENT);
            sqlite3_bind_blob(insert, 2, body, (int)bodyLength, SQLITE_TRANSIENT);
            check(sqlite3_step(insert), db, "insert");
            sqlite3_reset(insert);
            rows++;
        }
        check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    }
    sqlite3_finalize(insert);
    sqlite3_close(db);
    printf("{\"rows_per_tx\":%d,\"synchronous\":\"%s\",\"index\":%s,\"row_bytes\":%zu,\"rows\":%ld,\"seconds\":%.3f,\"rows_per_s\":%.0f,\"mb_per_s\":%.1f}\n",
           perTx, sync, withIndex ? "true" : "false", bodyLength, rows, elapsed, rows / elapsed, rows * (double)bodyLength / elapsed / 1e6);
    unlink(path); unlink(wal); unlink(shm);
    return 0;
}
