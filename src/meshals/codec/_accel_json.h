/* _accel_json.h: clean JSON log entries, as json.loads gives them, straight into the model.
 *
 * A part of _accel.c, which includes its parts once, in order (one translation unit,
 * so everything stays static); it uses what the parts before it define.
 *
 * json_converter(spec) makes the function convert(raw) -> (entry, members) or None. The spec
 * is made by meshals.codec._json_compiled from the JSON walk's own field tables: one model
 * per message, each JSON key with its slot, its kind of value and what that kind needs. It
 * converts what the walk's generated converters (_json_fast) convert, to the same values, for
 * the shapes Envoy writes: lowerCamelCase keys, strings of ASCII, integers and times in
 * their canonical forms. At anything else (a key not in its table, a null, a value of
 * another shape, a kind the spec leaves to Python) it answers None, and Python converts the
 * entry. It makes no diagnostic and raises only for a C-API failure. *members* counts the
 * members of every JSON object read, as the walk counts them (see _json_duplicates).
 */
#ifndef MESHALS__ACCEL_JSON_H
#define MESHALS__ACCEL_JSON_H

/* The kinds of value, numbered as meshals.codec._json_compiled numbers them. */
enum {
    J_STR,         /* a string of ASCII */
    J_U64,         /* a uint64: a decimal string or an int */
    J_U32,         /* a uint32 (or UInt32Value): an int */
    J_BOOL,        /* true or false */
    J_DURATION,    /* "1.000340012s": integer nanoseconds */
    J_TIMESTAMP,   /* "2026-11-21T09:08:31.130435Z": integer nanoseconds since the epoch */
    J_ENUM,        /* a member by name, or by number; extra: (by_name, by_number) */
    J_ADDRESS,     /* {"socketAddress": {"address", "portValue"}}; extra: (cache, model, size) */
    J_ANY_MAP,     /* a map of Anys; extra: (the type_urls read, make_any) */
    J_MESSAGE,     /* a nested message; extra: its model's index in the spec */
    J_UNSUPPORTED, /* left to Python */
    J_STR_MAP,     /* a map<string, string> of ASCII */
    J_FLAGS,       /* ResponseFlags of bools; extra: (flag by key, the reason's slot) */
    J_STRUCT_MAP,  /* a map<string, Struct> */
    J_MESSAGES,    /* a repeated message; extra: (its model's index, members at most) */
    J_KINDS
};

#define J_MAX_MODELS 16
#define J_U64_DIGITS 20 /* 18446744073709551615 */

typedef struct {
    PyTypeObject *cls;
    PyObject *slots;    /* slot descriptors, in field order */
    PyObject *defaults; /* one per field; the spec's `required` where there is none */
    PyObject *fields;   /* JSON key -> (slot, kind, extra) */
} JModel;

typedef struct {
    PyObject *spec; /* holds every object below */
    PyObject *required;
    PyTypeObject *map_cls; /* FrozenMap, built as its __init__ does: its dict, no hash yet */
    PyObject *map_data, *map_hash;
    int struct_depth; /* how deep a Struct's objects may nest here (the Struct is level 1) */
    PyObject *k_socket_address, *k_address, *k_port_value, *k_type, *k_value;
    Py_ssize_t count;
    JModel models[J_MAX_MODELS];
} JConverter;

static const char JSON_CAPSULE[] = "meshals.codec._accel.JsonConverter";

/* A str of ASCII (what json.loads makes is ready; older strings are readied here). */
static int ascii_str(PyObject *v) {
    if (!PyUnicode_CheckExact(v)) {
        return 0;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(v) < 0) {
        PyErr_Clear();
        return 0;
    }
#endif
    return PyUnicode_IS_ASCII(v);
}

static int is_digit(Py_UCS1 c) { return c >= '0' && c <= '9'; }

/* An int of 0 to *highest* (not a bool, which is no exact int). */
static int exact_uint(PyObject *v, unsigned long long highest) {
    if (!PyLong_CheckExact(v)) {
        return 0;
    }
    unsigned long long value = PyLong_AsUnsignedLongLong(v);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear(); /* negative or above 64 bits */
        return 0;
    }
    return value <= highest;
}

static int j_u64(PyObject *v, PyObject **out) {
    if (exact_uint(v, UINT64_MAX)) {
        *out = Py_NewRef(v);
        return OK;
    }
    if (!ascii_str(v)) {
        return NOT_MINE;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(v);
    if (n == 0 || n > J_U64_DIGITS) {
        return NOT_MINE;
    }
    unsigned long long value = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (!is_digit(s[i]) || value > (UINT64_MAX - digit) / 10) {
            return NOT_MINE;
        }
        value = value * 10 + digit;
    }
    *out = PyLong_FromUnsignedLongLong(value);
    return *out == NULL ? ERR : OK;
}

/* Read the 1-9 digits of a fraction at s[*i] (after its point) as nanoseconds. */
static int fraction_ns(const Py_UCS1 *s, Py_ssize_t end, Py_ssize_t *i, long long *nanos) {
    int digits = 0;
    long long value = 0;
    while (*i < end && is_digit(s[*i])) {
        if (++digits > 9) {
            return NOT_MINE;
        }
        value = value * 10 + (s[(*i)++] - '0');
    }
    if (digits == 0) {
        return NOT_MINE;
    }
    for (; digits < 9; digits++) {
        value *= 10;
    }
    *nanos = value;
    return OK;
}

/* A non-negative duration, "<seconds>[.<1-9 digits>]s", within int64 nanoseconds. */
static int j_duration(PyObject *v, PyObject **out) {
    if (!ascii_str(v)) {
        return NOT_MINE;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(v), i = 0, end = n - 1;
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(v);
    if (n < 2 || s[end] != 's') {
        return NOT_MINE;
    }
    long long seconds = 0, nanos = 0;
    int significant = 0;
    for (; i < end && is_digit(s[i]); i++) {
        if (seconds == 0 && s[i] == '0') {
            continue; /* a leading zero */
        }
        if (++significant > 12) {
            return NOT_MINE;
        }
        seconds = seconds * 10 + (s[i] - '0');
    }
    if (i == 0) {
        return NOT_MINE; /* no whole seconds, or a sign */
    }
    if (i < end && s[i] == '.') {
        i++;
        TRY(fraction_ns(s, end, &i, &nanos));
    }
    if (i != end || seconds > MAX_DURATION_S || seconds > MAX_NS_SECONDS) {
        return NOT_MINE;
    }
    *out = PyLong_FromLongLong(seconds * NS_PER_S + nanos);
    return *out == NULL ? ERR : OK;
}

/* The value of *count* digits at s[at], or -1. */
static int digits_at(const Py_UCS1 *s, Py_ssize_t at, int count) {
    int value = 0;
    for (int k = 0; k < count; k++) {
        if (!is_digit(s[at + k])) {
            return -1;
        }
        value = value * 10 + (s[at + k] - '0');
    }
    return value;
}

/* Days from 1970-01-01 to the proleptic Gregorian date (year >= 1). */
static long long days_from_civil(long long year, int month, int day) {
    year -= month <= 2;
    long long era = year / 400; /* year >= 0 here */
    long long of_era = year - era * 400;
    long long of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    long long of_cycle = of_era * 365 + of_era / 4 - of_era / 100 + of_year;
    return era * 146097 + of_cycle - 719468;
}

static int days_in_month(int year, int month) {
    static const int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return DAYS[month - 1] + (month == 2 && leap);
}

/* A UTC timestamp, "YYYY-MM-DDTHH:MM:SS[.<1-9 digits>]Z", within int64 nanoseconds. */
static int j_timestamp(PyObject *v, PyObject **out) {
    if (!ascii_str(v)) {
        return NOT_MINE;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(v), i = 19, end = n - 1;
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(v);
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[end] != 'Z') {
        return NOT_MINE;
    }
    int year = digits_at(s, 0, 4), month = digits_at(s, 5, 2), day = digits_at(s, 8, 2);
    int hour = digits_at(s, 11, 2), minute = digits_at(s, 14, 2), second = digits_at(s, 17, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 || second < 0 || second > 59 ||
        day > days_in_month(year, month)) {
        return NOT_MINE;
    }
    long long nanos = 0;
    if (i < end && s[i] == '.') {
        i++;
        TRY(fraction_ns(s, end, &i, &nanos));
    }
    if (i != end) {
        return NOT_MINE;
    }
    long long seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                        second;
    if (seconds < -MAX_NS_SECONDS || seconds > MAX_NS_SECONDS) {
        return NOT_MINE;
    }
    *out = PyLong_FromLongLong(seconds * NS_PER_S + nanos);
    return *out == NULL ? ERR : OK;
}

/* An open enum: the member by name, or by number (an unknown number stays the int). */
static int j_enum(PyObject *v, PyObject *extra, PyObject **out) {
    PyObject *by_name = PyTuple_GET_ITEM(extra, 0), *by_number = PyTuple_GET_ITEM(extra, 1);
    PyObject *member;
    if (PyUnicode_CheckExact(v)) {
        member = PyDict_GetItemWithError(by_name, v);
    } else if (PyLong_CheckExact(v)) {
        int overflow;
        long long number = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (number == -1 && PyErr_Occurred()) {
            return ERR;
        }
        if (overflow || number < INT32_MIN || number > INT32_MAX) {
            return NOT_MINE;
        }
        member = PyDict_GetItemWithError(by_number, v);
        if (member == NULL && !PyErr_Occurred()) {
            member = v;
        }
    } else {
        return NOT_MINE;
    }
    if (member == NULL) {
        return PyErr_Occurred() ? ERR : NOT_MINE;
    }
    *out = Py_NewRef(member);
    return OK;
}

/* A borrowed member of the exact dict *d*, or NULL (with an error only on failure). */
static PyObject *member_of(PyObject *d, PyObject *key) { return PyDict_GetItemWithError(d, key); }

static int j_model(const JConverter *c, Py_ssize_t index, PyObject *raw, Py_ssize_t *members,
                   PyObject **out);

/* An Address of one socket address with its address and port: the SocketAddress cached by
 * (address, port), else made as model *socket* and cached (the cache cleared when full). */
static int j_address(const JConverter *c, PyObject *v, PyObject *extra, Py_ssize_t *members,
                     PyObject **out) {
    PyObject *cache = PyTuple_GET_ITEM(extra, 0);
    Py_ssize_t socket = PyLong_AsSsize_t(PyTuple_GET_ITEM(extra, 1));
    Py_ssize_t size = PyLong_AsSsize_t(PyTuple_GET_ITEM(extra, 2));
    if (!PyDict_CheckExact(v) || PyDict_GET_SIZE(v) != 1) {
        return NOT_MINE;
    }
    PyObject *inner = member_of(v, c->k_socket_address);
    if (inner == NULL || !PyDict_CheckExact(inner) || PyDict_GET_SIZE(inner) != 2) {
        return PyErr_Occurred() ? ERR : NOT_MINE;
    }
    PyObject *address = member_of(inner, c->k_address);
    PyObject *port = address == NULL ? NULL : member_of(inner, c->k_port_value);
    if (port == NULL) {
        return PyErr_Occurred() ? ERR : NOT_MINE;
    }
    if (!ascii_str(address) || !exact_uint(port, 0xFFFFFFFFu)) {
        return NOT_MINE;
    }
    PyObject *key = PyTuple_Pack(2, address, port);
    if (key == NULL) {
        return ERR;
    }
    PyObject *found = PyDict_GetItemWithError(cache, key);
    int rc = OK;
    if (found != NULL) {
        *out = Py_NewRef(found);
    } else if (PyErr_Occurred()) {
        rc = ERR;
    } else {
        Py_ssize_t inner_members = 0; /* the three are counted below */
        rc = j_model(c, socket, inner, &inner_members, out);
        if (rc == OK && PyDict_GET_SIZE(cache) >= size) {
            PyDict_Clear(cache);
        }
        if (rc == OK && PyDict_SetItem(cache, key, *out) < 0) {
            Py_CLEAR(*out);
            rc = ERR;
        }
    }
    Py_DECREF(key);
    if (rc == OK) {
        *members += 3;
    }
    return rc;
}

/* A FrozenMap of *data* (taken over; released on failure). */
static int frozen_map(const JConverter *c, PyObject *data, PyObject **out) {
    PyObject *map = c->map_cls->tp_alloc(c->map_cls, 0);
    if (map == NULL) {
        Py_DECREF(data);
        return ERR;
    }
    put_slot(map, c->map_data, data);
    put_slot(map, c->map_hash, Py_None);
    Py_DECREF(data);
    *out = map;
    return OK;
}

/* Set dict[key] to *value*, whose reference it takes over. */
static int set_taken(PyObject *dict, PyObject *key, PyObject *value) {
    int failed = PyDict_SetItem(dict, key, value) < 0;
    Py_DECREF(value);
    return failed ? ERR : OK;
}

/* A Struct of ASCII text, its objects nested *depth* levels at most (the Struct is the first):
 * FrozenMaps, as parse_struct makes them. Other values (numbers, lists, ...) are Python's.
 * Without *strings*, an object of such Structs (a map<string, Struct>) at *depth* + 1. */
static int j_struct(const JConverter *c, PyObject *v, int depth, int strings,
                    Py_ssize_t *members, PyObject **out) {
    PyObject *key, *item;
    Py_ssize_t position = 0, read = 0;
    if (!PyDict_CheckExact(v) || depth < 1) {
        return NOT_MINE;
    }
    PyObject *entries = PyDict_New();
    if (entries == NULL) {
        return ERR;
    }
    int rc = OK;
    while (PyDict_Next(v, &position, &key, &item)) {
        PyObject *value = NULL;
        CHECK(ascii_str(key) ? OK : NOT_MINE);
        if (strings && ascii_str(item)) {
            value = Py_NewRef(item);
        } else {
            CHECK(j_struct(c, item, depth - 1, 1, &read, &value));
        }
        CHECK(set_taken(entries, key, value));
    }
    rc = frozen_map(c, entries, out);
    entries = NULL; /* taken over */
    if (rc == OK) {
        *members += read + PyDict_GET_SIZE(v);
    }
done:
    Py_XDECREF(entries);
    return rc;
}

/* The 6 bits of a base64 digit, standard or URL-safe (parsers take both, even mixed); -1. */
static int base64_digit(Py_UCS1 c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+' || c == '-') {
        return 62;
    }
    if (c == '/' || c == '_') {
        return 63;
    }
    return -1;
}

/* A BytesValue: base64 with its padding whole or left out, as parse_bytes reads it. */
static int j_bytes(PyObject *v, PyObject **out) {
    if (!ascii_str(v)) {
        return NOT_MINE;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(v), digits = n;
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(v);
    while (digits > 0 && s[digits - 1] == '=') {
        digits--;
    }
    Py_ssize_t padding = n - digits, missing = (4 - digits % 4) % 4;
    if (digits % 4 == 1 || (padding != 0 && padding != missing)) {
        return NOT_MINE;
    }
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, digits / 4 * 3 + (missing ? 3 - missing : 0));
    if (bytes == NULL) {
        return ERR;
    }
    unsigned char *to = (unsigned char *)PyBytes_AS_STRING(bytes);
    uint32_t bits = 0;
    int held = 0;
    for (Py_ssize_t i = 0; i < digits; i++) {
        int digit = base64_digit(s[i]);
        if (digit < 0) {
            Py_DECREF(bytes);
            return NOT_MINE;
        }
        bits = (bits << 6) | (uint32_t)digit;
        held += 6;
        if (held >= 8) {
            held -= 8;
            *to++ = (unsigned char)(bits >> held);
            bits &= (1u << held) - 1; /* the bits of a short last group are dropped */
        }
    }
    *out = bytes;
    return OK;
}

/* One Any of a map (*item*, held by the caller), as j_any_map takes them: its AnyValue. */
static int j_any(const JConverter *c, PyObject *item, PyObject *extra, Py_ssize_t *members,
                 PyObject **out) {
    PyObject *string_url = PyTuple_GET_ITEM(extra, 0), *struct_url = PyTuple_GET_ITEM(extra, 1);
    PyObject *bytes_url = PyTuple_GET_ITEM(extra, 2), *make_any = PyTuple_GET_ITEM(extra, 3);
    PyObject *value = NULL, *args[3];
    if (!PyDict_CheckExact(item) || PyDict_GET_SIZE(item) != 2) {
        return NOT_MINE;
    }
    PyObject *url = member_of(item, c->k_type);
    PyObject *raw = url == NULL ? NULL : member_of(item, c->k_value);
    if (raw == NULL) {
        return PyErr_Occurred() ? ERR : NOT_MINE;
    }
    if (!PyUnicode_CheckExact(url)) {
        return NOT_MINE;
    }
    /* (Compare cannot fail: both are exact str.) */
    if (PyUnicode_Compare(url, string_url) == 0 && ascii_str(raw)) {
        value = Py_NewRef(raw);
    } else if (PyUnicode_Compare(url, struct_url) == 0) {
        TRY(j_struct(c, raw, c->struct_depth, 1, members, &value));
    } else if (PyUnicode_Compare(url, bytes_url) == 0) {
        TRY(j_bytes(raw, &value));
    } else {
        return NOT_MINE;
    }
    args[0] = url;
    args[1] = value;
    args[2] = Py_True;
    *out = PyObject_Vectorcall(make_any, args, 3, NULL);
    Py_DECREF(value);
    if (*out == NULL) {
        return ERR;
    }
    *members += 2;
    return OK;
}

/* A map<string, Any> whose Anys are StringValues of ASCII text, BytesValues or Structs as
 * j_struct reads them: a FrozenMap of AnyValues. */
static int j_any_map(const JConverter *c, PyObject *v, PyObject *extra, Py_ssize_t *members,
                     PyObject **out) {
    if (!PyDict_CheckExact(v)) {
        return NOT_MINE;
    }
    PyObject *entries = PyDict_New();
    if (entries == NULL) {
        return ERR;
    }
    PyObject *key, *item;
    Py_ssize_t position = 0, read = PyDict_GET_SIZE(v);
    int rc = OK;
    while (PyDict_Next(v, &position, &key, &item)) {
        PyObject *any = NULL;
        CHECK(ascii_str(key) ? OK : NOT_MINE);
        Py_INCREF(key); /* held while the AnyValue is made */
        Py_INCREF(item);
        rc = j_any(c, item, extra, &read, &any);
        if (rc == OK) {
            rc = set_taken(entries, key, any);
        }
        Py_DECREF(key);
        Py_DECREF(item);
        CHECK(rc);
    }
    rc = frozen_map(c, entries, out);
    entries = NULL; /* taken over */
    if (rc == OK) {
        *members += read;
    }
done:
    Py_XDECREF(entries);
    return rc;
}

/* A repeated message of a later model; a oneof's members alone (at most one per item). */
static int j_messages(const JConverter *c, PyObject *v, PyObject *extra, Py_ssize_t *members,
                      PyObject **out) {
    Py_ssize_t index = PyLong_AsSsize_t(PyTuple_GET_ITEM(extra, 0));
    Py_ssize_t at_most = PyLong_AsSsize_t(PyTuple_GET_ITEM(extra, 1));
    if (!PyList_CheckExact(v)) {
        return NOT_MINE;
    }
    Py_ssize_t count = PyList_GET_SIZE(v);
    PyObject *items = PyTuple_New(count);
    if (items == NULL) {
        return ERR;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        /* (A list changed meanwhile, by a maker's bug only, is Python's.) */
        PyObject *raw = i < PyList_GET_SIZE(v) ? PyList_GET_ITEM(v, i) : NULL, *made = NULL;
        int rc = raw != NULL && PyDict_CheckExact(raw) && PyDict_GET_SIZE(raw) <= at_most
                     ? OK
                     : NOT_MINE;
        if (rc == OK) {
            Py_INCREF(raw);
            rc = j_model(c, index, raw, members, &made);
            Py_DECREF(raw);
        }
        if (rc != OK) {
            Py_DECREF(items);
            return rc;
        }
        PyTuple_SET_ITEM(items, i, made);
    }
    if (PyList_GET_SIZE(v) != count) {
        Py_DECREF(items);
        return NOT_MINE;
    }
    *out = items;
    return OK;
}

/* A map<string, string> whose keys and values are ASCII: the FrozenMap of the object. */
static int j_str_map(const JConverter *c, PyObject *v, Py_ssize_t *members, PyObject **out) {
    PyObject *key, *item;
    Py_ssize_t position = 0;
    if (!PyDict_CheckExact(v)) {
        return NOT_MINE;
    }
    while (PyDict_Next(v, &position, &key, &item)) {
        if (!ascii_str(key) || !ascii_str(item)) {
            return NOT_MINE;
        }
    }
    PyObject *data = PyDict_Copy(v);
    if (data == NULL || frozen_map(c, data, out) != OK) {
        return ERR;
    }
    *members += PyDict_GET_SIZE(v);
    return OK;
}

/* ResponseFlags of bools alone (no unauthorizedDetails): the frozenset of the true ones; the
 * unauthorized reason, in its own slot, is None. */
static int j_flags(PyObject *v, PyObject *extra, PyObject **values, PyObject **out,
                   Py_ssize_t *members) {
    PyObject *by_key = PyTuple_GET_ITEM(extra, 0), *key, *item;
    PyObject **reason = &values[PyLong_AsSsize_t(PyTuple_GET_ITEM(extra, 1))];
    Py_ssize_t position = 0;
    if (!PyDict_CheckExact(v) || *reason != NULL) {
        return NOT_MINE;
    }
    PyObject *set = PyFrozenSet_New(NULL);
    if (set == NULL) {
        return ERR;
    }
    while (PyDict_Next(v, &position, &key, &item)) {
        PyObject *flag = PyUnicode_CheckExact(key) ? PyDict_GetItemWithError(by_key, key) : NULL;
        if (flag == NULL || !PyBool_Check(item)) {
            int rc = PyErr_Occurred() ? ERR : NOT_MINE;
            Py_DECREF(set);
            return rc;
        }
        /* Filled before anyone else sees it, as frozenset(list) fills its new set. */
        if (item == Py_True && PySet_Add(set, flag) < 0) {
            Py_DECREF(set);
            return ERR;
        }
    }
    *out = set;
    *reason = Py_NewRef(Py_None);
    *members += PyDict_GET_SIZE(v);
    return OK;
}

/* Model *index* of *c* from the JSON object *raw*. */
static int j_model(const JConverter *c, Py_ssize_t index, PyObject *raw, Py_ssize_t *members,
                   PyObject **out) {
    const JModel *m = &c->models[index];
    Py_ssize_t count = PyTuple_GET_SIZE(m->slots);
    PyObject *v[MAX_SLOTS] = {NULL};
    PyObject *key, *item;
    Py_ssize_t position = 0;
    int rc = OK;
    if (!PyDict_CheckExact(raw)) {
        return NOT_MINE;
    }
    Py_ssize_t read = PyDict_GET_SIZE(raw);
    while (PyDict_Next(raw, &position, &key, &item)) {
        PyObject *field = PyUnicode_CheckExact(key) ? PyDict_GetItemWithError(m->fields, key)
                                                    : NULL;
        if (field == NULL || item == Py_None) { /* unknown, snake_case, or null */
            CHECK(PyErr_Occurred() ? ERR : NOT_MINE);
        }
        Py_ssize_t slot = PyLong_AsSsize_t(PyTuple_GET_ITEM(field, 0));
        int kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(field, 1));
        PyObject *extra = PyTuple_GET_ITEM(field, 2);
        PyObject **target = &v[slot];
        if (*target != NULL) { /* two keys of one field: the spec has none */
            CHECK(NOT_MINE);
        }
        Py_INCREF(item); /* held while Python code may run (the makers) */
        switch (kind) {
        case J_STR:
            rc = ascii_str(item) ? (*target = Py_NewRef(item), OK) : NOT_MINE;
            break;
        case J_U64:
            rc = j_u64(item, target);
            break;
        case J_U32:
            rc = exact_uint(item, 0xFFFFFFFFu) ? (*target = Py_NewRef(item), OK) : NOT_MINE;
            break;
        case J_BOOL:
            rc = PyBool_Check(item) ? (*target = Py_NewRef(item), OK) : NOT_MINE;
            break;
        case J_DURATION:
            rc = j_duration(item, target);
            break;
        case J_TIMESTAMP:
            rc = j_timestamp(item, target);
            break;
        case J_ENUM:
            rc = j_enum(item, extra, target);
            break;
        case J_ADDRESS:
            rc = j_address(c, item, extra, &read, target);
            break;
        case J_ANY_MAP:
            rc = j_any_map(c, item, extra, &read, target);
            break;
        case J_MESSAGE:
            rc = j_model(c, PyLong_AsSsize_t(extra), item, &read, target);
            break;
        case J_STR_MAP:
            rc = j_str_map(c, item, &read, target);
            break;
        case J_FLAGS:
            rc = j_flags(item, extra, v, target, &read);
            break;
        case J_STRUCT_MAP:
            rc = j_struct(c, item, c->struct_depth + 1, 0, &read, target);
            break;
        case J_MESSAGES:
            rc = j_messages(c, item, extra, &read, target);
            break;
        default:
            rc = NOT_MINE;
        }
        Py_DECREF(item);
        if (rc != OK) {
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (v[i] == NULL) {
            PyObject *fallback = PyTuple_GET_ITEM(m->defaults, i);
            CHECK(fallback == c->required ? NOT_MINE : OK);
            v[i] = Py_NewRef(fallback);
        }
    }
    PyObject *obj = m->cls->tp_alloc(m->cls, 0);
    if (obj == NULL) {
        CHECK(ERR);
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        put_slot(obj, PyTuple_GET_ITEM(m->slots, i), v[i]);
    }
    *out = obj;
    *members += read;
done:
    release(v, MAX_SLOTS);
    return rc;
}

/* The entries of the JSON array *raw*, as a tuple; NOT_MINE if any is not the C's. */
static int j_entries(const JConverter *c, PyObject *raw, Py_ssize_t *members, PyObject **out) {
    Py_ssize_t count = PyList_GET_SIZE(raw);
    PyObject *entries = PyTuple_New(count);
    if (entries == NULL) {
        return ERR;
    }
    for (Py_ssize_t i = 0; i < count && i < PyList_GET_SIZE(raw); i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(raw, i)); /* held while Python code runs */
        PyObject *entry = NULL;
        int rc = j_model(c, 0, item, members, &entry);
        Py_DECREF(item);
        if (rc != OK) {
            Py_DECREF(entries);
            return rc;
        }
        PyTuple_SET_ITEM(entries, i, entry);
    }
    if (PyList_GET_SIZE(raw) != count) { /* changed meanwhile (only by a maker's bug) */
        Py_DECREF(entries);
        return NOT_MINE;
    }
    *out = entries;
    return OK;
}

static PyObject *json_convert(PyObject *capsule, PyObject *raw) {
    const JConverter *c = PyCapsule_GetPointer(capsule, JSON_CAPSULE);
    if (c == NULL) {
        return NULL;
    }
    PyObject *made = NULL;
    Py_ssize_t members = 0;
    int rc = PyList_CheckExact(raw) ? j_entries(c, raw, &members, &made)
                                    : j_model(c, 0, raw, &members, &made);
    if (rc == ERR) {
        return NULL;
    }
    if (rc == NOT_MINE) {
        Py_RETURN_NONE;
    }
    PyObject *count = PyLong_FromSsize_t(members);
    if (count == NULL) {
        Py_DECREF(made);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, made, count);
    Py_DECREF(made);
    Py_DECREF(count);
    return result;
}

static PyMethodDef json_convert_def = {
    "convert", (PyCFunction)json_convert, METH_O,
    "convert(raw) -> (value, members) or None: the log entry of the JSON object *raw* (or the\n"
    "tuple of entries of the JSON array *raw*), and how many members its objects have; None\n"
    "where Python must convert it."};

/* --- what orjson reads otherwise ---------------------------------------------------------- */

/* Nesting json.loads surely reads (Python's recursion limit is 1,000 frames, some in use). */
#define ORJSON_MAX_DEPTH 200

/* Whether text[0:length] nests its arrays and objects deeper than ORJSON_MAX_DEPTH, strings
 * skipped. Cheap where it holds fewer brackets than that in all. */
#define TOO_DEEP(TYPE)                                                                             \
    do {                                                                                           \
        const TYPE *t = (const TYPE *)data;                                                        \
        Py_ssize_t opened = 0, depth = 0;                                                          \
        for (Py_ssize_t i = 0; i < length; i++) {                                                  \
            opened += t[i] == '{' || t[i] == '[';                                                  \
        }                                                                                          \
        if (opened <= ORJSON_MAX_DEPTH) {                                                          \
            return 0;                                                                              \
        }                                                                                          \
        for (Py_ssize_t i = 0; i < length; i++) {                                                  \
            if (t[i] == '"') { /* to the string's end */                                          \
                for (i++; i < length && t[i] != '"'; i++) {                                        \
                    i += t[i] == '\\';                                                             \
                }                                                                                  \
            } else if (t[i] == '{' || t[i] == '[') {                                               \
                if (++depth > ORJSON_MAX_DEPTH) {                                                  \
                    return 1;                                                                      \
                }                                                                                  \
            } else if (t[i] == '}' || t[i] == ']') {                                               \
                depth -= depth > 0;                                                                \
            }                                                                                      \
        }                                                                                          \
        return 0;                                                                                  \
    } while (0)

static int too_deep(int kind, const void *data, Py_ssize_t length) {
    switch (kind) {
    case PyUnicode_1BYTE_KIND:
        TOO_DEEP(Py_UCS1);
    case PyUnicode_2BYTE_KIND:
        TOO_DEEP(Py_UCS2);
    default:
        TOO_DEEP(Py_UCS4);
    }
}
#undef TOO_DEEP

/* Whether orjson reads *text* as json.loads does, as far as a scan can tell: no run of 19
 * digits or more (a number that may not fit 64 bits, which orjson makes a float where
 * json.loads makes an int; strings are scanned too: a false alarm only costs json.loads), and
 * no nesting past ORJSON_MAX_DEPTH (orjson reads 1,024 levels, json.loads fewer). */
static PyObject *orjson_reads_alike(PyObject *module, PyObject *text) {
    (void)module;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "orjson_reads_alike(text): a str");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
#endif
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
#define DIGIT_AT(i) (PyUnicode_READ(kind, data, (i)) >= '0' && PyUnicode_READ(kind, data, (i)) <= '9')
    /* A run of 19 holds one of every 19th position: look there, and measure the run found. */
    for (Py_ssize_t i = 18; i < length; i += 19) {
        if (!DIGIT_AT(i)) {
            continue;
        }
        Py_ssize_t first = i, last = i;
        while (first > 0 && DIGIT_AT(first - 1)) {
            first--;
        }
        while (last + 1 < length && DIGIT_AT(last + 1)) {
            last++;
        }
        if (last - first + 1 >= 19) {
            Py_RETURN_FALSE;
        }
        i = last; /* a later run starts past last + 1, so it holds last + 19 */
    }
#undef DIGIT_AT
    return PyBool_FromLong(!too_deep(kind, data, length));
}

/* --- member counts ----------------------------------------------------------------------- */

/* Count the '":' pairs of text[start:end]; -1 where a colon follows whitespace. */
#define COUNT_MEMBERS(TYPE)                                                                        \
    do {                                                                                           \
        const TYPE *t = (const TYPE *)data;                                                        \
        for (Py_ssize_t i = start; i < end; i++) {                                                 \
            if (t[i] != ':' || i == 0) {                                                           \
                continue;                                                                          \
            }                                                                                      \
            Py_UCS4 before = t[i - 1];                                                             \
            if (before == ' ' || before == '\t' || before == '\n' || before == '\r') {             \
                return PyLong_FromLong(-1);                                                        \
            }                                                                                      \
            count += before == '"' && i > start;                                                   \
        }                                                                                          \
    } while (0)

static PyObject *member_count(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "member_count(text, start, end)");
        return NULL;
    }
    PyObject *text = args[0];
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (start < 0 || end < 0) {
        PyErr_SetString(PyExc_ValueError, "member_count: negative bounds");
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
#endif
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), count = 0;
    end = end < length ? end : length;
    const void *data = PyUnicode_DATA(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND: { /* the usual text: from colon to colon */
        const Py_UCS1 *t = (const Py_UCS1 *)data, *at = t + start, *stop = t + end;
        while (at < stop && (at = memchr(at, ':', (size_t)(stop - at))) != NULL) {
            if (at > t) {
                Py_UCS1 before = at[-1];
                if (before == ' ' || before == '\t' || before == '\n' || before == '\r') {
                    return PyLong_FromLong(-1);
                }
                count += before == '"' && at > t + start;
            }
            at++;
        }
        break;
    }
    case PyUnicode_2BYTE_KIND:
        COUNT_MEMBERS(Py_UCS2);
        break;
    default:
        COUNT_MEMBERS(Py_UCS4);
    }
    return PyLong_FromSsize_t(count);
}
#undef COUNT_MEMBERS

static void json_converter_free(PyObject *capsule) {
    JConverter *c = PyCapsule_GetPointer(capsule, JSON_CAPSULE);
    if (c != NULL) {
        Py_XDECREF(c->spec);
        Py_XDECREF(c->k_socket_address);
        Py_XDECREF(c->k_address);
        Py_XDECREF(c->k_port_value);
        Py_XDECREF(c->k_type);
        Py_XDECREF(c->k_value);
        PyMem_Free(c);
    }
}

/* A slot descriptor of *cls*, or -1. */

/* Items [first, first + n) of *extra*, a tuple of *size* items, as ints into *out*: 1, or 0
 * where *extra* is no such tuple (-1 on an error, such as an int past Py_ssize_t). */
static int extra_ints(PyObject *extra, Py_ssize_t size, Py_ssize_t first, Py_ssize_t n,
                      Py_ssize_t *out) {
    if (!PyTuple_CheckExact(extra) || PyTuple_GET_SIZE(extra) != size) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(extra, first + i);
        if (!PyLong_CheckExact(item)) {
            return 0;
        }
        out[i] = PyLong_AsSsize_t(item);
        if (out[i] == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    return 1;
}

/* Check one (slot, kind, extra) of model *index* among *count*. */
static int json_field(PyObject *key, PyObject *field, Py_ssize_t fields, Py_ssize_t index,
                      Py_ssize_t count) {
    if (!PyUnicode_CheckExact(key) || !PyTuple_CheckExact(field) || PyTuple_GET_SIZE(field) != 3 ||
        !PyLong_CheckExact(PyTuple_GET_ITEM(field, 0)) ||
        !PyLong_CheckExact(PyTuple_GET_ITEM(field, 1))) {
        PyErr_Format(PyExc_TypeError, "json_converter: field %R: (slot, kind, extra) expected",
                     key);
        return -1;
    }
    Py_ssize_t slot = PyLong_AsSsize_t(PyTuple_GET_ITEM(field, 0));
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(field, 1));
    PyObject *extra = PyTuple_GET_ITEM(field, 2);
    if (PyErr_Occurred()) {
        return -1;
    }
    int good = slot >= 0 && slot < fields && kind >= 0 && kind < J_KINDS;
    Py_ssize_t ints[2] = {-1, -1};
    int read = 0;
    if (good && (kind == J_ADDRESS || kind == J_MESSAGES || kind == J_FLAGS)) {
        read = kind == J_ADDRESS    ? extra_ints(extra, 3, 1, 2, ints)
               : kind == J_MESSAGES ? extra_ints(extra, 2, 0, 2, ints)
                                    : extra_ints(extra, 2, 1, 1, ints);
        if (read < 0) {
            return -1;
        }
    }
    if (good && kind == J_ENUM) {
        good = PyTuple_CheckExact(extra) && PyTuple_GET_SIZE(extra) == 2 &&
               PyDict_CheckExact(PyTuple_GET_ITEM(extra, 0)) &&
               PyDict_CheckExact(PyTuple_GET_ITEM(extra, 1));
    } else if (good && kind == J_ADDRESS) { /* (cache, the socket's model, cache size) */
        good = read && PyDict_CheckExact(PyTuple_GET_ITEM(extra, 0)) && ints[0] > index &&
               ints[0] < count && ints[1] > 0;
    } else if (good && kind == J_ANY_MAP) {
        good = PyTuple_CheckExact(extra) && PyTuple_GET_SIZE(extra) == 4 &&
               PyUnicode_CheckExact(PyTuple_GET_ITEM(extra, 0)) &&
               PyUnicode_CheckExact(PyTuple_GET_ITEM(extra, 1)) &&
               PyUnicode_CheckExact(PyTuple_GET_ITEM(extra, 2)) &&
               PyCallable_Check(PyTuple_GET_ITEM(extra, 3));
    } else if (good && kind == J_MESSAGES) { /* (the item's model, members at most) */
        good = read && ints[0] > index && ints[0] < count && ints[1] >= 0;
    } else if (good && kind == J_FLAGS) { /* (flag by key, the reason's slot) */
        good = read && PyDict_CheckExact(PyTuple_GET_ITEM(extra, 0)) && ints[0] >= 0 &&
               ints[0] < fields && ints[0] != slot;
    } else if (good && kind == J_MESSAGE) {
        /* Only to a later model: no cycle, so the recursion is as deep as the spec is long. */
        Py_ssize_t sub = PyLong_CheckExact(extra) ? PyLong_AsSsize_t(extra) : -1;
        if (sub == -1 && PyErr_Occurred()) {
            return -1;
        }
        good = sub > index && sub < count;
    }
    if (!good) {
        PyErr_Format(PyExc_ValueError, "json_converter: field %R: bad %R", key, field);
        return -1;
    }
    return 0;
}

/* Take model *index* of the spec, a (class, slots, defaults, fields) tuple. */
static int json_model(JModel *m, PyObject *part, Py_ssize_t index, Py_ssize_t count) {
    PyObject *cls, *slots, *defaults, *fields, *key, *field;
    if (!PyTuple_CheckExact(part) ||
        !PyArg_ParseTuple(part, "O!O!O!O!", &PyType_Type, &cls, &PyTuple_Type, &slots,
                          &PyTuple_Type, &defaults, &PyDict_Type, &fields)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "json_converter: (class, slots, defaults, fields)");
        }
        return -1;
    }
    Py_ssize_t size = PyTuple_GET_SIZE(slots);
    if (size > MAX_SLOTS || PyTuple_GET_SIZE(defaults) != size || !PyTuple_CheckExact(slots) ||
        !PyTuple_CheckExact(defaults) || !PyDict_CheckExact(fields) ||
        ((PyTypeObject *)cls)->tp_new != PyBaseObject_Type.tp_new) {
        PyErr_Format(PyExc_TypeError, "json_converter: %R: bad slots or defaults", cls);
        return -1;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        if (writable_slot((PyTypeObject *)cls, PyTuple_GET_ITEM(slots, i)) < 0) {
            return -1;
        }
    }
    Py_ssize_t position = 0;
    while (PyDict_Next(fields, &position, &key, &field)) {
        if (json_field(key, field, size, index, count) < 0) {
            return -1;
        }
    }
    m->cls = (PyTypeObject *)cls;
    m->slots = slots;
    m->defaults = defaults;
    m->fields = fields;
    return 0;
}

static PyObject *json_converter(PyObject *module, PyObject *spec) {
    PyObject *required, *map_cls, *map_data, *map_hash, *models;
    int struct_depth;
    (void)module;
    if (!PyTuple_CheckExact(spec) ||
        !PyArg_ParseTuple(spec, "O(O!OO)iO!:json_converter", &required, &PyType_Type, &map_cls,
                          &map_data, &map_hash, &struct_depth, &PyTuple_Type, &models)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(
                PyExc_TypeError,
                "json_converter: a (required, (map, data, hash), struct depth, models) tuple");
        }
        return NULL;
    }
    if (struct_depth < 1 || struct_depth > 8) {
        PyErr_Format(PyExc_ValueError, "json_converter: a struct depth of %d", struct_depth);
        return NULL;
    }
    if (writable_slot((PyTypeObject *)map_cls, map_data) < 0 ||
        writable_slot((PyTypeObject *)map_cls, map_hash) < 0) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(models);
    if (count < 1 || count > J_MAX_MODELS || !PyTuple_CheckExact(models)) {
        PyErr_Format(PyExc_ValueError, "json_converter: 1 to %d models", J_MAX_MODELS);
        return NULL;
    }
    JConverter *c = PyMem_Calloc(1, sizeof(JConverter));
    if (c == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *capsule = PyCapsule_New(c, JSON_CAPSULE, json_converter_free);
    if (capsule == NULL) {
        PyMem_Free(c);
        return NULL;
    }
    /* From here the capsule owns c and frees what is set. */
    for (Py_ssize_t i = 0; i < count; i++) {
        if (json_model(&c->models[i], PyTuple_GET_ITEM(models, i), i, count) < 0) {
            Py_DECREF(capsule);
            return NULL;
        }
    }
    c->count = count;
    c->spec = Py_NewRef(spec);
    c->required = required;
    c->map_cls = (PyTypeObject *)map_cls;
    c->map_data = map_data;
    c->map_hash = map_hash;
    c->struct_depth = struct_depth;
    if ((c->k_socket_address = PyUnicode_InternFromString("socketAddress")) == NULL ||
        (c->k_address = PyUnicode_InternFromString("address")) == NULL ||
        (c->k_port_value = PyUnicode_InternFromString("portValue")) == NULL ||
        (c->k_type = PyUnicode_InternFromString("@type")) == NULL ||
        (c->k_value = PyUnicode_InternFromString("value")) == NULL) {
        Py_DECREF(capsule);
        return NULL;
    }
    PyObject *made = PyCFunction_New(&json_convert_def, capsule);
    Py_DECREF(capsule);
    return made;
}

#endif /* MESHALS__ACCEL_JSON_H */
