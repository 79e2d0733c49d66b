/* _accel_common.h: AccessLogCommon, its response flags and the parts left to the callbacks.
 *
 * A part of _accel.c, which includes its parts once, in order (one translation unit,
 * so everything stays static); it uses what the parts before it define. */
#ifndef MESHALS__ACCEL_COMMON_H
#define MESHALS__ACCEL_COMMON_H

/* --- common properties ------------------------------------------------------------------- */

/* The few sets of flags a stream's entries raise recur: each is made once, by the field
 * numbers in it, and shared (as the empty one is) in a slot chosen by those numbers. */
#define FLAG_SETS 64 /* a power of two */
static struct {
    uint64_t numbers; /* the flags' field numbers, a bit each */
    PyObject *set;    /* NULL in an empty slot */
} flag_sets[FLAG_SETS];

static void flag_sets_clear(void) {
    for (int i = 0; i < FLAG_SETS; i++) {
        PyObject *old = flag_sets[i].set;
        flag_sets[i].set = NULL; /* empty first, as kept_clear */
        Py_XDECREF(old);
    }
}

/* The frozenset of the flags whose field numbers are the bits of *numbers* (not 0). */
static int flag_set(uint64_t numbers, PyObject **out) {
    uint64_t h = numbers * 0x9E3779B97F4A7C15u;
    size_t slot = (size_t)(h >> 58) & (FLAG_SETS - 1);
    if (flag_sets[slot].set != NULL && flag_sets[slot].numbers == numbers) {
        *out = Py_NewRef(flag_sets[slot].set);
        return OK;
    }
    PyObject *set = PyFrozenSet_New(NULL);
    if (set == NULL) {
        return ERR;
    }
    /* In field order, as the pure path lists them; filled before anyone else sees it. */
    for (int number = 1; number <= PB_FLAGS_MAX_FIELD; number++) {
        if ((numbers >> number & 1) &&
            PySet_Add(set, PyTuple_GET_ITEM(G.response_flags, number)) < 0) {
            Py_DECREF(set);
            return ERR;
        }
    }
    PyObject *old = flag_sets[slot].set;
    flag_sets[slot].numbers = numbers;
    flag_sets[slot].set = Py_NewRef(set);
    Py_XDECREF(old);
    *out = set;
    return OK;
}

static int response_flags(const Call *call, const Field *f, PyObject **flags,
                          PyObject **reason) {
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0, raised = 0;
    int rc = OK;
    (void)call;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        if (g.number == 0 || g.number > PB_FLAGS_MAX_FIELD) {
            CHECK(NOT_MINE);
        }
        PyObject *flag = PyTuple_GET_ITEM(G.response_flags, g.number);
        if (g.number == PB_FLAGS_UNAUTHORIZED_DETAILS) {
            /* A message: present even when empty, its reason 0 then. */
            CHECK(once(&seen, &g, PB_FLAGS_UNAUTHORIZED_DETAILS_WT));
            Reader inner = {g.body, g.body + g.length};
            Field h;
            uint64_t inner_seen = 0, number = 0;
            while (inner.p < inner.end) {
                CHECK(read_field(&inner, &h));
                CHECK(h.number == PB_UNAUTHORIZED_REASON ? OK : NOT_MINE);
                CHECK(once(&inner_seen, &h, PB_UNAUTHORIZED_REASON_WT));
                number = h.value;
            }
            CHECK(make_enum(G.unauthorized_reasons, number, reason));
        } else {
            /* The others are bools (tools/gen_accel_fields.py checks): only true ones count,
             * as ListFields. A number without a flag is the pure path's to report. */
            CHECK(flag == Py_None ? NOT_MINE : OK);
            CHECK(once(&seen, &g, WT_VARINT));
            if (g.value > 1) {
                CHECK(NOT_MINE);
            }
            if (g.value == 0) {
                continue;
            }
        }
        raised |= (uint64_t)1 << g.number;
    }
    if (raised == 0) {
        *flags = Py_NewRef(G.no_flags);
    } else {
        CHECK(flag_set(raised, flags));
    }
done:
    return rc;
}

/* The extra fields handed to the callback: their encodings, concatenated in wire order. */
typedef struct {
    char *data;
    size_t length, capacity;
} Extra;

static int extra_add(Extra *extra, const Field *f, const uint8_t *end) {
    size_t size = (size_t)(end - f->tag);
    if (extra->length + size > extra->capacity) {
        size_t capacity = (extra->length + size) * 2;
        char *data = PyMem_Realloc(extra->data, capacity);
        if (data == NULL) {
            PyErr_NoMemory();
            return ERR;
        }
        extra->data = data;
        extra->capacity = capacity;
    }
    memcpy(extra->data + extra->length, f->tag, size);
    extra->length += size;
    return OK;
}

/* The extra fields recur too (Istio's peer metadata and TLS facts are the same on every
 * entry between two workloads): the callback's answers, by the bytes and the context they
 * were asked with (the context holds the limits), in a slot chosen by a hash of the bytes.
 * Only answers are kept, and only for parts up to MAX_CACHED_EXTRA bytes, so memory stays
 * bounded; the callback keeps a cache of its own behind this one. */
#define EXTRA_CACHE_SLOTS 256 /* a power of two */
#define MAX_CACHED_EXTRA 4096
static Kept extra_cache[EXTRA_CACHE_SLOTS];

/* tls_properties, metadata, filter_state_objects and custom_tags, by the callback. */
static int common_extra(const Call *call, const Extra *extra, PyObject **v) {
    int rc;
    if (extra->length == 0) {
        fill(&v[C_TLS], Py_None);
        fill(&v[C_METADATA], Py_None);
        fill(&v[C_FILTER_STATE], G.empty_any_map);
        fill(&v[C_CUSTOM_TAGS], G.empty_str_map);
        return OK;
    }
    if (extra->length > call->max_string) {
        return NOT_MINE;
    }
    PyObject *answer = kept_answer(call, extra_cache, EXTRA_CACHE_SLOTS, MAX_CACHED_EXTRA,
                                   G.common_cb, extra->data, extra->length, 4, &rc);
    if (answer == NULL) {
        return rc;
    }
    v[C_TLS] = Py_NewRef(PyTuple_GET_ITEM(answer, 0));
    v[C_METADATA] = Py_NewRef(PyTuple_GET_ITEM(answer, 1));
    v[C_FILTER_STATE] = Py_NewRef(PyTuple_GET_ITEM(answer, 2));
    v[C_CUSTOM_TAGS] = Py_NewRef(PyTuple_GET_ITEM(answer, 3));
    Py_DECREF(answer);
    return OK;
}

static int common(const Call *call, const Field *f, PyObject **out) {
    PyObject *v[C_COUNT] = {NULL};
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    Extra extra = {NULL, 0, 0};
    int rc = OK;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        switch (g.number) {
#define ONCE(NAME) CHECK(once(&seen, &g, PB_COMMON_##NAME##_WT))
#define STRING(NAME, SLOT)                                                                         \
    case PB_COMMON_##NAME:                                                                         \
        ONCE(NAME);                                                                                \
        CHECK(make_str(call, &g, &v[SLOT]));                                                       \
        break;
#define UNIQUE_STRING(NAME, SLOT)                                                                  \
    case PB_COMMON_##NAME:                                                                         \
        ONCE(NAME);                                                                                \
        CHECK(make_unique_str(call, &g, &v[SLOT]));                                                \
        break;
#define ADDRESS(NAME, SLOT)                                                                        \
    case PB_COMMON_##NAME:                                                                         \
        ONCE(NAME);                                                                                \
        CHECK(address(call, &g, &v[SLOT]));                                                        \
        break;
#define TIME(NAME, SLOT, IS_DURATION)                                                              \
    case PB_COMMON_##NAME:                                                                         \
        ONCE(NAME);                                                                                \
        CHECK(make_ns(&g, IS_DURATION, &v[SLOT]));                                                 \
        break;
#define U64(NAME, SLOT)                                                                            \
    case PB_COMMON_##NAME:                                                                         \
        ONCE(NAME);                                                                                \
        CHECK(make_u64(g.value, &v[SLOT]));                                                        \
        break;
        case PB_COMMON_SAMPLE_RATE: {
            double rate;
            ONCE(SAMPLE_RATE);
            memcpy(&rate, &g.value, sizeof rate);
            CHECK((v[C_SAMPLE_RATE] = PyFloat_FromDouble(rate)) == NULL ? ERR : OK);
            break;
        }
            ADDRESS(DOWNSTREAM_REMOTE_ADDRESS, C_DOWN_REMOTE)
            ADDRESS(DOWNSTREAM_LOCAL_ADDRESS, C_DOWN_LOCAL)
            TIME(START_TIME, C_START, 0)
            TIME(TIME_TO_LAST_RX_BYTE, C_LAST_RX, 1)
            TIME(TIME_TO_FIRST_UPSTREAM_TX_BYTE, C_FIRST_UP_TX, 1)
            TIME(TIME_TO_LAST_UPSTREAM_TX_BYTE, C_LAST_UP_TX, 1)
            TIME(TIME_TO_FIRST_UPSTREAM_RX_BYTE, C_FIRST_UP_RX, 1)
            TIME(TIME_TO_LAST_UPSTREAM_RX_BYTE, C_LAST_UP_RX, 1)
            TIME(TIME_TO_FIRST_DOWNSTREAM_TX_BYTE, C_FIRST_DOWN_TX, 1)
            TIME(TIME_TO_LAST_DOWNSTREAM_TX_BYTE, C_LAST_DOWN_TX, 1)
            ADDRESS(UPSTREAM_REMOTE_ADDRESS, C_UP_REMOTE)
            ADDRESS(UPSTREAM_LOCAL_ADDRESS, C_UP_LOCAL)
            STRING(UPSTREAM_CLUSTER, C_CLUSTER)
        case PB_COMMON_RESPONSE_FLAGS:
            ONCE(RESPONSE_FLAGS);
            CHECK(response_flags(call, &g, &v[C_FLAGS], &v[C_UNAUTHORIZED]));
            break;
            STRING(UPSTREAM_TRANSPORT_FAILURE_REASON, C_UP_FAILURE)
            STRING(ROUTE_NAME, C_ROUTE)
            ADDRESS(DOWNSTREAM_DIRECT_REMOTE_ADDRESS, C_DOWN_DIRECT)
            TIME(DURATION, C_DURATION, 1)
        case PB_COMMON_UPSTREAM_REQUEST_ATTEMPT_COUNT:
            ONCE(UPSTREAM_REQUEST_ATTEMPT_COUNT);
            CHECK(make_u32(g.value, &v[C_ATTEMPTS]));
            break;
            STRING(CONNECTION_TERMINATION_DETAILS, C_TERMINATION)
            UNIQUE_STRING(STREAM_ID, C_STREAM_ID)
        case PB_COMMON_INTERMEDIATE_LOG_ENTRY:
            ONCE(INTERMEDIATE_LOG_ENTRY);
            CHECK(make_bool(g.value, &v[C_INTERMEDIATE]));
            break;
            STRING(DOWNSTREAM_TRANSPORT_FAILURE_REASON, C_DOWN_FAILURE)
            U64(DOWNSTREAM_WIRE_BYTES_SENT, C_DOWN_WIRE_SENT)
            U64(DOWNSTREAM_WIRE_BYTES_RECEIVED, C_DOWN_WIRE_RECEIVED)
            U64(UPSTREAM_WIRE_BYTES_SENT, C_UP_WIRE_SENT)
            U64(UPSTREAM_WIRE_BYTES_RECEIVED, C_UP_WIRE_RECEIVED)
        case PB_COMMON_ACCESS_LOG_TYPE:
            ONCE(ACCESS_LOG_TYPE);
            CHECK(make_enum(G.access_log_types, g.value, &v[C_TYPE]));
            break;
        /* The rarer fields go to the callback, repeated ones included: its parser merges
         * them as the pure path's does. */
        case PB_COMMON_TLS_PROPERTIES:
        case PB_COMMON_METADATA:
        case PB_COMMON_FILTER_STATE_OBJECTS:
        case PB_COMMON_CUSTOM_TAGS:
            CHECK(g.wire_type == WT_LEN ? extra_add(&extra, &g, r.p) : NOT_MINE);
            break;
        default:
            CHECK(NOT_MINE);
#undef ONCE
#undef STRING
#undef UNIQUE_STRING
#undef ADDRESS
#undef TIME
#undef U64
        }
    }
    CHECK(common_extra(call, &extra, v));
    fill(&v[C_SAMPLE_RATE], G.float_zero);
    fill(&v[C_FLAGS], G.no_flags);
    for (int i = 0; i < C_COUNT; i++) {
        switch (i) {
        case C_CLUSTER:
        case C_UP_FAILURE:
        case C_ROUTE:
        case C_TERMINATION:
        case C_STREAM_ID:
        case C_DOWN_FAILURE:
            fill(&v[i], G.empty_str);
            break;
        case C_ATTEMPTS:
        case C_DOWN_WIRE_SENT:
        case C_DOWN_WIRE_RECEIVED:
        case C_UP_WIRE_SENT:
        case C_UP_WIRE_RECEIVED:
            fill(&v[i], G.zero);
            break;
        case C_INTERMEDIATE:
            fill(&v[i], Py_False);
            break;
        case C_TYPE:
            CHECK(v[i] == NULL ? make_enum(G.access_log_types, 0, &v[i]) : OK);
            break;
        default: /* addresses, times, unauthorized_reason: absent */
            fill(&v[i], Py_None);
        }
    }
    *out = build(&COMMON, v);
    rc = *out == NULL ? ERR : OK;
done:
    PyMem_Free(extra.data);
    release(v, C_COUNT);
    return rc;
}

#endif
