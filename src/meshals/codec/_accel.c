/* meshals.codec._accel: the optional compiled decoder of StreamAccessLogsMessage.
 *
 * It reads the protobuf wire format straight into meshals' model objects, for the canonical
 * encodings Envoy writes, and answers None ("not mine") for anything else: an unknown field,
 * a wrong wire type, a singular field seen twice, a oneof set twice, invalid UTF-8, a
 * timestamp or duration out of range, a broken Limits bound, truncated data. The Python
 * caller (meshals.codec._accelerated) then takes the pure path, which reports what it finds;
 * so the values this module returns are exactly the pure path's, and it never makes a
 * diagnostic of its own.
 *
 * The fields read on every entry are built here; the rarer sub-messages (the identifier,
 * metadata, TLS properties, filter state objects, custom tags, pipe and internal addresses)
 * are handed as bytes to Python callbacks that parse them with protobuf and the pure path's
 * converters, so their meaning cannot drift. Field numbers and wire types come from
 * _accel_fields.h, generated from the descriptors (tools/gen_accel_fields.py).
 *
 * Safety: every read is checked against the end of its buffer; a length prefix is checked
 * against the bytes that remain before it is used; the walk has a fixed depth (no recursion).
 * A Python C-API failure returns NULL with its exception set; the caller lets it propagate.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_accel_fields.h"

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
/* Values cached by their serialized bytes, at most this many, all forgotten when full. */
#define CACHE_SIZE 4096
/* Only addresses this short are cached: a count bound alone would let large ones fill memory. */
#define MAX_CACHED_ADDRESS 256
/* protobuf's parsers refuse a tag longer than 5 bytes (a 32-bit key). */
#define MAX_TAG_SIZE 5

/* --- the model classes ------------------------------------------------------------------- */

/* One model class: its type and the slot descriptors of its fields, in attrs' order. The
 * names are what this file writes; init() refuses a class whose fields differ. */
#define MAX_SLOTS 40
typedef struct {
    const char *label;
    const char *const *names;
    Py_ssize_t count;
    PyTypeObject *cls;
    PyObject *slots[MAX_SLOTS];
} Model;

enum { M_IDENTIFIER, M_KIND, M_ENTRIES, M_SOURCE, M_INDEX, M_DIAGNOSTICS, M_COUNT };
static const char *const MESSAGE_NAMES[] = {"identifier", "kind",  "entries",
                                            "source",     "index", "diagnostics"};

enum { H_COMMON, H_VERSION, H_REQUEST, H_RESPONSE, H_COUNT };
static const char *const HTTP_NAMES[] = {"common_properties", "protocol_version", "request",
                                         "response"};

enum { T_COMMON, T_CONNECTION, T_COUNT };
static const char *const TCP_NAMES[] = {"common_properties", "connection_properties"};

enum { K_RECEIVED, K_SENT, K_COUNT };
static const char *const CONNECTION_NAMES[] = {"received_bytes", "sent_bytes"};

enum { S_ADDRESS, S_PORT, S_NAMED_PORT, S_PROTOCOL, S_RESOLVER, S_IPV4_COMPAT, S_NETNS, S_COUNT };
static const char *const SOCKET_NAMES[] = {
    "address",     "port", "named_port", "protocol", "resolver_name", "ipv4_compat",
    "network_namespace_filepath"};

enum {
    Q_METHOD, Q_SCHEME, Q_AUTHORITY, Q_PORT, Q_PATH, Q_USER_AGENT, Q_REFERER, Q_FORWARDED_FOR,
    Q_REQUEST_ID, Q_ORIGINAL_PATH, Q_HEADERS_BYTES, Q_BODY_BYTES, Q_HEADERS, Q_UP_HEADER_SENT,
    Q_DOWN_HEADER_RECEIVED, Q_COUNT
};
static const char *const REQUEST_NAMES[] = {
    "request_method", "scheme", "authority", "port", "path", "user_agent", "referer",
    "forwarded_for", "request_id", "original_path", "request_headers_bytes",
    "request_body_bytes", "request_headers", "upstream_header_bytes_sent",
    "downstream_header_bytes_received"};

enum {
    R_CODE, R_HEADERS_BYTES, R_BODY_BYTES, R_HEADERS, R_TRAILERS, R_DETAILS,
    R_UP_HEADER_RECEIVED, R_DOWN_HEADER_SENT, R_COUNT
};
static const char *const RESPONSE_NAMES[] = {
    "response_code", "response_headers_bytes", "response_body_bytes", "response_headers",
    "response_trailers", "response_code_details", "upstream_header_bytes_received",
    "downstream_header_bytes_sent"};

/* AccessLogCommon: its fields follow the message's, response_flags split into two. */
enum {
    C_SAMPLE_RATE, C_DOWN_REMOTE, C_DOWN_LOCAL, C_TLS, C_START, C_LAST_RX, C_FIRST_UP_TX,
    C_LAST_UP_TX, C_FIRST_UP_RX, C_LAST_UP_RX, C_FIRST_DOWN_TX, C_LAST_DOWN_TX, C_UP_REMOTE,
    C_UP_LOCAL, C_CLUSTER, C_FLAGS, C_UNAUTHORIZED, C_METADATA, C_UP_FAILURE, C_ROUTE,
    C_DOWN_DIRECT, C_FILTER_STATE, C_CUSTOM_TAGS, C_DURATION, C_ATTEMPTS, C_TERMINATION,
    C_STREAM_ID, C_INTERMEDIATE, C_DOWN_FAILURE, C_DOWN_WIRE_SENT, C_DOWN_WIRE_RECEIVED,
    C_UP_WIRE_SENT, C_UP_WIRE_RECEIVED, C_TYPE, C_COUNT
};
static const char *const COMMON_NAMES[] = {
    "sample_rate", "downstream_remote_address", "downstream_local_address", "tls_properties",
    "start_time_ns", "time_to_last_rx_byte_ns", "time_to_first_upstream_tx_byte_ns",
    "time_to_last_upstream_tx_byte_ns", "time_to_first_upstream_rx_byte_ns",
    "time_to_last_upstream_rx_byte_ns", "time_to_first_downstream_tx_byte_ns",
    "time_to_last_downstream_tx_byte_ns", "upstream_remote_address", "upstream_local_address",
    "upstream_cluster", "response_flags", "unauthorized_reason", "metadata",
    "upstream_transport_failure_reason", "route_name", "downstream_direct_remote_address",
    "filter_state_objects", "custom_tags", "duration_ns", "upstream_request_attempt_count",
    "connection_termination_details", "stream_id", "intermediate_log_entry",
    "downstream_transport_failure_reason", "downstream_wire_bytes_sent",
    "downstream_wire_bytes_received", "upstream_wire_bytes_sent",
    "upstream_wire_bytes_received", "access_log_type"};

static Model MESSAGE = {"AlsMessage", MESSAGE_NAMES, M_COUNT, NULL, {NULL}};
static Model HTTP = {"HttpEntry", HTTP_NAMES, H_COUNT, NULL, {NULL}};
static Model TCP = {"TcpEntry", TCP_NAMES, T_COUNT, NULL, {NULL}};
static Model CONNECTION = {"ConnectionProperties", CONNECTION_NAMES, K_COUNT, NULL, {NULL}};
static Model SOCKET = {"SocketAddress", SOCKET_NAMES, S_COUNT, NULL, {NULL}};
static Model REQUEST = {"HttpRequest", REQUEST_NAMES, Q_COUNT, NULL, {NULL}};
static Model RESPONSE = {"HttpResponse", RESPONSE_NAMES, R_COUNT, NULL, {NULL}};
static Model COMMON = {"AccessLogCommon", COMMON_NAMES, C_COUNT, NULL, {NULL}};

/* The state init() sets: enum members by number, shared constants, builders, callbacks. */
static struct {
    int ready;
    PyObject *http_versions, *request_methods, *access_log_types, *socket_protocols;
    PyObject *unauthorized_reasons, *response_flags;
    PyObject *empty_str_map, *empty_any_map, *no_flags, *empty_str, *empty_tuple;
    PyObject *zero, *float_zero, *kind_http, *kind_tcp;
    PyObject *str_map, *identifier_cb, *common_cb, *address_cb;
    PyObject *address_cache;
} G;

/* One decode() call's parameters. */
typedef struct {
    uint64_t max_entries;
    uint64_t max_string;
    PyObject *context; /* passed to the callbacks as their first argument */
} Call;

/* Build an instance of *m* from one value per field (borrowed; all set), as
 * model._construct's constructors do: allocate, then write each slot through its descriptor. */
static PyObject *build(const Model *m, PyObject *const *values) {
    PyObject *obj = m->cls->tp_alloc(m->cls, 0);
    if (obj == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < m->count; i++) {
        PyObject *slot = m->slots[i];
        if (Py_TYPE(slot)->tp_descr_set(slot, obj, values[i]) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
    }
    return obj;
}

static void release(PyObject **values, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_CLEAR(values[i]);
    }
}

/* Give every field still unset its default (borrowed *value*, a new reference kept). */
static void fill(PyObject **slot, PyObject *value) {
    if (*slot == NULL) {
        *slot = Py_NewRef(value);
    }
}

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

/* --- scalars ----------------------------------------------------------------------------- */

static int make_str(const Call *call, const Field *f, PyObject **out) {
    if (f->length > call->max_string) {
        return NOT_MINE; /* bytes bound characters: the pure path decides */
    }
    if (f->length == 0) {
        *out = Py_NewRef(G.empty_str);
        return OK;
    }
    PyObject *text = PyUnicode_DecodeUTF8((const char *)f->body, (Py_ssize_t)f->length, NULL);
    if (text == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear(); /* protobuf refuses it too; the pure path says where */
            return NOT_MINE;
        }
        return ERR;
    }
    *out = text;
    return OK;
}

static int make_u64(uint64_t value, PyObject **out) {
    *out = PyLong_FromUnsignedLongLong(value);
    return *out == NULL ? ERR : OK;
}

static int make_u32(uint64_t value, PyObject **out) {
    return value > 0xFFFFFFFFu ? NOT_MINE : make_u64(value, out);
}

static int make_bool(uint64_t value, PyObject **out) {
    if (value > 1) {
        return NOT_MINE;
    }
    *out = Py_NewRef(value ? Py_True : Py_False);
    return OK;
}

/* An open proto3 enum: the member for a known number, else the int (as the pure path). */
static int make_enum(PyObject *members, uint64_t raw, PyObject **out) {
    int64_t number = (int64_t)raw;
    if (number < INT32_MIN || number > INT32_MAX) {
        return NOT_MINE;
    }
    if (number >= 0 && number < PyTuple_GET_SIZE(members)) {
        PyObject *member = PyTuple_GET_ITEM(members, number);
        if (member != Py_None) {
            *out = Py_NewRef(member);
            return OK;
        }
    }
    *out = PyLong_FromLongLong(number);
    return *out == NULL ? ERR : OK;
}

/* A Timestamp or Duration as integer nanoseconds, NOT_MINE outside its range. */
static int make_ns(const Field *f, int is_duration, PyObject **out) {
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    int64_t seconds = 0, nanos = 0;
    while (r.p < r.end) {
        TRY(read_field(&r, &g));
        if (g.number == PB_TIMESTAMP_SECONDS) {
            TRY(once(&seen, &g, PB_TIMESTAMP_SECONDS_WT));
            seconds = (int64_t)g.value;
        } else if (g.number == PB_TIMESTAMP_NANOS) {
            TRY(once(&seen, &g, PB_TIMESTAMP_NANOS_WT));
            nanos = (int64_t)g.value;
            if (nanos < INT32_MIN || nanos > INT32_MAX) {
                return NOT_MINE;
            }
        } else {
            return NOT_MINE;
        }
    }
    if (is_duration) {
        if (seconds < -MAX_DURATION_S || seconds > MAX_DURATION_S || nanos <= -NS_PER_S ||
            nanos >= NS_PER_S || (seconds < 0 && nanos > 0) || (seconds > 0 && nanos < 0)) {
            return NOT_MINE;
        }
    } else if (seconds < MIN_TIMESTAMP_S || seconds > MAX_TIMESTAMP_S || nanos < 0 ||
               nanos >= NS_PER_S) {
        return NOT_MINE;
    }
    if (seconds < -MAX_NS_SECONDS || seconds > MAX_NS_SECONDS) {
        return NOT_MINE;
    }
    *out = PyLong_FromLongLong(seconds * NS_PER_S + nanos);
    return *out == NULL ? ERR : OK;
}

/* A UInt32Value's value (present, so 0 when empty). */
static int make_wrapped_u32(const Field *f, PyObject **out) {
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0, value = 0;
    while (r.p < r.end) {
        TRY(read_field(&r, &g));
        if (g.number != PB_UINT32_VALUE) {
            return NOT_MINE;
        }
        TRY(once(&seen, &g, PB_UINT32_VALUE_WT));
        value = g.value;
    }
    return make_u32(value, out);
}

/* --- callbacks --------------------------------------------------------------------------- */

/* Call *callback*(context, body bytes); its answer, or NULL with *rc* NOT_MINE (None) or ERR. */
static PyObject *call_back(const Call *call, PyObject *callback, const char *body, size_t length,
                           int *rc) {
    PyObject *data = PyBytes_FromStringAndSize(body, (Py_ssize_t)length);
    if (data == NULL) {
        *rc = ERR;
        return NULL;
    }
    PyObject *answer = PyObject_CallFunctionObjArgs(callback, call->context, data, NULL);
    Py_DECREF(data);
    if (answer == NULL) {
        *rc = ERR;
        return NULL;
    }
    if (answer == Py_None) {
        Py_DECREF(answer);
        *rc = NOT_MINE;
        return NULL;
    }
    *rc = OK;
    return answer;
}

/* A callback's answer that must be a tuple of *size*; else a bug in the Python side. */
static int expect_tuple(PyObject *answer, Py_ssize_t size) {
    if (!PyTuple_CheckExact(answer) || PyTuple_GET_SIZE(answer) != size) {
        PyErr_Format(PyExc_TypeError, "accelerator callback returned %R, not a %zd-tuple", answer,
                     size);
        return ERR;
    }
    return OK;
}

/* Pass the callback's (value,) to *out*. */
static int call_for_one(const Call *call, PyObject *callback, const Field *f, PyObject **out) {
    int rc;
    if (f->length > call->max_string) {
        return NOT_MINE;
    }
    PyObject *answer = call_back(call, callback, (const char *)f->body, f->length, &rc);
    if (answer == NULL) {
        return rc;
    }
    if (expect_tuple(answer, 1) != OK) {
        Py_DECREF(answer);
        return ERR;
    }
    *out = Py_NewRef(PyTuple_GET_ITEM(answer, 0));
    Py_DECREF(answer);
    return OK;
}

/* --- addresses --------------------------------------------------------------------------- */

static int socket_address(const Call *call, const Field *f, PyObject **out) {
    PyObject *v[S_COUNT] = {NULL};
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    int rc = OK;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        switch (g.number) {
        case PB_SOCKET_PROTOCOL:
            CHECK(once(&seen, &g, PB_SOCKET_PROTOCOL_WT));
            CHECK(make_enum(G.socket_protocols, g.value, &v[S_PROTOCOL]));
            break;
        case PB_SOCKET_ADDRESS:
            CHECK(once(&seen, &g, PB_SOCKET_ADDRESS_WT));
            CHECK(make_str(call, &g, &v[S_ADDRESS]));
            break;
        case PB_SOCKET_PORT_VALUE: /* oneof port_specifier: one member, once */
            CHECK(once(&seen, &g, PB_SOCKET_PORT_VALUE_WT));
            CHECK(v[S_NAMED_PORT] != NULL ? NOT_MINE : make_u32(g.value, &v[S_PORT]));
            break;
        case PB_SOCKET_NAMED_PORT:
            CHECK(once(&seen, &g, PB_SOCKET_NAMED_PORT_WT));
            CHECK(v[S_PORT] != NULL ? NOT_MINE : make_str(call, &g, &v[S_NAMED_PORT]));
            break;
        case PB_SOCKET_RESOLVER_NAME:
            CHECK(once(&seen, &g, PB_SOCKET_RESOLVER_NAME_WT));
            CHECK(make_str(call, &g, &v[S_RESOLVER]));
            break;
        case PB_SOCKET_IPV4_COMPAT:
            CHECK(once(&seen, &g, PB_SOCKET_IPV4_COMPAT_WT));
            CHECK(make_bool(g.value, &v[S_IPV4_COMPAT]));
            break;
        case PB_SOCKET_NETWORK_NAMESPACE_FILEPATH:
            CHECK(once(&seen, &g, PB_SOCKET_NETWORK_NAMESPACE_FILEPATH_WT));
            CHECK(make_str(call, &g, &v[S_NETNS]));
            break;
        default:
            CHECK(NOT_MINE);
        }
    }
    fill(&v[S_ADDRESS], G.empty_str);
    fill(&v[S_PORT], Py_None);
    fill(&v[S_NAMED_PORT], Py_None);
    CHECK(v[S_PROTOCOL] == NULL ? make_enum(G.socket_protocols, 0, &v[S_PROTOCOL]) : OK);
    fill(&v[S_RESOLVER], G.empty_str);
    fill(&v[S_IPV4_COMPAT], Py_False);
    fill(&v[S_NETNS], G.empty_str);
    *out = build(&SOCKET, v);
    rc = *out == NULL ? ERR : OK;
done:
    release(v, S_COUNT);
    return rc;
}

/* An Address without the cache: a lone socket_address here, the other members (and
 * anything unusual) through the callback. */
static int address_uncached(const Call *call, const Field *f, PyObject **out) {
    Reader r = {f->body, f->body + f->length};
    Field g, member = {0};
    int members = 0;
    if (f->length == 0) {
        *out = Py_NewRef(Py_None); /* no member set */
        return OK;
    }
    while (r.p < r.end) {
        TRY(read_field(&r, &g));
        members++;
        member = g;
    }
    if (members == 1 && member.number == PB_ADDRESS_SOCKET_ADDRESS &&
        member.wire_type == PB_ADDRESS_SOCKET_ADDRESS_WT) {
        return socket_address(call, &member, out);
    }
    return call_for_one(call, G.address_cb, f, out);
}

/* An Address: the same bytes give the same (immutable) value, so each is made once. */
static int address(const Call *call, const Field *f, PyObject **out) {
    if (f->length > call->max_string) {
        return NOT_MINE; /* checked before the cache, which any limits share */
    }
    PyObject *key = PyBytes_FromStringAndSize((const char *)f->body, (Py_ssize_t)f->length);
    if (key == NULL) {
        return ERR;
    }
    PyObject *cached = PyDict_GetItemWithError(G.address_cache, key);
    if (cached != NULL) {
        *out = Py_NewRef(cached);
        Py_DECREF(key);
        return OK;
    }
    int rc = PyErr_Occurred() ? ERR : address_uncached(call, f, out);
    if (rc == OK && f->length <= MAX_CACHED_ADDRESS) {
        if (PyDict_GET_SIZE(G.address_cache) >= CACHE_SIZE) {
            PyDict_Clear(G.address_cache);
        }
        if (PyDict_SetItem(G.address_cache, key, *out) < 0) {
            Py_CLEAR(*out);
            rc = ERR;
        }
    }
    Py_DECREF(key);
    return rc;
}

/* --- maps of strings --------------------------------------------------------------------- */

/* Add one map<string, string> entry to *dict* (made on first use): a repeated key keeps
 * its last value, as protobuf's parser does. */
static int str_map_entry(const Call *call, const Field *f, PyObject **dict) {
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    PyObject *key = NULL, *value = NULL;
    int rc = OK;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        if (g.number == PB_STR_ENTRY_KEY) {
            CHECK(once(&seen, &g, PB_STR_ENTRY_KEY_WT));
            CHECK(make_str(call, &g, &key));
        } else if (g.number == PB_STR_ENTRY_VALUE) {
            CHECK(once(&seen, &g, PB_STR_ENTRY_VALUE_WT));
            CHECK(make_str(call, &g, &value));
        } else {
            CHECK(NOT_MINE);
        }
    }
    fill(&key, G.empty_str);
    fill(&value, G.empty_str);
    if (*dict == NULL && (*dict = PyDict_New()) == NULL) {
        CHECK(ERR);
    }
    CHECK(PyDict_SetItem(*dict, key, value) < 0 ? ERR : OK);
done:
    Py_XDECREF(key);
    Py_XDECREF(value);
    return rc;
}

/* The FrozenMap of *dict* (keys sorted, by the builder), or the shared empty one. */
static int str_map(PyObject *dict, PyObject **out) {
    if (dict == NULL) {
        *out = Py_NewRef(G.empty_str_map);
        return OK;
    }
    *out = PyObject_CallOneArg(G.str_map, dict);
    return *out == NULL ? ERR : OK;
}

/* --- common properties ------------------------------------------------------------------- */

static int response_flags(const Call *call, const Field *f, PyObject **flags,
                          PyObject **reason) {
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    PyObject *set = NULL;
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
        if (set == NULL && (set = PyFrozenSet_New(NULL)) == NULL) {
            CHECK(ERR);
        }
        /* Filled before anyone else sees it, as frozenset(list) fills its new set. */
        CHECK(PySet_Add(set, flag) < 0 ? ERR : OK);
    }
    *flags = set != NULL ? Py_NewRef(set) : Py_NewRef(G.no_flags);
done:
    Py_XDECREF(set);
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
    PyObject *answer = call_back(call, G.common_cb, extra->data, extra->length, &rc);
    if (answer == NULL) {
        return rc;
    }
    if (expect_tuple(answer, 4) != OK) {
        Py_DECREF(answer);
        return ERR;
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
            STRING(STREAM_ID, C_STREAM_ID)
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

/* --- HTTP request and response ----------------------------------------------------------- */

static int request(const Call *call, const Field *f, PyObject **out) {
    PyObject *v[Q_COUNT] = {NULL};
    PyObject *headers = NULL;
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    int rc = OK;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        switch (g.number) {
#define ONCE(NAME) CHECK(once(&seen, &g, PB_REQUEST_##NAME##_WT))
#define STRING(NAME, SLOT)                                                                         \
    case PB_REQUEST_##NAME:                                                                        \
        ONCE(NAME);                                                                                \
        CHECK(make_str(call, &g, &v[SLOT]));                                                       \
        break;
#define U64(NAME, SLOT)                                                                            \
    case PB_REQUEST_##NAME:                                                                        \
        ONCE(NAME);                                                                                \
        CHECK(make_u64(g.value, &v[SLOT]));                                                        \
        break;
        case PB_REQUEST_REQUEST_METHOD:
            ONCE(REQUEST_METHOD);
            CHECK(make_enum(G.request_methods, g.value, &v[Q_METHOD]));
            break;
            STRING(SCHEME, Q_SCHEME)
            STRING(AUTHORITY, Q_AUTHORITY)
        case PB_REQUEST_PORT:
            ONCE(PORT);
            CHECK(make_wrapped_u32(&g, &v[Q_PORT]));
            break;
            STRING(PATH, Q_PATH)
            STRING(USER_AGENT, Q_USER_AGENT)
            STRING(REFERER, Q_REFERER)
            STRING(FORWARDED_FOR, Q_FORWARDED_FOR)
            STRING(REQUEST_ID, Q_REQUEST_ID)
            STRING(ORIGINAL_PATH, Q_ORIGINAL_PATH)
            U64(REQUEST_HEADERS_BYTES, Q_HEADERS_BYTES)
            U64(REQUEST_BODY_BYTES, Q_BODY_BYTES)
        case PB_REQUEST_REQUEST_HEADERS: /* a map: one entry per occurrence */
            CHECK(g.wire_type == PB_REQUEST_REQUEST_HEADERS_WT ? OK : NOT_MINE);
            CHECK(str_map_entry(call, &g, &headers));
            break;
            U64(UPSTREAM_HEADER_BYTES_SENT, Q_UP_HEADER_SENT)
            U64(DOWNSTREAM_HEADER_BYTES_RECEIVED, Q_DOWN_HEADER_RECEIVED)
        default:
            CHECK(NOT_MINE);
#undef ONCE
#undef STRING
#undef U64
        }
    }
    CHECK(v[Q_METHOD] == NULL ? make_enum(G.request_methods, 0, &v[Q_METHOD]) : OK);
    CHECK(str_map(headers, &v[Q_HEADERS]));
    fill(&v[Q_PORT], Py_None);
    for (int i = 0; i < Q_COUNT; i++) {
        int number = i == Q_HEADERS_BYTES || i == Q_BODY_BYTES || i == Q_UP_HEADER_SENT ||
                     i == Q_DOWN_HEADER_RECEIVED;
        fill(&v[i], number ? G.zero : G.empty_str);
    }
    *out = build(&REQUEST, v);
    rc = *out == NULL ? ERR : OK;
done:
    Py_XDECREF(headers);
    release(v, Q_COUNT);
    return rc;
}

static int response(const Call *call, const Field *f, PyObject **out) {
    PyObject *v[R_COUNT] = {NULL};
    PyObject *headers = NULL, *trailers = NULL;
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    int rc = OK;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        switch (g.number) {
#define ONCE(NAME) CHECK(once(&seen, &g, PB_RESPONSE_##NAME##_WT))
#define U64(NAME, SLOT)                                                                            \
    case PB_RESPONSE_##NAME:                                                                       \
        ONCE(NAME);                                                                                \
        CHECK(make_u64(g.value, &v[SLOT]));                                                        \
        break;
        case PB_RESPONSE_RESPONSE_CODE:
            ONCE(RESPONSE_CODE);
            CHECK(make_wrapped_u32(&g, &v[R_CODE]));
            break;
            U64(RESPONSE_HEADERS_BYTES, R_HEADERS_BYTES)
            U64(RESPONSE_BODY_BYTES, R_BODY_BYTES)
        case PB_RESPONSE_RESPONSE_HEADERS:
            CHECK(g.wire_type == PB_RESPONSE_RESPONSE_HEADERS_WT ? OK : NOT_MINE);
            CHECK(str_map_entry(call, &g, &headers));
            break;
        case PB_RESPONSE_RESPONSE_TRAILERS:
            CHECK(g.wire_type == PB_RESPONSE_RESPONSE_TRAILERS_WT ? OK : NOT_MINE);
            CHECK(str_map_entry(call, &g, &trailers));
            break;
        case PB_RESPONSE_RESPONSE_CODE_DETAILS:
            ONCE(RESPONSE_CODE_DETAILS);
            CHECK(make_str(call, &g, &v[R_DETAILS]));
            break;
            U64(UPSTREAM_HEADER_BYTES_RECEIVED, R_UP_HEADER_RECEIVED)
            U64(DOWNSTREAM_HEADER_BYTES_SENT, R_DOWN_HEADER_SENT)
        default:
            CHECK(NOT_MINE);
#undef ONCE
#undef U64
        }
    }
    CHECK(str_map(headers, &v[R_HEADERS]));
    CHECK(str_map(trailers, &v[R_TRAILERS]));
    fill(&v[R_CODE], Py_None);
    fill(&v[R_DETAILS], G.empty_str);
    for (int i = 0; i < R_COUNT; i++) {
        fill(&v[i], G.zero);
    }
    *out = build(&RESPONSE, v);
    rc = *out == NULL ? ERR : OK;
done:
    Py_XDECREF(headers);
    Py_XDECREF(trailers);
    release(v, R_COUNT);
    return rc;
}

/* --- entries ----------------------------------------------------------------------------- */

static int http_entry(const Call *call, const Field *f, PyObject **out) {
    PyObject *v[H_COUNT] = {NULL};
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    int rc = OK;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        switch (g.number) {
        case PB_HTTP_ENTRY_COMMON_PROPERTIES:
            CHECK(once(&seen, &g, PB_HTTP_ENTRY_COMMON_PROPERTIES_WT));
            CHECK(common(call, &g, &v[H_COMMON]));
            break;
        case PB_HTTP_ENTRY_PROTOCOL_VERSION:
            CHECK(once(&seen, &g, PB_HTTP_ENTRY_PROTOCOL_VERSION_WT));
            CHECK(make_enum(G.http_versions, g.value, &v[H_VERSION]));
            break;
        case PB_HTTP_ENTRY_REQUEST:
            CHECK(once(&seen, &g, PB_HTTP_ENTRY_REQUEST_WT));
            CHECK(request(call, &g, &v[H_REQUEST]));
            break;
        case PB_HTTP_ENTRY_RESPONSE:
            CHECK(once(&seen, &g, PB_HTTP_ENTRY_RESPONSE_WT));
            CHECK(response(call, &g, &v[H_RESPONSE]));
            break;
        default:
            CHECK(NOT_MINE);
        }
    }
    CHECK(v[H_VERSION] == NULL ? make_enum(G.http_versions, 0, &v[H_VERSION]) : OK);
    fill(&v[H_COMMON], Py_None);
    fill(&v[H_REQUEST], Py_None);
    fill(&v[H_RESPONSE], Py_None);
    *out = build(&HTTP, v);
    rc = *out == NULL ? ERR : OK;
done:
    release(v, H_COUNT);
    return rc;
}

static int connection(const Field *f, PyObject **out) {
    PyObject *v[K_COUNT] = {NULL};
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    int rc = OK;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        if (g.number == PB_CONNECTION_RECEIVED_BYTES) {
            CHECK(once(&seen, &g, PB_CONNECTION_RECEIVED_BYTES_WT));
            CHECK(make_u64(g.value, &v[K_RECEIVED]));
        } else if (g.number == PB_CONNECTION_SENT_BYTES) {
            CHECK(once(&seen, &g, PB_CONNECTION_SENT_BYTES_WT));
            CHECK(make_u64(g.value, &v[K_SENT]));
        } else {
            CHECK(NOT_MINE);
        }
    }
    fill(&v[K_RECEIVED], G.zero);
    fill(&v[K_SENT], G.zero);
    *out = build(&CONNECTION, v);
    rc = *out == NULL ? ERR : OK;
done:
    release(v, K_COUNT);
    return rc;
}

static int tcp_entry(const Call *call, const Field *f, PyObject **out) {
    PyObject *v[T_COUNT] = {NULL};
    Reader r = {f->body, f->body + f->length};
    Field g;
    uint64_t seen = 0;
    int rc = OK;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        switch (g.number) {
        case PB_TCP_ENTRY_COMMON_PROPERTIES:
            CHECK(once(&seen, &g, PB_TCP_ENTRY_COMMON_PROPERTIES_WT));
            CHECK(common(call, &g, &v[T_COMMON]));
            break;
        case PB_TCP_ENTRY_CONNECTION_PROPERTIES:
            CHECK(once(&seen, &g, PB_TCP_ENTRY_CONNECTION_PROPERTIES_WT));
            CHECK(connection(&g, &v[T_CONNECTION]));
            break;
        default:
            CHECK(NOT_MINE);
        }
    }
    fill(&v[T_COMMON], Py_None);
    fill(&v[T_CONNECTION], Py_None);
    *out = build(&TCP, v);
    rc = *out == NULL ? ERR : OK;
done:
    release(v, T_COUNT);
    return rc;
}

/* The entries of an HTTPAccessLogEntries or TCPAccessLogEntries message, as a tuple. */
static int entries(const Call *call, const Field *f, int http, PyObject **out) {
    Reader r = {f->body, f->body + f->length};
    Field g;
    PyObject *entry = NULL;
    int rc = OK;
    uint64_t count = 0;
    /* Count first, so that too many entries cost no allocation (the pure path raises). */
    while (r.p < r.end) {
        TRY(read_field(&r, &g));
        if (++count > call->max_entries) {
            return NOT_MINE;
        }
    }
    r.p = f->body;
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return ERR;
    }
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        if (g.number != (http ? PB_HTTP_ENTRIES_LOG_ENTRY : PB_TCP_ENTRIES_LOG_ENTRY) ||
            g.wire_type != (http ? PB_HTTP_ENTRIES_LOG_ENTRY_WT : PB_TCP_ENTRIES_LOG_ENTRY_WT)) {
            CHECK(NOT_MINE);
        }
        CHECK(http ? http_entry(call, &g, &entry) : tcp_entry(call, &g, &entry));
        CHECK(PyList_Append(list, entry) < 0 ? ERR : OK);
        Py_CLEAR(entry);
    }
    *out = PyList_AsTuple(list);
    rc = *out == NULL ? ERR : OK;
done:
    Py_XDECREF(entry);
    Py_DECREF(list);
    return rc;
}

/* --- the module -------------------------------------------------------------------------- */

static PyObject *decode(PyObject *module, PyObject *args) {
    Py_buffer buffer;
    PyObject *source, *index, *context, *max_entries_obj, *max_string_obj;
    (void)module;
    if (!G.ready) {
        PyErr_SetString(PyExc_RuntimeError, "meshals.codec._accel.init() was not called");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*UOO!O!O:decode", &buffer, &source, &index, &PyLong_Type,
                          &max_entries_obj, &PyLong_Type, &max_string_obj, &context)) {
        return NULL;
    }
    /* OverflowError for a negative limit, which "K" would have wrapped to "unlimited". */
    unsigned long long max_entries = PyLong_AsUnsignedLongLong(max_entries_obj);
    unsigned long long max_string = PyLong_AsUnsignedLongLong(max_string_obj);
    if (PyErr_Occurred()) {
        PyBuffer_Release(&buffer);
        return NULL;
    }
    Call call = {max_entries, max_string, context};
    PyObject *v[M_COUNT] = {NULL};
    PyObject *result = NULL;
    Reader r = {buffer.buf, (const uint8_t *)buffer.buf + buffer.len};
    Field g;
    uint64_t seen = 0;
    int rc = OK;
    while (r.p < r.end) {
        CHECK(read_field(&r, &g));
        switch (g.number) {
        case PB_STREAM_IDENTIFIER:
            CHECK(once(&seen, &g, PB_STREAM_IDENTIFIER_WT));
            CHECK(call_for_one(&call, G.identifier_cb, &g, &v[M_IDENTIFIER]));
            break;
        case PB_STREAM_HTTP_LOGS: /* oneof log_entries: one member, once */
        case PB_STREAM_TCP_LOGS: {
            int http = g.number == PB_STREAM_HTTP_LOGS;
            CHECK(once(&seen, &g, http ? PB_STREAM_HTTP_LOGS_WT : PB_STREAM_TCP_LOGS_WT));
            CHECK(v[M_KIND] != NULL ? NOT_MINE : OK);
            v[M_KIND] = Py_NewRef(http ? G.kind_http : G.kind_tcp);
            CHECK(entries(&call, &g, http, &v[M_ENTRIES]));
            break;
        }
        default:
            CHECK(NOT_MINE);
        }
    }
    fill(&v[M_IDENTIFIER], Py_None);
    fill(&v[M_KIND], Py_None);
    fill(&v[M_ENTRIES], G.empty_tuple);
    v[M_SOURCE] = Py_NewRef(source);
    v[M_INDEX] = Py_NewRef(index);
    v[M_DIAGNOSTICS] = Py_NewRef(G.empty_tuple);
    result = build(&MESSAGE, v);
    rc = result == NULL ? ERR : OK;
done:
    release(v, M_COUNT);
    PyBuffer_Release(&buffer);
    if (rc == NOT_MINE) {
        Py_RETURN_NONE;
    }
    return result; /* NULL with the exception set on ERR */
}

/* Take *spec*, a (class, field names, slot descriptors) tuple, into *m*. */
static int take_model(Model *m, PyObject *spec) {
    PyObject *cls, *names, *slots;
    if (!PyArg_ParseTuple(spec, "O!O!O!", &PyType_Type, &cls, &PyTuple_Type, &names,
                          &PyTuple_Type, &slots)) {
        return -1;
    }
    if (PyTuple_GET_SIZE(names) != m->count || PyTuple_GET_SIZE(slots) != m->count) {
        PyErr_Format(PyExc_TypeError, "%s has %zd fields, the accelerator writes %zd", m->label,
                     PyTuple_GET_SIZE(names), m->count);
        return -1;
    }
    for (Py_ssize_t i = 0; i < m->count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *slot = PyTuple_GET_ITEM(slots, i);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, m->names[i]) != 0) {
            PyErr_Format(PyExc_TypeError, "%s's field %zd is %R, the accelerator writes %s",
                         m->label, i, name, m->names[i]);
            return -1;
        }
        if (Py_TYPE(slot)->tp_descr_set == NULL) {
            PyErr_Format(PyExc_TypeError, "%s.%s: %R is no slot descriptor", m->label,
                         m->names[i], slot);
            return -1;
        }
    }
    Py_INCREF(cls);
    Py_XSETREF(m->cls, (PyTypeObject *)cls);
    for (Py_ssize_t i = 0; i < m->count; i++) {
        Py_XSETREF(m->slots[i], Py_NewRef(PyTuple_GET_ITEM(slots, i)));
    }
    return 0;
}

static int take(PyObject **target, PyObject *value) {
    Py_XSETREF(*target, Py_NewRef(value));
    return 0;
}

static PyObject *init(PyObject *module, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {
        "models",          "http_versions",   "request_methods", "access_log_types",
        "socket_protocols", "unauthorized_reasons", "response_flags", "empty_str_map",
        "empty_any_map",   "str_map",         "identifier",      "common_extra",
        "address",         NULL};
    PyObject *models, *http_versions, *request_methods, *access_log_types, *socket_protocols;
    PyObject *unauthorized_reasons, *flags, *empty_str_map, *empty_any_map, *builder;
    PyObject *identifier_cb, *common_cb, *address_cb;
    (void)module;
    G.ready = 0; /* until every part below is in place: decode() refuses a half-set state */
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "$O!O!O!O!O!O!O!OOOOOO:init", keywords, &PyTuple_Type, &models,
            &PyTuple_Type, &http_versions, &PyTuple_Type, &request_methods, &PyTuple_Type,
            &access_log_types, &PyTuple_Type, &socket_protocols, &PyTuple_Type,
            &unauthorized_reasons, &PyTuple_Type, &flags, &empty_str_map, &empty_any_map,
            &builder, &identifier_cb, &common_cb, &address_cb)) {
        return NULL;
    }
    Model *order[] = {&MESSAGE, &HTTP, &TCP, &CONNECTION, &SOCKET, &REQUEST, &RESPONSE, &COMMON};
    Py_ssize_t count = (Py_ssize_t)(sizeof order / sizeof order[0]);
    if (PyTuple_GET_SIZE(models) != count) {
        PyErr_Format(PyExc_TypeError, "expected %zd model classes", count);
        return NULL;
    }
    if (PyTuple_GET_SIZE(flags) != PB_FLAGS_MAX_FIELD + 1) {
        PyErr_SetString(PyExc_TypeError, "response_flags: one per ResponseFlags field number");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (take_model(order[i], PyTuple_GET_ITEM(models, i)) < 0) {
            return NULL;
        }
    }
    take(&G.http_versions, http_versions);
    take(&G.request_methods, request_methods);
    take(&G.access_log_types, access_log_types);
    take(&G.socket_protocols, socket_protocols);
    take(&G.unauthorized_reasons, unauthorized_reasons);
    take(&G.response_flags, flags);
    take(&G.empty_str_map, empty_str_map);
    take(&G.empty_any_map, empty_any_map);
    take(&G.str_map, builder);
    take(&G.identifier_cb, identifier_cb);
    take(&G.common_cb, common_cb);
    take(&G.address_cb, address_cb);
    /* Each constant is made once; after a failure a later init() makes what is missing. */
    if ((G.address_cache == NULL && (G.address_cache = PyDict_New()) == NULL) ||
        (G.no_flags == NULL && (G.no_flags = PyFrozenSet_New(NULL)) == NULL) ||
        (G.empty_str == NULL && (G.empty_str = PyUnicode_FromStringAndSize("", 0)) == NULL) ||
        (G.empty_tuple == NULL && (G.empty_tuple = PyTuple_New(0)) == NULL) ||
        (G.zero == NULL && (G.zero = PyLong_FromLong(0)) == NULL) ||
        (G.float_zero == NULL && (G.float_zero = PyFloat_FromDouble(0.0)) == NULL) ||
        (G.kind_http == NULL && (G.kind_http = PyUnicode_InternFromString("http")) == NULL) ||
        (G.kind_tcp == NULL && (G.kind_tcp = PyUnicode_InternFromString("tcp")) == NULL)) {
        return NULL;
    }
    PyDict_Clear(G.address_cache); /* its values may be the previous classes' */
    G.ready = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(data, source, index, max_entries, max_string_length, context)\n--\n\n"
     "The AlsMessage *data* holds, or None when the pure decoder must decide."},
    {"init", (PyCFunction)(void (*)(void))init, METH_VARARGS | METH_KEYWORDS,
     "Give the decoder the model classes, enum members, constants and callbacks."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "meshals.codec._accel",
    "The compiled decoder of meshals' binary ALS messages (see meshals.codec._accelerated).",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__accel(void) { return PyModule_Create(&module_def); }
