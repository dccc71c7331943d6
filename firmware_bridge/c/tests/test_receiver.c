/* Host tests: watchdog (with millis() wrap-around) and the receiver rules. */
#include "../mi_bridge.h"
#include "check.h"

static uint32_t session = 1;

static void send(mi_bridge_receiver_t *r, uint8_t type, uint32_t seq, const uint8_t *body,
                 uint8_t len, uint32_t now)
{
    uint8_t frame[120];
    size_t n = mi_bridge_encode_frame(type, session, seq, now, body, len, NULL, frame,
                                      sizeof frame), i;
    for (i = 0; i < n; i++) {
        mi_bridge_receiver_feed(r, frame[i], now);
    }
}

int main(void)
{
    mi_bridge_watchdog_t w;
    mi_bridge_receiver_t r;
    uint8_t go_left[3] = {0, 200, 0}, go_right[3] = {1, 200, 0}, hold[3] = {1, 90, 1};
    uint8_t bad_class[3] = {7, 200, 0}, fault = 1;
    /* hello: 4 Hz, 250 ms heartbeat, 2 classes, hash only */
    uint8_t hello[9] = {0x90, 0x01, 0xFA, 0x00, 2, 0, 0, 0, 0};

    mi_bridge_watchdog_init(&w, 100);
    CHECK(mi_bridge_watchdog_expired(&w, 0));
    mi_bridge_watchdog_feed(&w, 0xFFFFFFC0UL); /* 64 ms before millis() wraps */
    CHECK(!mi_bridge_watchdog_expired(&w, 0xFFFFFFFFUL));
    CHECK(!mi_bridge_watchdog_expired(&w, 36));  /* 100 ms later, across the wrap */
    CHECK(mi_bridge_watchdog_expired(&w, 37));   /* 101 ms */

    mi_bridge_receiver_init(&r, 500);
    CHECK(r.state == MI_BRIDGE_STATE_SAFE && r.safe_reason == MI_BRIDGE_SAFE_BOOT);
    CHECK(mi_bridge_receiver_command(&r) == -1);
    send(&r, MI_BRIDGE_MSG_HELLO, 10, hello, 9, 1000);
    CHECK(r.state == MI_BRIDGE_STATE_LINKED && r.n_classes == 2);
    send(&r, MI_BRIDGE_MSG_DECISION, 11, go_left, 3, 1100);
    CHECK(mi_bridge_receiver_command(&r) == 0);
    send(&r, MI_BRIDGE_MSG_DECISION, 14, go_right, 3, 1200); /* 2 lost, still used */
    CHECK(mi_bridge_receiver_command(&r) == 1 && r.lost == 2);
    send(&r, MI_BRIDGE_MSG_DECISION, 12, go_left, 3, 1250); /* stale: dropped */
    CHECK(mi_bridge_receiver_command(&r) == 1 && r.stale == 1);
    send(&r, MI_BRIDGE_MSG_DECISION, 15, hold, 3, 1300);
    CHECK(mi_bridge_receiver_command(&r) == -1);
    send(&r, MI_BRIDGE_MSG_DECISION, 16, bad_class, 3, 1350);
    CHECK(mi_bridge_receiver_command(&r) == -1 && r.ignored == 1);
    send(&r, MI_BRIDGE_MSG_DECISION, 17, go_right, 3, 1400);
    /* heartbeats keep the link, but the command expires 500 ms after its decision */
    send(&r, MI_BRIDGE_MSG_HEARTBEAT, 18, 0, 0, 1700);
    mi_bridge_receiver_tick(&r, 1900);
    CHECK(mi_bridge_receiver_command(&r) == 1);
    mi_bridge_receiver_tick(&r, 1901);
    CHECK(mi_bridge_receiver_command(&r) == -1 && r.state == MI_BRIDGE_STATE_LINKED);
    /* silence: safe after the timeout; only a HELLO re-links */
    mi_bridge_receiver_tick(&r, 2201);
    CHECK(r.state == MI_BRIDGE_STATE_SAFE && r.safe_reason == MI_BRIDGE_SAFE_TIMEOUT);
    send(&r, MI_BRIDGE_MSG_DECISION, 19, go_left, 3, 2300);
    CHECK(mi_bridge_receiver_command(&r) == -1 && r.ignored == 2);
    send(&r, MI_BRIDGE_MSG_HELLO, 20, hello, 9, 2300);
    send(&r, MI_BRIDGE_MSG_DECISION, 21, go_left, 3, 2300);
    CHECK(mi_bridge_receiver_command(&r) == 0);
    /* fault: safe, decisions ignored until HELLO */
    send(&r, MI_BRIDGE_MSG_FAULT, 22, &fault, 1, 2400);
    CHECK(r.safe_reason == MI_BRIDGE_SAFE_FAULT && r.fault_reason == 1);
    send(&r, MI_BRIDGE_MSG_DECISION, 23, go_left, 3, 2450);
    CHECK(mi_bridge_receiver_command(&r) == -1 && r.ignored == 3);
    session = 2; /* a new session: its own sequence */
    send(&r, MI_BRIDGE_MSG_HELLO, 0, hello, 9, 2500);
    send(&r, MI_BRIDGE_MSG_DECISION, 1, go_left, 3, 2550);
    CHECK(mi_bridge_receiver_command(&r) == 0);
    send(&r, MI_BRIDGE_MSG_STOP, 2, 0, 0, 2600);
    CHECK(r.safe_reason == MI_BRIDGE_SAFE_STOP && mi_bridge_receiver_command(&r) == -1);
    return CHECK_DONE("test_receiver");
}
