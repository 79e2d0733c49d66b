/* _accel_model.h: the model classes, the decoder's state, and building objects slot by slot.
 *
 * A part of _accel.c, which includes its parts once, in order (one translation unit,
 * so everything stays static); it uses what the parts before it define. */
#ifndef MESHALS__ACCEL_MODEL_H
#define MESHALS__ACCEL_MODEL_H

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
    PyObject *map_cls, *map_data, *map_hash; /* FrozenMap, the slots of its dict and hash */
    PyObject *identifier_cb, *common_cb, *address_cb;
} G;

/* One decode() call's parameters. */
typedef struct {
    uint64_t max_entries;
    uint64_t max_string;
    PyObject *context; /* passed to the callbacks as their first argument */
} Call;

/* --- writing slots ----------------------------------------------------------------------- */

#ifndef Py_T_OBJECT_EX /* before 3.12, the member types are structmember.h's */
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_READONLY READONLY
#endif

/* 0 if *slot* is one the builders write straight into: a writable object member
 * (T_OBJECT_EX, what __slots__ makes) of *cls* or a base of it; else -1 with TypeError. */
static int writable_slot(PyTypeObject *cls, PyObject *slot) {
    if (Py_TYPE(slot) != &PyMemberDescr_Type || !PyType_IsSubtype(cls, PyDescr_TYPE(slot))) {
        PyErr_Format(PyExc_TypeError, "%R is no slot descriptor of %R", slot, cls);
        return -1;
    }
    const PyMemberDef *member = ((PyMemberDescrObject *)slot)->d_member;
    if (member->type != Py_T_OBJECT_EX || (member->flags & Py_READONLY) != 0) {
        PyErr_Format(PyExc_TypeError, "%R is no writable object slot", slot);
        return -1;
    }
    return 0;
}

/* Write *value* (borrowed) into *obj*'s slot: what the descriptor's __set__ does for a slot
 * writable_slot() accepted, without the checks that call made once and the calls between. */
static void put_slot(PyObject *obj, PyObject *slot, PyObject *value) {
    PyObject **field = (PyObject **)((char *)obj + ((PyMemberDescrObject *)slot)->d_member->offset);
    PyObject *old = *field;
    *field = Py_NewRef(value);
    Py_XDECREF(old);
}

/* Build an instance of *m* from one value per field (borrowed; all set), as
 * model._construct's constructors do: allocate, then write each slot. */
static PyObject *build(const Model *m, PyObject *const *values) {
    PyObject *obj = m->cls->tp_alloc(m->cls, 0);
    if (obj == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < m->count; i++) {
        put_slot(obj, m->slots[i], values[i]);
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

#endif
