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

size_t mi_bridge_encode_frame(uint8_t type, uint16_t seq, uint32_t timestamp_ms,
                              const uint8_t *body, uint8_t body_len, uint8_t *dst, size_t cap)
{
    uint8_t raw[MI_BRIDGE_MAX_FRAME];
    size_t n = MI_BRIDGE_HEADER_SIZE + (size_t)body_len, enc, i;
    if (body_len > MI_BRIDGE_MAX_BODY) {
        return 0;
    }
    raw[0] = MI_BRIDGE_PROTOCOL_VERSION;
    raw[1] = type;
    put_le(&raw[2], seq, 2);
    put_le(&raw[4], timestamp_ms, 4);
    raw[8] = body_len;
    for (i = 0; i < body_len; i++) {
        raw[MI_BRIDGE_HEADER_SIZE + i] = body[i];
    }
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
void mi_bridge_decoder_init(mi_bridge_decoder_t *d)
{
    d->len = 0;
    d->block_left = 0;
    d->code = 0;
    d->overflow = 0;
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
    uint8_t n = d->len, body_len;
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
    body_len = (uint8_t)(n - MI_BRIDGE_MIN_FRAME);
    if (d->buf[8] != body_len) {
        return MI_BRIDGE_ERR_LENGTH;
    }
    if (d->buf[1] < MI_BRIDGE_MSG_HELLO || d->buf[1] > MI_BRIDGE_MSG_STOP) {
        return MI_BRIDGE_ERR_TYPE;
    }
    if (!body_ok(d->buf[1], &d->buf[MI_BRIDGE_HEADER_SIZE], body_len)) {
        return MI_BRIDGE_ERR_BODY;
    }
    out->version = d->buf[0];
    out->type = d->buf[1];
    out->seq = (uint16_t)get_le(&d->buf[2], 2);
    out->timestamp_ms = get_le(&d->buf[4], 4);
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
        mi_bridge_decoder_init(d);
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
    r->state = MI_BRIDGE_STATE_SAFE;
    r->safe_reason = MI_BRIDGE_SAFE_BOOT;
    r->command = -1;
    r->confidence = 0;
    r->fault_reason = 0;
    r->n_classes = 0;
    r->has_seq = 0;
    r->last_seq = 0;
    r->lost = r->stale = r->rejected = r->ignored = 0;
}

static void enter_safe(mi_bridge_receiver_t *r, uint8_t reason)
{
    r->state = MI_BRIDGE_STATE_SAFE;
    r->safe_reason = reason;
    r->command = -1;
}

static void link_up(mi_bridge_receiver_t *r, uint32_t now_ms)
{
    r->state = MI_BRIDGE_STATE_LINKED;
    r->safe_reason = MI_BRIDGE_SAFE_NONE;
    mi_bridge_watchdog_feed(&r->link, now_ms);
}

void mi_bridge_receiver_on_frame(mi_bridge_receiver_t *r, const mi_bridge_frame_t *f,
                                 uint32_t now_ms)
{
    uint16_t step;
    if (f->type == MI_BRIDGE_MSG_STOP || f->type == MI_BRIDGE_MSG_FAULT) {
        r->has_seq = 1;
        r->last_seq = f->seq;
        if (f->type == MI_BRIDGE_MSG_FAULT) {
            r->fault_reason = f->body[0];
            enter_safe(r, MI_BRIDGE_SAFE_FAULT);
        } else {
            enter_safe(r, MI_BRIDGE_SAFE_STOP);
        }
        return;
    }
    if (f->type == MI_BRIDGE_MSG_HELLO) {
        r->has_seq = 1;
        r->last_seq = f->seq;
        r->n_classes = f->body[4];
        r->command = -1;
        link_up(r, now_ms);
        return;
    }
    if (r->has_seq) {
        step = (uint16_t)(f->seq - r->last_seq);
        if (step == 0 || step >= 0x8000u) {
            r->stale++;
            return;
        }
        r->lost += (uint32_t)(step - 1u);
    }
    r->has_seq = 1;
    r->last_seq = f->seq;
    if (r->state == MI_BRIDGE_STATE_SAFE && r->safe_reason != MI_BRIDGE_SAFE_BOOT &&
        r->safe_reason != MI_BRIDGE_SAFE_TIMEOUT) {
        r->ignored++;
        return;
    }
    link_up(r, now_ms);
    if (f->type == MI_BRIDGE_MSG_DECISION) {
        mi_bridge_watchdog_feed(&r->decision, now_ms);
        r->confidence = f->body[1];
        if (r->n_classes != 0 && f->body[0] >= r->n_classes) {
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
