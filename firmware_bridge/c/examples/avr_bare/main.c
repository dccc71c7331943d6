/*
 * Bare-metal ATmega328P receiver (no Arduino core): the size reference for `make avr`.
 * UART0 at 115200 baud (16 MHz, U2X), Timer0 millisecond clock, output on PB5 (pin 13):
 * high while the receiver commands class 0, low otherwise (safe/neutral).
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
    mi_bridge_receiver_init(&rx, 500);
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
