/*
 * Guest runtime: IDT, exception dispatch with expected faults, console,
 * check records, exit, and the few libc functions the compiler may call.
 * Built with -mgeneral-regs-only: the dispatcher must not touch the XMM
 * registers of the code it interrupted.
 */
#include <enlight_guest/guest.h>

_Static_assert(ENLIGHT_GUEST_STACK_TOP == 0x80000u, "start.S hard-codes GUEST_STACK_TOP");
_Static_assert(ENLIGHT_GUEST_STACK_SIZE == 0x4000u, "start.S hard-codes GUEST_STACK_SIZE");
_Static_assert(GUEST_MAX_VCPUS * ENLIGHT_GUEST_STACK_SIZE <= ENLIGHT_GUEST_STACK_TOP, "stacks must fit above 0");
_Static_assert(sizeof(enlight_guest_record) == 120, "record layout");
_Static_assert(sizeof(guest_frame) == 22 * 8, "frame layout matches start.S");

/* start.S */
extern uint8_t guest_isr_stubs[];
extern uint8_t guest_idt[];
extern uint8_t guest_rdmsr_fault_rip[], guest_rdmsr_resume_rip[];
extern uint8_t guest_wrmsr_fault_rip[], guest_wrmsr_resume_rip[];
uint64_t guest_rdmsr_raw(uint32_t msr);
void guest_wrmsr_raw(uint32_t msr, uint64_t value);

void guest_runtime_init(uint64_t index, uint64_t count, uint64_t run_ms);
void guest_isr_dispatch(guest_frame* frame);
__attribute__((noreturn)) void guest_ap_entry(uint64_t index);
__attribute__((noreturn)) void guest_main_returned(int status);

static uint32_t vcpu_count_;
static uint32_t run_ms_;
/* Per vCPU, one writer each: a shared counter's increment is not atomic
 * between emu vCPUs (see the console lock below). */
static volatile uint32_t checks_failed_[GUEST_MAX_VCPUS];
static volatile uint32_t checks_passed_[GUEST_MAX_VCPUS];

/* The console lock is Lamport's bakery lock: plain loads and stores with
 * full fences, no read-modify-write. The emu backend runs each vCPU on its
 * own Unicorn engine, where a LOCK-prefixed or XCHG read-modify-write is a
 * load and a store that another vCPU's store can fall between: a
 * test-and-set lock whose release landed inside a waiter's XCHG stayed
 * taken forever, and conformance-time on 2 vCPUs hung in guest_printf
 * (seen twice in full ctest runs under load, 2026-12-06: vCPU 1 spinning on
 * a lock word of 1 that no vCPU held). */
static volatile uint32_t console_choosing_[GUEST_MAX_VCPUS];
static volatile uint32_t console_number_[GUEST_MAX_VCPUS];

static void console_lock(void) {
  const uint32_t self = guest_vcpu_index() % GUEST_MAX_VCPUS;
  /* Every slot, not just vcpu_count_: an AP may print before vCPU 0 has
   * stored the count; absent vCPUs' slots stay 0. */
  const uint32_t n = GUEST_MAX_VCPUS;
  console_choosing_[self] = 1;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  uint32_t max = 0;
  for (uint32_t j = 0; j < n; ++j)
    if (console_number_[j] > max) max = console_number_[j];
  console_number_[self] = max + 1;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  console_choosing_[self] = 0;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  for (uint32_t j = 0; j < n; ++j) {
    if (j == self) continue;
    while (console_choosing_[j]) cpu_relax();
    for (;;) {
      __atomic_thread_fence(__ATOMIC_SEQ_CST);
      const uint32_t theirs = console_number_[j], mine = console_number_[self];
      if (theirs == 0 || theirs > mine || (theirs == mine && j > self)) break;
      cpu_relax();
    }
  }
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void console_unlock(void) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  console_number_[guest_vcpu_index() % GUEST_MAX_VCPUS] = 0;
}

/* Per-vCPU state, indexed by guest_vcpu_index(). */
typedef struct fault_slot {
  uint32_t armed;
  uint32_t expected_vector;
  uint64_t fault_rip;
  uint64_t resume_rip;
  uint32_t seen_vector;
  uint64_t seen_error;
} fault_slot;
static fault_slot fault_slots_[GUEST_MAX_VCPUS];
static enlight_guest_record records_[GUEST_MAX_VCPUS] __attribute__((aligned(8)));
static uint64_t irq_counts_[GUEST_MAX_VCPUS][256];
static guest_irq_handler irq_handlers_[256];

/* ------------------------------------------------------------------------ */

void guest_runtime_init(uint64_t index, uint64_t count, uint64_t run_ms) {
  (void)index;
  vcpu_count_ = (uint32_t)count;
  /* A hint beyond 32 bits (49 days) is nonsense; clamp, do not wrap. */
  run_ms_ = run_ms > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)run_ms;
  for (uint32_t v = 0; v < 256; ++v) {
    uint64_t handler = (uint64_t)(uintptr_t)(guest_isr_stubs + 16 * v);
    uint8_t* e = guest_idt + 16 * v;
    /* 64-bit interrupt gate, selector 0x08, IST 0, DPL 0, present. */
    e[0] = (uint8_t)handler;
    e[1] = (uint8_t)(handler >> 8);
    e[2] = 0x08;
    e[3] = 0x00;
    e[4] = 0;
    e[5] = 0x8E;
    e[6] = (uint8_t)(handler >> 16);
    e[7] = (uint8_t)(handler >> 24);
    e[8] = (uint8_t)(handler >> 32);
    e[9] = (uint8_t)(handler >> 40);
    e[10] = (uint8_t)(handler >> 48);
    e[11] = (uint8_t)(handler >> 56);
    e[12] = e[13] = e[14] = e[15] = 0;
  }
}

uint32_t guest_vcpu_index(void) {
  uint64_t rsp;
  __asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
  uint64_t below = ENLIGHT_GUEST_STACK_TOP - rsp;
  uint32_t index = (uint32_t)(below / ENLIGHT_GUEST_STACK_SIZE);
  return index < GUEST_MAX_VCPUS ? index : GUEST_MAX_VCPUS - 1;
}

uint32_t guest_vcpu_count(void) { return vcpu_count_; }
uint32_t guest_run_ms(void) { return run_ms_; }

void guest_exit(uint32_t status) {
  outl(ENLIGHT_GUEST_PORT_EXIT, status);
  for (;;) {
    irq_disable();
    cpu_halt();
  }
}

__attribute__((weak)) void guest_ap_main(uint32_t index) { (void)index; }

void guest_ap_entry(uint64_t index) {
  guest_ap_main((uint32_t)index);
  for (;;) cpu_safe_halt();
}

void guest_main_returned(int status) {
  uint32_t failed = guest_checks_failed();
  guest_printf("guest: %u passed, %u failed, main returned %d\n", guest_checks_passed(), failed, status);
  guest_exit(status != 0 ? (uint32_t)status : failed);
}

/* ------------------------------------------------------------------------ */
/* Spinlock                                                                 */

void guest_spin_lock(guest_spinlock* l) {
  while (__atomic_exchange_n(&l->locked, 1u, __ATOMIC_ACQUIRE) != 0) {
    while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED) != 0) cpu_relax();
  }
}

void guest_spin_unlock(guest_spinlock* l) { __atomic_store_n(&l->locked, 0u, __ATOMIC_RELEASE); }

/* ------------------------------------------------------------------------ */
/* libc subset                                                              */

void* memset(void* dst, int c, size_t n) {
  uint8_t* d = dst;
  while (n--) *d++ = (uint8_t)c;
  return dst;
}

void* memcpy(void* dst, const void* src, size_t n) {
  uint8_t* d = dst;
  const uint8_t* s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
  uint8_t* d = dst;
  const uint8_t* s = src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  const uint8_t* x = a;
  const uint8_t* y = b;
  for (size_t i = 0; i < n; ++i)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

int strcmp(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return (unsigned char)*a - (unsigned char)*b;
}

/* ------------------------------------------------------------------------ */
/* Formatting                                                               */

typedef struct sink {
  char* buf;    /* NULL: console */
  size_t size;
  size_t len;   /* characters produced (may exceed size) */
} sink;

static void sink_put(sink* s, char c) {
  if (s->buf == NULL) {
    outb(ENLIGHT_GUEST_PORT_CONSOLE, (uint8_t)c);
  } else if (s->len + 1 < s->size) {
    s->buf[s->len] = c;
  }
  s->len++;
}

static void sink_number(sink* s, uint64_t v, unsigned base, bool upper, bool negative, int width, bool zero, bool left) {
  char tmp[24];
  int n = 0;
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    tmp[n++] = digits[v % base];
    v /= base;
  } while (v != 0);
  int len = n + (negative ? 1 : 0);
  if (!left && !zero)
    for (int i = len; i < width; ++i) sink_put(s, ' ');
  if (negative) sink_put(s, '-');
  if (!left && zero)
    for (int i = len; i < width; ++i) sink_put(s, '0');
  while (n > 0) sink_put(s, tmp[--n]);
  if (left)
    for (int i = len; i < width; ++i) sink_put(s, ' ');
}

static void format(sink* s, const char* fmt, va_list ap) {
  for (; *fmt; ++fmt) {
    if (*fmt != '%') {
      sink_put(s, *fmt);
      continue;
    }
    ++fmt;
    bool zero = false, left = false;
    for (;; ++fmt) {
      if (*fmt == '0') zero = true;
      else if (*fmt == '-') left = true;
      else break;
    }
    int width = 0;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    int longs = 0;
    bool size_t_mod = false;
    while (*fmt == 'l') ++longs, ++fmt;
    if (*fmt == 'z') size_t_mod = true, ++fmt;
    switch (*fmt) {
      case 'd':
      case 'i': {
        int64_t v = longs ? va_arg(ap, long long) : size_t_mod ? (int64_t)va_arg(ap, size_t) : va_arg(ap, int);
        uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        sink_number(s, mag, 10, false, v < 0, width, zero, left);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        uint64_t v = longs ? va_arg(ap, unsigned long long) : size_t_mod ? va_arg(ap, size_t) : va_arg(ap, unsigned);
        sink_number(s, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width, zero, left);
        break;
      }
      case 'p': {
        uint64_t v = (uint64_t)(uintptr_t)va_arg(ap, void*);
        sink_put(s, '0');
        sink_put(s, 'x');
        sink_number(s, v, 16, false, false, width, zero, left);
        break;
      }
      case 'c':
        sink_put(s, (char)va_arg(ap, int));
        break;
      case 's': {
        const char* str = va_arg(ap, const char*);
        if (str == NULL) str = "(null)";
        int len = (int)strlen(str);
        if (!left)
          for (int i = len; i < width; ++i) sink_put(s, ' ');
        while (*str) sink_put(s, *str++);
        if (left)
          for (int i = len; i < width; ++i) sink_put(s, ' ');
        break;
      }
      case '%':
        sink_put(s, '%');
        break;
      case '\0':
        return;
      default:
        sink_put(s, '%');
        sink_put(s, *fmt);
        break;
    }
  }
}

void guest_vprintf(const char* fmt, va_list ap) {
  sink s = {NULL, 0, 0};
  console_lock();
  format(&s, fmt, ap);
  console_unlock();
}

void guest_printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  guest_vprintf(fmt, ap);
  va_end(ap);
}

int guest_vsnprintf(char* buf, size_t size, const char* fmt, va_list ap) {
  sink s = {buf, size, 0};
  format(&s, fmt, ap);
  if (size != 0) buf[s.len < size ? s.len : size - 1] = '\0';
  return (int)s.len;
}

int guest_snprintf(char* buf, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = guest_vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

void guest_puts(const char* str) { guest_printf("%s\n", str); }

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */

static void report(uint32_t kind, const char* name, uint64_t expected, uint64_t actual, uint32_t line) {
  enlight_guest_record* r = &records_[guest_vcpu_index()];
  r->kind = kind;
  r->line = line;
  r->expected = expected;
  r->actual = actual;
  size_t i = 0;
  for (; name && name[i] && i + 1 < sizeof r->name; ++i) r->name[i] = name[i];
  for (; i < sizeof r->name; ++i) r->name[i] = '\0';
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  outl(ENLIGHT_GUEST_PORT_REPORT, (uint32_t)(uintptr_t)r);
}

bool guest_check(const char* name, uint64_t expected, uint64_t actual, bool passed, uint32_t line) {
  if (passed) {
    ++checks_passed_[guest_vcpu_index()];
    guest_printf("PASS [%u] %s (0x%llx)\n", guest_vcpu_index(), name, (unsigned long long)actual);
  } else {
    ++checks_failed_[guest_vcpu_index()];
    guest_printf("FAIL [%u] %s: expected 0x%llx, got 0x%llx (line %u)\n", guest_vcpu_index(), name,
                 (unsigned long long)expected, (unsigned long long)actual, line);
  }
  report(passed ? ENLIGHT_GUEST_CHECK_PASS : ENLIGHT_GUEST_CHECK_FAIL, name, expected, actual, line);
  return passed;
}

void guest_metric(const char* name, uint64_t value, uint32_t line) {
  guest_printf("METRIC [%u] %s = %llu\n", guest_vcpu_index(), name, (unsigned long long)value);
  report(ENLIGHT_GUEST_METRIC, name, 0, value, line);
}

static uint32_t sum(const volatile uint32_t* per_vcpu) {
  uint32_t total = 0;
  for (uint32_t i = 0; i < GUEST_MAX_VCPUS; ++i) total += per_vcpu[i];
  return total;
}
uint32_t guest_checks_failed(void) { return sum(checks_failed_); }
uint32_t guest_checks_passed(void) { return sum(checks_passed_); }

/* ------------------------------------------------------------------------ */
/* Faults and interrupts                                                    */

void guest_expect_fault(uint32_t vector, uint64_t fault_rip, uint64_t resume_rip) {
  fault_slot* s = &fault_slots_[guest_vcpu_index()];
  s->expected_vector = vector;
  s->fault_rip = fault_rip;
  s->resume_rip = resume_rip;
  s->seen_vector = GUEST_NO_FAULT;
  s->seen_error = 0;
  __atomic_store_n(&s->armed, 1u, __ATOMIC_SEQ_CST);
}

uint32_t guest_fault_take(uint64_t* error_code) {
  fault_slot* s = &fault_slots_[guest_vcpu_index()];
  __atomic_store_n(&s->armed, 0u, __ATOMIC_SEQ_CST);
  if (error_code) *error_code = s->seen_error;
  uint32_t v = s->seen_vector;
  s->seen_vector = GUEST_NO_FAULT;
  return v;
}

void guest_set_irq_handler(uint8_t vector, guest_irq_handler handler) {
  __atomic_store_n(&irq_handlers_[vector], handler, __ATOMIC_RELEASE);
}

uint64_t guest_irq_count(uint8_t vector) {
  return __atomic_load_n(&irq_counts_[guest_vcpu_index()][vector], __ATOMIC_RELAXED);
}

static const char* const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "15",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "22",  "23",  "24",  "25",  "26",  "27",  "28",  "#VC", "#SX", "31"};

void guest_isr_dispatch(guest_frame* frame) {
  uint32_t index = guest_vcpu_index();
  uint32_t vector = (uint32_t)frame->vector;
  irq_counts_[index][vector & 0xFF]++;
  if (vector < 32) {
    fault_slot* s = &fault_slots_[index];
    if (s->armed && (s->expected_vector == GUEST_ANY_VECTOR || s->expected_vector == vector) &&
        (s->fault_rip == 0 || s->fault_rip == frame->rip)) {
      s->seen_vector = vector;
      s->seen_error = frame->error_code;
      s->armed = 0;
      frame->rip = s->resume_rip;
      return;
    }
    char name[96];
    guest_snprintf(name, sizeof name, "unexpected exception %s at rip 0x%llx", exception_names[vector],
                   (unsigned long long)frame->rip);
    guest_printf("guest: vCPU %u: unexpected exception %u (%s) error 0x%llx rip 0x%llx rsp 0x%llx\n", index, vector,
                 exception_names[vector], (unsigned long long)frame->error_code, (unsigned long long)frame->rip,
                 (unsigned long long)frame->rsp);
    guest_check(name, GUEST_NO_FAULT, vector, false, 0);
    guest_exit(0x100u + vector);
  }
  guest_irq_handler h = __atomic_load_n(&irq_handlers_[vector], __ATOMIC_ACQUIRE);
  if (h != NULL) {
    h(frame);
  } else if (vector != APIC_SPURIOUS_VECTOR) {
    apic_eoi();
  }
}

/* ------------------------------------------------------------------------ */
/* MSR access that may fault                                                */

bool rdmsr_safe(uint32_t index, uint64_t* value) {
  guest_expect_fault(GUEST_VECTOR_GP, (uint64_t)(uintptr_t)guest_rdmsr_fault_rip,
                     (uint64_t)(uintptr_t)guest_rdmsr_resume_rip);
  uint64_t v = guest_rdmsr_raw(index);
  bool faulted = guest_fault_take(NULL) != GUEST_NO_FAULT;
  if (value) *value = faulted ? 0 : v;
  return faulted;
}

bool wrmsr_safe(uint32_t index, uint64_t value) {
  guest_expect_fault(GUEST_VECTOR_GP, (uint64_t)(uintptr_t)guest_wrmsr_fault_rip,
                     (uint64_t)(uintptr_t)guest_wrmsr_resume_rip);
  guest_wrmsr_raw(index, value);
  return guest_fault_take(NULL) != GUEST_NO_FAULT;
}

bool cpu_is_amd(void) {
  guest_cpuid r = cpuid(0, 0);
  /* "AuthenticAMD" / "HygonGenuine": EBX "Auth" / "Hygo" */
  return r.ebx == 0x68747541u || r.ebx == 0x6F677948u;
}
