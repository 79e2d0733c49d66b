/* _accel_tally.h: summarize's fold, compiled: metrics counted into the cells they fall in.
 *
 * A part of _accel.c (see _accel_common.h). tally(spec) makes the function that
 * meshals.aggregate._fold calls on each batch of metrics: for each metric it builds the cell's
 * key and counts the metric in that cell's KindCalls, as _fold._count does in Python. It
 * stops, and answers the metric's index, wherever Python must decide: a cell not made yet
 * (Python makes it, notes its nodes, keeps the cells bounded), a value of another type than
 * the analysis makes (an int subclass, an unknown enum member), a number outside 64 bits, a
 * latency the sketch table does not reach yet or that is not positive. Python counts that
 * one metric and calls again after it; so every count is the pure path's, made the same way.
 *
 * Nothing is written before everything the metric needs was read and checked, so a stop
 * leaves the cell as it was.
 */
#ifndef MESHALS__ACCEL_TALLY_H
#define MESHALS__ACCEL_TALLY_H

#include <limits.h>
#include <structmember.h> /* PyMemberDef before Python 3.12 */
#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX T_OBJECT_EX /* named so from Python 3.12 */
#endif

/* The fields read, in the order the spec gives them (Python passes their names; checked). */
enum { TM_DETECT_POINT, TM_PROTOCOL, TM_STATUS, TM_RESPONSE_CODE, TM_GRPC_STATUS,
       TM_RESPONSE_FLAGS, TM_TLS_MODE, TM_ROLE, TM_PEER_IDENTITY, TM_LOCAL_IDENTITY,
       TM_SOURCE, TM_DESTINATION, TM_ENDPOINT, TM_TIMINGS, TM_RECEIVED, TM_SENT, TM_COUNT };
static const char *const TM_NAMES[] = {
    "detect_point", "protocol", "status", "response_code", "grpc_status", "response_flags",
    "tls_mode", "role", "peer_identity", "local_identity", "source", "destination",
    "endpoint", "timings", "received_bytes", "sent_bytes"};
enum { TT_START, TT_FIRST_UP_TX, TT_LAST_UP_RX, TT_LAST_DOWN_TX, TT_DURATION, TT_COUNT };
static const char *const TT_NAMES[] = {
    "start_time_ns", "time_to_first_upstream_tx_byte_ns", "time_to_last_upstream_rx_byte_ns",
    "time_to_last_downstream_tx_byte_ns", "duration_ns"};
enum { TI_SERVICE, TI_INSTANCE, TI_NAMESPACE, TI_COUNT };
static const char *const TI_NAMES[] = {"service", "instance", "namespace"};
enum { TC_COUNT_, TC_TIMED, TC_LATENCIES, TC_TOTAL, TC_MINIMUM, TC_MAXIMUM, TC_RECEIVED,
       TC_SENT, TC_FIRST, TC_LAST, TC_COUNT };
static const char *const TC_NAMES[] = {"count",   "timed",    "latencies", "total", "minimum",
                                       "maximum", "received", "sent",      "first", "last"};

/* What a cell's key holds beside its service pair: nothing, the destination's instance, or
 * the endpoint (the RED scope's). */
enum { DETAIL_NONE, DETAIL_INSTANCE, DETAIL_ENDPOINT };

/* Cells found lately, by the identity of the objects their key was made of: a metric made of
 * the same objects (the analysis shares its resolver's answers, the decoder its strings and
 * small ints) falls in the same cell, found without making, hashing and looking up its key.
 * A slot holds its objects, so none of them can be freed and its address reused. */
enum { RK_SOURCE, RK_DESTINATION, RK_DETAIL, RK_PROTOCOL, RK_STATUS, RK_RESPONSE_CODE,
       RK_GRPC_STATUS, RK_RESPONSE_FLAGS, RK_TLS_MODE, RK_ROLE, RK_PEER_IDENTITY,
       RK_LOCAL_IDENTITY, RK_COUNT };
#define RECENT_CELLS 256 /* a power of two */
typedef struct {
    PyObject *parts[RK_COUNT]; /* held; all NULL in an empty slot */
    PyObject *calls;           /* the cell (held); NULL in an empty slot */
    int server, windowed;
    long long window_start;
} Recent;

typedef struct {
    PyObject *spec; /* holds every object below */
    PyTypeObject *metric_cls, *timings_cls, *info_cls, *calls_cls;
    Py_ssize_t metric[TM_COUNT], timings[TT_COUNT], info[TI_COUNT], calls[TC_COUNT];
    PyObject *server;                      /* DetectPoint.SERVER */
    PyObject *protocols, *tls_modes, *roles; /* ((member, value), ...) */
    PyObject *upper;                       /* the sketch table's boundaries (a list) */
    long long *bounds;                     /* its first boundaries, as read */
    Py_ssize_t count, listed;              /* how many; the list's length when read */
    int detail, windowed;
    long long window;
    /* The cells dict the recent cells are of (held), and its size then: the tally only reads
     * it, so another dict or size means Python changed the cells, and they are forgotten. */
    PyObject *recent_of;
    Py_ssize_t recent_size;
    Recent recent[RECENT_CELLS];
} Tally;

static const char TALLY_CAPSULE[] = "meshals.codec._accel.Tally";

/* The slot at *offset* of *obj* (NULL when unset). */
static PyObject *slot_at(PyObject *obj, Py_ssize_t offset) {
    return *(PyObject **)((char *)obj + offset);
}

/* 1 and *out* when *v* is an exact int of 64 bits; 0 for anything else (nothing raised). */
static int exact_i64(PyObject *v, long long *out) {
    if (!PyLong_CheckExact(v)) {
        return 0;
    }
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = x;
    return 1;
}

/* a + b and a - b into *out*: 0, or 1 (out untouched) where the result is beyond 64 bits.
 * Plain C99 (no compiler builtins), as the rest of the extension. */
static int add_i64(long long a, long long b, long long *out) {
    if ((b > 0 && a > LLONG_MAX - b) || (b < 0 && a < LLONG_MIN - b)) {
        return 1;
    }
    *out = a + b;
    return 0;
}

static int sub_i64(long long a, long long b, long long *out) {
    if ((b < 0 && a > LLONG_MAX + b) || (b > 0 && a < LLONG_MIN + b)) {
        return 1;
    }
    *out = a - b;
    return 0;
}

/* The value of *member* in *pairs*, borrowed; NULL for a member not among them. */
static PyObject *value_of(PyObject *pairs, PyObject *member) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(pairs); i++) {
        PyObject *pair = PyTuple_GET_ITEM(pairs, i);
        if (PyTuple_GET_ITEM(pair, 0) == member) {
            return PyTuple_GET_ITEM(pair, 1);
        }
    }
    return NULL;
}

/* The sketch key of a positive latency the table reaches: bisect_left(upper, latency) + 1;
 * 0 when it does not (Python grows the table). The boundaries are read into a C array again
 * whenever the list has grown (_Boundaries only appends); a boundary that is no exact int of
 * 64 bits ends the array (every boundary after it is larger still). */
static long long sketch_key(Tally *s, long long latency) {
    Py_ssize_t size = PyList_GET_SIZE(s->upper);
    if (size != s->listed) {
        long long *bounds = PyMem_Realloc(s->bounds, (size_t)(size ? size : 1) * sizeof *bounds);
        if (bounds == NULL) {
            return 0; /* Python decides, and allocates what it needs itself */
        }
        s->bounds = bounds;
        s->count = 0;
        while (s->count < size && exact_i64(PyList_GET_ITEM(s->upper, s->count),
                                            &bounds[s->count])) {
            s->count++;
        }
        s->listed = size;
    }
    if (s->count == 0 || latency > s->bounds[s->count - 1]) {
        return 0;
    }
    Py_ssize_t low = 0, high = s->count;
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        if (s->bounds[middle] < latency) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return (long long)low + 1;
}

/* A metric's numbers, as _kinds.facts_of computes them, and its TCP bytes. */
typedef struct {
    int timed_start; /* a start (and so an end) */
    int has_latency, has_received, has_sent;
    long long start, end, latency, key, received, sent;
} Times;

/* 1 with *t* filled; 0 when Python must decide. */
static int times_of(Tally *s, PyObject *timings, int server, Times *t) {
    PyObject *v[TT_COUNT];
    long long logged, last, first_tx = 0;
    if (Py_TYPE(timings) != s->timings_cls) {
        return 0;
    }
    for (int i = 0; i < TT_COUNT; i++) {
        if ((v[i] = slot_at(timings, s->timings[i])) == NULL) {
            return 0;
        }
    }
    t->timed_start = t->has_latency = 0;
    t->start = t->end = t->latency = t->key = 0;
    if (v[TT_START] == Py_None) {
        return 1;
    }
    if (!exact_i64(v[TT_START], &logged)) {
        return 0;
    }
    PyObject *last_obj = server ? v[TT_LAST_DOWN_TX] : v[TT_LAST_UP_RX];
    if (!server && v[TT_FIRST_UP_TX] != Py_None && !exact_i64(v[TT_FIRST_UP_TX], &first_tx)) {
        return 0;
    }
    if (add_i64(logged, first_tx, &t->start)) {
        return 0;
    }
    t->timed_start = 1;
    if (last_obj == Py_None) {
        last_obj = v[TT_DURATION];
    }
    if (last_obj == Py_None) {
        t->end = t->start;
        return 1;
    }
    if (!exact_i64(last_obj, &last) || add_i64(logged, last, &t->end) ||
        sub_i64(t->end, t->start, &t->latency)) {
        return 0;
    }
    if (t->latency < 0) {
        return 0; /* a negative latency's key grows the table in Python */
    }
    if (t->latency > 0 && (t->key = sketch_key(s, t->latency)) == 0) {
        return 0;
    }
    t->has_latency = 1;
    return 1; /* end >= start: no clamp needed */
}

/* The cell's key, new; NULL with *stop* set when Python must decide, NULL alone on error. */
static PyObject *cell_key(const Tally *s, PyObject *const *m, int server, const long long *start,
                          int *stop) {
    PyObject *protocol = value_of(s->protocols, m[TM_PROTOCOL]);
    PyObject *tls = value_of(s->tls_modes, m[TM_TLS_MODE]);
    PyObject *role = value_of(s->roles, m[TM_ROLE]);
    PyObject *source = m[TM_SOURCE], *destination = m[TM_DESTINATION];
    PyObject *src[TI_COUNT], *dst[TI_COUNT], *detail = Py_None, *window = NULL;
    *stop = 1;
    if (protocol == NULL || tls == NULL || role == NULL || Py_TYPE(source) != s->info_cls ||
        Py_TYPE(destination) != s->info_cls) {
        return NULL;
    }
    for (int i = 0; i < TI_COUNT; i++) {
        if ((src[i] = slot_at(source, s->info[i])) == NULL ||
            (dst[i] = slot_at(destination, s->info[i])) == NULL) {
            return NULL;
        }
    }
    if (s->detail == DETAIL_INSTANCE) {
        detail = dst[TI_INSTANCE];
    } else if (s->detail == DETAIL_ENDPOINT) {
        detail = m[TM_ENDPOINT];
    }
    *stop = 0;
    if (start != NULL && (window = PyLong_FromLongLong(*start)) == NULL) {
        return NULL;
    }
    PyObject *kind = PyTuple_Pack(10, server ? Py_True : Py_False, protocol, m[TM_STATUS],
                                  m[TM_RESPONSE_CODE], m[TM_GRPC_STATUS], m[TM_RESPONSE_FLAGS],
                                  tls, role, m[TM_PEER_IDENTITY], m[TM_LOCAL_IDENTITY]);
    if (kind == NULL) {
        Py_XDECREF(window);
        return NULL;
    }
    PyObject *key = PyTuple_Pack(9, src[TI_SERVICE], dst[TI_SERVICE], detail,
                                 window == NULL ? Py_None : window, kind, src[TI_INSTANCE],
                                 src[TI_NAMESPACE], dst[TI_INSTANCE], dst[TI_NAMESPACE]);
    Py_DECREF(kind);
    Py_XDECREF(window);
    return key;
}

/* cell_key, with the metric's values held while the key is built: an allocation may start a
 * garbage collection (Python 3.10, 3.11), whose finalizers run Python code. */
static PyObject *held_cell_key(const Tally *s, PyObject *const *m, int server,
                               const long long *start, int *stop) {
    PyObject *held[TM_COUNT];
    for (int i = 0; i < TM_COUNT; i++) {
        held[i] = Py_NewRef(m[i]);
    }
    PyObject *key = cell_key(s, held, server, start, stop);
    for (int i = 0; i < TM_COUNT; i++) {
        Py_DECREF(held[i]);
    }
    return key;
}

/* min or max of an optional count and a value: 1 and *out*; 0 for another type. */
static int extreme(PyObject *current, long long value, int lower, long long *out) {
    long long x;
    if (current == Py_None) {
        *out = value;
        return 1;
    }
    if (!exact_i64(current, &x)) {
        return 0;
    }
    *out = lower ? (value < x ? value : x) : (value > x ? value : x);
    return 1;
}

/* Write *value* (new; NULL: failed) into the slot at *offset*. */
static int put(PyObject *obj, Py_ssize_t offset, PyObject *value) {
    if (value == NULL) {
        return -1;
    }
    Py_XSETREF(*(PyObject **)((char *)obj + offset), value);
    return 0;
}

/* Count the metric in *calls*: 1 done, 0 Python must decide, -1 error. */
static int count_in(const Tally *s, PyObject *calls, const Times *t) {
    PyObject *c[TC_COUNT];
    long long count, timed = 0, total = 0, minimum = 0, maximum = 0, bucket = 0;
    long long received = 0, sent = 0, first = 0, last = 0;
    PyObject *latencies = NULL, *key = NULL;
    if (Py_TYPE(calls) != s->calls_cls) {
        return 0;
    }
    for (int i = 0; i < TC_COUNT; i++) {
        if ((c[i] = slot_at(calls, s->calls[i])) == NULL) {
            return 0;
        }
    }
    if (!exact_i64(c[TC_COUNT_], &count) || add_i64(count, 1, &count) ||
        !exact_i64(c[TC_RECEIVED], &received) || !exact_i64(c[TC_SENT], &sent)) {
        return 0;
    }
    int has_received = t->has_received, has_sent = t->has_sent;
    if ((has_received && add_i64(received, t->received, &received)) ||
        (has_sent && add_i64(sent, t->sent, &sent))) {
        return 0;
    }
    /* The cell's values are borrowed: all are read before the lookup below. */
    if (t->timed_start && (!extreme(c[TC_FIRST], t->start, 1, &first) ||
                           !extreme(c[TC_LAST], t->end, 0, &last))) {
        return 0;
    }
    if (t->has_latency) {
        latencies = c[TC_LATENCIES];
        if (!PyDict_CheckExact(latencies) || !exact_i64(c[TC_TIMED], &timed) ||
            add_i64(timed, 1, &timed) || !exact_i64(c[TC_TOTAL], &total) ||
            add_i64(total, t->latency, &total) ||
            !extreme(c[TC_MINIMUM], t->latency, 1, &minimum) ||
            !extreme(c[TC_MAXIMUM], t->latency, 0, &maximum)) {
            return 0;
        }
        if ((key = PyLong_FromLongLong(t->key)) == NULL) {
            return -1;
        }
        PyObject *seen = PyDict_GetItemWithError(latencies, key); /* borrowed */
        if (seen == NULL && PyErr_Occurred()) {
            Py_DECREF(key);
            return -1;
        }
        if (seen != NULL && (!exact_i64(seen, &bucket) || bucket == LLONG_MAX)) {
            Py_DECREF(key);
            return 0;
        }
    }
    /* Everything read and checked: write. */
    int rc = 0;
    if (latencies != NULL) {
        PyObject *n = PyLong_FromLongLong(bucket + 1);
        rc = n == NULL ? -1 : PyDict_SetItem(latencies, key, n);
        Py_XDECREF(n);
        Py_DECREF(key);
        if (rc < 0 || put(calls, s->calls[TC_TIMED], PyLong_FromLongLong(timed)) < 0 ||
            put(calls, s->calls[TC_TOTAL], PyLong_FromLongLong(total)) < 0 ||
            (t->latency == minimum &&
             put(calls, s->calls[TC_MINIMUM], PyLong_FromLongLong(minimum)) < 0) ||
            (t->latency == maximum &&
             put(calls, s->calls[TC_MAXIMUM], PyLong_FromLongLong(maximum)) < 0)) {
            return -1;
        }
    }
    if (put(calls, s->calls[TC_COUNT_], PyLong_FromLongLong(count)) < 0 ||
        (has_received && put(calls, s->calls[TC_RECEIVED], PyLong_FromLongLong(received)) < 0) ||
        (has_sent && put(calls, s->calls[TC_SENT], PyLong_FromLongLong(sent)) < 0)) {
        return -1;
    }
    /* An extreme is written only when this metric sets it (the same value either way). */
    if (t->timed_start &&
        ((t->start == first && put(calls, s->calls[TC_FIRST], PyLong_FromLongLong(first)) < 0) ||
         (t->end == last && put(calls, s->calls[TC_LAST], PyLong_FromLongLong(last)) < 0))) {
        return -1;
    }
    return 1;
}

/* Empty every slot of the recent cells (each filled whole before this releases it). */
static void recent_forget(Tally *s) {
    for (int i = 0; i < RECENT_CELLS; i++) {
        Recent *r = &s->recent[i];
        PyObject *held[RK_COUNT + 1];
        memcpy(held, r->parts, sizeof r->parts);
        held[RK_COUNT] = r->calls;
        memset(r->parts, 0, sizeof r->parts);
        r->calls = NULL;
        for (int k = 0; k <= RK_COUNT; k++) {
            Py_XDECREF(held[k]);
        }
    }
    Py_CLEAR(s->recent_of);
}

/* The slot of a key made of *parts*, *server* and the window's *start* (NULL: none). */
static Recent *recent_slot(Tally *s, PyObject *const *parts, int server,
                           const long long *start) {
    size_t h = (size_t)server;
    for (int k = 0; k < RK_COUNT; k++) {
        h = h * 1000003u ^ ((size_t)parts[k] >> 4);
    }
    if (start != NULL) {
        h = h * 1000003u ^ (size_t)*start;
    }
    return &s->recent[(h ^ (h >> 17)) & (RECENT_CELLS - 1)];
}

static int recent_matches(const Recent *r, PyObject *const *parts, int server,
                          const long long *start) {
    return r->calls != NULL && r->server == server && r->windowed == (start != NULL) &&
           (start == NULL || r->window_start == *start) &&
           memcmp(r->parts, parts, sizeof r->parts) == 0;
}

/* Keep *calls* as the cell of *parts*: the slot is filled whole before its old objects go. */
static void recent_keep(Recent *r, PyObject *const *parts, int server, const long long *start,
                        PyObject *calls) {
    PyObject *held[RK_COUNT + 1];
    memcpy(held, r->parts, sizeof r->parts);
    held[RK_COUNT] = r->calls;
    for (int k = 0; k < RK_COUNT; k++) {
        r->parts[k] = Py_NewRef(parts[k]);
    }
    r->calls = Py_NewRef(calls);
    r->server = server;
    r->windowed = start != NULL;
    r->window_start = start == NULL ? 0 : *start;
    for (int k = 0; k <= RK_COUNT; k++) {
        Py_XDECREF(held[k]);
    }
}

/* Count one metric: 1 done, 0 Python must decide, -1 error. */
static int tally_one(Tally *s, PyObject *metric, PyObject *cells) {
    PyObject *m[TM_COUNT];
    Times t;
    int stop;
    if (Py_TYPE(metric) != s->metric_cls) {
        return 0;
    }
    for (int i = 0; i < TM_COUNT; i++) {
        if ((m[i] = slot_at(metric, s->metric[i])) == NULL) {
            return 0;
        }
    }
    int server = m[TM_DETECT_POINT] == s->server;
    if (!times_of(s, m[TM_TIMINGS], server, &t)) {
        return 0;
    }
    /* The bytes too are read before the cell's lookup, which may run Python code (a first
     * hash of the flags): from then on, only the cell is used, held. */
    t.received = t.sent = 0;
    t.has_received = m[TM_RECEIVED] != Py_None;
    t.has_sent = m[TM_SENT] != Py_None;
    if ((t.has_received && !exact_i64(m[TM_RECEIVED], &t.received)) ||
        (t.has_sent && !exact_i64(m[TM_SENT], &t.sent))) {
        return 0;
    }
    long long window_start, *start = NULL;
    if (s->windowed && t.timed_start) {
        long long rest = t.start % s->window;
        if (rest < 0) {
            rest += s->window; /* Python's modulo: the window is positive */
        }
        if (sub_i64(t.start, rest, &window_start)) {
            return 0;
        }
        start = &window_start;
    }
    if (s->recent_of != cells || PyDict_GET_SIZE(cells) != s->recent_size) {
        recent_forget(s);
        s->recent_of = Py_NewRef(cells);
        s->recent_size = PyDict_GET_SIZE(cells);
    }
    /* In RK_ order: everything cell_key reads (the destination's instance is the
     * destination's; the endpoint is the detail only in the endpoint scope). */
    PyObject *parts[RK_COUNT] = {m[TM_SOURCE],
                                 m[TM_DESTINATION],
                                 s->detail == DETAIL_ENDPOINT ? m[TM_ENDPOINT] : Py_None,
                                 m[TM_PROTOCOL],
                                 m[TM_STATUS],
                                 m[TM_RESPONSE_CODE],
                                 m[TM_GRPC_STATUS],
                                 m[TM_RESPONSE_FLAGS],
                                 m[TM_TLS_MODE],
                                 m[TM_ROLE],
                                 m[TM_PEER_IDENTITY],
                                 m[TM_LOCAL_IDENTITY]};
    Recent *recent = recent_slot(s, parts, server, start);
    PyObject *calls;
    if (recent_matches(recent, parts, server, start)) {
        calls = Py_NewRef(recent->calls);
    } else {
        /* The parts are held until kept: making the key may start a garbage collection, and
         * the lookup may hash the flags in Python, code that could free what they point to. */
        for (int k = 0; k < RK_COUNT; k++) {
            Py_INCREF(parts[k]);
        }
        PyObject *key = held_cell_key(s, m, server, start, &stop);
        int answer = key == NULL ? (stop ? 0 : -1) : 1;
        calls = NULL;
        if (key != NULL) {
            calls = PyDict_GetItemWithError(cells, key); /* borrowed */
            /* The dict is the caller's: hold the cell while it is counted, before the key
             * goes. */
            Py_XINCREF(calls);
            Py_DECREF(key);
            if (calls == NULL) {
                answer = PyErr_Occurred() ? -1 : 0; /* a new cell: Python makes it */
            }
        }
        /* Kept only while the dict is the one the recent cells are of. */
        if (calls != NULL && s->recent_of == cells && PyDict_GET_SIZE(cells) == s->recent_size) {
            recent_keep(recent, parts, server, start, calls);
        }
        for (int k = 0; k < RK_COUNT; k++) {
            Py_DECREF(parts[k]);
        }
        if (calls == NULL) {
            return answer;
        }
    }
    int rc = count_in(s, calls, &t);
    Py_DECREF(calls);
    return rc;
}

/* tally's function: (batch, start, cells) -> the index of the first metric not counted. */
static PyObject *tally_run(PyObject *capsule, PyObject *const *args, Py_ssize_t nargs) {
    Tally *s = PyCapsule_GetPointer(capsule, TALLY_CAPSULE);
    if (s == NULL) {
        return NULL;
    }
    if (nargs != 3 || !PyList_CheckExact(args[0]) || !PyLong_CheckExact(args[1]) ||
        !PyDict_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "tally(batch: list, start: int, cells: dict)");
        return NULL;
    }
    PyObject *batch = args[0], *cells = args[2];
    Py_ssize_t index = PyLong_AsSsize_t(args[1]);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (index < 0) {
        PyErr_SetString(PyExc_ValueError, "tally: a negative start");
        return NULL;
    }
    /* The list is the caller's: its length is read again after every metric. */
    for (; index < PyList_GET_SIZE(batch); index++) {
        PyObject *metric = Py_NewRef(PyList_GET_ITEM(batch, index));
        int rc = tally_one(s, metric, cells);
        Py_DECREF(metric);
        if (rc < 0) {
            return NULL;
        }
        if (rc == 0) {
            recent_forget(s); /* Python counts this one: it may make or clear cells */
            break;
        }
    }
    return PyLong_FromSsize_t(index);
}

static PyMethodDef tally_def = {
    "tally", (PyCFunction)(void (*)(void))tally_run, METH_FASTCALL,
    "tally(batch, start, cells) -> index: count batch[start:] into cells, up to the first\n"
    "metric Python must count (the batch's length when none)."};

static void tally_free(PyObject *capsule) {
    Tally *s = PyCapsule_GetPointer(capsule, TALLY_CAPSULE);
    if (s != NULL) {
        recent_forget(s);
        Py_XDECREF(s->spec);
        PyMem_Free(s->bounds);
        PyMem_Free(s);
    }
}

/* Take one (class, names, slots) part of the spec: the slots' offsets, checked. */
static int tally_offsets(PyObject *part, const char *const *expected, int count,
                         PyTypeObject **cls, Py_ssize_t *offsets) {
    PyObject *type, *names, *slots;
    if (!PyArg_ParseTuple(part, "O!O!O!", &PyType_Type, &type, &PyTuple_Type, &names,
                          &PyTuple_Type, &slots)) {
        return -1;
    }
    if (PyTuple_GET_SIZE(names) != count || PyTuple_GET_SIZE(slots) != count) {
        PyErr_Format(PyExc_TypeError, "%R: %d fields expected", type, count);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i), *slot = PyTuple_GET_ITEM(slots, i);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, expected[i]) != 0) {
            PyErr_Format(PyExc_TypeError, "%R: field %d is %R, expected %s", type, i, name,
                         expected[i]);
            return -1;
        }
        if (Py_TYPE(slot) != &PyMemberDescr_Type ||
            !PyType_IsSubtype((PyTypeObject *)type, PyDescr_TYPE(slot)) ||
            ((PyMemberDescrObject *)slot)->d_member->type != Py_T_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "%R is no object slot of %R", slot, type);
            return -1;
        }
        offsets[i] = ((PyMemberDescrObject *)slot)->d_member->offset;
    }
    *cls = (PyTypeObject *)type;
    return 0;
}

static int member_pairs(PyObject *pairs) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(pairs); i++) {
        PyObject *pair = PyTuple_GET_ITEM(pairs, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "tally: (member, value) pairs expected");
            return -1;
        }
    }
    return 0;
}

static PyObject *tally(PyObject *module, PyObject *spec) {
    PyObject *metric, *timings, *info, *calls, *server, *protocols, *tls_modes, *roles, *upper;
    PyObject *window;
    int detail;
    (void)module;
    if (!PyTuple_Check(spec) ||
        !PyArg_ParseTuple(spec, "O!O!O!O!OO!O!O!O!iO:tally", &PyTuple_Type, &metric,
                          &PyTuple_Type, &timings, &PyTuple_Type, &info, &PyTuple_Type, &calls,
                          &server, &PyTuple_Type, &protocols, &PyTuple_Type, &tls_modes,
                          &PyTuple_Type, &roles, &PyList_Type, &upper, &detail, &window)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "tally: a spec tuple expected");
        }
        return NULL;
    }
    Tally *s = PyMem_Calloc(1, sizeof(Tally));
    if (s == NULL) {
        return PyErr_NoMemory();
    }
    if (tally_offsets(metric, TM_NAMES, TM_COUNT, &s->metric_cls, s->metric) < 0 ||
        tally_offsets(timings, TT_NAMES, TT_COUNT, &s->timings_cls, s->timings) < 0 ||
        tally_offsets(info, TI_NAMES, TI_COUNT, &s->info_cls, s->info) < 0 ||
        tally_offsets(calls, TC_NAMES, TC_COUNT, &s->calls_cls, s->calls) < 0 ||
        member_pairs(protocols) < 0 || member_pairs(tls_modes) < 0 || member_pairs(roles) < 0) {
        PyMem_Free(s);
        return NULL;
    }
    if (detail < DETAIL_NONE || detail > DETAIL_ENDPOINT) {
        PyErr_Format(PyExc_ValueError, "tally: detail %d", detail);
        PyMem_Free(s);
        return NULL;
    }
    s->windowed = window != Py_None;
    if (s->windowed && (!exact_i64(window, &s->window) || s->window <= 0)) {
        PyErr_Format(PyExc_ValueError, "tally: the window %R is no positive 64-bit int", window);
        PyMem_Free(s);
        return NULL;
    }
    s->spec = Py_NewRef(spec);
    s->server = server;
    s->protocols = protocols;
    s->tls_modes = tls_modes;
    s->roles = roles;
    s->upper = upper;
    s->listed = -1; /* read at the first latency */
    s->detail = detail;
    PyObject *capsule = PyCapsule_New(s, TALLY_CAPSULE, tally_free);
    if (capsule == NULL) {
        Py_DECREF(spec);
        PyMem_Free(s);
        return NULL;
    }
    PyObject *made = PyCFunction_New(&tally_def, capsule);
    Py_DECREF(capsule);
    return made;
}

#endif /* MESHALS__ACCEL_TALLY_H */
