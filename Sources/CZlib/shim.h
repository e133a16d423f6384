#ifndef SLUICE_CZLIB_SHIM_H
#define SLUICE_CZLIB_SHIM_H
#include <zlib.h>

// zlib's init calls are macros that pass its version and the stream's size; Swift cannot call
// function-like macros, so these wrap the two forms Sluice uses.

/// Inflate that accepts only the gzip wrapper (RFC 1952) and verifies each member's trailer.
static inline int sluice_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 16 + MAX_WBITS);
}

/// Deflate that writes one gzip member.
static inline int sluice_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
}
#endif
