/* _accel_values.h: scalars, the Python callbacks, addresses and maps of strings.
 *
 * A part of _accel.c, which includes its parts once, in order (one translation unit,
 * so everything stays static); it uses what the parts before it define. */
#ifndef MESHALS__ACCEL_VALUES_H
#define MESHALS__ACCEL_VALUES_H

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

#endif
