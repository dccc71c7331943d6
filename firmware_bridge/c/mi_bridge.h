/*
 * mi_bridge: receiver side of the mi-edge serial protocol (see ../PROTOCOL.md).
 *
 * C99, no malloc, fixed buffers, one byte at a time. Runs on an 8-bit AVR (Arduino Uno)
 * as well as on a host. Typical use on a microcontroller:
 *
 *     static mi_bridge_receiver_t rx;
 *     mi_bridge_receiver_init(&rx, 500);                 // heartbeat timeout in ms
 *     mi_bridge_receiver_set_class_hash(&rx, 0x1234abcdUL); // model built for; 0 = any
 *     mi_bridge_receiver_set_key(&rx, key16);            // only with MI_BRIDGE_WITH_MAC
 *     loop:
 *         mi_bridge_receiver_tick(&rx, millis());         // watchdog first
 *         while (Serial.available())
 *             mi_bridge_receiver_feed(&rx, Serial.read(), millis());
 *         int cmd = mi_bridge_receiver_command(&rx);      // -1 = neutral/safe
 *
 * Every outcome of the decoder is a mi_bridge_status_t; the numbers are shared with the Python
 * firmware_bridge.decoder.RejectReason.
 *
 * Compile-time options:
 *   MI_BRIDGE_WITH_MAC     SipHash-2-4 frame authentication (mi_bridge_receiver_set_key). Without
 *                          it a frame's MAC is skipped unchecked; with it and a key set, frames
 *                          without a valid MAC are rejected (MI_BRIDGE_ERR_AUTH).
 *   MI_BRIDGE_DRIFT_SHIFT  the device clock may run 2^-SHIFT fast (default 7: 1/128).
 */
#ifndef MI_BRIDGE_H
#define MI_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MI_BRIDGE_PROTOCOL_VERSION 2u
#define MI_BRIDGE_HEADER_SIZE 15u
#define MI_BRIDGE_CRC_SIZE 4u
#define MI_BRIDGE_MAC_SIZE 8u
#define MI_BRIDGE_KEY_SIZE 16u
#define MI_BRIDGE_MAC_FLAG 0x80u /* in the type byte: a MAC follows the body */
#define MI_BRIDGE_MAX_BODY 64u
#define MI_BRIDGE_MAX_FRAME \
    (MI_BRIDGE_HEADER_SIZE + MI_BRIDGE_MAX_BODY + MI_BRIDGE_MAC_SIZE + MI_BRIDGE_CRC_SIZE)
#define MI_BRIDGE_MIN_FRAME (MI_BRIDGE_HEADER_SIZE + MI_BRIDGE_CRC_SIZE)
/* Largest COBS-encoded frame, delimiter excluded. */
#define MI_BRIDGE_MAX_ENCODED (MI_BRIDGE_MAX_FRAME + 1u + MI_BRIDGE_MAX_FRAME / 254u)

typedef enum {
    MI_BRIDGE_MSG_HELLO = 1,
    MI_BRIDGE_MSG_DECISION = 2,
    MI_BRIDGE_MSG_HEARTBEAT = 3,
    MI_BRIDGE_MSG_FAULT = 4,
    MI_BRIDGE_MSG_STOP = 5
} mi_bridge_msg_type_t;

typedef enum {
    MI_BRIDGE_FLAG_HOLD = 1,     /* below threshold: hold neutral */
    MI_BRIDGE_FLAG_ARTIFACT = 2  /* informational */
} mi_bridge_decision_flag_t;

typedef enum {
    MI_BRIDGE_NONE = 0,         /* byte consumed, nothing completed */
    MI_BRIDGE_FRAME = 1,        /* a valid frame is in *out */
    MI_BRIDGE_ERR_OVERSIZE = 2, /* decoded frame longer than MI_BRIDGE_MAX_FRAME */
    MI_BRIDGE_ERR_COBS = 3,     /* a COBS code byte points past the delimiter */
    MI_BRIDGE_ERR_SHORT = 4,    /* shorter than header + CRC */
    MI_BRIDGE_ERR_CRC = 5,      /* CRC-32 mismatch */
    MI_BRIDGE_ERR_VERSION = 6,  /* protocol version not understood */
    MI_BRIDGE_ERR_LENGTH = 7,   /* body_len disagrees with the frame length */
    MI_BRIDGE_ERR_TYPE = 8,     /* unknown message type */
    MI_BRIDGE_ERR_BODY = 9,     /* body size/content wrong for its type */
    MI_BRIDGE_ERR_AUTH = 10     /* key set: MAC missing or wrong (MI_BRIDGE_WITH_MAC) */
} mi_bridge_status_t;

typedef struct {
    uint8_t version;
    uint8_t type;          /* MAC flag removed */
    uint8_t authenticated; /* 1 when the decoder's key verified the frame's MAC */
    uint32_t session;
    uint32_t seq;
    uint32_t timestamp_ms;
    uint8_t body_len;
    const uint8_t *body; /* points into the decoder; valid until the next feed */
} mi_bridge_frame_t;

typedef struct {
    uint8_t buf[MI_BRIDGE_MAX_FRAME];
    uint8_t len;        /* decoded bytes stored */
    uint8_t block_left; /* data bytes still expected in the current COBS block */
    uint8_t code;       /* current COBS code byte, 0 before the first byte of a frame */
    uint8_t overflow;   /* 1 once the decoded frame exceeded the buffer */
#ifdef MI_BRIDGE_WITH_MAC
    const uint8_t *key; /* 16 bytes, or NULL: MACs are not required (set after init) */
#endif
} mi_bridge_decoder_t;

/* CRC-32/IEEE (zlib): start with crc = 0, chain calls; check value 0xCBF43926. */
uint32_t mi_bridge_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* COBS-encode len bytes into dst (no delimiter). Returns bytes written, 0 if cap too small. */
size_t mi_bridge_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

/* Build a complete frame (COBS + trailing 0x00) into dst. Returns its size, 0 on error.
 * key: NULL, or 16 bytes to append a SipHash-2-4 MAC (needs MI_BRIDGE_WITH_MAC, else error). */
size_t mi_bridge_encode_frame(uint8_t type, uint32_t session, uint32_t seq, uint32_t timestamp_ms,
                              const uint8_t *body, uint8_t body_len, const uint8_t *key,
                              uint8_t *dst, size_t cap);

#ifdef MI_BRIDGE_WITH_MAC
/* SipHash-2-4 of len bytes under a 16-byte key; the 8-byte tag (little-endian) into out. */
void mi_bridge_siphash24(const uint8_t *key, const uint8_t *data, size_t len, uint8_t out[8]);
#endif

void mi_bridge_decoder_init(mi_bridge_decoder_t *d);
/* Feed one byte. Returns MI_BRIDGE_NONE, MI_BRIDGE_FRAME (then *out is filled) or an error,
 * which is reported once, at the 0x00 that ends the bad frame. */
mi_bridge_status_t mi_bridge_decoder_feed(mi_bridge_decoder_t *d, uint8_t byte,
                                          mi_bridge_frame_t *out);
const char *mi_bridge_status_name(mi_bridge_status_t status);

/* Watchdog: expired until fed, and when more than timeout_ms passed since the last feed.
 * Times are millis() values; wrap-around is handled. */
typedef struct {
    uint32_t last_ms;
    uint16_t timeout_ms;
    uint8_t armed;
} mi_bridge_watchdog_t;

void mi_bridge_watchdog_init(mi_bridge_watchdog_t *w, uint16_t timeout_ms);
void mi_bridge_watchdog_feed(mi_bridge_watchdog_t *w, uint32_t now_ms);
uint8_t mi_bridge_watchdog_expired(const mi_bridge_watchdog_t *w, uint32_t now_ms);

typedef enum { MI_BRIDGE_STATE_SAFE = 0, MI_BRIDGE_STATE_LINKED = 1 } mi_bridge_state_t;

typedef enum {
    MI_BRIDGE_SAFE_NONE = 0,
    MI_BRIDGE_SAFE_BOOT = 1,
    MI_BRIDGE_SAFE_STOP = 2,
    MI_BRIDGE_SAFE_FAULT = 3,
    MI_BRIDGE_SAFE_TIMEOUT = 4,
    MI_BRIDGE_SAFE_VERSION = 5,
    MI_BRIDGE_SAFE_MODEL = 6 /* a HELLO announced another class hash than the one expected */
} mi_bridge_safe_reason_t;

#ifndef MI_BRIDGE_DRIFT_SHIFT
#define MI_BRIDGE_DRIFT_SHIFT 7
#endif
/* A HELLO is age-checked while the session was heard within this time (host reboot > 10 s). */
#ifndef MI_BRIDGE_CLOCK_FORGET_MS
#define MI_BRIDGE_CLOCK_FORGET_MS 10000UL
#endif

/* Receiver rules of PROTOCOL.md section 5 (twin of firmware_bridge.receiver.Receiver). */
typedef struct {
    mi_bridge_decoder_t decoder;
    mi_bridge_watchdog_t link;     /* fed by every used frame */
    mi_bridge_watchdog_t decision; /* fed by every used DECISION */
    uint32_t expected_class_hash;  /* 0 = accept any model */
    uint32_t session;              /* of the last accepted HELLO */
    uint32_t last_seq;
    uint32_t host_ref, local_ref;  /* host clock reference: host timestamp at local time */
    uint32_t heard_ms;             /* local time the current session last passed the checks */
    uint8_t state;                 /* mi_bridge_state_t */
    uint8_t safe_reason;           /* mi_bridge_safe_reason_t */
    int16_t command;               /* class index to act on, -1 = neutral */
    uint8_t confidence;            /* of the last DECISION, 255 = 1.0 */
    uint8_t fault_reason;
    uint8_t n_classes;             /* from HELLO */
    uint8_t has_session;
    uint32_t lost, stale, old, foreign, rejected, ignored;
} mi_bridge_receiver_t;

void mi_bridge_receiver_init(mi_bridge_receiver_t *r, uint16_t timeout_ms);
/* CRC-32 of the class names joined by '\n' that the firmware was built for; 0 accepts any. */
void mi_bridge_receiver_set_class_hash(mi_bridge_receiver_t *r, uint32_t class_hash);
#ifdef MI_BRIDGE_WITH_MAC
/* Require a SipHash-2-4 MAC under this 16-byte key (kept by pointer); NULL: not required. */
void mi_bridge_receiver_set_key(mi_bridge_receiver_t *r, const uint8_t *key);
#endif
/* Decode one byte and apply the rules; returns the decoder status of that byte. */
mi_bridge_status_t mi_bridge_receiver_feed(mi_bridge_receiver_t *r, uint8_t byte,
                                           uint32_t now_ms);
void mi_bridge_receiver_on_frame(mi_bridge_receiver_t *r, const mi_bridge_frame_t *f,
                                 uint32_t now_ms);
void mi_bridge_receiver_on_error(mi_bridge_receiver_t *r, mi_bridge_status_t status);
/* Call often (every loop): heartbeat watchdog and command expiry. */
void mi_bridge_receiver_tick(mi_bridge_receiver_t *r, uint32_t now_ms);
/* Class index to act on, or -1 for the neutral/safe output. */
int16_t mi_bridge_receiver_command(const mi_bridge_receiver_t *r);

/* ---- ASCII mode (PROTOCOL.md section 8): one line at a time, caller's buffer, no malloc ---- */
typedef enum {
    MI_BRIDGE_ASCII_OK = 0,
    MI_BRIDGE_ASCII_EMPTY = 1,      /* nothing but NUL/CR/LF: skip it */
    MI_BRIDGE_ASCII_TOO_LONG = 2,   /* longer than MI_BRIDGE_ASCII_MAX_LINE */
    MI_BRIDGE_ASCII_SYNTAX = 3,     /* not a line of section 8 */
    MI_BRIDGE_ASCII_CONFIDENCE = 4  /* a decision whose confidence is above 1.00 */
} mi_bridge_ascii_status_t;

typedef enum {
    MI_BRIDGE_ASCII_DECISION = 1, /* label + confidence */
    MI_BRIDGE_ASCII_HOLD = 2,     /* "-" (legacy "- 0.41" accepted; its confidence is kept) */
    MI_BRIDGE_ASCII_HELLO = 3,    /* text = "L=left R=right" */
    MI_BRIDGE_ASCII_HEARTBEAT = 4,
    MI_BRIDGE_ASCII_FAULT = 5,    /* text = reason name */
    MI_BRIDGE_ASCII_STOP = 6
} mi_bridge_ascii_kind_t;

#define MI_BRIDGE_ASCII_MAX_LINE 80u
#define MI_BRIDGE_ASCII_MAX_LABEL 8u

typedef struct {
    uint8_t kind;                                /* mi_bridge_ascii_kind_t */
    uint8_t confidence_centi;                    /* 0..100 (decision / legacy hold) */
    char label[MI_BRIDGE_ASCII_MAX_LABEL + 1u];  /* NUL-terminated; "-" for HOLD */
    const char *text;                            /* into the caller's line (HELLO, FAULT) */
    uint8_t text_len;
} mi_bridge_ascii_line_t;

/* Parse one line of len bytes (the '\n' excluded; leading NUL/CR and a trailing CR are
 * skipped). The line is not modified; out->text points into it. */
mi_bridge_ascii_status_t mi_bridge_ascii_parse(const char *line, size_t len,
                                               mi_bridge_ascii_line_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MI_BRIDGE_H */
