/*
 * The enlight guest library: what a freestanding conformance guest needs.
 * Freestanding C11, no libc. See docs/guests.md for the ABI and a walk
 * through writing a guest.
 *
 *   runtime   vCPU identity, console, checks, exit, fault expectation
 *   cpu       cpuid / rdmsr / wrmsr (+ _safe), port I/O, interrupts
 *   apic      x2APIC local APIC (enlight_guest/apic.h)
 *   hv        Hyper-V discovery and hypercalls (enlight_guest/hv.h)
 *
 * Program entry: vCPU 0 runs `int main(void)`; its return value becomes the
 * exit status if non-zero, else the number of failed checks. The other
 * vCPUs run guest_ap_main(index) (weak default: halt with interrupts on).
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <enlight/core/guest/protocol.h>
#include <enlight/tlfs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most vCPUs the stack layout allows: stacks sit below
 * ENLIGHT_GUEST_STACK_TOP, ENLIGHT_GUEST_STACK_SIZE each, above 0. */
#define GUEST_MAX_VCPUS 32u

/* ------------------------------------------------------------------------ */
/* Runtime                                                                  */
/* ------------------------------------------------------------------------ */

int main(void);
/* Runs on vCPU index >= 1 once vCPU 0 has set up the runtime. Weak default:
 * sti; hlt forever. Returning also halts with interrupts enabled. */
void guest_ap_main(uint32_t index);

/* This vCPU's index (from its stack pointer: vCPU n's stack is
 * [TOP - (n + 1) * SIZE, TOP - n * SIZE)). */
uint32_t guest_vcpu_index(void);
uint32_t guest_vcpu_count(void);
/* The run-length hint from RDX at entry (protocol.h): how many milliseconds
 * the host asked this run to last, 0 when it asked nothing. */
uint32_t guest_run_ms(void);

/* Ends the run: OUT of status to ENLIGHT_GUEST_PORT_EXIT, then halts. */
__attribute__((noreturn)) void guest_exit(uint32_t status);

/* ------------------------------------------------------------------------ */
/* Console (ENLIGHT_GUEST_PORT_CONSOLE)                                     */
/* ------------------------------------------------------------------------ */

/* %s %c %d %i %u %x %X %p %%, with l / ll / z length modifiers, a field
 * width and 0 / - flags. No floating point. Serialised between vCPUs. */
void guest_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void guest_vprintf(const char* fmt, va_list ap);
int guest_snprintf(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
int guest_vsnprintf(char* buf, size_t size, const char* fmt, va_list ap);
void guest_puts(const char* s);

/* ------------------------------------------------------------------------ */
/* Checks (ENLIGHT_GUEST_PORT_REPORT)                                       */
/* ------------------------------------------------------------------------ */

/* Each check writes one enlight_guest_record (per-vCPU buffer) and OUTs its
 * GPA to the report port, and prints a PASS/FAIL line. Returns whether it
 * passed. Names are truncated to 95 characters. */
bool guest_check(const char* name, uint64_t expected, uint64_t actual, bool passed, uint32_t line);
void guest_metric(const char* name, uint64_t value, uint32_t line);
uint32_t guest_checks_failed(void);
uint32_t guest_checks_passed(void);

/* Each argument is evaluated exactly once (the helpers below take the
 * values), so a check may wrap a call with side effects, e.g.
 * CHECK_EQ("x.write.gp", 1, wrmsr_safe(...)). */
static inline bool guest_check_eq_(const char* name, uint64_t expected, uint64_t actual, uint32_t line) {
  return guest_check(name, expected, actual, expected == actual, line);
}
static inline bool guest_check_ne_(const char* name, uint64_t unexpected, uint64_t actual, uint32_t line) {
  return guest_check(name, unexpected, actual, unexpected != actual, line);
}
static inline bool guest_check_ge_(const char* name, uint64_t minimum, uint64_t actual, uint32_t line) {
  return guest_check(name, minimum, actual, actual >= minimum, line);
}
static inline bool guest_check_true_(const char* name, bool cond, uint32_t line) {
  return guest_check(name, 1, cond ? 1 : 0, cond, line);
}
#define CHECK_EQ(name, expected, actual) guest_check_eq_((name), (uint64_t)(expected), (uint64_t)(actual), __LINE__)
#define CHECK_NE(name, unexpected, actual) guest_check_ne_((name), (uint64_t)(unexpected), (uint64_t)(actual), __LINE__)
/* expected = 1, actual = whether cond held */
#define CHECK_TRUE(name, cond) guest_check_true_((name), (cond) ? true : false, __LINE__)
/* actual >= minimum; expected records the minimum */
#define CHECK_GE(name, minimum, actual) guest_check_ge_((name), (uint64_t)(minimum), (uint64_t)(actual), __LINE__)
#define METRIC(name, value) guest_metric((name), (uint64_t)(value), __LINE__)

/* ------------------------------------------------------------------------ */
/* Exceptions and interrupts                                                */
/* ------------------------------------------------------------------------ */

#define GUEST_VECTOR_UD 6u
#define GUEST_VECTOR_GP 13u
#define GUEST_VECTOR_PF 14u
#define GUEST_NO_FAULT 0xFFFFFFFFu

/* The saved state an interrupt stub hands the dispatcher (start.S). */
typedef struct guest_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error_code;
  uint64_t rip, cs, rflags, rsp, ss;
} guest_frame;

/*
 * Expected faults. One slot per vCPU: arm it with the vector expected (or
 * GUEST_ANY_VECTOR), the RIP of the instruction that may fault (0 = any) and
 * the RIP to resume at. A matching exception records vector and error code,
 * disarms the slot and resumes there; any other exception is a fatal,
 * reported failure. guest_fault_take() disarms and returns the vector seen
 * (GUEST_NO_FAULT if none).
 */
#define GUEST_ANY_VECTOR 0xFFu
void guest_expect_fault(uint32_t vector, uint64_t fault_rip, uint64_t resume_rip);
uint32_t guest_fault_take(uint64_t* error_code);

/* Handler for an external vector (>= 32). The dispatcher calls it and the
 * handler sends the EOI itself (apic_eoi) if the source needs one. Vectors
 * without a handler are counted and EOIed by the dispatcher. */
typedef void (*guest_irq_handler)(guest_frame* frame);
void guest_set_irq_handler(uint8_t vector, guest_irq_handler handler);
/* Count of interrupts on vector v delivered to this vCPU. */
uint64_t guest_irq_count(uint8_t vector);

/* ------------------------------------------------------------------------ */
/* CPU                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct guest_cpuid {
  uint32_t eax, ebx, ecx, edx;
} guest_cpuid;

static inline guest_cpuid cpuid(uint32_t leaf, uint32_t subleaf) {
  guest_cpuid r;
  __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
  return r;
}

static inline uint64_t rdmsr(uint32_t index) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index) : "memory");
  return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t index, uint64_t value) {
  __asm__ volatile("wrmsr" : : "c"(index), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)) : "memory");
}

/* Return true if the access faulted (#GP); *value is 0 then. */
bool rdmsr_safe(uint32_t index, uint64_t* value);
bool wrmsr_safe(uint32_t index, uint64_t value);

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory"); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory"); }
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
  return v;
}

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void cpu_halt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* sti; hlt with no window between them (STI's interrupt shadow). */
static inline void cpu_safe_halt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

/* Is this CPU's vendor AMD/Hygon (VMMCALL) rather than Intel (VMCALL)? */
bool cpu_is_amd(void);

/* ------------------------------------------------------------------------ */
/* Small libc subset (the compiler may emit calls to the first four)        */
/* ------------------------------------------------------------------------ */

void* memset(void* dst, int c, size_t n);
void* memcpy(void* dst, const void* src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);

/* A test-and-set spinlock. On the emu backend a read-modify-write is not
 * atomic between vCPUs (each runs its own Unicorn engine): a release can be
 * lost inside a waiter's exchange and the lock stays taken. Guest code
 * shared by vCPUs on emu uses plain-store algorithms instead (the console
 * lock in runtime.c is Lamport's bakery). */
typedef struct guest_spinlock {
  volatile uint32_t locked;
} guest_spinlock;
void guest_spin_lock(guest_spinlock* l);
void guest_spin_unlock(guest_spinlock* l);

#ifdef __cplusplus
}
#endif

#include <enlight_guest/apic.h>
#include <enlight_guest/clock.h>
#include <enlight_guest/hv.h>
