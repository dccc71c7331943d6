/* Host tests: CRC-32 check value, COBS encoding, frame encode/decode, every rejection. */
#include <string.h>

#include "../mi_bridge.h"
#include "check.h"

static mi_bridge_status_t feed_all(mi_bridge_decoder_t *d, const uint8_t *p, size_t n,
                                   mi_bridge_frame_t *f)
{
    mi_bridge_status_t last = MI_BRIDGE_NONE, st;
    size_t i;
    for (i = 0; i < n; i++) {
        st = mi_bridge_decoder_feed(d, p[i], f);
        if (st != MI_BRIDGE_NONE) {
            last = st;
        }
    }
    return last;
}

int main(void)
{
    static const uint8_t check_in[] = "123456789";
    static const uint8_t zeros[3] = {0, 0, 0};
    static const uint8_t mixed[4] = {0x11, 0x00, 0x22, 0x00};
    uint8_t enc[300], raw[300], frame[120];
    uint8_t body[3] = {1, 222, 0};
    mi_bridge_decoder_t d;
    mi_bridge_frame_t f;
    size_t n, i;

    CHECK(mi_bridge_crc32(0, check_in, 9) == 0xCBF43926UL);
    CHECK(mi_bridge_crc32(mi_bridge_crc32(0, check_in, 4), check_in + 4, 5) == 0xCBF43926UL);

    n = mi_bridge_cobs_encode(zeros, 3, enc, sizeof enc);
    CHECK(n == 4 && enc[0] == 1 && enc[1] == 1 && enc[2] == 1 && enc[3] == 1);
    n = mi_bridge_cobs_encode(mixed, 4, enc, sizeof enc);
    CHECK(n == 5 && enc[0] == 2 && enc[1] == 0x11 && enc[2] == 2 && enc[3] == 0x22 && enc[4] == 1);
    for (i = 0; i < 254; i++) {
        raw[i] = (uint8_t)(i + 1);
    }
    n = mi_bridge_cobs_encode(raw, 254, enc, sizeof enc);
    CHECK(n == 256 && enc[0] == 0xFF && enc[255] == 1);
    CHECK(mi_bridge_cobs_encode(raw, 254, enc, 10) == 0);

    /* round trip */
    n = mi_bridge_encode_frame(MI_BRIDGE_MSG_DECISION, 0xA5A5A5A5UL, 0xFFFFFFFFUL, 0xFFFFFFFFUL,
                               body, 3, NULL, frame, sizeof frame);
    CHECK(n > 0 && frame[n - 1] == 0);
    for (i = 0; i + 1 < n; i++) {
        CHECK(frame[i] != 0);
    }
    mi_bridge_decoder_init(&d);
    CHECK(feed_all(&d, frame, n, &f) == MI_BRIDGE_FRAME);
    CHECK(f.version == 2 && f.type == MI_BRIDGE_MSG_DECISION && f.seq == 0xFFFFFFFFUL);
    CHECK(f.session == 0xA5A5A5A5UL && !f.authenticated);
    CHECK(f.timestamp_ms == 0xFFFFFFFFUL && f.body_len == 3 && memcmp(f.body, body, 3) == 0);

    /* a flipped bit is a CRC error, and the next frame is decoded again */
    frame[5] ^= 0x10;
    CHECK(feed_all(&d, frame, n, &f) == MI_BRIDGE_ERR_CRC);
    frame[5] ^= 0x10;
    CHECK(feed_all(&d, frame, n, &f) == MI_BRIDGE_FRAME);

    /* garbage before a frame: one rejection at the first delimiter, then the frame */
    CHECK(mi_bridge_decoder_feed(&d, 0x05, &f) == MI_BRIDGE_NONE);
    CHECK(mi_bridge_decoder_feed(&d, 0x00, &f) == MI_BRIDGE_ERR_COBS);
    CHECK(mi_bridge_decoder_feed(&d, 0x00, &f) == MI_BRIDGE_NONE); /* empty run: ignored */
    CHECK(mi_bridge_decoder_feed(&d, 0x01, &f) == MI_BRIDGE_NONE);
    CHECK(mi_bridge_decoder_feed(&d, 0x00, &f) == MI_BRIDGE_ERR_SHORT);

    /* unknown type, bad body, oversize */
    n = mi_bridge_encode_frame(9, 7, 1, 2, body, 3, NULL, frame, sizeof frame);
    CHECK(feed_all(&d, frame, n, &f) == MI_BRIDGE_ERR_TYPE);
    n = mi_bridge_encode_frame(MI_BRIDGE_MSG_DECISION, 7, 1, 2, body, 2, NULL, frame, sizeof frame);
    CHECK(feed_all(&d, frame, n, &f) == MI_BRIDGE_ERR_BODY);
    body[2] = 0x80;
    n = mi_bridge_encode_frame(MI_BRIDGE_MSG_DECISION, 7, 1, 2, body, 3, NULL, frame, sizeof frame);
    CHECK(feed_all(&d, frame, n, &f) == MI_BRIDGE_ERR_BODY);
    for (i = 0; i < 200; i++) {
        CHECK(mi_bridge_decoder_feed(&d, 0x42, &f) == MI_BRIDGE_NONE);
    }
    CHECK(mi_bridge_decoder_feed(&d, 0x00, &f) == MI_BRIDGE_ERR_OVERSIZE);
    body[2] = 0;
    n = mi_bridge_encode_frame(MI_BRIDGE_MSG_DECISION, 7, 1, 2, body, 3, NULL, frame, sizeof frame);
    CHECK(feed_all(&d, frame, n, &f) == MI_BRIDGE_FRAME);
    CHECK(mi_bridge_encode_frame(MI_BRIDGE_MSG_HELLO, 7, 1, 2, raw, 65, NULL, frame, sizeof frame) == 0);
    return CHECK_DONE("test_codec");
}
