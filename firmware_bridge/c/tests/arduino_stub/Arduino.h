/* Just enough of the Arduino core to type-check the example sketch with avr-g++. */
#ifndef ARDUINO_STUB_H
#define ARDUINO_STUB_H
#include <stdint.h>
#define HIGH 1
#define LOW 0
#define OUTPUT 1
#define LED_BUILTIN 13
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);
unsigned long millis(void);
struct StubSerial {
    void begin(unsigned long baud);
    int available(void);
    int read(void);
};
extern StubSerial Serial;
#endif
