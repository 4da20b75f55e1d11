/*
 * enlight plugin ABI, version 1.
 *
 * This is the whole contract between the enlight core and a plugin binary.
 * It is plain C on purpose (docs/abi-policy.md): a plugin built by a vendor
 * with another compiler, another C++ standard library or -fno-exceptions must
 * load safely, so nothing here needs the two sides to share a C++ runtime.
 * No exception, RTTI object, std:: container or allocation crosses it; every
 * pointer handed across stays owned by the side that made it.
 *
 * A plugin exports one symbol, ENLIGHT_PLUGIN_ENTRY_SYMBOL, of type
 * enlight_plugin_entry_fn. It returns a pointer to a static descriptor whose
 * first three fields never move, so the core can check abi_major before it
 * reads anything else (the LLVM pass-plugin pattern).
 *
 * Versioning: abi_major changes when any existing field or call changes
 * meaning; the core refuses a different major. abi_minor grows when fields are
 * appended to the end of a struct; every extensible struct carries its own
 * size so the side reading it can tell which fields exist.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENLIGHT_ABI_MAJOR 1u
#define ENLIGHT_ABI_MINOR 4u
#define ENLIGHT_PLUGIN_ENTRY_SYMBOL "enlight_plugin_entry_v1"

#if defined(__GNUC__)
#define ENLIGHT_EXPORT __attribute__((visibility("default")))
#else
#define ENLIGHT_EXPORT
#endif

/* ---- Results of handlers --------------------------------------------- */

/* What an MSR or I/O handler answers. FAULT means the plugin itself failed
 * (a bug or an exhausted resource, never a guest error): the core stops the
 * VM with the message the plugin reported through enlight_host.report_fault,
 * because continuing on state a plugin no longer vouches for would be worse
 * than stopping (docs/abi-policy.md). */
typedef enum enlight_access_result {
  ENLIGHT_ACCESS_OK = 0,
  ENLIGHT_ACCESS_GP = 1, /* architectural #GP(0) into the guest */
  ENLIGHT_ACCESS_FAULT = 2
} enlight_access_result;

/* Who performs an MSR access: the guest's own instruction, or the host
 * restoring state (snapshot load, migration). Read-only MSRs accept writes
 * from the host. */
typedef enum enlight_origin {
  ENLIGHT_ORIGIN_GUEST = 0,
  ENLIGHT_ORIGIN_HOST = 1
} enlight_origin;

typedef enum enlight_cpuid_reg {
  ENLIGHT_EAX = 0,
  ENLIGHT_EBX = 1,
  ENLIGHT_ECX = 2,
  ENLIGHT_EDX = 3
} enlight_cpuid_reg;

/* ---- Handler signatures (called on the exit path, on the vCPU's thread) - */

typedef enlight_access_result (*enlight_msr_read_fn)(void* vcpu_ctx, uint32_t index,
                                                     uint64_t* value, enlight_origin origin);
typedef enlight_access_result (*enlight_msr_write_fn)(void* vcpu_ctx, uint32_t index,
                                                      uint64_t value, enlight_origin origin);

/* A decoded hypercall. The core has already validated the control word,
 * the alignment and the guest physical ranges, and copied the input into
 * `input` (memory form: fixed header, variable header, then every rep
 * element; fast form: RDX, R8 and, for XMM-fast calls, XMM0..XMM5). */
typedef struct enlight_hypercall {
  uint16_t code;
  uint8_t fast;             /* 1: register input */
  uint8_t reserved0;
  uint16_t var_header_qwords;
  uint16_t rep_count;       /* 0 for simple calls */
  uint16_t rep_start;       /* first rep to process; < rep_count */
  uint16_t reserved1;
  uint32_t vp_index;        /* the caller's VP index (TLFS), which is not always its vCPU number */
  const uint8_t* input;
  uint32_t input_size;      /* bytes valid in `input` */
  uint32_t output_size;     /* bytes the call may write to `output` */
  uint8_t* output;          /* zeroed; copied to the guest's output GPA */
} enlight_hypercall;

/* Handler answer: an HV_STATUS value, and for rep calls the absolute number
 * of reps completed (TLFS 3.7.3). Answering HV_STATUS_SUCCESS with fewer reps
 * than rep_count asks for a continuation: the core rewrites the rep start
 * index in the guest's control word and re-enters the call, as the TLFS
 * lets a hypervisor do for long rep calls. A handler that must stop the VM
 * returns ENLIGHT_HV_FAULT after enlight_host.report_fault. */
#define ENLIGHT_HV_FAULT 0xFFFFu
typedef struct enlight_hypercall_result {
  uint16_t status;
  uint16_t reps_completed;
} enlight_hypercall_result;

typedef enlight_hypercall_result (*enlight_hypercall_fn)(void* vcpu_ctx,
                                                         const enlight_hypercall* call);

/* Port I/O. `size` is 1, 2 or 4; writes pass the value, reads fill it. */
typedef enlight_access_result (*enlight_io_in_fn)(void* vcpu_ctx, uint16_t port, uint8_t size,
                                                  uint32_t* value);
typedef enlight_access_result (*enlight_io_out_fn)(void* vcpu_ctx, uint16_t port, uint8_t size,
                                                   uint32_t value);

/* ---- Claims: what a binary says it handles --------------------------- */
/* The core compares these with the manifest's claims and refuses the plugin
 * when they differ: the manifest is what resolution trusted. */

typedef struct enlight_msr_claim {
  uint32_t first;
  uint32_t last;                /* inclusive */
  enlight_msr_read_fn read;     /* NULL: reads #GP (a write-only MSR) */
  enlight_msr_write_fn write;   /* NULL: writes #GP (a read-only MSR) */
} enlight_msr_claim;

/* Shape flags of a hypercall, from the TLFS description of each call. */
#define ENLIGHT_HC_REP (1u << 0)         /* a rep call: rep count must be >= 1 */
#define ENLIGHT_HC_VAR_HEADER (1u << 1)  /* accepts a variable header */
#define ENLIGHT_HC_FAST (1u << 2)        /* may be called with Fast = 1 (RDX, R8) */
#define ENLIGHT_HC_XMM_FAST (1u << 3)    /* fast input continues in XMM0..XMM5 */

/* The I/O port of the hypercall page's "ioport" form (identity option
 * instruction: ioport): `out 0xEB, eax; ret`. Backends whose VMCALL/VMMCALL
 * cannot reach userspace (KVM without its Xen intercept) take a 32-bit OUT
 * to this port as the hypercall instruction (docs/kvm-backend.md). */
#define ENLIGHT_HYPERCALL_IO_PORT 0x00EBu

typedef struct enlight_hypercall_claim {
  uint16_t code;
  uint16_t flags;               /* ENLIGHT_HC_* */
  uint16_t input_header_size;   /* fixed input header, bytes */
  uint16_t input_rep_size;      /* bytes per input rep element */
  uint16_t output_header_size;  /* fixed output, bytes */
  uint16_t output_rep_size;     /* bytes per output rep element */
  enlight_hypercall_fn handler;
} enlight_hypercall_claim;

typedef struct enlight_io_claim {
  uint16_t first;
  uint16_t last;                /* inclusive */
  enlight_io_in_fn in;
  enlight_io_out_fn out;
} enlight_io_claim;

/* A CPUID claim: the bits (OR-composed, shareable between plugins), the
 * field (exclusive: one plugin's scalar), or the default (a value used only
 * while no plugin claims the field, e.g. 0x40000004.EBX = 0xFFFFFFFF until a
 * spinlock count is configured). */
typedef enum enlight_cpuid_kind {
  ENLIGHT_CPUID_BITS = 0,
  ENLIGHT_CPUID_FIELD = 1,
  ENLIGHT_CPUID_DEFAULT = 2
} enlight_cpuid_kind;

typedef struct enlight_cpuid_claim {
  uint32_t leaf;
  uint32_t subleaf;
  uint8_t reg;                  /* enlight_cpuid_reg */
  uint8_t kind;                 /* enlight_cpuid_kind */
  uint16_t reserved;
  uint32_t mask;
} enlight_cpuid_claim;

/* ---- Options: the profile's values, typed and checked by the core ---- */

typedef enum enlight_option_type {
  ENLIGHT_OPT_BOOL = 0,
  ENLIGHT_OPT_U64 = 1,
  ENLIGHT_OPT_STRING = 2
} enlight_option_type;

typedef struct enlight_option {
  const char* name;
  uint32_t type;                /* enlight_option_type */
  uint32_t reserved;
  uint64_t u64;                 /* BOOL (0/1) and U64 */
  const char* str;              /* STRING; NUL-terminated, owned by the core */
} enlight_option;

/* ---- Host services: what the core offers to a plugin ----------------- */
/* Valid from vm_create until vm_destroy returns. Calls marked "exit path" are
 * safe on a vCPU thread while the VM runs: they do not lock or allocate. */

typedef struct enlight_counter {
  /* One slot per vCPU, single writer (that vCPU's thread), summed at scrape
   * time. Increment with enlight_counter_add() from the SDK. */
  uint64_t* per_vcpu;
  uint32_t stride;              /* in uint64_t units between vCPUs */
  uint32_t reserved;
} enlight_counter;

/* ABI 1.1: a timer callback, run on the timer's vCPU thread (see timer_create). */
typedef void (*enlight_timer_fn)(void* arg, uint64_t now);
/* ABI 1.1: an end-of-interrupt notification (see eoi_listen). */
typedef void (*enlight_eoi_fn)(void* arg, uint32_t vcpu, uint8_t vector);

/* ABI 1.3: the host asks for an orderly shutdown (see shutdown_listen).
 * Returns 1 when the plugin has passed the request on to the guest, 0 when
 * it cannot (the guest has not opened the device it would use). */
typedef int (*enlight_shutdown_fn)(void* arg);

/* ABI 1.1: a histogram metric. Per vCPU: bucket_count + 1 cumulative-free
 * counts (the last is +Inf), then the sum of observations; single writer.
 * Observe with enlight_histogram_observe() from the SDK. */
typedef struct enlight_histogram {
  uint64_t* per_vcpu;
  uint32_t stride;              /* in uint64_t units between vCPUs */
  uint32_t bucket_count;
  const uint64_t* upper_bounds; /* bucket_count bounds, ascending, owned by the core */
} enlight_histogram;

typedef struct enlight_host {
  uint32_t size;                /* sizeof(enlight_host) as the core built it */
  uint32_t vcpu_count;
  void* ctx;                    /* pass back as the first argument */

  /* Guest physical memory (exit path). 0 on success, -1 when any byte of
   * [gpa, gpa+len) is outside guest RAM; nothing is copied then. */
  int (*gpa_read)(void* ctx, uint64_t gpa, void* dst, uint64_t len);
  int (*gpa_write)(void* ctx, uint64_t gpa, const void* src, uint64_t len);

  /* Partition reference time in 100 ns units since the partition started
   * (TLFS 12.4), and the virtual TSC (exit path). */
  uint64_t (*reference_time)(void* ctx);
  uint64_t (*guest_tsc)(void* ctx, uint32_t vcpu);
  uint64_t (*tsc_frequency_hz)(void* ctx);
  uint64_t (*apic_frequency_hz)(void* ctx);
  /* Time vCPU `vcpu` has run, 100 ns units (exit path). */
  uint64_t (*vcpu_runtime)(void* ctx, uint32_t vcpu);

  /* CPUID contribution, only during vm_create: value & ~mask must be 0 and
   * mask must lie inside one of the plugin's CPUID claims. -1 otherwise. */
  int (*cpuid_set)(void* ctx, uint32_t leaf, uint32_t subleaf, uint32_t reg, uint32_t mask,
                   uint32_t value);

  /* Hypercalls reach plugins only while the owner of HV_X64_MSR_HYPERCALL
   * has enabled them (exit path). */
  void (*set_hypercalls_enabled)(void* ctx, int enabled);

  /* Interrupt delivery (exit path). -1 when the backend cannot deliver. */
  int (*inject_interrupt)(void* ctx, uint32_t vcpu, uint8_t vector);
  /* Ask the vCPU thread to yield, e.g. on a long spin-wait notification. */
  void (*yield_vcpu)(void* ctx, uint32_t vcpu);

  /* Stop the VM (exit path): reason is one of ENLIGHT_STOP_*. The message is
   * copied. */
  void (*request_stop)(void* ctx, uint32_t reason, const char* message);

  /* The plugin's own failure (exit path or lifecycle): the text is copied and
   * reported with the plugin's name; the call returning FAULT stops the VM. */
  void (*report_fault)(void* ctx, const char* message);

  /* Log a line (not on a hot path: it may allocate). level: 0 error,
   * 1 warning, 2 info, 3 debug. */
  void (*log)(void* ctx, uint32_t level, const char* message);

  /* Typed services between plugins, only during vm_create. A provider
   * registers `iface` (a struct of C function pointers whose layout is fixed
   * by name and major version); a consumer looks it up by name and the major
   * it was built for, with a minimum minor. Providers are created before
   * consumers (dependency order), so a required provider is always there.
   * register: 0, or -1 on a duplicate name. lookup: NULL if absent or if the
   * version does not fit. */
  int (*service_register)(void* ctx, const char* name, uint32_t major, uint32_t minor,
                          const void* iface);
  const void* (*service_lookup)(void* ctx, const char* name, uint32_t major, uint32_t min_minor);

  /* A counter metric, only during vm_create. name follows
   * enlight_<area>_<what>_<unit>_total; one label `plugin` is added by the
   * core. Returns 0 and fills *out; with metrics off or compiled out the slots
   * are still valid memory, so plugins never branch on whether they count. */
  int (*counter_register)(void* ctx, const char* name, const char* help, enlight_counter* out);

  /* ---- ABI 1.1 (appended). Present when size >= ENLIGHT_HOST_SIZE_1_1. -- */

  /* The reference TSC (TLFS 12.7): for every vCPU,
   *   ((guest_tsc * scale) >> 64) + offset == reference_time(),
   * exactly, because the core defines reference time that way: a guest
   * reading the TSC page and one reading HV_X64_MSR_TIME_REF_COUNT see one
   * counter. -1 when the backend's TSC cannot be the reference (a TSC
   * slower than 10 MHz); the TSC page must then say so (sequence 0).
   * Exit path. */
  int (*reference_tsc)(void* ctx, uint64_t* scale, int64_t* offset);

  /* A host pointer to [gpa, gpa+len) of guest RAM, valid until vm_destroy,
   * or NULL when any byte is outside RAM. For pages the guest reads without
   * exits (reference TSC page, VP assist page, SynIC pages) and for atomic
   * updates of them. Guest RAM is contiguous and never moves. Exit path. */
  void* (*gpa_map)(void* ctx, uint64_t gpa, uint64_t len);

  /* One-shot timers on partition reference time (100 ns units).
   * timer_create, only during vm_create: a timer owned by vCPU `vcpu`; its
   * callback always runs on that vCPU's thread, outside any handler, at or
   * after the deadline and before the vCPU next runs guest code (a halted
   * vCPU is woken), with `now` = the reference time it observed. So a
   * plugin whose per-vCPU state is only touched by that vCPU's handlers and
   * timers needs no lock.
   * timer_arm (exit path, any thread): sets or replaces the deadline;
   * a deadline already past fires at the next opportunity.
   * timer_cancel (exit path, any thread): after it returns the callback
   * does not run for the cancelled deadline unless it is already running.
   * The backend's granularity is documented per backend (docs/timers.md). */
  int (*timer_create)(void* ctx, uint32_t vcpu, enlight_timer_fn fn, void* arg, uint32_t* timer);
  void (*timer_arm)(void* ctx, uint32_t timer, uint64_t deadline);
  void (*timer_cancel)(void* ctx, uint32_t timer);

  /* The local APIC of `vcpu` through its x2APIC MSR interface (index
   * 0x800-0x8FF): what HV_X64_MSR_EOI, _ICR and _TPR map onto (TLFS
   * "Virtual Processor Interrupt State"). 0, or -1 when the APIC refuses
   * the access (the plugin answers #GP) or the backend has no model.
   * Exit path, from `vcpu`'s own thread. */
  int (*apic_read)(void* ctx, uint32_t vcpu, uint32_t x2apic_msr, uint64_t* value);
  int (*apic_write)(void* ctx, uint32_t vcpu, uint32_t x2apic_msr, uint64_t value);

  /* End-of-interrupt notification (SynIC redelivers a pending message when
   * the guest EOIs its SINT vector). eoi_listen, only during vm_create, one
   * per plugin: `fn` runs on the vCPU's thread after it EOIs a watched
   * vector. eoi_watch (exit path): on != 0 starts watching `vector` on
   * `vcpu`, 0 stops; several plugins may watch one vector. */
  int (*eoi_listen)(void* ctx, enlight_eoi_fn fn, void* arg);
  void (*eoi_watch)(void* ctx, uint32_t vcpu, uint8_t vector, int on);

  /* Paravirtual EOI through the VP assist page (TLFS "Virtual Processor
   * Assist Page", APIC assist). With `gpa` != 0 the backend, when it
   * delivers an interrupt whose EOI may be skipped (no other vector in
   * service, none pending above it), sets bit 0 of the 32-bit word at
   * `gpa`; when the guest has cleared it instead of writing EOI, the
   * backend performs that EOI itself before the next delivery. gpa == 0
   * turns it off. -1: not available on this backend (or gpa not in RAM).
   * Exit path, `vcpu`'s own thread. */
  int (*pv_eoi_set)(void* ctx, uint32_t vcpu, uint64_t gpa);

  /* A histogram metric, only during vm_create. name follows
   * enlight_<area>_<what>_seconds; observations and bounds are in
   * nanoseconds (the core exposes seconds). At most 32 bounds. */
  int (*histogram_register)(void* ctx, const char* name, const char* help, const uint64_t* upper_bounds_ns,
                            uint32_t bound_count, enlight_histogram* out);

  /* inject_interrupt with delivery flags (ENLIGHT_IRQ_*). AUTO_EOI: the
   * APIC retires the vector as the CPU accepts it, without an ISR bit and
   * without an EOI from the guest (SynIC AutoEOI SINTs, TLFS "SINTx
   * register"). Exit path, any thread. */
  int (*inject_interrupt_flags)(void* ctx, uint32_t vcpu, uint8_t vector, uint32_t flags);

  /* ---- ABI 1.2 (appended). Present when size >= ENLIGHT_HOST_SIZE_1_2. -- */

  /* VP indexes (TLFS "Virtual Processor Index"). Guests name processors by
   * VP index (HV_X64_MSR_VP_INDEX; Linux builds its VP sets and VMBus
   * targets from it), the host's services by vCPU number. Every vCPU starts
   * with its own number as its VP index; the owner of HV_X64_MSR_VP_INDEX
   * sets another on a host write (a restore, or indexes another VMM gave),
   * and the core passes it in enlight_hypercall.vp_index.
   * vp_index_set: 0, or -1 for a bad vCPU or an index >= HV_VP_INDEX_SELF.
   * Two vCPUs may hold the same index for a while (a restore that swaps
   * them sets one at a time, as KVM allows).
   * vcpu_of_vp_index: the lowest-numbered vCPU holding `vp_index`, or
   * UINT32_MAX when none does (the guest named a VP that does not exist).
   * Exit path, any thread: a scan of the vCPUs, no lock. */
  int (*vp_index_set)(void* ctx, uint32_t vcpu, uint32_t vp_index);
  uint32_t (*vcpu_of_vp_index)(void* ctx, uint32_t vp_index);

  /* ---- ABI 1.3 (appended). Present when size >= ENLIGHT_HOST_SIZE_1_3. -- */

  /* What this backend can do, ENLIGHT_BACKEND_* bits, fixed for the VM's
   * life. A plugin advertises only what the backend can honour: SynIC
   * recommends against AutoEOI where the backend cannot retire a vector
   * without the guest's EOI (KVM's in-kernel APIC, for an interrupt
   * enlight injects). Any time, any thread. */
  uint32_t (*backend_features)(void* ctx);

  /* Only during vm_create, once per plugin: `fn` runs when the host is
   * asked to shut the guest down in order (enlight run receives SIGTERM).
   * It runs on a host thread, not a vCPU's: arm a timer (timer_arm) and do
   * the work there. When some plugin answers 1 the core waits for the guest
   * to power off (bounded, docs/machine.md); otherwise it stops the VM. */
  int (*shutdown_listen)(void* ctx, enlight_shutdown_fn fn, void* arg);

  /* counter_register with one more label beside `plugin`, for a plugin
   * that counts per instance of something (VMBus: per channel). The label
   * name matches [a-z_][a-z0-9_]* and is not `plugin`; the value is copied.
   * One (name, label value) pair per plugin. Only during vm_create. */
  int (*counter_register_labelled)(void* ctx, const char* name, const char* help, const char* label_name,
                                   const char* label_value, enlight_counter* out);

  /* ---- ABI 1.4 (appended). Present when size >= ENLIGHT_HOST_SIZE_1_4. -- */

  /* Remote TLB flush (TLFS "Virtual Processor TLB Flushing"): when it
   * returns 0, no vCPU whose bit is set in `vcpus` (bit n of word n / 64 =
   * vCPU n; bits beyond vcpu_count are ignored) uses a guest translation it
   * cached before the call: each has either flushed its TLB or left guest
   * mode with the flush due before it runs guest code again. The caller's
   * own vCPU may be in the set (it flushes before it resumes). A whole-TLB
   * flush: a backend may flush more than asked, never less.
   * Exit path, from the calling vCPU's thread (`caller`): no lock, no
   * allocation, but it waits for the targets to leave guest mode (a kick
   * each, microseconds on kvm, up to one translation block on emu).
   * -1 when the backend cannot flush a guest TLB (the plugin must then not
   * report success). */
  int (*tlb_flush)(void* ctx, uint32_t caller, const uint64_t* vcpus, uint32_t words);
} enlight_host;

#define ENLIGHT_IRQ_AUTO_EOI (1u << 0)

/* backend_features (ABI 1.3) */
#define ENLIGHT_BACKEND_AUTO_EOI   (1u << 0) /* inject_interrupt_flags honours ENLIGHT_IRQ_AUTO_EOI */
#define ENLIGHT_BACKEND_EOI_NOTIFY (1u << 1) /* eoi_listen callbacks fire when the guest EOIs */

/* sizeof(enlight_host) as ABI 1.0 defined it: a plugin checks host->size
 * against the 1.1 size before it uses a 1.1 service. */
#define ENLIGHT_HOST_SIZE_1_0 offsetof(enlight_host, reference_tsc)
#define ENLIGHT_HOST_SIZE_1_1 (offsetof(enlight_host, inject_interrupt_flags) + sizeof(void*))
#define ENLIGHT_HOST_SIZE_1_2 (offsetof(enlight_host, vcpu_of_vp_index) + sizeof(void*))
#define ENLIGHT_HOST_SIZE_1_3 (offsetof(enlight_host, counter_register_labelled) + sizeof(void*))
#define ENLIGHT_HOST_SIZE_1_4 (offsetof(enlight_host, tlb_flush) + sizeof(void*))

#define ENLIGHT_STOP_GUEST_RESET 1u  /* the guest asked for a reset */
#define ENLIGHT_STOP_GUEST_CRASH 2u  /* the guest reported a crash */
#define ENLIGHT_STOP_PLUGIN_ERROR 3u /* a plugin cannot go on */

/* ---- Lifecycle --------------------------------------------------------- */

/* Errors from lifecycle calls: fill `message` (NUL-terminated, truncated to
 * capacity) and return non-zero. */
typedef struct enlight_error {
  char* message;
  uint32_t capacity;
  uint32_t reserved;
} enlight_error;

typedef struct enlight_vm_params {
  uint32_t size;
  uint32_t vcpu_count;
  const enlight_host* host;
  const enlight_option* options; /* every option of the manifest, defaults filled */
  uint32_t option_count;
  uint32_t enforce_cpuid;        /* hv-enforce-cpuid is on */
} enlight_vm_params;

/* Saved state is a blob the plugin versions itself; the core stores it
 * with the plugin's name and version and refuses to restore across a
 * different version. save: return the bytes written, or -1 if `capacity`
 * is too small (the core retries with more), or -2 on failure. */
typedef int64_t (*enlight_save_fn)(void* ctx, uint8_t* buffer, uint64_t capacity);
typedef int (*enlight_load_fn)(void* ctx, const uint8_t* buffer, uint64_t size,
                               enlight_error* error);

typedef struct enlight_plugin_descriptor {
  /* Never move these three. */
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t size;                /* sizeof(enlight_plugin_descriptor) */
  uint32_t reserved;

  const char* name;
  const char* version;          /* MAJOR.MINOR.PATCH */

  const enlight_msr_claim* msrs;
  uint32_t msr_count;
  uint32_t hypercall_count;
  const enlight_hypercall_claim* hypercalls;
  const enlight_io_claim* io_ports;
  uint32_t io_port_count;
  uint32_t cpuid_count;
  const enlight_cpuid_claim* cpuid;

  /* Create and destroy in dependency order; destroy in reverse. A NULL
   * vm_create means the plugin keeps no VM state (vm_ctx = NULL); a NULL
   * vcpu_create means handlers receive the vm_ctx as their vcpu_ctx. */
  int (*vm_create)(const enlight_vm_params* params, void** vm_ctx, enlight_error* error);
  void (*vm_destroy)(void* vm_ctx);
  int (*vcpu_create)(void* vm_ctx, uint32_t vcpu, void** vcpu_ctx, enlight_error* error);
  void (*vcpu_destroy)(void* vcpu_ctx);

  /* Optional: NULL means the plugin has no state of that kind. */
  enlight_save_fn vm_save;
  enlight_load_fn vm_load;
  enlight_save_fn vcpu_save;
  enlight_load_fn vcpu_load;
} enlight_plugin_descriptor;

typedef const enlight_plugin_descriptor* (*enlight_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
