// mi-edge receiver for Arduino Uno: drives two outputs from BCI decisions, safe on silence.
// Copy mi_bridge.h and mi_bridge.c next to this file (Sketch > Add File...). Protocol:
// firmware_bridge/PROTOCOL.md. Host side: `mi-bridge emulate` shows what this sketch sees.
extern "C" {
#include "mi_bridge.h"
}

const uint16_t HEARTBEAT_TIMEOUT_MS = 500;  // safe after 0.5 s without a valid frame
const uint8_t PIN_LEFT = 5, PIN_RIGHT = 6;  // class 0 -> LEFT, class 1 -> RIGHT
const uint8_t PIN_SAFE_LED = LED_BUILTIN;   // on while the device is in its safe state

mi_bridge_receiver_t rx;

void setup() {
  pinMode(PIN_LEFT, OUTPUT);
  pinMode(PIN_RIGHT, OUTPUT);
  pinMode(PIN_SAFE_LED, OUTPUT);
  Serial.begin(115200);
  mi_bridge_receiver_init(&rx, HEARTBEAT_TIMEOUT_MS);
}

void loop() {
  uint32_t now = millis();
  mi_bridge_receiver_tick(&rx, now);        // watchdog: safe after the timeout
  while (Serial.available() > 0) {
    mi_bridge_receiver_feed(&rx, (uint8_t)Serial.read(), now);  // bad frames are dropped
  }
  int16_t command = mi_bridge_receiver_command(&rx);  // -1: neutral (safe, hold, expired)
  digitalWrite(PIN_LEFT, command == 0 ? HIGH : LOW);
  digitalWrite(PIN_RIGHT, command == 1 ? HIGH : LOW);
  digitalWrite(PIN_SAFE_LED, rx.state == MI_BRIDGE_STATE_SAFE ? HIGH : LOW);
}
