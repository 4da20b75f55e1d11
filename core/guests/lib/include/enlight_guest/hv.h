/*
 * Hyper-V guest side, the way Windows and Linux do it: discover through
 * CPUID, write the guest OS ID, enable the hypercall page, then make
 * hypercalls by a near CALL into that page. Every number is from
 * <enlight/tlfs.h>.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <enlight/tlfs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What CPUID says about the hypervisor. */
typedef struct hv_info {
  bool hypervisor_bit;      /* CPUID.1:ECX[31] */
  uint32_t max_leaf;        /* 0x40000000.EAX */
  char vendor[13];          /* 0x40000000.EBX ECX EDX, NUL-terminated */
  uint32_t interface;       /* 0x40000001.EAX */
  uint32_t build;           /* 0x40000002.EAX */
  uint32_t version;         /* 0x40000002.EBX major << 16 | minor */
  uint32_t privileges_low;  /* 0x40000003.EAX (HV_ACCESS_*) */
  uint32_t privileges_high; /* 0x40000003.EBX */
  uint32_t features_ecx;    /* 0x40000003.ECX */
  uint32_t features;        /* 0x40000003.EDX (HV_FEATURE_*) */
  uint32_t recommendations; /* 0x40000004.EAX (HV_RECOMMEND_*) */
  uint32_t spin_retries;    /* 0x40000004.EBX */
  uint32_t max_vps;         /* 0x40000005.EAX */
  uint32_t max_lps;         /* 0x40000005.EBX */
} hv_info;

/* Fills *info (zeroed first) and returns true when a Microsoft-compatible
 * hypervisor is present: CPUID.1:ECX[31], max leaf >= 0x40000005 and the
 * interface signature "Hv#1". */
bool hv_detect(hv_info* info);

/* The library's guest OS ID: open-source form (bit 63), OS type 0, version
 * 1, build 1; non-zero, as the TLFS requires before the hypercall page. */
#define HV_GUEST_OS_ID_ENLIGHT (HV_GUEST_OS_ID_OPEN_SOURCE | (UINT64_C(1) << HV_GUEST_OS_ID_OSS_VERSION_SHIFT) | UINT64_C(1))
void hv_set_guest_os_id(uint64_t id);

/* The library's hypercall page: a page-aligned 4 KiB page in .bss. */
void* hv_default_hypercall_page(void);
/* Writes GUEST_OS_ID (HV_GUEST_OS_ID_ENLIGHT) if it reads 0, then
 * HV_X64_MSR_HYPERCALL = gpa | enable. Returns true if the write did not
 * fault and the enable bit reads back set; hv_hypercall uses the page from
 * then on. */
bool hv_enable_hypercall_page(uint64_t gpa);
/* Clears the enable bit; hv_hypercall must not be used afterwards. */
void hv_disable_hypercall_page(void);
/* The page hv_hypercall calls into (NULL before hv_enable_hypercall_page). */
void* hv_hypercall_page(void);

static inline uint16_t hv_result_status(uint64_t result) { return (uint16_t)(result & HV_HYPERCALL_RESULT_STATUS_MASK); }
static inline uint32_t hv_result_reps(uint64_t result) {
  return (uint32_t)((result & HV_HYPERCALL_RESULT_REPS_COMPLETED_MASK) >> HV_HYPERCALL_RESULT_REPS_COMPLETED_SHIFT);
}
static inline uint64_t hv_control(uint32_t code, uint32_t rep_count) {
  return (uint64_t)code | ((uint64_t)rep_count << HV_HYPERCALL_REP_COUNT_SHIFT);
}

/* Memory form: RCX control, RDX input GPA, R8 output GPA, through the
 * hypercall page (near CALL). Returns the full result value (RAX). */
uint64_t hv_hypercall(uint64_t control, uint64_t in_gpa, uint64_t out_gpa);
/* Register form: sets HV_HYPERCALL_FAST; RDX and R8 carry 16 bytes. */
uint64_t hv_hypercall_fast(uint64_t control, uint64_t in1, uint64_t in2);
/* XMM fast form: sets HV_HYPERCALL_FAST; input bytes 0-7 in RDX, 8-15 in
 * R8, 16-111 in XMM0-XMM5 (zero-padded). size <= 112. Needs
 * HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE. */
uint64_t hv_hypercall_xmm_fast(uint64_t control, const void* input, size_t size);
/* Rep call: sets rep count in control and repeats, moving the rep start
 * index, while the status is SUCCESS and fewer than rep_count reps are
 * complete (a hypervisor that continues a call itself is invisible here). */
uint64_t hv_hypercall_rep(uint64_t control, uint32_t rep_count, uint64_t in_gpa, uint64_t out_gpa);

/* A hypercall instruction executed directly (VMCALL, or VMMCALL on AMD),
 * not through the page, with #UD expected: returns true if it raised #UD;
 * otherwise *result is RAX. */
bool hv_hypercall_direct_faults(uint64_t control, uint64_t in_gpa, uint64_t out_gpa, uint64_t* result);

/* An HV_VP_SET (TLFS datatypes/HV_VP_SET) in sparse 4K format naming the
 * `n` VP indexes `vps`, plus present banks naming nobody (`empty_banks`,
 * a bank mask), at `at`: returns the qwords written (format, mask, banks)
 * and sets *banks to the bank count, the Ex calls' variable header. */
uint32_t hv_put_sparse_vp_set(uint64_t* at, const uint32_t* vps, uint32_t n, uint64_t empty_banks, uint32_t* banks);

/* ------------------------------------------------------------------------ */
/* Partition reference time (TLFS "Timers")                                 */
/* ------------------------------------------------------------------------ */

/* HV_REFERENCE_TSC_PAGE: the fields the guest reads (offsets checked in
 * hv.c against tlfs.h). */
typedef struct hv_ref_tsc_page {
  volatile uint32_t sequence;
  uint32_t reserved;
  volatile uint64_t scale;
  volatile int64_t offset;
} hv_ref_tsc_page;

/* One reading of the reference TSC page: ((rdtsc * scale) >> 64) + offset
 * under the sequence protocol (re-read when the sequence changed meanwhile),
 * with the TSC read ordered after the loads before it (LFENCE; RDTSC, as
 * Linux's hv_read_tsc_page). False when the page is invalid (sequence 0, or
 * 0xFFFFFFFF in older revisions): the TLFS then sends the guest to
 * HV_X64_MSR_TIME_REF_COUNT. */
bool hv_ref_tsc_page_read(const hv_ref_tsc_page* page, uint64_t* time);

/* ------------------------------------------------------------------------ */
/* SynIC (TLFS "Inter-Partition Communication")                             */
/* ------------------------------------------------------------------------ */

/* One HV_MESSAGE slot of the SynIC message page (offsets checked in hv.c). */
typedef struct hv_message {
  volatile uint32_t type;          /* HvMessageType*, 0 = slot empty */
  volatile uint8_t payload_size;
  volatile uint8_t flags;          /* HV_MESSAGE_FLAG_PENDING */
  uint16_t reserved;
  volatile uint64_t origin;
  volatile uint64_t payload[HV_MESSAGE_PAYLOAD_QWORD_COUNT];
} hv_message;

/* This vCPU's message slot `sint` on a message page. */
static inline volatile hv_message* hv_message_slot(void* simp_page, uint32_t sint) {
  return (volatile hv_message*)((uint8_t*)simp_page + (size_t)sint * HV_MESSAGE_SIZE);
}

/* Enables this vCPU's SynIC the way Linux's hv_synic_enable_regs does:
 * SIMP and SIEFP at the given 4 KiB-aligned pages, then SCONTROL. The
 * SINTs are left as they are (masked after reset). False if any write
 * raised #GP. */
bool hv_synic_enable(void* simp_page, void* siefp_page);
/* SCONTROL, SIMP and SIEFP disabled again (SINTs untouched). */
void hv_synic_disable(void);
/* SINTx value: unmasked, edge, vector. */
static inline uint64_t hv_sint_value(uint8_t vector) { return (uint64_t)vector << HV_SYNIC_SINT_VECTOR_SHIFT; }
/* The guest's half of the message protocol: MessageType = 0, a full
 * barrier, then EOM if MessagePending was set, so the hypervisor retries
 * the message it queued behind this one (Linux's vmbus_signal_eom). Returns
 * whether EOM was written. */
bool hv_message_ack(volatile hv_message* slot);

#ifdef __cplusplus
}
#endif
