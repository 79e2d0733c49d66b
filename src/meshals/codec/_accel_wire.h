/* _accel_wire.h: the return codes, limits and the protobuf wire format (varints, tags, fields).
 *
 * A part of _accel.c, which includes its parts once, in order (one translation unit,
 * so everything stays static); it uses what the parts before it define. */
#ifndef MESHALS__ACCEL_WIRE_H
#define MESHALS__ACCEL_WIRE_H

#define OK 0
#define NOT_MINE 1
#define ERR (-1)
/* Propagate NOT_MINE and ERR to the caller. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int try_rc_ = (expr);                                                                      \
        if (try_rc_ != OK) {                                                                       \
            return try_rc_;                                                                        \
        }                                                                                          \
    } while (0)
/* Inside a function that owns references: jump to its cleanup with the result. */
#define CHECK(expr)                                                                                \
    do {                                                                                           \
        rc = (expr);                                                                               \
        if (rc != OK) {                                                                            \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

#define WT_VARINT 0
#define WT_I64 1
#define WT_LEN 2
#define WT_I32 5

/* A singular field may appear once: protobuf would merge or keep the last, silently. The
 * seen-masks are 64 bits wide. */
#if PB_COMMON_MAX_FIELD > 63 || PB_REQUEST_MAX_FIELD > 63 || PB_FLAGS_MAX_FIELD > 63
#error "a message has field numbers above 63: widen the seen masks"
#endif

/* Timestamp and Duration are read alike. */
#if PB_TIMESTAMP_SECONDS != PB_DURATION_SECONDS || PB_TIMESTAMP_NANOS != PB_DURATION_NANOS ||    \
    PB_TIMESTAMP_SECONDS_WT != PB_DURATION_SECONDS_WT || PB_TIMESTAMP_NANOS_WT != PB_DURATION_NANOS_WT
#error "Timestamp and Duration differ"
#endif

#define NS_PER_S 1000000000LL
/* google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z. */
#define MIN_TIMESTAMP_S (-62135596800LL)
#define MAX_TIMESTAMP_S 253402300799LL
/* google.protobuf.Duration: +-10,000 years. */
#define MAX_DURATION_S 315576000000LL
/* Nanoseconds are computed in 64 bits: beyond this many seconds (year 2255) the pure path. */
#define MAX_NS_SECONDS 9000000000LL
/* protobuf's parsers refuse a tag longer than 5 bytes (a 32-bit key). */
#define MAX_TAG_SIZE 5


/* --- the wire format --------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Reader;

typedef struct {
    uint32_t number;
    int wire_type;
    uint64_t value;      /* varint, I64 and I32 fields */
    const uint8_t *tag;  /* where the field starts (its tag) */
    const uint8_t *body; /* LEN fields */
    size_t length;
} Field;

static int read_varint(Reader *r, uint64_t *out) {
    uint64_t value = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end) {
            return NOT_MINE;
        }
        uint8_t byte = *r->p++;
        if (i == 9 && byte > 1) {
            return NOT_MINE; /* more than 64 bits */
        }
        value |= (uint64_t)(byte & 0x7F) << (7 * i);
        if (!(byte & 0x80)) {
            *out = value;
            return OK;
        }
    }
    return NOT_MINE;
}

static uint64_t little_endian(const uint8_t *p, int size) {
    uint64_t value = 0;
    for (int i = size - 1; i >= 0; i--) {
        value = value << 8 | p[i];
    }
    return value;
}

/* The next field of *r*; NOT_MINE for a malformed or unsupported (group) one. */
static int read_field(Reader *r, Field *f) {
    uint64_t key, length;
    f->tag = r->p;
    TRY(read_varint(r, &key));
    if (key > 0xFFFFFFFFu || key >> 3 == 0 || r->p - f->tag > MAX_TAG_SIZE) {
        return NOT_MINE;
    }
    f->number = (uint32_t)(key >> 3);
    f->wire_type = (int)(key & 7);
    switch (f->wire_type) {
    case WT_VARINT:
        return read_varint(r, &f->value);
    case WT_I64:
    case WT_I32: {
        int size = f->wire_type == WT_I64 ? 8 : 4;
        if (r->end - r->p < size) {
            return NOT_MINE;
        }
        f->value = little_endian(r->p, size);
        r->p += size;
        return OK;
    }
    case WT_LEN:
        TRY(read_varint(r, &length));
        if (length > (uint64_t)(r->end - r->p)) {
            return NOT_MINE; /* declares more than remains */
        }
        f->body = r->p;
        f->length = (size_t)length;
        r->p += length;
        return OK;
    default:
        return NOT_MINE;
    }
}

/* NOT_MINE unless *f* has *wire_type* and is the first of its number in *seen*. */
static int once(uint64_t *seen, const Field *f, int wire_type) {
    if (f->number > 63) {
        return NOT_MINE;
    }
    uint64_t bit = (uint64_t)1 << f->number;
    if (f->wire_type != wire_type || (*seen & bit)) {
        return NOT_MINE;
    }
    *seen |= bit;
    return OK;
}

#endif
