// mi-edge receiver for Arduino Uno: drives two outputs from BCI decisions, safe on silence.
// Copy mi_bridge.h and mi_bridge.c next to this file (Sketch > Add File...). Protocol:
// firmware_bridge/PROTOCOL.md. Host side: `mi-bridge emulate` shows what this sketch sees.
// Optional MAC (Bluetooth serial, radio): add `#define MI_BRIDGE_WITH_MAC` at the top of
// mi_bridge.h (the Arduino IDE has no per-sketch -D flags) and set MAC_KEY to the runtime's key.
extern "C" {
#include "mi_bridge.h"
}

const uint16_t HEARTBEAT_TIMEOUT_MS = 500;  // safe after 0.5 s without a valid frame
// The model this device was built for: CRC-32 of its class names joined by '\n', as printed by
// `python -c "from firmware_bridge.frames import class_hash; print(hex(class_hash(['left',
// 'right'])))"`. A HELLO announcing another class list is refused (SAFE/model).
// 0 accepts any model: only do that if every model's class 0 and 1 mean the same movement.
const uint32_t EXPECTED_CLASS_HASH = 0xe375b408UL;  // "left\nright"
#ifdef MI_BRIDGE_WITH_MAC
const uint8_t MAC_KEY[MI_BRIDGE_KEY_SIZE] = {0};  // replace with your 16-byte pre-shared key
#endif
const uint8_t PIN_LEFT = 5, PIN_RIGHT = 6;  // class 0 -> LEFT, class 1 -> RIGHT
const uint8_t PIN_SAFE_LED = LED_BUILTIN;   // on while the device is in its safe state

mi_bridge_receiver_t rx;

void setup() {
  pinMode(PIN_LEFT, OUTPUT);
  pinMode(PIN_RIGHT, OUTPUT);
  pinMode(PIN_SAFE_LED, OUTPUT);
  Serial.begin(115200);
  mi_bridge_receiver_init(&rx, HEARTBEAT_TIMEOUT_MS);
  mi_bridge_receiver_set_class_hash(&rx, EXPECTED_CLASS_HASH);
#ifdef MI_BRIDGE_WITH_MAC
  mi_bridge_receiver_set_key(&rx, MAC_KEY);
#endif
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
