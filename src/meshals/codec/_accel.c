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
 * _accel_fields.h, generated from the descriptors (tools/gen_accel_fields.py). What recurs
 * from entry to entry (short strings, small ints, addresses, the callbacks' answers) is made
 * once and shared, kept in fixed tables by the bytes it was made of (_accel_values.h).
 *
 * It also makes slot constructors (constructor()): functions that build a model object from
 * one value per field, as meshals.model._construct's generated ones do, for the objects the
 * decoders and the analysis make per entry (see meshals.codec._compiled); and summarize's
 * fold of metrics into cells (tally(), _accel_tally.h; see meshals.aggregate._fold).
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
#include "_accel_wire.h"
#include "_accel_model.h"
#include "_accel_values.h"
#include "_accel_common.h"
#include "_accel_entries.h"
#include "_accel_tally.h"
#include "_accel_json.h"

/* --- the module -------------------------------------------------------------------------- */

/* The identifiers' converted values: the first message of every stream carries its Envoy's
 * identifier, the same bytes for all the streams of one Envoy. Only parts up to
 * MAX_CACHED_IDENTIFIER bytes are kept (Istio's node metadata is a few kilobytes). */
#define IDENTIFIER_CACHE_SLOTS 64 /* a power of two */
#define MAX_CACHED_IDENTIFIER 32768
static Kept identifier_cache[IDENTIFIER_CACHE_SLOTS];

/* decode(data, source, index, max_entries, max_string_length, context), its arguments
 * checked by hand: PyArg_ParseTuple's format parsing costs as much as a small entry. */
static PyObject *decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer buffer;
    (void)module;
    if (!G.ready) {
        PyErr_SetString(PyExc_RuntimeError, "meshals.codec._accel.init() was not called");
        return NULL;
    }
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "decode() takes 6 positional arguments but %zd were given",
                     nargs);
        return NULL;
    }
    PyObject *source = args[1], *index = args[2], *context = args[5];
    if (!PyUnicode_Check(source) || !PyLong_Check(args[3]) || !PyLong_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "decode(data, str, index, int, int, context)");
        return NULL;
    }
    /* OverflowError for a negative limit, which "K" would have wrapped to "unlimited". */
    unsigned long long max_entries = PyLong_AsUnsignedLongLong(args[3]);
    unsigned long long max_string = PyLong_AsUnsignedLongLong(args[4]);
    if (PyErr_Occurred() || PyObject_GetBuffer(args[0], &buffer, PyBUF_SIMPLE) < 0) {
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
            CHECK(call_for_one(&call, identifier_cache, IDENTIFIER_CACHE_SLOTS,
                               MAX_CACHED_IDENTIFIER, G.identifier_cb, &g, &v[M_IDENTIFIER]));
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

/* --- slot constructors ------------------------------------------------------------------- */

/* A constructor's spec: (class, slot descriptor, ...), one descriptor per field in order. */
static PyObject *construct(PyObject *spec, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t count = PyTuple_GET_SIZE(spec) - 1;
    PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(spec, 0);
    if (nargs != count) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd positional arguments but %zd were given",
                     cls->tp_name, count, nargs);
        return NULL;
    }
    PyObject *obj = cls->tp_alloc(cls, 0);
    if (obj == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        put_slot(obj, PyTuple_GET_ITEM(spec, i + 1), args[i]);
    }
    return obj;
}

static PyMethodDef construct_def = {
    "construct", (PyCFunction)(void (*)(void))construct, METH_FASTCALL,
    "Build an instance of the class from one value per field, in field order."};

static PyObject *constructor(PyObject *module, PyObject *args) {
    PyObject *cls, *slots;
    (void)module;
    if (!PyArg_ParseTuple(args, "O!O!:constructor", &PyType_Type, &cls, &PyTuple_Type, &slots)) {
        return NULL;
    }
    if (((PyTypeObject *)cls)->tp_new != PyBaseObject_Type.tp_new) {
        PyErr_Format(PyExc_TypeError, "%R has a __new__ of its own", cls);
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(slots);
    PyObject *spec = PyTuple_New(count + 1);
    if (spec == NULL) {
        return NULL;
    }
    PyTuple_SET_ITEM(spec, 0, Py_NewRef(cls));
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *slot = PyTuple_GET_ITEM(slots, i);
        if (writable_slot((PyTypeObject *)cls, slot) < 0) {
            Py_DECREF(spec);
            return NULL;
        }
        PyTuple_SET_ITEM(spec, i + 1, Py_NewRef(slot));
    }
    PyObject *made = PyCFunction_New(&construct_def, spec);
    Py_DECREF(spec);
    return made;
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
        if (writable_slot((PyTypeObject *)cls, slot) < 0) {
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
        "empty_any_map",   "frozen_map",      "identifier",      "common_extra",
        "address",         NULL};
    PyObject *models, *http_versions, *request_methods, *access_log_types, *socket_protocols;
    PyObject *unauthorized_reasons, *flags, *empty_str_map, *empty_any_map;
    PyObject *map_cls, *map_data, *map_hash;
    PyObject *identifier_cb, *common_cb, *address_cb;
    (void)module;
    G.ready = 0; /* until every part below is in place: decode() refuses a half-set state */
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "$O!O!O!O!O!O!O!OO(O!OO)OOO:init", keywords, &PyTuple_Type, &models,
            &PyTuple_Type, &http_versions, &PyTuple_Type, &request_methods, &PyTuple_Type,
            &access_log_types, &PyTuple_Type, &socket_protocols, &PyTuple_Type,
            &unauthorized_reasons, &PyTuple_Type, &flags, &empty_str_map, &empty_any_map,
            &PyType_Type, &map_cls, &map_data, &map_hash, &identifier_cb, &common_cb,
            &address_cb)) {
        return NULL;
    }
    if (writable_slot((PyTypeObject *)map_cls, map_data) < 0 ||
        writable_slot((PyTypeObject *)map_cls, map_hash) < 0) {
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
    take(&G.map_cls, map_cls);
    take(&G.map_data, map_data);
    take(&G.map_hash, map_hash);
    take(&G.identifier_cb, identifier_cb);
    take(&G.common_cb, common_cb);
    take(&G.address_cb, address_cb);
    /* Each constant is made once; after a failure a later init() makes what is missing. */
    if ((G.no_flags == NULL && (G.no_flags = PyFrozenSet_New(NULL)) == NULL) ||
        (G.empty_str == NULL && (G.empty_str = PyUnicode_FromStringAndSize("", 0)) == NULL) ||
        (G.empty_tuple == NULL && (G.empty_tuple = PyTuple_New(0)) == NULL) ||
        (G.zero == NULL && (G.zero = PyLong_FromLong(0)) == NULL) ||
        (G.float_zero == NULL && (G.float_zero = PyFloat_FromDouble(0.0)) == NULL) ||
        (G.kind_http == NULL && (G.kind_http = PyUnicode_InternFromString("http")) == NULL) ||
        (G.kind_tcp == NULL && (G.kind_tcp = PyUnicode_InternFromString("tcp")) == NULL)) {
        return NULL;
    }
    /* The kept values may be the previous classes' or callbacks'. */
    kept_clear(address_cache, ADDRESS_CACHE_SLOTS);
    kept_clear(extra_cache, EXTRA_CACHE_SLOTS);
    kept_clear(identifier_cache, IDENTIFIER_CACHE_SLOTS);
    flag_sets_clear();
    G.ready = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "decode(data, source, index, max_entries, max_string_length, context)\n--\n\n"
     "The AlsMessage *data* holds, or None when the pure decoder must decide."},
    {"init", (PyCFunction)(void (*)(void))init, METH_VARARGS | METH_KEYWORDS,
     "Give the decoder the model classes, enum members, constants and callbacks."},
    {"constructor", constructor, METH_VARARGS,
     "constructor(cls, slots)\n--\n\n"
     "A function (field_1, field_2, ...) -> cls that writes each field through its slot."},
    {"tally", tally, METH_O,
     "tally(spec)\n--\n\n"
     "summarize's fold, compiled: a function (batch, start, cells) -> index (_accel_tally.h)."},
    {"json_converter", json_converter, METH_O,
     "json_converter(spec)\n--\n\n"
     "A function (raw) -> (entry, members) or None for clean JSON log entries (_accel_json.h)."},
    {"member_count", (PyCFunction)(void (*)(void))member_count, METH_FASTCALL,
     "member_count(text, start, end)\n--\n\n"
     "How many '\":' pairs text[start:end] holds; -1 if a colon follows whitespace."},
    {"orjson_reads_alike", orjson_reads_alike, METH_O,
     "orjson_reads_alike(text)\n--\n\n"
     "Whether orjson reads text as json.loads does: no run of 19 digits, no deep nesting."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "meshals.codec._accel",
    "The compiled decoder of meshals' binary ALS messages (see meshals.codec._accelerated).",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__accel(void) { return PyModule_Create(&module_def); }
