/* mi_bridge: see mi_bridge.h and ../PROTOCOL.md. */
#include "mi_bridge.h"

#ifdef __AVR__
#include <avr/pgmspace.h>
#define MI_BRIDGE_TABLE_READ(t, i) pgm_read_dword(&(t)[i])
#define MI_BRIDGE_PROGMEM PROGMEM
#else
#define MI_BRIDGE_TABLE_READ(t, i) ((t)[i])
#define MI_BRIDGE_PROGMEM
#endif

/* ---- CRC-32/IEEE, reflected, nibble table (64 bytes, in flash on AVR) ---------------------- */
static const uint32_t crc_nibble[16] MI_BRIDGE_PROGMEM = {
    0x00000000UL, 0x1DB71064UL, 0x3B6E20C8UL, 0x26D930ACUL, 0x76DC4190UL, 0x6B6B51F4UL,
    0x4DB26158UL, 0x5005713CUL, 0xEDB88320UL, 0xF00F9344UL, 0xD6D6A3E8UL, 0xCB61B38CUL,
    0x9B64C2B0UL, 0x86D3D2D4UL, 0xA00AE278UL, 0xBDBDF21CUL};

uint32_t mi_bridge_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *data++;
        crc = (crc >> 4) ^ MI_BRIDGE_TABLE_READ(crc_nibble, crc & 0x0Fu);
        crc = (crc >> 4) ^ MI_BRIDGE_TABLE_READ(crc_nibble, crc & 0x0Fu);
    }
    return ~crc;
}

/* ---- COBS ---------------------------------------------------------------------------------- */
size_t mi_bridge_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    size_t out = 1, code_at = 0, i;
    uint8_t code = 1;
    if (cap < len + 1u + len / 254u) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (src[i] == 0) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
        } else {
            dst[out++] = src[i];
            if (++code == 0xFF) {
                dst[code_at] = code;
                code_at = out++;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    return out;
}

/* ---- frame encoder (tests, or a device that talks back) ---------------------------------- */
static void put_le(uint8_t *p, uint32_t v, uint8_t n)
{
    uint8_t i;
    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8u * i));
    }
}

static uint32_t get_le(const uint8_t *p, uint8_t n)
{
    uint32_t v = 0;
    while (n--) {
        v = (v << 8) | p[n];
    }
    return v;
}

#ifdef MI_BRIDGE_WITH_MAC
/* ---- SipHash-2-4 (Aumasson & Bernstein), 8-byte tag ---------------------------------------- */
#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_rounds(uint64_t v[4], uint8_t n)
{
    while (n--) {
        v[0] += v[1];
        v[1] = SIP_ROTL(v[1], 13) ^ v[0];
        v[0] = SIP_ROTL(v[0], 32);
        v[2] += v[3];
        v[3] = SIP_ROTL(v[3], 16) ^ v[2];
        v[0] += v[3];
        v[3] = SIP_ROTL(v[3], 21) ^ v[0];
        v[2] += v[1];
        v[1] = SIP_ROTL(v[1], 17) ^ v[2];
        v[2] = SIP_ROTL(v[2], 32);
    }
}

static uint64_t get_le64(const uint8_t *p, uint8_t n)
{
    uint64_t v = 0;
    while (n--) {
        v = (v << 8) | p[n];
    }
    return v;
}

void mi_bridge_siphash24(const uint8_t *key, const uint8_t *data, size_t len, uint8_t out[8])
{
    uint64_t k0 = get_le64(key, 8), k1 = get_le64(key + 8, 8), m, v[4];
    size_t i;
    uint8_t j;
    v[0] = k0 ^ 0x736f6d6570736575ULL;
    v[1] = k1 ^ 0x646f72616e646f6dULL;
    v[2] = k0 ^ 0x6c7967656e657261ULL;
    v[3] = k1 ^ 0x7465646279746573ULL;
    for (i = 0; i + 8u <= len; i += 8u) {
        m = get_le64(data + i, 8);
        v[3] ^= m;
        sip_rounds(v, 2);
        v[0] ^= m;
    }
    m = get_le64(data + i, (uint8_t)(len - i)) | ((uint64_t)(len & 0xFFu) << 56);
    v[3] ^= m;
    sip_rounds(v, 2);
    v[0] ^= m;
    v[2] ^= 0xFFu;
    sip_rounds(v, 4);
    m = v[0] ^ v[1] ^ v[2] ^ v[3];
    for (j = 0; j < 8u; j++) {
        out[j] = (uint8_t)(m >> (8u * j));
    }
}
#endif

size_t mi_bridge_encode_frame(uint8_t type, uint32_t session, uint32_t seq, uint32_t timestamp_ms,
                              const uint8_t *body, uint8_t body_len, const uint8_t *key,
                              uint8_t *dst, size_t cap)
{
    uint8_t raw[MI_BRIDGE_MAX_FRAME];
    size_t n = MI_BRIDGE_HEADER_SIZE + (size_t)body_len, enc, i;
    if (body_len > MI_BRIDGE_MAX_BODY) {
        return 0;
    }
#ifndef MI_BRIDGE_WITH_MAC
    if (key != NULL) {
        return 0;
    }
#endif
    raw[0] = MI_BRIDGE_PROTOCOL_VERSION;
    raw[1] = (uint8_t)(key != NULL ? (type | MI_BRIDGE_MAC_FLAG) : type);
    put_le(&raw[2], session, 4);
    put_le(&raw[6], seq, 4);
    put_le(&raw[10], timestamp_ms, 4);
    raw[14] = body_len;
    for (i = 0; i < body_len; i++) {
        raw[MI_BRIDGE_HEADER_SIZE + i] = body[i];
    }
#ifdef MI_BRIDGE_WITH_MAC
    if (key != NULL) {
        mi_bridge_siphash24(key, raw, n, &raw[n]);
        n += MI_BRIDGE_MAC_SIZE;
    }
#endif
    put_le(&raw[n], mi_bridge_crc32(0, raw, n), 4);
    n += MI_BRIDGE_CRC_SIZE;
    if (cap < 1) {
        return 0;
    }
    enc = mi_bridge_cobs_encode(raw, n, dst, cap - 1u);
    if (enc == 0) {
        return 0;
    }
    dst[enc] = 0;
    return enc + 1u;
}

/* ---- streaming decoder --------------------------------------------------------------------- */
static void decoder_reset(mi_bridge_decoder_t *d)
{
    d->len = 0;
    d->block_left = 0;
    d->code = 0;
    d->overflow = 0;
}

void mi_bridge_decoder_init(mi_bridge_decoder_t *d)
{
    decoder_reset(d);
#ifdef MI_BRIDGE_WITH_MAC
    d->key = NULL;
#endif
}

static void push(mi_bridge_decoder_t *d, uint8_t byte)
{
    if (d->len < MI_BRIDGE_MAX_FRAME) {
        d->buf[d->len++] = byte;
    } else {
        d->overflow = 1;
    }
}

static uint8_t body_ok(uint8_t type, const uint8_t *body, uint8_t n)
{
    switch (type) {
    case MI_BRIDGE_MSG_DECISION:
        return n == 3 && (body[2] & (uint8_t)~(MI_BRIDGE_FLAG_HOLD | MI_BRIDGE_FLAG_ARTIFACT)) == 0;
    case MI_BRIDGE_MSG_HEARTBEAT:
    case MI_BRIDGE_MSG_STOP:
        return n == 0;
    case MI_BRIDGE_MSG_FAULT:
        return n == 1;
    case MI_BRIDGE_MSG_HELLO: {
        uint8_t n_classes, newlines = 0, i;
        if (n < 9) {
            return 0;
        }
        n_classes = body[4];
        if (n_classes == 0) {
            return 0;
        }
        if (n == 9) {
            return 1; /* hash only */
        }
        for (i = 9; i < n; i++) {
            newlines += body[i] == '\n';
        }
        return newlines == n_classes - 1u &&
               mi_bridge_crc32(0, &body[9], (size_t)(n - 9u)) == get_le(&body[5], 4);
    }
    default:
        return 0;
    }
}

static mi_bridge_status_t finish(mi_bridge_decoder_t *d, mi_bridge_frame_t *out)
{
    uint8_t n = d->len, body_len, mac_len, type;
    if (d->overflow) {
        return MI_BRIDGE_ERR_OVERSIZE;
    }
    if (d->block_left != 0) {
        return MI_BRIDGE_ERR_COBS;
    }
    if (n < MI_BRIDGE_MIN_FRAME) {
        return MI_BRIDGE_ERR_SHORT;
    }
    if (mi_bridge_crc32(0, d->buf, (size_t)(n - MI_BRIDGE_CRC_SIZE)) !=
        get_le(&d->buf[n - MI_BRIDGE_CRC_SIZE], 4)) {
        return MI_BRIDGE_ERR_CRC;
    }
    if (d->buf[0] != MI_BRIDGE_PROTOCOL_VERSION) {
        return MI_BRIDGE_ERR_VERSION;
    }
    body_len = d->buf[14];
    mac_len = (d->buf[1] & MI_BRIDGE_MAC_FLAG) ? MI_BRIDGE_MAC_SIZE : 0u;
    if (body_len > MI_BRIDGE_MAX_BODY ||
        (uint16_t)(body_len + mac_len + MI_BRIDGE_MIN_FRAME) != n) {
        return MI_BRIDGE_ERR_LENGTH;
    }
    type = (uint8_t)(d->buf[1] & (uint8_t)~MI_BRIDGE_MAC_FLAG);
    if (type < MI_BRIDGE_MSG_HELLO || type > MI_BRIDGE_MSG_STOP) {
        return MI_BRIDGE_ERR_TYPE;
    }
    if (!body_ok(type, &d->buf[MI_BRIDGE_HEADER_SIZE], body_len)) {
        return MI_BRIDGE_ERR_BODY;
    }
    out->authenticated = 0;
#ifdef MI_BRIDGE_WITH_MAC
    if (d->key != NULL) {
        uint8_t tag[MI_BRIDGE_MAC_SIZE], i, diff = 0;
        const uint8_t *mac = &d->buf[MI_BRIDGE_HEADER_SIZE + body_len];
        if (mac_len == 0) {
            return MI_BRIDGE_ERR_AUTH;
        }
        mi_bridge_siphash24(d->key, d->buf, (size_t)(MI_BRIDGE_HEADER_SIZE + body_len), tag);
        for (i = 0; i < MI_BRIDGE_MAC_SIZE; i++) {
            diff |= (uint8_t)(tag[i] ^ mac[i]);
        }
        if (diff != 0) {
            return MI_BRIDGE_ERR_AUTH;
        }
        out->authenticated = 1;
    }
#endif
    out->version = d->buf[0];
    out->type = type;
    out->session = get_le(&d->buf[2], 4);
    out->seq = get_le(&d->buf[6], 4);
    out->timestamp_ms = get_le(&d->buf[10], 4);
    out->body_len = body_len;
    out->body = &d->buf[MI_BRIDGE_HEADER_SIZE];
    return MI_BRIDGE_FRAME;
}

mi_bridge_status_t mi_bridge_decoder_feed(mi_bridge_decoder_t *d, uint8_t byte,
                                          mi_bridge_frame_t *out)
{
    mi_bridge_status_t status = MI_BRIDGE_NONE;
    if (byte == 0) {
        if (d->code != 0) { /* an empty run between two delimiters is ignored */
            status = finish(d, out);
        }
        decoder_reset(d);
        return status;
    }
    if (d->block_left == 0) { /* a code byte */
        if (d->code != 0 && d->code != 0xFF) {
            push(d, 0);
        }
        d->code = byte;
        d->block_left = (uint8_t)(byte - 1u);
    } else {
        push(d, byte);
        d->block_left--;
    }
    return MI_BRIDGE_NONE;
}

const char *mi_bridge_status_name(mi_bridge_status_t status)
{
    switch (status) {
    case MI_BRIDGE_NONE: return "none";
    case MI_BRIDGE_FRAME: return "frame";
    case MI_BRIDGE_ERR_OVERSIZE: return "oversize";
    case MI_BRIDGE_ERR_COBS: return "cobs";
    case MI_BRIDGE_ERR_SHORT: return "short";
    case MI_BRIDGE_ERR_CRC: return "crc";
    case MI_BRIDGE_ERR_VERSION: return "version";
    case MI_BRIDGE_ERR_LENGTH: return "length";
    case MI_BRIDGE_ERR_TYPE: return "type";
    case MI_BRIDGE_ERR_BODY: return "body";
    case MI_BRIDGE_ERR_AUTH: return "auth";
    }
    return "?";
}

/* ---- watchdog ------------------------------------------------------------------------------ */
void mi_bridge_watchdog_init(mi_bridge_watchdog_t *w, uint16_t timeout_ms)
{
    w->last_ms = 0;
    w->timeout_ms = timeout_ms;
    w->armed = 0;
}

void mi_bridge_watchdog_feed(mi_bridge_watchdog_t *w, uint32_t now_ms)
{
    w->last_ms = now_ms;
    w->armed = 1;
}

uint8_t mi_bridge_watchdog_expired(const mi_bridge_watchdog_t *w, uint32_t now_ms)
{
    return !w->armed || (uint32_t)(now_ms - w->last_ms) > w->timeout_ms;
}

/* ---- receiver rules ------------------------------------------------------------------------ */
void mi_bridge_receiver_init(mi_bridge_receiver_t *r, uint16_t timeout_ms)
{
    mi_bridge_decoder_init(&r->decoder);
    mi_bridge_watchdog_init(&r->link, timeout_ms);
    mi_bridge_watchdog_init(&r->decision, timeout_ms);
    r->expected_class_hash = 0;
    r->session = r->last_seq = r->host_ref = r->local_ref = r->heard_ms = 0;
    r->state = MI_BRIDGE_STATE_SAFE;
    r->safe_reason = MI_BRIDGE_SAFE_BOOT;
    r->command = -1;
    r->confidence = 0;
    r->fault_reason = 0;
    r->n_classes = 0;
    r->has_session = 0;
    r->lost = r->stale = r->old = r->foreign = r->rejected = r->ignored = 0;
}

void mi_bridge_receiver_set_class_hash(mi_bridge_receiver_t *r, uint32_t class_hash)
{
    r->expected_class_hash = class_hash;
}

#ifdef MI_BRIDGE_WITH_MAC
void mi_bridge_receiver_set_key(mi_bridge_receiver_t *r, const uint8_t *key)
{
    r->decoder.key = key;
}
#endif

static void enter_safe(mi_bridge_receiver_t *r, uint8_t reason)
{
    r->state = MI_BRIDGE_STATE_SAFE;
    r->safe_reason = reason;
    r->command = -1;
}

/* Estimated age of a host timestamp: > 0 older than the estimate, < 0 ahead of it. */
static int32_t host_age(const mi_bridge_receiver_t *r, uint32_t timestamp_ms, uint32_t now_ms)
{
    uint32_t e = now_ms - r->local_ref;
    uint32_t estimate = r->host_ref + e - (e >> MI_BRIDGE_DRIFT_SHIFT);
    return (int32_t)(estimate - timestamp_ms);
}

static uint8_t seq_advances(const mi_bridge_receiver_t *r, uint32_t seq)
{
    uint32_t step = seq - r->last_seq;
    return step != 0 && step < 0x80000000UL;
}

static void on_hello(mi_bridge_receiver_t *r, const mi_bridge_frame_t *f, uint32_t now_ms)
{
    if (r->expected_class_hash != 0 && get_le(&f->body[5], 4) != r->expected_class_hash) {
        r->ignored++;
        r->has_session = 0;
        enter_safe(r, MI_BRIDGE_SAFE_MODEL);
        return;
    }
    if (r->has_session && f->session == r->session && !seq_advances(r, f->seq)) {
        r->stale++;
        return;
    }
    if (r->has_session && (uint32_t)(now_ms - r->heard_ms) <= MI_BRIDGE_CLOCK_FORGET_MS &&
        host_age(r, f->timestamp_ms, now_ms) > (int32_t)r->link.timeout_ms) {
        r->old++;
        return;
    }
    r->has_session = 1;
    r->session = f->session;
    r->last_seq = f->seq;
    r->host_ref = f->timestamp_ms;
    r->local_ref = r->heard_ms = now_ms;
    r->n_classes = f->body[4];
    r->command = -1;
    r->state = MI_BRIDGE_STATE_LINKED;
    r->safe_reason = MI_BRIDGE_SAFE_NONE;
    mi_bridge_watchdog_feed(&r->link, now_ms);
}

void mi_bridge_receiver_on_frame(mi_bridge_receiver_t *r, const mi_bridge_frame_t *f,
                                 uint32_t now_ms)
{
    int32_t age;
    if (f->type == MI_BRIDGE_MSG_STOP || f->type == MI_BRIDGE_MSG_FAULT) {
        if (f->type == MI_BRIDGE_MSG_FAULT) {
            r->fault_reason = f->body[0];
            enter_safe(r, MI_BRIDGE_SAFE_FAULT);
        } else {
            enter_safe(r, MI_BRIDGE_SAFE_STOP);
        }
        return;
    }
    if (f->type == MI_BRIDGE_MSG_HELLO) {
        on_hello(r, f, now_ms);
        return;
    }
    if (!r->has_session) {
        r->ignored++;
        return;
    }
    if (f->session != r->session) {
        r->foreign++;
        return;
    }
    if (!seq_advances(r, f->seq)) {
        r->stale++;
        return;
    }
    age = host_age(r, f->timestamp_ms, now_ms);
    if (age > (int32_t)r->link.timeout_ms) {
        r->old++;
        return;
    }
    r->lost += f->seq - r->last_seq - 1u;
    r->last_seq = f->seq;
    r->heard_ms = now_ms;
    if (age < 0) {
        r->host_ref = f->timestamp_ms;
        r->local_ref = now_ms;
    }
    if (r->state != MI_BRIDGE_STATE_LINKED) {
        r->ignored++;
        return;
    }
    mi_bridge_watchdog_feed(&r->link, now_ms);
    if (f->type == MI_BRIDGE_MSG_DECISION) {
        mi_bridge_watchdog_feed(&r->decision, now_ms);
        r->confidence = f->body[1];
        if (f->body[0] >= r->n_classes) {
            r->ignored++;
            r->command = -1;
        } else if (f->body[2] & MI_BRIDGE_FLAG_HOLD) {
            r->command = -1;
        } else {
            r->command = f->body[0];
        }
    }
}

void mi_bridge_receiver_on_error(mi_bridge_receiver_t *r, mi_bridge_status_t status)
{
    r->rejected++;
    if (status == MI_BRIDGE_ERR_VERSION) {
        enter_safe(r, MI_BRIDGE_SAFE_VERSION);
    }
}

mi_bridge_status_t mi_bridge_receiver_feed(mi_bridge_receiver_t *r, uint8_t byte,
                                           uint32_t now_ms)
{
    mi_bridge_frame_t frame;
    mi_bridge_status_t status = mi_bridge_decoder_feed(&r->decoder, byte, &frame);
    if (status == MI_BRIDGE_FRAME) {
        mi_bridge_receiver_on_frame(r, &frame, now_ms);
    } else if (status != MI_BRIDGE_NONE) {
        mi_bridge_receiver_on_error(r, status);
    }
    return status;
}

void mi_bridge_receiver_tick(mi_bridge_receiver_t *r, uint32_t now_ms)
{
    if (r->state != MI_BRIDGE_STATE_LINKED) {
        return;
    }
    if (mi_bridge_watchdog_expired(&r->link, now_ms)) {
        enter_safe(r, MI_BRIDGE_SAFE_TIMEOUT);
    } else if (r->command >= 0 && mi_bridge_watchdog_expired(&r->decision, now_ms)) {
        r->command = -1;
    }
}

int16_t mi_bridge_receiver_command(const mi_bridge_receiver_t *r)
{
    return r->state == MI_BRIDGE_STATE_LINKED ? r->command : -1;
}

/* ---- ASCII mode ---------------------------------------------------------------------------- */
static uint8_t is_label_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static uint8_t starts_with(const char *p, size_t n, const char *prefix)
{
    size_t i;
    for (i = 0; prefix[i] != 0; i++) {
        if (i >= n || p[i] != prefix[i]) {
            return 0;
        }
    }
    return 1;
}

static uint8_t all_ascii(const char *p, size_t n)
{
    while (n--) {
        if ((uint8_t)*p++ >= 0x80u) {
            return 0;
        }
    }
    return 1;
}

static uint8_t equals(const char *p, size_t n, const char *s)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] == 0 || s[i] != p[i]) {
            return 0;
        }
    }
    return s[n] == 0;
}

mi_bridge_ascii_status_t mi_bridge_ascii_parse(const char *line, size_t len,
                                               mi_bridge_ascii_line_t *out)
{
    size_t i = 0, n;
    out->kind = 0;
    out->confidence_centi = 0;
    out->label[0] = 0;
    out->text = NULL;
    out->text_len = 0;
    if (len > MI_BRIDGE_ASCII_MAX_LINE) {
        return MI_BRIDGE_ASCII_TOO_LONG;
    }
    while (len > 0 && (line[0] == 0 || line[0] == '\r')) {
        line++;
        len--;
    }
    if (len > 0 && line[len - 1u] == '\r') {
        len--;
    }
    if (len == 0) {
        return MI_BRIDGE_ASCII_EMPTY;
    }
    if (line[0] == '!') {
        if (equals(line, len, "!HB")) {
            out->kind = MI_BRIDGE_ASCII_HEARTBEAT;
        } else if (equals(line, len, "!STOP")) {
            out->kind = MI_BRIDGE_ASCII_STOP;
        } else if ((starts_with(line, len, "!FAULT ") || starts_with(line, len, "!HELLO ")) &&
                   all_ascii(line, len)) {
            out->kind = line[1] == 'F' ? MI_BRIDGE_ASCII_FAULT : MI_BRIDGE_ASCII_HELLO;
            out->text = line + 7;
            out->text_len = (uint8_t)(len - 7u);
        } else {
            return MI_BRIDGE_ASCII_SYNTAX;
        }
        return MI_BRIDGE_ASCII_OK;
    }
    if (equals(line, len, "-")) {
        out->kind = MI_BRIDGE_ASCII_HOLD;
        out->label[0] = '-';
        out->label[1] = 0;
        return MI_BRIDGE_ASCII_OK;
    }
    /* label or "-", one space, d.dd */
    if (line[0] == '-') {
        i = 1;
    } else {
        while (i < len && i < MI_BRIDGE_ASCII_MAX_LABEL && is_label_char(line[i])) {
            i++;
        }
    }
    n = i;
    if (n == 0 || len != n + 5u || line[n] != ' ' || (line[n + 1u] != '0' && line[n + 1u] != '1') ||
        line[n + 2u] != '.' || line[n + 3u] < '0' || line[n + 3u] > '9' || line[n + 4u] < '0' ||
        line[n + 4u] > '9') {
        return MI_BRIDGE_ASCII_SYNTAX;
    }
    out->confidence_centi = (uint8_t)((line[n + 1u] - '0') * 100 + (line[n + 3u] - '0') * 10 +
                                      (line[n + 4u] - '0'));
    if (out->confidence_centi > 100u) {
        return MI_BRIDGE_ASCII_CONFIDENCE;
    }
    for (i = 0; i < n; i++) {
        out->label[i] = line[i];
    }
    out->label[n] = 0;
    out->kind = line[0] == '-' ? MI_BRIDGE_ASCII_HOLD : MI_BRIDGE_ASCII_DECISION;
    return MI_BRIDGE_ASCII_OK;
}
