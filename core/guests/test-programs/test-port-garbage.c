/*
 * test-port-garbage: a hostile guest on the PC machine (`enlight run
 * --machine pc`). It writes every byte value to every port of every
 * emulated device (COM1, the i8042, the CMOS RTC, port 0x80, the ACPI PM
 * block, the reset register), at 1, 2 and 4 bytes, and reads every port at
 * every size; then checks each device still answers as it should. The only
 * values it leaves out are the documented machine-ending ones (docs/
 * machine-devices.md): S5 through PM1_CNT, RST_CPU at 0xCF9, the i8042's
 * reset pulses and an output-port write with the reset line low. Those are
 * what they are documented to be; everything else must leave enlight
 * running and the machine sane. Reports metric ports_survived = 1.
 */
#include <enlight_guest/guest.h>

/* The ports of core/machine/include/enlight/machine/layout.hpp (C++). */


static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory"); }
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
  return v;
}

#define COM1 0x3F8u
#define I8042_DATA 0x60u
#define I8042_CMD 0x64u
#define CMOS_INDEX 0x70u
#define CMOS_DATA 0x71u
#define POST 0x80u
#define PM_BASE 0x600u
#define PM1_CNT_HIGH 0x605u
#define PM_TMR 0x608u
#define RESET 0xCF9u

static const uint16_t kPorts[] = {
    COM1, COM1 + 1, COM1 + 2, COM1 + 3, COM1 + 4, COM1 + 5, COM1 + 6, COM1 + 7,
    I8042_DATA, I8042_CMD, CMOS_INDEX, CMOS_DATA, POST,
    PM_BASE, PM_BASE + 1, PM_BASE + 2, PM_BASE + 3, PM_BASE + 4, PM_BASE + 5, PM_BASE + 6, PM_BASE + 7,
    PM_TMR, PM_TMR + 1, PM_TMR + 2, PM_TMR + 3, RESET,
};
#define PORT_COUNT (sizeof kPorts / sizeof kPorts[0])

/* Whether writing `byte` at `port` is a documented end of the machine. */
static bool ends_machine(uint16_t port, uint8_t byte) {
  if (port == PM1_CNT_HIGH) return (byte & 0x20) != 0 && ((byte >> 2) & 7) == 5; /* SLP_EN with SLP_TYP = S5 */
  if (port == RESET) return (byte & 0x04) != 0;                                    /* RST_CPU */
  if (port == I8042_CMD) return byte >= 0xF0 && (byte & 1) == 0;                  /* pulse the reset line */
  return false;
}

/* A write of `size` bytes at `port`: refused if any byte it covers, as the
 * devices split it (little-endian, byte by byte), would end the machine. */
static bool wide_ends_machine(uint16_t port, uint32_t value, unsigned size) {
  for (unsigned i = 0; i < size; ++i)
    if (ends_machine((uint16_t)(port + i), (uint8_t)(value >> (8 * i)))) return true;
  return false;
}

/* After an i8042 command, its parameter byte (if it takes one) must not
 * drive the reset line low: 0xD1 writes the output port, whose bit 0 is it. */
static void after_i8042_command(void) { outb(I8042_DATA, 0xFF); }

static uint32_t lcg = 0x12345678u;
static uint32_t next_random(void) {
  lcg = lcg * 1664525u + 1013904223u;
  return lcg;
}

int main(void) {
  uint32_t writes = 0, reads = 0;
  for (unsigned p = 0; p < PORT_COUNT; ++p) {
    const uint16_t port = kPorts[p];
    for (unsigned v = 0; v < 256; ++v) {
      if (ends_machine(port, (uint8_t)v)) continue;
      outb(port, (uint8_t)v);
      ++writes;
      if (port == I8042_CMD) after_i8042_command();
      if (port == CMOS_INDEX) outb(CMOS_DATA, (uint8_t)next_random()); /* a garbage byte at every index */
    }
    /* Wide writes: 64 random values at each size. */
    for (unsigned i = 0; i < 64; ++i) {
      const uint32_t v = next_random();
      if (!wide_ends_machine(port, v, 2)) {
        outw(port, (uint16_t)v);
        ++writes;
        if (port == I8042_CMD) after_i8042_command();
      }
      if (!wide_ends_machine(port, v, 4)) {
        outl(port, v);
        ++writes;
        if (port == I8042_CMD) after_i8042_command();
      }
    }
    (void)inb(port);
    (void)inw(port);
    (void)inl(port);
    reads += 3;
  }
  METRIC("writes", writes);
  METRIC("reads", reads);

  /* Every device still answers. */
  outb(COM1 + 3, 0x03); /* LCR: 8N1, DLAB off */
  outb(COM1 + 4, 0x00); /* MCR: no loopback */
  outb(COM1 + 7, 0x5A);
  CHECK_EQ("com1.scratch_reads_back", 0x5A, inb(COM1 + 7));
  CHECK_NE("com1.lsr_not_all_ones", 0xFF, inb(COM1 + 5));
  CHECK_EQ("com1.thr_empty", 0x60, inb(COM1 + 5) & 0x60);

  for (int i = 0; i < 16 && (inb(I8042_CMD) & 1); ++i) (void)inb(I8042_DATA); /* drain the output buffer */
  outb(I8042_CMD, 0xAA);
  CHECK_EQ("i8042.self_test", 0x55, inb(I8042_DATA));
  CHECK_EQ("i8042.input_buffer_empty", 0, inb(I8042_CMD) & 2);

  outb(CMOS_INDEX, 0x0B);
  outb(CMOS_DATA, 0x02); /* 24 h, BCD, SET clear: the clock runs from the host's time again */
  outb(CMOS_INDEX, 0x0D);
  CHECK_EQ("cmos.register_d_valid", 0x80, inb(CMOS_DATA));

  CHECK_EQ("pm1_cnt.sci_en", 1, inw(PM_BASE + 4) & 1);
  const uint32_t t0 = inl(PM_TMR) & 0xFFFFFF;
  uint32_t t1 = t0;
  for (int i = 0; i < 1000000 && t1 == t0; ++i) t1 = inl(PM_TMR) & 0xFFFFFF;
  CHECK_NE("pm_timer.counts", t0, t1);

  METRIC("ports_survived", guest_checks_failed() == 0 ? 1 : 0);
  return (int)guest_checks_failed();
}
