/*
 * Bare-metal ATmega328P receiver (no Arduino core): the size reference for `make avr`.
 * UART0 at 115200 baud (16 MHz, U2X), Timer0 millisecond clock, output on PB5 (pin 13):
 * high while the receiver commands class 0, low otherwise (safe/neutral).
 * Built twice by `make avr`: plain, and with -DMI_BRIDGE_WITH_MAC and a key (size of the MAC).
 */
#include <avr/interrupt.h>
#include <avr/io.h>

#include "../../mi_bridge.h"

static volatile uint32_t ms_ticks;

ISR(TIMER0_COMPA_vect) { ms_ticks++; }

static uint32_t millis_now(void)
{
    uint32_t t;
    uint8_t sreg = SREG;
    cli();
    t = ms_ticks;
    SREG = sreg;
    return t;
}

int main(void)
{
    static mi_bridge_receiver_t rx;
#ifdef MI_BRIDGE_WITH_MAC
    static const uint8_t key[MI_BRIDGE_KEY_SIZE] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                                   0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
#endif
    mi_bridge_receiver_init(&rx, 500);
    mi_bridge_receiver_set_class_hash(&rx, 0xe375b408UL); /* CRC-32 of "left\nright" */
#ifdef MI_BRIDGE_WITH_MAC
    mi_bridge_receiver_set_key(&rx, key);
#endif
    UCSR0A = _BV(U2X0);
    UBRR0 = 16; /* 115200 baud at 16 MHz with U2X */
    UCSR0B = _BV(RXEN0);
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
    TCCR0A = _BV(WGM01);             /* CTC */
    TCCR0B = _BV(CS01) | _BV(CS00);  /* /64 */
    OCR0A = 249;                     /* 1 ms */
    TIMSK0 = _BV(OCIE0A);
    DDRB |= _BV(PB5);
    sei();
    for (;;) {
        uint32_t now = millis_now();
        mi_bridge_receiver_tick(&rx, now);
        while (UCSR0A & _BV(RXC0)) {
            mi_bridge_receiver_feed(&rx, UDR0, now);
        }
        if (mi_bridge_receiver_command(&rx) == 0) {
            PORTB |= _BV(PB5);
        } else {
            PORTB &= (uint8_t)~_BV(PB5);
        }
    }
}
