/*
 * bazooka.vulcan._wire: the Vulcan send's hot loop in C.
 *
 *   encode_values(...)  wire.python_encode_values: an order's key and messages, the same bytes;
 *   encode_row(row)     translate.convert's fast path and the encoder in one call: the row's
 *                       messages, or None for any row it is not certain of (convert decides);
 *   sha256(data)        the key's hash, exposed for the tests.
 *
 * Per order, over the rows of bench_vulcan.py's data (a throwaway loop): convert + encode in
 * Python 8.0 us, convert + encode_values 2.1 us, encode_row 0.8 us. Reproducible: the "read +
 * convert + encode" stage of bench/bench_vulcan_stages.py (bench/README.md).
 *
 * Optional: when this extension is not built, wire.py's Python encoder is used. Both write the
 * fields of the official v4-proto messages in number order, proto3 defaults left out except
 * where the field has presence, exactly as wire.py documents; the tests hold the two (and the
 * official classes) to the same bytes, and official.self_check compares the encoder in use with
 * the official classes before any send.
 *
 * Every size is computed first, then each message is written once, straight into the bytes
 * object returned. The key is the SHA-256 of the serialized order id, computed here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define N_ARGS 17
#define ORDER_PLACEMENT_STATUS_OPENED 2

static Py_ssize_t varint_size(uint64_t value)
{
    Py_ssize_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

static unsigned char *put_varint(unsigned char *out, uint64_t value)
{
    while (value >= 0x80) {
        *out++ = (unsigned char)((value & 0x7F) | 0x80);
        value >>= 7;
    }
    *out++ = (unsigned char)value;
    return out;
}

static unsigned char *put_fixed32(unsigned char *out, uint32_t value)
{
    out[0] = (unsigned char)value;
    out[1] = (unsigned char)(value >> 8);
    out[2] = (unsigned char)(value >> 16);
    out[3] = (unsigned char)(value >> 24);
    return out + 4;
}

/* tag, then varint: the size of an optional varint field (0 when it holds the default). */
static Py_ssize_t field_size(uint64_t value) { return value ? 1 + varint_size(value) : 0; }

static unsigned char *put_field(unsigned char *out, unsigned char tag, uint64_t value)
{
    if (!value)
        return out;
    *out++ = tag;
    return put_varint(out, value);
}

/* A length-delimited field: tag, length, bytes. */
static Py_ssize_t bytes_field_size(Py_ssize_t length)
{
    return 1 + varint_size((uint64_t)length) + length;
}

static unsigned char *put_bytes_field(unsigned char *out, unsigned char tag, const char *data,
                                      Py_ssize_t length)
{
    *out++ = tag;
    out = put_varint(out, (uint64_t)length);
    if (length)
        memcpy(out, data, (size_t)length);
    return out + length;
}

/* An unsigned integer argument: OverflowError names the field when it does not fit. */
static int get_uint(PyObject *value, const char *name, uint64_t max, uint64_t *out)
{
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name,
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    unsigned long long result = PyLong_AsUnsignedLongLong(value);
    if (result == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_OverflowError, "%s is not an unsigned %s-bit integer", name,
                     max == UINT32_MAX ? "32" : "64");
        return -1;
    }
    if ((uint64_t)result > max) { /* max is UINT32_MAX: UINT64_MAX fails above */
        PyErr_Format(PyExc_OverflowError, "%s is not an unsigned 32-bit integer", name);
        return -1;
    }
    *out = (uint64_t)result;
    return 0;
}

static int get_text(PyObject *value, const char *name, const char **data, Py_ssize_t *length)
{
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", name,
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    *data = PyUnicode_AsUTF8AndSize(value, length);
    return *data == NULL ? -1 : 0;
}

/* SHA-256 (FIPS 180-4) of the serialized order id, the record's key. hashlib's per-call cost
 * (a hash object, a method call) was more than half of this module's time per order; the tests
 * compare this function with hashlib over every length up to several blocks. */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t state[8], const unsigned char block[64])
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5],
             g = state[6], h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) +
                      K256[i] + w[i];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

static void sha256(const unsigned char *data, size_t length, unsigned char digest[32])
{
    uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t full = length / 64 * 64;
    for (size_t offset = 0; offset < full; offset += 64)
        sha256_block(state, data + offset);
    /* The rest, 0x80, zeros, and the length in bits (big-endian): one or two blocks. */
    unsigned char tail[128] = {0};
    size_t rest = length - full;
    if (rest)
        memcpy(tail, data + full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)length * 8;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha256_block(state, tail);
    if (tail_len == 128)
        sha256_block(state, tail + 64);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (unsigned char)(state[i] >> 24);
        digest[4 * i + 1] = (unsigned char)(state[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(state[i] >> 8);
        digest[4 * i + 3] = (unsigned char)state[i];
    }
}

static PyObject *sha256_digest(const unsigned char *data, Py_ssize_t length)
{
    unsigned char digest[32];
    sha256(data, (size_t)length, digest);
    return PyBytes_FromStringAndSize((const char *)digest, 32);
}

/* sha256(data: bytes, /) -> bytes: for the tests, which compare it with hashlib. */
static PyObject *py_sha256(PyObject *module, PyObject *data)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = sha256_digest(view.buf, view.len);
    PyBuffer_Release(&view);
    return result;
}

/* An order's values, as wire.python_encode_values takes them. */
struct order {
    const char *owner, *router, *builder_address;
    Py_ssize_t owner_len, router_len, builder_len;
    uint64_t number, client_id, flags, clob, side, quantums, subticks, good_til, tif, metadata,
        condition, trigger, filled, fee;
    int reduce_only, has_builder;
};

static PyObject *encode(const struct order *o);

/* encode_values(owner, subaccount_number, client_id, order_flags, clob_pair_id, side,
 *               quantums, subticks, good_til_block_time, time_in_force, reduce_only,
 *               client_metadata, condition_type, trigger_subticks, builder, router,
 *               filled_quantums, /) -> (key, place, update or None) */
static PyObject *encode_values(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != N_ARGS) {
        PyErr_Format(PyExc_TypeError, "encode_values takes %d arguments (%zd given)", N_ARGS,
                     nargs);
        return NULL;
    }
    struct order o = {.builder_address = NULL, .builder_len = 0, .fee = 0};
    if (get_text(args[0], "owner", &o.owner, &o.owner_len) < 0 ||
        get_uint(args[1], "subaccount_number", UINT32_MAX, &o.number) < 0 ||
        get_uint(args[2], "client_id", UINT32_MAX, &o.client_id) < 0 ||
        get_uint(args[3], "order_flags", UINT32_MAX, &o.flags) < 0 ||
        get_uint(args[4], "clob_pair_id", UINT32_MAX, &o.clob) < 0 ||
        get_uint(args[5], "side", UINT32_MAX, &o.side) < 0 ||
        get_uint(args[6], "quantums", UINT64_MAX, &o.quantums) < 0 ||
        get_uint(args[7], "subticks", UINT64_MAX, &o.subticks) < 0 ||
        get_uint(args[8], "good_til_block_time", UINT32_MAX, &o.good_til) < 0 ||
        get_uint(args[9], "time_in_force", UINT32_MAX, &o.tif) < 0 ||
        get_uint(args[11], "client_metadata", UINT32_MAX, &o.metadata) < 0 ||
        get_uint(args[12], "condition_type", UINT32_MAX, &o.condition) < 0 ||
        get_uint(args[13], "trigger_subticks", UINT64_MAX, &o.trigger) < 0 ||
        get_text(args[15], "router", &o.router, &o.router_len) < 0 ||
        get_uint(args[16], "filled_quantums", UINT64_MAX, &o.filled) < 0)
        return NULL;
    o.reduce_only = PyObject_IsTrue(args[10]);
    if (o.reduce_only < 0)
        return NULL;
    PyObject *builder = args[14];
    o.has_builder = builder != Py_None;
    if (o.has_builder) {
        if (!PyTuple_Check(builder) || PyTuple_GET_SIZE(builder) != 2) {
            PyErr_SetString(PyExc_TypeError, "builder must be None or (address, fee_ppm)");
            return NULL;
        }
        if (get_text(PyTuple_GET_ITEM(builder, 0), "builder address", &o.builder_address,
                     &o.builder_len) < 0 ||
            get_uint(PyTuple_GET_ITEM(builder, 1), "builder fee_ppm", UINT32_MAX, &o.fee) < 0)
            return NULL;
    }
    return encode(&o);
}

/* The messages of ``o``: (key, place, update or None). */
static PyObject *encode(const struct order *o)
{
    /* Sizes, innermost first. */
    Py_ssize_t subaccount =
        (o->owner_len ? bytes_field_size(o->owner_len) : 0) + field_size(o->number);
    Py_ssize_t ident = bytes_field_size(subaccount) + (o->client_id ? 5 : 0) +
                       field_size(o->flags) + field_size(o->clob);
    Py_ssize_t params = 0;
    if (o->has_builder)
        params = (o->builder_len ? bytes_field_size(o->builder_len) : 0) + field_size(o->fee);
    Py_ssize_t order = bytes_field_size(ident) + field_size(o->side) + field_size(o->quantums) +
                       field_size(o->subticks) + 5 + field_size(o->tif) +
                       (o->reduce_only ? 2 : 0) + field_size(o->metadata) +
                       field_size(o->condition) + field_size(o->trigger) +
                       (o->has_builder ? bytes_field_size(params) : 0) +
                       (o->router_len ? bytes_field_size(o->router_len) : 0);
    Py_ssize_t place_body = bytes_field_size(order) + 2;
    Py_ssize_t place_size = bytes_field_size(place_body);

    PyObject *place = PyBytes_FromStringAndSize(NULL, place_size);
    if (place == NULL)
        return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(place);
    *out++ = 0x0a; /* OffChainUpdateV1.order_place */
    out = put_varint(out, (uint64_t)place_body);
    *out++ = 0x0a; /* OrderPlaceV1.order */
    out = put_varint(out, (uint64_t)order);
    /* IndexerOrder.order_id: IndexerOrderId */
    *out++ = 0x0a;
    out = put_varint(out, (uint64_t)ident);
    unsigned char *ident_start = out;
    *out++ = 0x0a; /* subaccount_id: SubaccountId{owner, number} */
    out = put_varint(out, (uint64_t)subaccount);
    if (o->owner_len)
        out = put_bytes_field(out, 0x0a, o->owner, o->owner_len);
    out = put_field(out, 0x10, o->number);
    if (o->client_id) {
        *out++ = 0x15;
        out = put_fixed32(out, (uint32_t)o->client_id);
    }
    out = put_field(out, 0x18, o->flags);
    out = put_field(out, 0x20, o->clob);
    unsigned char *ident_end = out;
    out = put_field(out, 0x10, o->side);
    out = put_field(out, 0x18, o->quantums);
    out = put_field(out, 0x20, o->subticks);
    *out++ = 0x35; /* good_til_block_time: a oneof member, always written */
    out = put_fixed32(out, (uint32_t)o->good_til);
    out = put_field(out, 0x38, o->tif);
    if (o->reduce_only) {
        *out++ = 0x40;
        *out++ = 0x01;
    }
    out = put_field(out, 0x48, o->metadata);
    out = put_field(out, 0x50, o->condition);
    out = put_field(out, 0x58, o->trigger);
    if (o->has_builder) {
        *out++ = 0x62;
        out = put_varint(out, (uint64_t)params);
        if (o->builder_len)
            out = put_bytes_field(out, 0x0a, o->builder_address, o->builder_len);
        out = put_field(out, 0x10, o->fee);
    }
    if (o->router_len)
        out = put_bytes_field(out, 0x6a, o->router, o->router_len);
    *out++ = 0x10; /* OrderPlaceV1.placement_status */
    *out++ = ORDER_PLACEMENT_STATUS_OPENED;
    if (out != (unsigned char *)PyBytes_AS_STRING(place) + place_size) {
        Py_DECREF(place);
        PyErr_SetString(PyExc_SystemError, "_wire: place message size mismatch");
        return NULL;
    }

    PyObject *update = Py_None;
    Py_INCREF(update);
    if (o->filled) {
        Py_ssize_t body = bytes_field_size(ident) + field_size(o->filled);
        Py_ssize_t update_size = bytes_field_size(body);
        Py_DECREF(update);
        update = PyBytes_FromStringAndSize(NULL, update_size);
        if (update == NULL) {
            Py_DECREF(place);
            return NULL;
        }
        unsigned char *u = (unsigned char *)PyBytes_AS_STRING(update);
        *u++ = 0x1a; /* OffChainUpdateV1.order_update: OrderUpdateV1{order_id, filled} */
        u = put_varint(u, (uint64_t)body);
        u = put_bytes_field(u, 0x0a, (const char *)ident_start, ident);
        u = put_field(u, 0x10, o->filled);
        if (u != (unsigned char *)PyBytes_AS_STRING(update) + update_size) {
            Py_DECREF(place);
            Py_DECREF(update);
            PyErr_SetString(PyExc_SystemError, "_wire: update message size mismatch");
            return NULL;
        }
    }

    PyObject *key = sha256_digest(ident_start, ident_end - ident_start);
    if (key == NULL) {
        Py_DECREF(place);
        Py_DECREF(update);
        return NULL;
    }
    PyObject *result = PyTuple_New(3);
    if (result == NULL) {
        Py_DECREF(key);
        Py_DECREF(place);
        Py_DECREF(update);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, key);
    PyTuple_SET_ITEM(result, 1, place);
    PyTuple_SET_ITEM(result, 2, update);
    return result;
}

/* --- encode_row: translate.convert's fast path and the encoder in one call ---------------
 *
 * Takes the plain tuple the orders query returns (translate.OrderRow's columns) and returns
 * its messages, or None whenever it is not certain of the answer: a NULL where a value is
 * needed, a value out of range, a type or decimal text it does not recognise. The caller then
 * runs translate.convert, which decides, with its one-value-at-a-time checks and their
 * wording. So every row this function encodes is one convert would encode to the same bytes
 * (tests/unit/test_translate.py holds it to that over generated rows), and every rejection
 * stays convert's. */

enum {
    ROW_ID, ROW_OWNER, ROW_NUMBER, ROW_CLIENT_ID, ROW_FLAGS, ROW_CLOB, ROW_SIDE, ROW_TYPE,
    ROW_TIF, ROW_REDUCE_ONLY, ROW_METADATA, ROW_GOOD_TIL, ROW_GOOD_TIL_RAW, ROW_RESOLUTION,
    ROW_CONVERSION, ROW_BUILDER, ROW_FEE, ROW_ROUTER, ROW_QUANTUMS, ROW_SIZE_RAW, ROW_SUBTICKS,
    ROW_PRICE_RAW, ROW_TRIGGER, ROW_TRIGGER_RAW, ROW_FILLED, ROW_FILLED_RAW, ROW_COLUMNS
};

/* translate.OrderRow's field names at those positions: configure refuses any other layout. */
static const char *const row_names[ROW_COLUMNS] = {
    "id", "owner", "subaccount_number", "client_id", "order_flags", "clob_pair_id", "side",
    "type", "time_in_force", "reduce_only", "client_metadata", "good_til_block_time",
    "good_til_block_time_raw", "atomic_resolution", "quantum_conversion_exponent",
    "builder_address", "fee_ppm", "order_router_address", "quantums", "size_raw", "subticks",
    "price_raw", "trigger_subticks", "trigger_price_raw", "filled_quantums", "total_filled_raw",
};

/* translate's values, set once at import (configure): until then every row is left to it. */
static PyObject *condition_types; /* order type -> condition type */
static PyObject *times_in_force;  /* timeInForce -> time in force */
static uint64_t side_buy, side_sell;

/* The row layout given (a tuple of field names) is the one encode_row reads: 0, else -1 with
 * a ValueError naming the first difference. */
static int check_row_names(PyObject *names)
{
    if (!PyTuple_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "configure: row_fields must be a tuple of names");
        return -1;
    }
    Py_ssize_t given = PyTuple_GET_SIZE(names);
    for (Py_ssize_t i = 0; i < ROW_COLUMNS || i < given; i++) {
        const char *want = i < ROW_COLUMNS ? row_names[i] : "(none)";
        const char *have = "(none)";
        if (i < given) {
            PyObject *name = PyTuple_GET_ITEM(names, i);
            have = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
            if (have == NULL) {
                PyErr_Clear();
                have = "(not a str)";
            }
        }
        if (strcmp(want, have) != 0) {
            PyErr_Format(PyExc_ValueError,
                         "the C encoder reads order rows with %d columns and was built for "
                         "column %zd '%s'; the row has '%s' there",
                         ROW_COLUMNS, i, want, have);
            return -1;
        }
    }
    return 0;
}

/* configure(condition_types, times_in_force, side_buy, side_sell, row_fields, /) */
static PyObject *configure(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    uint64_t buy, sell;
    if (nargs != 5 || !PyDict_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "configure takes two dicts, two sides and the row's field names");
        return NULL;
    }
    if (check_row_names(args[4]) < 0)
        return NULL;
    if (get_uint(args[2], "side_buy", UINT32_MAX, &buy) < 0 ||
        get_uint(args[3], "side_sell", UINT32_MAX, &sell) < 0)
        return NULL;
    Py_INCREF(args[0]);
    Py_INCREF(args[1]);
    Py_XSETREF(condition_types, args[0]);
    Py_XSETREF(times_in_force, args[1]);
    side_buy = buy;
    side_sell = sell;
    Py_RETURN_NONE;
}

/* An int in [0, max]: 1, else 0 (no Python error left set). */
static int row_uint(PyObject *value, uint64_t max, uint64_t *out)
{
    if (!PyLong_Check(value))
        return 0;
    int overflow;
    long long result = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || result < 0 || (uint64_t)result > max) {
        PyErr_Clear();
        return 0;
    }
    *out = (uint64_t)result;
    return 1;
}

/* The text of an unsigned 64-bit integer, as the query writes it (digits only): 1, else 0. */
static int row_digits(PyObject *value, uint64_t *out)
{
    if (!PyUnicode_Check(value))
        return 0;
    Py_ssize_t length;
    const char *text = PyUnicode_AsUTF8AndSize(value, &length);
    if (text == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (length < 1 || length > 20)
        return 0;
    uint64_t result = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        unsigned digit = (unsigned char)text[i] - (unsigned)'0';
        if (digit > 9 || result > (UINT64_MAX - digit) / 10)
            return 0;
        result = result * 10 + digit;
    }
    *out = result;
    return 1;
}

/* A str's UTF-8: 1, else 0. */
static int row_text(PyObject *value, const char **data, Py_ssize_t *length)
{
    if (!PyUnicode_Check(value))
        return 0;
    *data = PyUnicode_AsUTF8AndSize(value, length);
    if (*data == NULL) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* A value of one of translate's maps: 1, else 0. */
static int row_mapped(PyObject *map, PyObject *key, uint64_t *out)
{
    if (map == NULL || !PyUnicode_Check(key))
        return 0;
    PyObject *value = PyDict_GetItemWithError(map, key); /* borrowed */
    if (value == NULL) {
        PyErr_Clear();
        return 0;
    }
    return row_uint(value, UINT32_MAX, out);
}

/* encode_row(row, /) -> (key, place, update or None), or None: see above. */
static PyObject *encode_row(PyObject *module, PyObject *row)
{
    (void)module;
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != ROW_COLUMNS)
        Py_RETURN_NONE;
    PyObject **c = PySequence_Fast_ITEMS(row);
    struct order o = {.builder_address = NULL, .builder_len = 0, .fee = 0};
    PyObject *side = c[ROW_SIDE], *router = c[ROW_ROUTER], *builder = c[ROW_BUILDER],
             *fee = c[ROW_FEE];
    int ok = c[ROW_RESOLUTION] != Py_None && c[ROW_CONVERSION] != Py_None &&
             c[ROW_TRIGGER_RAW] == Py_None && row_text(c[ROW_OWNER], &o.owner, &o.owner_len) &&
             row_uint(c[ROW_NUMBER], UINT32_MAX, &o.number) &&
             row_uint(c[ROW_CLIENT_ID], UINT32_MAX, &o.client_id) &&
             row_uint(c[ROW_FLAGS], UINT32_MAX, &o.flags) &&
             row_uint(c[ROW_CLOB], UINT32_MAX, &o.clob) &&
             row_mapped(condition_types, c[ROW_TYPE], &o.condition) &&
             row_mapped(times_in_force, c[ROW_TIF], &o.tif) &&
             row_uint(c[ROW_METADATA], UINT32_MAX, &o.metadata) &&
             row_uint(c[ROW_GOOD_TIL], UINT32_MAX, &o.good_til) &&
             row_digits(c[ROW_QUANTUMS], &o.quantums) &&
             row_digits(c[ROW_SUBTICKS], &o.subticks) &&
             row_digits(c[ROW_FILLED], &o.filled) &&
             (c[ROW_TRIGGER] == Py_None ? (o.trigger = 0, 1)
                                        : row_digits(c[ROW_TRIGGER], &o.trigger)) &&
             (router == Py_None ? (o.router = "", o.router_len = 0, 1)
                                : row_text(router, &o.router, &o.router_len)) &&
             (PyBool_Check(c[ROW_REDUCE_ONLY]));
    if (!ok)
        Py_RETURN_NONE;
    o.reduce_only = c[ROW_REDUCE_ONLY] == Py_True;
    o.side = PyUnicode_Check(side) && PyUnicode_CompareWithASCIIString(side, "BUY") == 0
                 ? side_buy
                 : side_sell; /* any other side, as translate.convert */
    /* Builder code parameters when both the address and the fee are set (non-empty). */
    int builder_set =
        builder != Py_None && (!PyUnicode_Check(builder) || PyUnicode_GET_LENGTH(builder));
    int fee_set = fee != Py_None && (!PyUnicode_Check(fee) || PyUnicode_GET_LENGTH(fee));
    o.has_builder = builder_set && fee_set;
    if (o.has_builder &&
        !(row_text(builder, &o.builder_address, &o.builder_len) &&
          row_digits(fee, &o.fee) && o.fee <= UINT32_MAX))
        Py_RETURN_NONE;
    return encode(&o);
}

static PyMethodDef methods[] = {
    {"encode_values", (PyCFunction)(void (*)(void))encode_values, METH_FASTCALL,
     "The order's (key, place, update or None), as wire.encode_values writes them."},
    {"encode_row", encode_row, METH_O,
     "translate.convert's fast path and the encoder: the row's messages, or None."},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL,
     "Set translate's order type and timeInForce maps, sides and row layout (once, at import)."},
    {"sha256", py_sha256, METH_O, "SHA-256 digest of a bytes-like object (for the tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "bazooka.vulcan._wire",
    .m_doc = "wire.encode_values in C: the same bytes, written without the interpreter.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__wire(void)
{
    return PyModule_Create(&module_def);
}
