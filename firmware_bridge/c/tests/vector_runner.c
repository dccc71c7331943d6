/*
 * vector_runner: drives the C decoder and receiver from the Python tests.
 *
 *   vector_runner decode          stdin: records "u32 LE length, bytes"; a fresh decoder per
 *                                 record; prints one line per frame/rejection, "." per record
 *   vector_runner receive T_MS    stdin: script lines "t <ms>" (tick) and "x <hex>" (bytes at
 *                                 the current time); prints the receiver state after each line
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
        printf("F %u %u %u %lu ", f->version, f->type, f->seq, (unsigned long)f->timestamp_ms);
        if (f->body_len == 0) {
            putchar('-');
        }
        for (i = 0; i < f->body_len; i++) {
            printf("%02x", f->body[i]);
        }
        putchar('\n');
    } else if (st != MI_BRIDGE_NONE) {
        printf("R %s\n", mi_bridge_status_name(st));
    }
}

static int run_decode(void)
{
    unsigned char hdr[4];
    static mi_bridge_decoder_t d;
    mi_bridge_frame_t f;
    while (fread(hdr, 1, 4, stdin) == 4) {
        unsigned long n = hdr[0] | (hdr[1] << 8) | ((unsigned long)hdr[2] << 16) |
                          ((unsigned long)hdr[3] << 24);
        mi_bridge_decoder_init(&d);
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
    static const char *names[] = {"none", "boot", "stop", "fault", "timeout", "version"};
    return r < 6 ? names[r] : "?";
}

static int run_receive(uint16_t timeout_ms)
{
    static char line[8192];
    static mi_bridge_receiver_t r;
    unsigned long now = 0;
    mi_bridge_receiver_init(&r, timeout_ms);
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
        printf("%s %s %d %lu %lu %lu %lu\n", state_name(r.state), reason_name(r.safe_reason),
               r.command, (unsigned long)r.lost, (unsigned long)r.stale,
               (unsigned long)r.rejected, (unsigned long)r.ignored);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) {
        return run_decode();
    }
    if (argc >= 3 && strcmp(argv[1], "receive") == 0) {
        return run_receive((uint16_t)atoi(argv[2]));
    }
    fprintf(stderr, "usage: vector_runner decode | vector_runner receive TIMEOUT_MS\n");
    return 2;
}
