/*
 * vector_runner: drives the C decoder and receiver from the Python tests.
 *
 *   vector_runner decode          stdin: records "u32 LE length, bytes"; a fresh decoder per
 *                                 record; prints one line per frame/rejection, "." per record
 *   vector_runner decode [KEYHEX]  as above; with a 32-hex-digit key, MACs are required
 *   vector_runner receive T_MS [HASH [KEYHEX]]
 *                                 stdin: script lines "t <ms>" (tick) and "x <hex>" (bytes at
 *                                 the current time); prints the receiver state after each line.
 *                                 HASH: expected class hash (0 = any); KEYHEX: MAC key
 *   vector_runner ascii           stdin: records as for decode, each one line; prints its parse
 *
 * Line formats are those of firmware_bridge.decoder.describe and Receiver.status_line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../mi_bridge.h"

static void print_event(mi_bridge_status_t st, const mi_bridge_frame_t *f)
{
    uint8_t i;
    if (st == MI_BRIDGE_FRAME) {
        printf("F %u %u %lu %lu %lu ", f->version, f->type, (unsigned long)f->session,
               (unsigned long)f->seq, (unsigned long)f->timestamp_ms);
        if (f->body_len == 0) {
            putchar('-');
        }
        for (i = 0; i < f->body_len; i++) {
            printf("%02x", f->body[i]);
        }
        puts(f->authenticated ? " A" : "");
    } else if (st != MI_BRIDGE_NONE) {
        printf("R %s\n", mi_bridge_status_name(st));
    }
}

static uint8_t key_buf[MI_BRIDGE_KEY_SIZE];

static const uint8_t *parse_key(const char *hex)
{
    unsigned int i, byte;
    if (hex == NULL || strlen(hex) != 2u * MI_BRIDGE_KEY_SIZE) {
        return NULL;
    }
    for (i = 0; i < MI_BRIDGE_KEY_SIZE; i++) {
        if (sscanf(hex + 2u * i, "%2x", &byte) != 1) {
            return NULL;
        }
        key_buf[i] = (uint8_t)byte;
    }
    return key_buf;
}

static int run_decode(const uint8_t *key)
{
    unsigned char hdr[4];
    static mi_bridge_decoder_t d;
    mi_bridge_frame_t f;
    while (fread(hdr, 1, 4, stdin) == 4) {
        unsigned long n = hdr[0] | (hdr[1] << 8) | ((unsigned long)hdr[2] << 16) |
                          ((unsigned long)hdr[3] << 24);
        mi_bridge_decoder_init(&d);
        d.key = key;
        while (n--) {
            int c = getchar();
            if (c == EOF) {
                fprintf(stderr, "truncated record\n");
                return 2;
            }
            print_event(mi_bridge_decoder_feed(&d, (uint8_t)c, &f), &f);
        }
        puts(".");
    }
    return 0;
}

static const char *state_name(uint8_t s) { return s == MI_BRIDGE_STATE_LINKED ? "LINKED" : "SAFE"; }

static const char *reason_name(uint8_t r)
{
    static const char *names[] = {"none", "boot", "stop", "fault", "timeout", "version", "model"};
    return r < 7 ? names[r] : "?";
}

static int run_receive(uint16_t timeout_ms, uint32_t class_hash, const uint8_t *key)
{
    static char line[8192];
    static mi_bridge_receiver_t r;
    unsigned long now = 0;
    mi_bridge_receiver_init(&r, timeout_ms);
    mi_bridge_receiver_set_class_hash(&r, class_hash);
    mi_bridge_receiver_set_key(&r, key);
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 't') {
            now = strtoul(line + 2, NULL, 10);
            mi_bridge_receiver_tick(&r, (uint32_t)now);
        } else if (line[0] == 'x') {
            const char *p = line + 2;
            unsigned int byte;
            while (sscanf(p, "%2x", &byte) == 1) {
                mi_bridge_receiver_feed(&r, (uint8_t)byte, (uint32_t)now);
                p += 2;
            }
        } else {
            continue;
        }
        printf("%s %s %d %lu %lu %lu %lu %lu %lu\n", state_name(r.state),
               reason_name(r.safe_reason), r.command, (unsigned long)r.lost,
               (unsigned long)r.stale, (unsigned long)r.old, (unsigned long)r.foreign,
               (unsigned long)r.rejected, (unsigned long)r.ignored);
    }
    return 0;
}

static int run_ascii(void)
{
    static const char *status_names[] = {"OK", "EMPTY", "TOO_LONG", "SYNTAX", "CONFIDENCE"};
    static const char *kind_names[] = {"?", "decision", "hold", "hello", "heartbeat", "fault",
                                       "stop"};
    static char line[4096];
    unsigned char hdr[4];
    mi_bridge_ascii_line_t out;
    while (fread(hdr, 1, 4, stdin) == 4) {
        unsigned long n = hdr[0] | (hdr[1] << 8) | ((unsigned long)hdr[2] << 16) |
                          ((unsigned long)hdr[3] << 24);
        mi_bridge_ascii_status_t st;
        if (n > sizeof line || fread(line, 1, n, stdin) != n) {
            fprintf(stderr, "bad record\n");
            return 2;
        }
        st = mi_bridge_ascii_parse(line, n, &out);
        if (st != MI_BRIDGE_ASCII_OK) {
            puts(status_names[st]);
        } else if (out.kind == MI_BRIDGE_ASCII_DECISION || out.kind == MI_BRIDGE_ASCII_HOLD) {
            printf("OK %s %s %u\n", kind_names[out.kind], out.label, out.confidence_centi);
        } else if (out.text_len > 0) {
            printf("OK %s %.*s\n", kind_names[out.kind], (int)out.text_len, out.text);
        } else {
            printf("OK %s\n", kind_names[out.kind]);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) {
        return run_decode(parse_key(argc >= 3 ? argv[2] : NULL));
    }
    if (argc >= 3 && strcmp(argv[1], "receive") == 0) {
        return run_receive((uint16_t)atoi(argv[2]),
                           argc >= 4 ? (uint32_t)strtoul(argv[3], NULL, 0) : 0u,
                           parse_key(argc >= 5 ? argv[4] : NULL));
    }
    if (argc >= 2 && strcmp(argv[1], "ascii") == 0) {
        return run_ascii();
    }
    fprintf(stderr, "usage: vector_runner decode [KEYHEX] | receive TIMEOUT_MS [HASH [KEYHEX]]"
                    " | ascii\n");
    return 2;
}
