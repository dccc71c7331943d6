"""Serial protocol between the mi-edge runtime and the microcontroller that drives the device."""
