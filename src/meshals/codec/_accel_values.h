/* _accel_values.h: scalars, the Python callbacks, addresses and maps of strings.
 *
 * A part of _accel.c, which includes its parts once, in order (one translation unit,
 * so everything stays static); it uses what the parts before it define. */
#ifndef MESHALS__ACCEL_VALUES_H
#define MESHALS__ACCEL_VALUES_H

/* --- repeated bytes ---------------------------------------------------------------------- */

/* A hash of *length* bytes for the direct-mapped caches below (not Python's hash: cheaper,
 * and a collision costs only a comparison). */
static uint64_t bytes_hash(const void *bytes, size_t length) {
    const uint8_t *p = bytes;
    const uint64_t k = 0xff51afd7ed558ccdULL;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ length, word;
    for (; length >= 8; p += 8, length -= 8) {
        memcpy(&word, p, 8);
        h = (h ^ word) * k;
        h ^= h >> 32;
    }
    word = 0;
    memcpy(&word, p, length);
    h = (h ^ word) * k;
    return h ^ (h >> 29);
}

/* Values kept by the bytes they were made of (and the context they were made with, or NULL),
 * one per slot, a slot chosen by a hash of the bytes: a newer value takes an older one's
 * place, so a table's memory is bounded by its slots and the size of the bytes it keeps. */
typedef struct {
    PyObject *context, *data, *value; /* data and value both set, or both NULL */
} Kept;

static Kept *kept_slot(Kept *table, size_t slots, const void *bytes, size_t length) {
    return &table[bytes_hash(bytes, length) & (slots - 1)];
}

/* The value *slot* keeps for these bytes and context (borrowed), or NULL. */
static PyObject *kept_value(const Kept *slot, PyObject *context, const void *bytes,
                            size_t length) {
    if (slot->value != NULL && slot->context == context &&
        PyBytes_GET_SIZE(slot->data) == (Py_ssize_t)length &&
        memcmp(PyBytes_AS_STRING(slot->data), bytes, length) == 0) {
        return slot->value;
    }
    return NULL;
}

/* Keep *value* for *data* (a bytes object) and *context* (or NULL) in *slot*. The slot is
 * whole before the old values are released: a release may run Python code (a weakref's
 * callback) that decodes again. */
static void keep(Kept *slot, PyObject *context, PyObject *data, PyObject *value) {
    Kept old = *slot;
    slot->context = Py_XNewRef(context);
    slot->data = Py_NewRef(data);
    slot->value = Py_NewRef(value);
    Py_XDECREF(old.value);
    Py_XDECREF(old.data);
    Py_XDECREF(old.context);
}

static void kept_clear(Kept *table, size_t slots) {
    for (size_t i = 0; i < slots; i++) {
        Kept old = table[i];
        table[i].value = table[i].data = table[i].context = NULL; /* as keep(): whole first */
        Py_XDECREF(old.value);
        Py_XDECREF(old.data);
        Py_XDECREF(old.context);
    }
}

/* The short strings of a stream recur entry after entry (clusters, routes, authorities,
 * paths, user agents, header names): each is made once and shared, in a slot chosen by a hash
 * of its bytes, a newer string taking an older one's place. Strings are immutable, so sharing
 * changes no value (and Python hashes each once). Only ASCII ones are kept, so that a kept
 * string's characters are its UTF-8 bytes. */
#define STR_CACHE_SLOTS 2048 /* a power of two */
#define MAX_SHARED_STR 64
static PyObject *str_cache[STR_CACHE_SLOTS];

/* --- scalars ----------------------------------------------------------------------------- */

/* A string field; *shared*: through the cache (not for values unique to an entry, such as
 * request ids, which would only push the recurring ones out). */
static int make_text(const Call *call, const Field *f, int shared, PyObject **out) {
    if (f->length > call->max_string) {
        return NOT_MINE; /* bytes bound characters: the pure path decides */
    }
    if (f->length == 0) {
        *out = Py_NewRef(G.empty_str);
        return OK;
    }
    PyObject **slot = NULL;
    if (shared && f->length <= MAX_SHARED_STR) {
        slot = &str_cache[bytes_hash(f->body, f->length) & (STR_CACHE_SLOTS - 1)];
        PyObject *kept = *slot;
        if (kept != NULL && PyUnicode_GET_LENGTH(kept) == (Py_ssize_t)f->length &&
            memcmp(PyUnicode_DATA(kept), f->body, f->length) == 0) {
            *out = Py_NewRef(kept);
            return OK;
        }
    }
    PyObject *text = PyUnicode_DecodeUTF8((const char *)f->body, (Py_ssize_t)f->length, NULL);
    if (text == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear(); /* protobuf refuses it too; the pure path says where */
            return NOT_MINE;
        }
        return ERR;
    }
    if (slot != NULL && PyUnicode_IS_ASCII(text)) {
        Py_XSETREF(*slot, Py_NewRef(text));
    }
    *out = text;
    return OK;
}

static int make_str(const Call *call, const Field *f, PyObject **out) {
    return make_text(call, f, 1, out);
}

static int make_unique_str(const Call *call, const Field *f, PyObject **out) {
    return make_text(call, f, 0, out);
}

/* Small counts recur too (header and body sizes, wire bytes): ints below this are made
 * once, on first use, and shared, as CPython shares those below 257. */
#define SHARED_INTS 4096
static PyObject *int_cache[SHARED_INTS];

static int make_u64(uint64_t value, PyObject **out) {
    if (value < SHARED_INTS) {
        PyObject **kept = &int_cache[value];
        if (*kept == NULL && (*kept = PyLong_FromUnsignedLongLong(value)) == NULL) {
            return ERR;
        }
        *out = Py_NewRef(*kept);
        return OK;
    }
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

/* Call *callback*(context, data); its answer, or NULL with *rc* NOT_MINE (None) or ERR. */
static PyObject *call_back_with(const Call *call, PyObject *callback, PyObject *data, int *rc) {
    PyObject *answer = PyObject_CallFunctionObjArgs(callback, call->context, data, NULL);
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

/* The callback's answer, a tuple of *size*, for the *length* bytes at *body*: asked once per
 * bytes and context (the context holds the limits) while a slot of *table* (if not NULL)
 * keeps it, for parts up to *max_kept* bytes; only answers are kept, never a None. A new
 * reference, or NULL with *rc* NOT_MINE or ERR. */
static PyObject *kept_answer(const Call *call, Kept *table, size_t slots, size_t max_kept,
                             PyObject *callback, const char *body, size_t length,
                             Py_ssize_t size, int *rc) {
    Kept *slot = NULL;
    if (table != NULL && length <= max_kept) {
        slot = kept_slot(table, slots, body, length);
        PyObject *kept = kept_value(slot, call->context, body, length);
        if (kept != NULL) {
            *rc = OK;
            return Py_NewRef(kept);
        }
    }
    PyObject *data = PyBytes_FromStringAndSize(body, (Py_ssize_t)length);
    if (data == NULL) {
        *rc = ERR;
        return NULL;
    }
    PyObject *answer = call_back_with(call, callback, data, rc);
    if (answer != NULL && expect_tuple(answer, size) != OK) {
        Py_CLEAR(answer);
        *rc = ERR;
    }
    if (answer != NULL && slot != NULL) {
        keep(slot, call->context, data, answer);
    }
    Py_DECREF(data);
    return answer;
}

/* Pass the callback's (value,) to *out*, asked through *table* if there is one. */
static int call_for_one(const Call *call, Kept *table, size_t slots, size_t max_kept,
                        PyObject *callback, const Field *f, PyObject **out) {
    int rc;
    if (f->length > call->max_string) {
        return NOT_MINE;
    }
    PyObject *answer = kept_answer(call, table, slots, max_kept, callback,
                                   (const char *)f->body, f->length, 1, &rc);
    if (answer == NULL) {
        return rc;
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
    return call_for_one(call, NULL, 0, 0, G.address_cb, f, out); /* kept by address() */
}

/* An Address: the same bytes give the same (immutable) value, so each is made once. Only
 * short ones are kept: a slot count alone would let large ones fill memory. */
#define ADDRESS_CACHE_SLOTS 4096 /* a power of two */
#define MAX_CACHED_ADDRESS 256
static Kept address_cache[ADDRESS_CACHE_SLOTS];

static int address(const Call *call, const Field *f, PyObject **out) {
    if (f->length > call->max_string) {
        return NOT_MINE; /* checked before the cache, which any limits share */
    }
    Kept *slot = NULL;
    if (f->length <= MAX_CACHED_ADDRESS) {
        slot = kept_slot(address_cache, ADDRESS_CACHE_SLOTS, f->body, f->length);
        PyObject *kept = kept_value(slot, NULL, f->body, f->length);
        if (kept != NULL) {
            *out = Py_NewRef(kept);
            return OK;
        }
    }
    int rc = address_uncached(call, f, out);
    if (rc == OK && slot != NULL) {
        PyObject *data = PyBytes_FromStringAndSize((const char *)f->body, (Py_ssize_t)f->length);
        if (data == NULL) {
            Py_CLEAR(*out);
            return ERR;
        }
        keep(slot, NULL, data, *out);
        Py_DECREF(data);
    }
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

/* *dict* with its keys (strings) in sorted order, as the pure path orders a map (a new
 * reference; *dict* itself when its keys come sorted, as they usually do). */
static PyObject *sorted_dict(PyObject *dict) {
    PyObject *key, *value, *previous = NULL;
    Py_ssize_t position = 0;
    int in_order = 1;
    while (in_order && PyDict_Next(dict, &position, &key, &value)) {
        if (previous != NULL) {
            int less = PyObject_RichCompareBool(key, previous, Py_LT);
            if (less < 0) {
                return NULL;
            }
            in_order = !less;
        }
        previous = key;
    }
    if (in_order) {
        return Py_NewRef(dict);
    }
    PyObject *keys = PyDict_Keys(dict), *sorted = NULL;
    if (keys == NULL || PyList_Sort(keys) < 0 || (sorted = PyDict_New()) == NULL) {
        Py_XDECREF(keys);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        key = PyList_GET_ITEM(keys, i);
        value = PyDict_GetItemWithError(dict, key); /* borrowed; present */
        if (value == NULL || PyDict_SetItem(sorted, key, value) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_RuntimeError, "a map key vanished while sorting");
            }
            Py_DECREF(keys);
            Py_DECREF(sorted);
            return NULL;
        }
    }
    Py_DECREF(keys);
    return sorted;
}

/* A FrozenMap of *dict* (its own dict, no hash yet), as its __init__ makes one. */
static PyObject *new_frozen_map(PyObject *dict) {
    PyTypeObject *cls = (PyTypeObject *)G.map_cls;
    PyObject *map = cls->tp_alloc(cls, 0);
    if (map != NULL) {
        put_slot(map, G.map_data, dict);
        put_slot(map, G.map_hash, Py_None);
    }
    return map;
}

/* The FrozenMap of *dict* (keys sorted, so every run gives the same order, as the pure
 * path's), or the shared empty one. */
static int str_map(PyObject *dict, PyObject **out) {
    if (dict == NULL) {
        *out = Py_NewRef(G.empty_str_map);
        return OK;
    }
    PyObject *sorted = sorted_dict(dict);
    if (sorted == NULL) {
        return ERR;
    }
    *out = new_frozen_map(sorted);
    Py_DECREF(sorted);
    return *out == NULL ? ERR : OK;
}

#endif
