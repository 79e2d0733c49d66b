/* _accel_entries.h: HTTP requests and responses, and the HTTP and TCP entries.
 *
 * A part of _accel.c, which includes its parts once, in order (one translation unit,
 * so everything stays static); it uses what the parts before it define. */
#ifndef MESHALS__ACCEL_ENTRIES_H
#define MESHALS__ACCEL_ENTRIES_H

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
        case PB_REQUEST_REQUEST_ID: /* unique to the entry: not shared */
            ONCE(REQUEST_ID);
            CHECK(make_unique_str(call, &g, &v[Q_REQUEST_ID]));
            break;
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
    PyObject *tuple = PyTuple_New((Py_ssize_t)count); /* unset items: NULL, which the
                                                        * collector and release skip */
    if (tuple == NULL) {
        return ERR;
    }
    for (Py_ssize_t i = 0; r.p < r.end; i++) {
        CHECK(read_field(&r, &g));
        if (g.number != (http ? PB_HTTP_ENTRIES_LOG_ENTRY : PB_TCP_ENTRIES_LOG_ENTRY) ||
            g.wire_type != (http ? PB_HTTP_ENTRIES_LOG_ENTRY_WT : PB_TCP_ENTRIES_LOG_ENTRY_WT)) {
            CHECK(NOT_MINE);
        }
        CHECK(http ? http_entry(call, &g, &entry) : tcp_entry(call, &g, &entry));
        PyTuple_SET_ITEM(tuple, i, entry);
        entry = NULL;
    }
    *out = Py_NewRef(tuple);
done:
    Py_DECREF(tuple);
    return rc;
}

#endif
