/*
 * enlight/tlfs.h - every Hyper-V wire number, in one place.
 *
 * This header is the single home of each number that crosses the guest/VMM
 * boundary for the Hyper-V enlightenments: CPUID leaves and bits, synthetic
 * MSR indices and field layouts, hypercall codes, status codes and input
 * layouts, SynIC message formats, synthetic debugger registers and the VMBus
 * basics. Plugins include it instead of writing literals, so a number can
 * only be wrong here, and can be checked here against its source.
 *
 * Names are spelled the way the Microsoft Hypervisor Top-Level Functional
 * Specification (TLFS) spells them (HV_X64_MSR_*, HV_STATUS_*, HvCall*,
 * HvExtCall*, HvMessageType*, privilege and feature names turned into
 * HV_* macros), so any name can be searched for in the TLFS. The TLFS is the
 * authority. It is cited by topic page of the online edition
 * (learn.microsoft.com/virtualization/hyper-v-on-windows/tlfs/...), e.g.
 * "TLFS Feature Discovery" or "TLFS datatypes/HV_MESSAGE_TYPE", because the
 * online edition has no chapter numbers and the chapter numbers of the
 * printed revisions differ from one revision to the next.
 *
 * Where a number is not in the TLFS, the comment says where it comes from:
 * Linux (include/asm-generic/hyperv-tlfs.h,
 * arch/x86/include/asm/hyperv-tlfs.h, include/linux/hyperv.h), KVM
 * (arch/x86/kvm/hyperv.c), QEMU (target/i386/kvm, hw/hyperv) or Microsoft's
 * own published headers (mu_msvm, hvgdk). "UNVERIFIED" marks the few numbers
 * that could not be confirmed in a primary source. The TLFS does not define
 * VMBus at all; the VMBus section uses Linux's names.
 *
 * Conventions:
 *   - NAME_BIT is a bit number and NAME is the matching single-bit mask.
 *     Every single-bit constant has both; HV_MESSAGE_TYPE_HYPERVISOR keeps
 *     the TLFS's _MASK suffix on its mask. (Linux's HV_HYPERCALL_FAST_BIT is
 *     a mask; here a _BIT suffix always means a bit number.)
 *   - Multi-bit fields are NAME_SHIFT plus NAME_MASK, the mask already
 *     shifted into place: field = (reg & NAME_MASK) >> NAME_SHIFT.
 *   - CPUID registers and 32-bit structure fields use UINT32_C; MSRs, the
 *     hypercall input/result values and other 64-bit registers use
 *     UINT64_C. Indices, codes, counts, sizes and byte offsets are UINT32_C,
 *     so compare them against unsigned variables.
 *   - *_OFFSET is a byte offset inside a little-endian wire structure and
 *     *_SIZE its size in bytes.
 *
 * This file must stay valid C99 and C++20: #define only, no enums, no
 * namespaces, no other includes than <stdint.h>.
 */

#pragma once

#include <stdint.h>

/* ========================================================================= */
/* CPUID leaves (TLFS Feature Discovery)                                     */
/* ========================================================================= */
/*
 * Hypervisor CPUID leaves. 0x40000000..0x40000005 are what the TLFS
 * guarantees to an "Hv#1" guest; 0x40000006..0x4000000A are only present
 * when the maximum leaf reaches them (QEMU raises it to 0x4000000A when a
 * nested enlightenment is on). 0x40000080..0x40000082 are the
 * synthetic-debugger leaves used by KDNET: not in the TLFS, numbers from
 * Linux/KVM (arch/x86/kvm/hyperv.h, where KVM calls them deprecated) and
 * QEMU hv-syndbg.
 */
#define HV_CPUID_VENDOR_AND_MAX_FUNCTIONS        UINT32_C(0x40000000)
#define HV_CPUID_INTERFACE                       UINT32_C(0x40000001)
#define HV_CPUID_VERSION                         UINT32_C(0x40000002)
#define HV_CPUID_FEATURES                        UINT32_C(0x40000003)
#define HV_CPUID_ENLIGHTENMENT_INFO              UINT32_C(0x40000004)
#define HV_CPUID_IMPLEMENT_LIMITS                UINT32_C(0x40000005)
#define HV_CPUID_HARDWARE_FEATURES               UINT32_C(0x40000006)
/* Linux name; TLFS leaves it undescribed */
#define HV_CPUID_CPU_MANAGEMENT_FEATURES         UINT32_C(0x40000007)
/* UNVERIFIED: not described in the TLFS */
#define HV_CPUID_SVM_FEATURES                    UINT32_C(0x40000008)
#define HV_CPUID_NESTED_FEATURES                 UINT32_C(0x40000009)
#define HV_CPUID_NESTED_OPTIMIZATIONS            UINT32_C(0x4000000A)
#define HV_CPUID_SYNDBG_VENDOR_AND_MAX_FUNCTIONS UINT32_C(0x40000080)
#define HV_CPUID_SYNDBG_INTERFACE                UINT32_C(0x40000081)
#define HV_CPUID_SYNDBG_PLATFORM_CAPABILITIES    UINT32_C(0x40000082)

/*
 * The TLFS requires 0x40000000.EAX >= 0x40000005 on a Microsoft hypervisor;
 * guests check this before trusting the "Hv#1" interface.
 */
#define HV_CPUID_MIN_MAX_LEAF            UINT32_C(0x40000005)

/*
 * KVM's own paravirtual leaves move from 0x40000000 to here when Hyper-V
 * identity is on (KVM/QEMU behaviour, not TLFS), so a guest can still find
 * "KVMKVMKVM".
 */
#define HV_CPUID_KVM_LEAVES_BASE         UINT32_C(0x40000100)

/*
 * 0x40000000 EBX/ECX/EDX vendor string "Microsoft Hv" (TLFS Feature
 * Discovery; informational only, guests must key on the interface
 * signature).
 */
#define HV_CPUID_SIGNATURE_EBX           UINT32_C(0x7263694D)  /* "Micr" */
#define HV_CPUID_SIGNATURE_ECX           UINT32_C(0x666F736F)  /* "osof" */
#define HV_CPUID_SIGNATURE_EDX           UINT32_C(0x76482074)  /* "t Hv" */

/*
 * Vendor string "Linux KVM Hv" that KVM_GET_SUPPORTED_HV_CPUID reports and
 * that QEMU's hv-passthrough copies into the guest (KVM, not TLFS).
 */
#define HV_CPUID_KVM_SIGNATURE_EBX       UINT32_C(0x756E694C)  /* "Linu" */
#define HV_CPUID_KVM_SIGNATURE_ECX       UINT32_C(0x564B2078)  /* "x KV" */
#define HV_CPUID_KVM_SIGNATURE_EDX       UINT32_C(0x7648204D)  /* "M Hv" */

/*
 * 0x40000001.EAX interface signature (TLFS Feature Discovery). "Hv#1"
 * promises HV_X64_MSR_GUEST_OS_ID, HV_X64_MSR_HYPERCALL and
 * HV_X64_MSR_VP_INDEX.
 */
#define HV_CPUID_INTERFACE_SIGNATURE     UINT32_C(0x31237648)  /* "Hv#1" */

/*
 * Synthetic-debugger leaves (QEMU hv-syndbg; not TLFS). QEMU reports vendor
 * "Microsoft VS" in 0x40000080 and "VS#1" in 0x40000081.EAX; KVM reports its
 * "Linux KVM Hv" vendor instead.
 */
#define HV_CPUID_SYNDBG_SIGNATURE_EBX        UINT32_C(0x7263694D)  /* "Micr" */
#define HV_CPUID_SYNDBG_SIGNATURE_ECX        UINT32_C(0x666F736F)  /* "osof" */
#define HV_CPUID_SYNDBG_SIGNATURE_EDX        UINT32_C(0x53562074)  /* "t VS" */
#define HV_CPUID_SYNDBG_INTERFACE_SIGNATURE  UINT32_C(0x31235356)  /* "VS#1" */
/* 0x40000082.EAX; KVM checks it on every SynDbg MSR access */
#define HV_SYNDBG_ALLOW_KERNEL_DEBUGGING_BIT UINT32_C(1)
#define HV_SYNDBG_ALLOW_KERNEL_DEBUGGING     (UINT32_C(1) << 1)

/*
 * 0x40000002 hypervisor version (TLFS Feature Discovery): EAX build number,
 * EBX major:minor, ECX service pack, EDX service branch:service number.
 */
#define HV_VERSION_MAJOR_SHIFT           UINT32_C(16)
#define HV_VERSION_MAJOR_MASK            (UINT32_C(0xFFFF) << 16)
#define HV_VERSION_MINOR_SHIFT           UINT32_C(0)
#define HV_VERSION_MINOR_MASK            UINT32_C(0xFFFF)
#define HV_VERSION_SERVICE_BRANCH_SHIFT  UINT32_C(24)
#define HV_VERSION_SERVICE_BRANCH_MASK   (UINT32_C(0xFF) << 24)
#define HV_VERSION_SERVICE_NUMBER_SHIFT  UINT32_C(0)
#define HV_VERSION_SERVICE_NUMBER_MASK   UINT32_C(0xFFFFFF)

/*
 * QEMU's defaults for 0x40000002 (hv-version-id-*): Windows Server 2016,
 * build 14393, version 10.0. Machine types up to pc-*-6.1 report Windows
 * Server 2008 R2 instead (QEMU pc_compat_6_1).
 */
#define HV_DEFAULT_BUILD_NUMBER          UINT32_C(0x3839)  /* 14393 */
#define HV_DEFAULT_VERSION_MAJOR         UINT32_C(10)
#define HV_DEFAULT_VERSION_MINOR         UINT32_C(0)
#define HV_WS2008R2_BUILD_NUMBER         UINT32_C(0x1BBC)  /* 7100 */
#define HV_WS2008R2_VERSION_MAJOR        UINT32_C(6)
#define HV_WS2008R2_VERSION_MINOR        UINT32_C(1)

/*
 * 0x40000003.EAX: partition privilege mask bits 31:0 (TLFS
 * datatypes/HV_PARTITION_PRIVILEGE_MASK). Each bit gates a group of
 * synthetic MSRs; QEMU always sets HV_ACCESS_HYPERCALL_MSRS when Hyper-V is
 * on.
 */
#define HV_ACCESS_VP_RUNTIME_REG_BIT              UINT32_C(0)
#define HV_ACCESS_VP_RUNTIME_REG                  (UINT32_C(1) << 0)
#define HV_ACCESS_PARTITION_REFERENCE_COUNTER_BIT UINT32_C(1)
#define HV_ACCESS_PARTITION_REFERENCE_COUNTER     (UINT32_C(1) << 1)
#define HV_ACCESS_SYNIC_REGS_BIT                  UINT32_C(2)
#define HV_ACCESS_SYNIC_REGS                      (UINT32_C(1) << 2)
#define HV_ACCESS_SYNTHETIC_TIMER_REGS_BIT        UINT32_C(3)
#define HV_ACCESS_SYNTHETIC_TIMER_REGS            (UINT32_C(1) << 3)
#define HV_ACCESS_INTR_CTRL_REGS_BIT              UINT32_C(4)
#define HV_ACCESS_INTR_CTRL_REGS                  (UINT32_C(1) << 4)
#define HV_ACCESS_HYPERCALL_MSRS_BIT              UINT32_C(5)
#define HV_ACCESS_HYPERCALL_MSRS                  (UINT32_C(1) << 5)
#define HV_ACCESS_VP_INDEX_BIT                    UINT32_C(6)
#define HV_ACCESS_VP_INDEX                        (UINT32_C(1) << 6)
#define HV_ACCESS_RESET_REG_BIT                   UINT32_C(7)
#define HV_ACCESS_RESET_REG                       (UINT32_C(1) << 7)
#define HV_ACCESS_STATS_REG_BIT                   UINT32_C(8)
#define HV_ACCESS_STATS_REG                       (UINT32_C(1) << 8)
#define HV_ACCESS_PARTITION_REFERENCE_TSC_BIT     UINT32_C(9)
#define HV_ACCESS_PARTITION_REFERENCE_TSC         (UINT32_C(1) << 9)
#define HV_ACCESS_GUEST_IDLE_REG_BIT              UINT32_C(10)
#define HV_ACCESS_GUEST_IDLE_REG                  (UINT32_C(1) << 10)
#define HV_ACCESS_FREQUENCY_REGS_BIT              UINT32_C(11)
#define HV_ACCESS_FREQUENCY_REGS                  (UINT32_C(1) << 11)
/* TLFS privilege struct; unused by Linux/KVM/QEMU */
#define HV_ACCESS_DEBUG_REGS_BIT                  UINT32_C(12)
#define HV_ACCESS_DEBUG_REGS                      (UINT32_C(1) << 12)
#define HV_ACCESS_REENLIGHTENMENT_CONTROLS_BIT    UINT32_C(13)
#define HV_ACCESS_REENLIGHTENMENT_CONTROLS        (UINT32_C(1) << 13)
/* Linux/KVM only; reserved in the TLFS */
#define HV_ACCESS_TSC_INVARIANT_CONTROLS_BIT      UINT32_C(15)
#define HV_ACCESS_TSC_INVARIANT_CONTROLS          (UINT32_C(1) << 15)

/*
 * 0x40000003.EBX: partition privilege mask bits 63:32 (TLFS
 * datatypes/HV_PARTITION_PRIVILEGE_MASK), numbered here from bit 0 of EBX.
 * Each bit gates hypercalls; QEMU sets PostMessages/SignalEvents with
 * hv-synic.
 */
#define HV_CREATE_PARTITIONS_BIT          UINT32_C(0)
#define HV_CREATE_PARTITIONS              (UINT32_C(1) << 0)
#define HV_ACCESS_PARTITION_ID_BIT        UINT32_C(1)
#define HV_ACCESS_PARTITION_ID            (UINT32_C(1) << 1)
#define HV_ACCESS_MEMORY_POOL_BIT         UINT32_C(2)
#define HV_ACCESS_MEMORY_POOL             (UINT32_C(1) << 2)
/* Linux name; reserved in the current TLFS */
#define HV_ADJUST_MESSAGE_BUFFERS_BIT     UINT32_C(3)
#define HV_ADJUST_MESSAGE_BUFFERS         (UINT32_C(1) << 3)
#define HV_POST_MESSAGES_BIT              UINT32_C(4)
#define HV_POST_MESSAGES                  (UINT32_C(1) << 4)
#define HV_SIGNAL_EVENTS_BIT              UINT32_C(5)
#define HV_SIGNAL_EVENTS                  (UINT32_C(1) << 5)
#define HV_CREATE_PORT_BIT                UINT32_C(6)
#define HV_CREATE_PORT                    (UINT32_C(1) << 6)
#define HV_CONNECT_PORT_BIT               UINT32_C(7)
#define HV_CONNECT_PORT                   (UINT32_C(1) << 7)
#define HV_ACCESS_STATS_BIT               UINT32_C(8)
#define HV_ACCESS_STATS                   (UINT32_C(1) << 8)
#define HV_DEBUGGING_BIT                  UINT32_C(11)
#define HV_DEBUGGING                      (UINT32_C(1) << 11)
#define HV_CPU_MANAGEMENT_BIT             UINT32_C(12)
#define HV_CPU_MANAGEMENT                 (UINT32_C(1) << 12)
#define HV_ACCESS_VSM_BIT                 UINT32_C(16)
#define HV_ACCESS_VSM                     (UINT32_C(1) << 16)
#define HV_ACCESS_VP_REGISTERS_BIT        UINT32_C(17)
#define HV_ACCESS_VP_REGISTERS            (UINT32_C(1) << 17)
#define HV_ENABLE_EXTENDED_HYPERCALLS_BIT UINT32_C(20)
#define HV_ENABLE_EXTENDED_HYPERCALLS     (UINT32_C(1) << 20)
#define HV_START_VIRTUAL_PROCESSOR_BIT    UINT32_C(21)
#define HV_START_VIRTUAL_PROCESSOR        (UINT32_C(1) << 21)
#define HV_ISOLATION_BIT                  UINT32_C(22)  /* Linux name; reserved in the TLFS */
#define HV_ISOLATION                      (UINT32_C(1) << 22)

/*
 * 0x40000003.EDX: miscellaneous features (TLFS Feature Discovery). Bit 0 is
 * deprecated (was MWAIT). QEMU always sets CPU dynamic partitioning because
 * Windows needs it for CPU hotplug.
 */
#define HV_FEATURE_GUEST_DEBUGGING_AVAILABLE_BIT               UINT32_C(1)
#define HV_FEATURE_GUEST_DEBUGGING_AVAILABLE                   (UINT32_C(1) << 1)
#define HV_FEATURE_PERFORMANCE_MONITOR_AVAILABLE_BIT           UINT32_C(2)
#define HV_FEATURE_PERFORMANCE_MONITOR_AVAILABLE               (UINT32_C(1) << 2)
#define HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE_BIT      UINT32_C(3)
#define HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE          (UINT32_C(1) << 3)
#define HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE_BIT           UINT32_C(4)
#define HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE               (UINT32_C(1) << 4)
#define HV_FEATURE_GUEST_IDLE_STATE_AVAILABLE_BIT              UINT32_C(5)
#define HV_FEATURE_GUEST_IDLE_STATE_AVAILABLE                  (UINT32_C(1) << 5)
#define HV_FEATURE_HYPERVISOR_SLEEP_STATE_AVAILABLE_BIT        UINT32_C(6)
#define HV_FEATURE_HYPERVISOR_SLEEP_STATE_AVAILABLE            (UINT32_C(1) << 6)
#define HV_FEATURE_NUMA_DISTANCE_QUERY_AVAILABLE_BIT           UINT32_C(7)
#define HV_FEATURE_NUMA_DISTANCE_QUERY_AVAILABLE               (UINT32_C(1) << 7)
#define HV_FEATURE_FREQUENCY_REGS_AVAILABLE_BIT                UINT32_C(8)
#define HV_FEATURE_FREQUENCY_REGS_AVAILABLE                    (UINT32_C(1) << 8)
#define HV_FEATURE_SYNTHETIC_MACHINE_CHECK_AVAILABLE_BIT       UINT32_C(9)
#define HV_FEATURE_SYNTHETIC_MACHINE_CHECK_AVAILABLE           (UINT32_C(1) << 9)
#define HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE_BIT               UINT32_C(10)
#define HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE                   (UINT32_C(1) << 10)
#define HV_FEATURE_DEBUG_MSRS_AVAILABLE_BIT                    UINT32_C(11)
#define HV_FEATURE_DEBUG_MSRS_AVAILABLE                        (UINT32_C(1) << 11)
#define HV_FEATURE_NPIEP_AVAILABLE_BIT                         UINT32_C(12)
#define HV_FEATURE_NPIEP_AVAILABLE                             (UINT32_C(1) << 12)
#define HV_FEATURE_DISABLE_HYPERVISOR_AVAILABLE_BIT            UINT32_C(13)
#define HV_FEATURE_DISABLE_HYPERVISOR_AVAILABLE                (UINT32_C(1) << 13)
#define HV_FEATURE_EXTENDED_GVA_RANGES_FLUSH_AVAILABLE_BIT     UINT32_C(14)
#define HV_FEATURE_EXTENDED_GVA_RANGES_FLUSH_AVAILABLE         (UINT32_C(1) << 14)
#define HV_FEATURE_XMM_HYPERCALL_OUTPUT_AVAILABLE_BIT          UINT32_C(15)
#define HV_FEATURE_XMM_HYPERCALL_OUTPUT_AVAILABLE              (UINT32_C(1) << 15)
#define HV_FEATURE_SINT_POLLING_MODE_AVAILABLE_BIT             UINT32_C(17)
#define HV_FEATURE_SINT_POLLING_MODE_AVAILABLE                 (UINT32_C(1) << 17)
#define HV_FEATURE_HYPERCALL_MSR_LOCK_AVAILABLE_BIT            UINT32_C(18)
#define HV_FEATURE_HYPERCALL_MSR_LOCK_AVAILABLE                (UINT32_C(1) << 18)
#define HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE_BIT       UINT32_C(19)
#define HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE           (UINT32_C(1) << 19)
#define HV_FEATURE_VSM_PAT_AVAILABLE_BIT                       UINT32_C(20)
#define HV_FEATURE_VSM_PAT_AVAILABLE                           (UINT32_C(1) << 20)
#define HV_FEATURE_VSM_BNDCFGS_AVAILABLE_BIT                   UINT32_C(21)
#define HV_FEATURE_VSM_BNDCFGS_AVAILABLE                       (UINT32_C(1) << 21)
#define HV_FEATURE_SYNTHETIC_TIME_UNHALTED_TIMER_AVAILABLE_BIT UINT32_C(23)
#define HV_FEATURE_SYNTHETIC_TIME_UNHALTED_TIMER_AVAILABLE     (UINT32_C(1) << 23)
#define HV_FEATURE_LBR_AVAILABLE_BIT                           UINT32_C(26)
#define HV_FEATURE_LBR_AVAILABLE                               (UINT32_C(1) << 26)

/*
 * 0x40000004.EAX: implementation recommendations (TLFS Feature Discovery).
 * QEMU sets MSR_APIC_ACCESS for hv-vapic unless hv-avic is on. Bit 8 is "use
 * x2APIC MSRs" in the TLFS source table but "Reserved" in its rendered
 * table.
 */
#define HV_RECOMMEND_ADDRESS_SPACE_SWITCH_HYPERCALL_BIT    UINT32_C(0)
#define HV_RECOMMEND_ADDRESS_SPACE_SWITCH_HYPERCALL        (UINT32_C(1) << 0)
#define HV_RECOMMEND_LOCAL_TLB_FLUSH_HYPERCALL_BIT         UINT32_C(1)
#define HV_RECOMMEND_LOCAL_TLB_FLUSH_HYPERCALL             (UINT32_C(1) << 1)
#define HV_RECOMMEND_REMOTE_TLB_FLUSH_HYPERCALL_BIT        UINT32_C(2)
#define HV_RECOMMEND_REMOTE_TLB_FLUSH_HYPERCALL            (UINT32_C(1) << 2)
#define HV_RECOMMEND_MSR_APIC_ACCESS_BIT                   UINT32_C(3)
#define HV_RECOMMEND_MSR_APIC_ACCESS                       (UINT32_C(1) << 3)
#define HV_RECOMMEND_MSR_RESET_BIT                         UINT32_C(4)
#define HV_RECOMMEND_MSR_RESET                             (UINT32_C(1) << 4)
#define HV_RECOMMEND_RELAXED_TIMING_BIT                    UINT32_C(5)
#define HV_RECOMMEND_RELAXED_TIMING                        (UINT32_C(1) << 5)
#define HV_RECOMMEND_DMA_REMAPPING_BIT                     UINT32_C(6)
#define HV_RECOMMEND_DMA_REMAPPING                         (UINT32_C(1) << 6)
#define HV_RECOMMEND_INTERRUPT_REMAPPING_BIT               UINT32_C(7)
#define HV_RECOMMEND_INTERRUPT_REMAPPING                   (UINT32_C(1) << 7)
#define HV_RECOMMEND_X2APIC_MSRS_BIT                       UINT32_C(8)
#define HV_RECOMMEND_X2APIC_MSRS                           (UINT32_C(1) << 8)
#define HV_RECOMMEND_DEPRECATE_AUTO_EOI_BIT                UINT32_C(9)
#define HV_RECOMMEND_DEPRECATE_AUTO_EOI                    (UINT32_C(1) << 9)
#define HV_RECOMMEND_SYNTHETIC_CLUSTER_IPI_BIT             UINT32_C(10)
#define HV_RECOMMEND_SYNTHETIC_CLUSTER_IPI                 (UINT32_C(1) << 10)
#define HV_RECOMMEND_EX_PROCESSOR_MASKS_BIT                UINT32_C(11)
#define HV_RECOMMEND_EX_PROCESSOR_MASKS                    (UINT32_C(1) << 11)
#define HV_RECOMMEND_NESTED_BIT                            UINT32_C(12)
#define HV_RECOMMEND_NESTED                                (UINT32_C(1) << 12)
#define HV_RECOMMEND_INT_FOR_MBEC_SYSCALLS_BIT             UINT32_C(13)
#define HV_RECOMMEND_INT_FOR_MBEC_SYSCALLS                 (UINT32_C(1) << 13)
#define HV_RECOMMEND_ENLIGHTENED_VMCS_BIT                  UINT32_C(14)
#define HV_RECOMMEND_ENLIGHTENED_VMCS                      (UINT32_C(1) << 14)
#define HV_RECOMMEND_SYNCED_TIMELINE_BIT                   UINT32_C(15)
#define HV_RECOMMEND_SYNCED_TIMELINE                       (UINT32_C(1) << 15)
#define HV_RECOMMEND_DIRECT_LOCAL_FLUSH_ENTIRE_BIT         UINT32_C(17)
#define HV_RECOMMEND_DIRECT_LOCAL_FLUSH_ENTIRE             (UINT32_C(1) << 17)
#define HV_RECOMMEND_NO_NON_ARCHITECTURAL_CORE_SHARING_BIT UINT32_C(18)
#define HV_RECOMMEND_NO_NON_ARCHITECTURAL_CORE_SHARING     (UINT32_C(1) << 18)

/*
 * 0x40000004.EBX: spinlock retries before HvCallNotifyLongSpinWait. The TLFS
 * Feature Discovery page says 0xFFFFFFFF means never notify (TLFS VP
 * Properties says 0 instead); QEMU defaults to it. 0x40000004.ECX 6:0 is the
 * implemented physical address width, 0 meaning not reported.
 */
#define HV_SPINLOCK_NEVER_NOTIFY                   UINT32_C(0xFFFFFFFF)
#define HV_IMPLEMENTED_PHYSICAL_ADDRESS_BITS_SHIFT UINT32_C(0)
#define HV_IMPLEMENTED_PHYSICAL_ADDRESS_BITS_MASK  UINT32_C(0x7F)

/*
 * 0x40000005 implementation limits: QEMU's defaults. EAX 0xFFFFFFFF means no
 * specific limit (x-hv-max-vps=-1); EBX is fixed at 64.
 */
#define HV_DEFAULT_MAX_VIRTUAL_PROCESSORS UINT32_C(0xFFFFFFFF)
#define HV_DEFAULT_MAX_LOGICAL_PROCESSORS UINT32_C(64)

/*
 * 0x4000000A nested optimizations (TLFS Feature Discovery). QEMU's hv-evmcs
 * puts eVMCS version range 1..1 (0x0101) in EAX 15:0. Bits 21, 22 and EBX
 * bit 0 are not in the TLFS revision read; they come from Linux/KVM.
 */
#define HV_NESTED_EVMCS_VERSION_LOW_SHIFT         UINT32_C(0)
#define HV_NESTED_EVMCS_VERSION_LOW_MASK          UINT32_C(0xFF)
#define HV_NESTED_EVMCS_VERSION_HIGH_SHIFT        UINT32_C(8)
#define HV_NESTED_EVMCS_VERSION_HIGH_MASK         (UINT32_C(0xFF) << 8)
#define HV_NESTED_DIRECT_FLUSH_BIT                UINT32_C(17)
#define HV_NESTED_DIRECT_FLUSH                    (UINT32_C(1) << 17)
#define HV_NESTED_GPA_FLUSH_BIT                   UINT32_C(18)
#define HV_NESTED_GPA_FLUSH                       (UINT32_C(1) << 18)
#define HV_NESTED_MSR_BITMAP_BIT                  UINT32_C(19)
#define HV_NESTED_MSR_BITMAP                      (UINT32_C(1) << 19)
#define HV_NESTED_VIRT_EXCEPTIONS_IN_PF_CLASS_BIT UINT32_C(20)
#define HV_NESTED_VIRT_EXCEPTIONS_IN_PF_CLASS     (UINT32_C(1) << 20)
#define HV_NESTED_NONZERO_GUEST_DEBUGCTL_BIT      UINT32_C(21)  /* Linux/KVM */
#define HV_NESTED_NONZERO_GUEST_DEBUGCTL          (UINT32_C(1) << 21)
#define HV_NESTED_ENLIGHTENED_TLB_BIT             UINT32_C(22)  /* Linux/KVM; AMD only */
#define HV_NESTED_ENLIGHTENED_TLB                 (UINT32_C(1) << 22)
#define HV_NESTED_EVMCS_PERF_GLOBAL_CTRL_BIT      UINT32_C(0)  /* 0x4000000A.EBX; Linux/KVM */
#define HV_NESTED_EVMCS_PERF_GLOBAL_CTRL          (UINT32_C(1) << 0)
/*
 * The one eVMCS version KVM implements (arch/x86/kvm/vmx/hyperv_evmcs.h
 * KVM_EVMCS_VERSION). QEMU's hv-evmcs asks for the range 1..1 and puts it in
 * 0x4000000A.EAX 15:0 as low | high << 8 = 0x0101 (QEMU kvm.c
 * DEFAULT_EVMCS_VERSION), whatever wider range KVM would offer.
 */
#define KVM_EVMCS_VERSION                         UINT32_C(1)

/* ========================================================================= */
/* Synthetic MSR indices                                                     */
/* ========================================================================= */
/*
 * Indices as given by the TLFS topic pages that define the registers
 * (Hypercall Interface, VP Properties, Partition Properties, Timers, Virtual
 * Interrupt Control, Inter-Partition Communication). Where a TLFS page names
 * a register without giving its index (e.g. VP_RUNTIME, GUEST_IDLE), the
 * index is Linux's (arch/x86/include/asm/hyperv-tlfs.h), which KVM and QEMU
 * share. The SynDbg, reenlightenment and TSC-invariant MSRs are not in the
 * TLFS at all; they are marked where they appear.
 */

/*
 * Range a VMM dispatches with a direct array. The range is this project's
 * choice, not an architectural one: it is the smallest power-of-two-aligned
 * window covering every synthetic MSR below.
 */
#define HV_X64_MSR_SYNTHETIC_FIRST       UINT32_C(0x40000000)
#define HV_X64_MSR_SYNTHETIC_LAST        UINT32_C(0x400001FF)

/*
 * Hypercall interface, VP identity and reset.
 */
#define HV_X64_MSR_GUEST_OS_ID           UINT32_C(0x40000000)
#define HV_X64_MSR_HYPERCALL             UINT32_C(0x40000001)
#define HV_X64_MSR_VP_INDEX              UINT32_C(0x40000002)
#define HV_X64_MSR_RESET                 UINT32_C(0x40000003)
#define HV_X64_MSR_VP_RUNTIME            UINT32_C(0x40000010)

/*
 * Partition reference time and frequencies.
 */
#define HV_X64_MSR_TIME_REF_COUNT        UINT32_C(0x40000020)
#define HV_X64_MSR_REFERENCE_TSC         UINT32_C(0x40000021)
#define HV_X64_MSR_TSC_FREQUENCY         UINT32_C(0x40000022)
#define HV_X64_MSR_APIC_FREQUENCY        UINT32_C(0x40000023)

/*
 * Virtual APIC access and the VP assist page.
 */
#define HV_X64_MSR_EOI                   UINT32_C(0x40000070)
#define HV_X64_MSR_ICR                   UINT32_C(0x40000071)
#define HV_X64_MSR_TPR                   UINT32_C(0x40000072)
#define HV_X64_MSR_VP_ASSIST_PAGE        UINT32_C(0x40000073)

/*
 * SynIC control registers and the 16 synthetic interrupt sources.
 */
#define HV_X64_MSR_SCONTROL              UINT32_C(0x40000080)
#define HV_X64_MSR_SVERSION              UINT32_C(0x40000081)
#define HV_X64_MSR_SIEFP                 UINT32_C(0x40000082)
#define HV_X64_MSR_SIMP                  UINT32_C(0x40000083)
#define HV_X64_MSR_EOM                   UINT32_C(0x40000084)
#define HV_X64_MSR_SINT0                 UINT32_C(0x40000090)
#define HV_X64_MSR_SINT1                 UINT32_C(0x40000091)
#define HV_X64_MSR_SINT2                 UINT32_C(0x40000092)
#define HV_X64_MSR_SINT3                 UINT32_C(0x40000093)
#define HV_X64_MSR_SINT4                 UINT32_C(0x40000094)
#define HV_X64_MSR_SINT5                 UINT32_C(0x40000095)
#define HV_X64_MSR_SINT6                 UINT32_C(0x40000096)
#define HV_X64_MSR_SINT7                 UINT32_C(0x40000097)
#define HV_X64_MSR_SINT8                 UINT32_C(0x40000098)
#define HV_X64_MSR_SINT9                 UINT32_C(0x40000099)
#define HV_X64_MSR_SINT10                UINT32_C(0x4000009A)
#define HV_X64_MSR_SINT11                UINT32_C(0x4000009B)
#define HV_X64_MSR_SINT12                UINT32_C(0x4000009C)
#define HV_X64_MSR_SINT13                UINT32_C(0x4000009D)
#define HV_X64_MSR_SINT14                UINT32_C(0x4000009E)
#define HV_X64_MSR_SINT15                UINT32_C(0x4000009F)

/*
 * Synthetic timers: CONFIGn = 0x400000B0 + 2n, COUNTn = 0x400000B1 + 2n.
 */
#define HV_X64_MSR_STIMER0_CONFIG        UINT32_C(0x400000B0)
#define HV_X64_MSR_STIMER0_COUNT         UINT32_C(0x400000B1)
#define HV_X64_MSR_STIMER1_CONFIG        UINT32_C(0x400000B2)
#define HV_X64_MSR_STIMER1_COUNT         UINT32_C(0x400000B3)
#define HV_X64_MSR_STIMER2_CONFIG        UINT32_C(0x400000B4)
#define HV_X64_MSR_STIMER2_COUNT         UINT32_C(0x400000B5)
#define HV_X64_MSR_STIMER3_CONFIG        UINT32_C(0x400000B6)
#define HV_X64_MSR_STIMER3_COUNT         UINT32_C(0x400000B7)

/*
 * Guest idle (TLFS); not implemented by KVM.
 */
#define HV_X64_MSR_GUEST_IDLE            UINT32_C(0x400000F0)

/*
 * Synthetic debugger transport used by KDNET. Not in the TLFS: numbers from
 * Linux/KVM and QEMU hv-syndbg.
 */
#define HV_X64_MSR_SYNDBG_CONTROL        UINT32_C(0x400000F1)
#define HV_X64_MSR_SYNDBG_STATUS         UINT32_C(0x400000F2)
#define HV_X64_MSR_SYNDBG_SEND_BUFFER    UINT32_C(0x400000F3)
#define HV_X64_MSR_SYNDBG_RECV_BUFFER    UINT32_C(0x400000F4)
#define HV_X64_MSR_SYNDBG_PENDING_BUFFER UINT32_C(0x400000F5)
#define HV_X64_MSR_SYNDBG_OPTIONS        UINT32_C(0x400000FF)

/*
 * Guest crash reporting (TLFS Partition Properties).
 */
#define HV_X64_MSR_CRASH_P0              UINT32_C(0x40000100)
#define HV_X64_MSR_CRASH_P1              UINT32_C(0x40000101)
#define HV_X64_MSR_CRASH_P2              UINT32_C(0x40000102)
#define HV_X64_MSR_CRASH_P3              UINT32_C(0x40000103)
#define HV_X64_MSR_CRASH_P4              UINT32_C(0x40000104)
#define HV_X64_MSR_CRASH_CTL             UINT32_C(0x40000105)
#define HV_X64_MSR_CRASH_PARAMS          UINT32_C(5)  /* count of CRASH_P0..P4 */

/*
 * TSC reenlightenment after migration. The TLFS only names the privilege
 * bit; indices and layouts come from Linux
 * (arch/x86/include/asm/hyperv-tlfs.h) and KVM.
 */
#define HV_X64_MSR_REENLIGHTENMENT_CONTROL UINT32_C(0x40000106)
#define HV_X64_MSR_TSC_EMULATION_CONTROL   UINT32_C(0x40000107)
#define HV_X64_MSR_TSC_EMULATION_STATUS    UINT32_C(0x40000108)

/*
 * Synthetic time-unhalted timer (TLFS Timers); not in QEMU or KVM.
 */
#define HV_X64_MSR_STIME_UNHALTED_TIMER_CONFIG UINT32_C(0x40000114)
#define HV_X64_MSR_STIME_UNHALTED_TIMER_COUNT  UINT32_C(0x40000115)

/*
 * Invariant-TSC opt-in. Not in the TLFS; Linux/KVM, gated by
 * HV_ACCESS_TSC_INVARIANT_CONTROLS.
 */
#define HV_X64_MSR_TSC_INVARIANT_CONTROL UINT32_C(0x40000118)

/* ========================================================================= */
/* Synthetic MSR layouts                                                     */
/* ========================================================================= */
/*
 * Field layouts of the MSRs above. Page-address MSRs share one shape: bit 0
 * enable, RsvdP bits preserved on write, GPA page number in 63:12.
 */

/*
 * HV_X64_MSR_GUEST_OS_ID (TLFS Hypercall Interface, "Reporting the Guest OS
 * Identity"). Bit 63 selects the encoding. Proprietary form: build, service
 * version, minor, major, OS id (vendor specific), vendor id. Open-source
 * form: build, upstream version, OS id, OS type.
 */
#define HV_GUEST_OS_ID_OPEN_SOURCE_BIT       UINT32_C(63)
#define HV_GUEST_OS_ID_OPEN_SOURCE           (UINT64_C(1) << 63)
#define HV_GUEST_OS_ID_BUILD_SHIFT           UINT32_C(0)
#define HV_GUEST_OS_ID_BUILD_MASK            UINT64_C(0xFFFF)
#define HV_GUEST_OS_ID_SERVICE_VERSION_SHIFT UINT32_C(16)
#define HV_GUEST_OS_ID_SERVICE_VERSION_MASK  (UINT64_C(0xFF) << 16)
#define HV_GUEST_OS_ID_MINOR_VERSION_SHIFT   UINT32_C(24)
#define HV_GUEST_OS_ID_MINOR_VERSION_MASK    (UINT64_C(0xFF) << 24)
#define HV_GUEST_OS_ID_MAJOR_VERSION_SHIFT   UINT32_C(32)
#define HV_GUEST_OS_ID_MAJOR_VERSION_MASK    (UINT64_C(0xFF) << 32)
#define HV_GUEST_OS_ID_OS_ID_SHIFT           UINT32_C(40)
#define HV_GUEST_OS_ID_OS_ID_MASK            (UINT64_C(0xFF) << 40)
#define HV_GUEST_OS_ID_VENDOR_ID_SHIFT       UINT32_C(48)
#define HV_GUEST_OS_ID_VENDOR_ID_MASK        (UINT64_C(0x7FFF) << 48)
#define HV_GUEST_OS_ID_OSS_BUILD_SHIFT       UINT32_C(0)
#define HV_GUEST_OS_ID_OSS_BUILD_MASK        UINT64_C(0xFFFF)
#define HV_GUEST_OS_ID_OSS_VERSION_SHIFT     UINT32_C(16)
#define HV_GUEST_OS_ID_OSS_VERSION_MASK      (UINT64_C(0xFFFFFFFF) << 16)
#define HV_GUEST_OS_ID_OSS_OS_ID_SHIFT       UINT32_C(48)
#define HV_GUEST_OS_ID_OSS_OS_ID_MASK        (UINT64_C(0xFF) << 48)
#define HV_GUEST_OS_ID_OSS_OS_TYPE_SHIFT     UINT32_C(56)
#define HV_GUEST_OS_ID_OSS_OS_TYPE_MASK      (UINT64_C(0x7F) << 56)

/*
 * Values allocated by Microsoft for the GUEST_OS_ID fields (TLFS Hypercall
 * Interface tables). Vendor id 0 is reserved.
 */
#define HV_GUEST_OS_VENDOR_MICROSOFT     UINT32_C(0x0001)
#define HV_GUEST_OS_VENDOR_HPE           UINT32_C(0x0002)
#define HV_GUEST_OS_VENDOR_LANCOM        UINT32_C(0x0200)
#define HV_GUEST_OS_MICROSOFT_UNDEFINED  UINT32_C(0)
#define HV_GUEST_OS_MICROSOFT_MSDOS      UINT32_C(1)
#define HV_GUEST_OS_MICROSOFT_WINDOWS3X  UINT32_C(2)
#define HV_GUEST_OS_MICROSOFT_WINDOWS9X  UINT32_C(3)
#define HV_GUEST_OS_MICROSOFT_WINDOWSNT  UINT32_C(4)
#define HV_GUEST_OS_MICROSOFT_WINDOWSCE  UINT32_C(5)
#define HV_GUEST_OS_TYPE_LINUX           UINT32_C(0x1)
#define HV_GUEST_OS_TYPE_FREEBSD         UINT32_C(0x2)
#define HV_GUEST_OS_TYPE_XEN             UINT32_C(0x3)
#define HV_GUEST_OS_TYPE_ILLUMOS         UINT32_C(0x4)

/*
 * HV_X64_MSR_HYPERCALL (TLFS Hypercall Interface, "Establishing the
 * Hypercall Interface"). Locked is only meaningful with
 * HV_FEATURE_HYPERCALL_MSR_LOCK_AVAILABLE; KVM ignores it.
 */
#define HV_X64_MSR_HYPERCALL_ENABLE_BIT  UINT32_C(0)
#define HV_X64_MSR_HYPERCALL_ENABLE      (UINT64_C(1) << 0)
#define HV_X64_MSR_HYPERCALL_LOCKED_BIT  UINT32_C(1)
#define HV_X64_MSR_HYPERCALL_LOCKED      (UINT64_C(1) << 1)
#define HV_X64_MSR_HYPERCALL_RSVDP_MASK  UINT64_C(0x0000000000000FFC)  /* bits 11:2 */
#define HV_X64_MSR_HYPERCALL_PAGE_SHIFT  UINT32_C(12)
#define HV_X64_MSR_HYPERCALL_PAGE_MASK   UINT64_C(0xFFFFFFFFFFFFF000)

/*
 * HV_X64_MSR_VP_INDEX special values used in hypercall inputs (TLFS
 * datatypes/HV_VP_INDEX).
 */
#define HV_VP_INDEX_SELF                 UINT32_C(0xFFFFFFFE)
#define HV_ANY_VP                        UINT32_C(0xFFFFFFFF)

/*
 * HV_X64_MSR_RESET: bit 0 requests a system reset. The TLFS pages read only
 * describe the AccessResetReg privilege; the bit is Linux's, and KVM resets
 * only on the value 1 and reads back 0.
 */
#define HV_X64_MSR_RESET_SYSTEM_BIT      UINT32_C(0)
#define HV_X64_MSR_RESET_SYSTEM          (UINT64_C(1) << 0)

/*
 * HV_X64_MSR_REFERENCE_TSC (TLFS Timers, "Partition Reference Time
 * Enlightenment").
 */
#define HV_X64_MSR_REFERENCE_TSC_ENABLE_BIT UINT32_C(0)
#define HV_X64_MSR_REFERENCE_TSC_ENABLE     (UINT64_C(1) << 0)
#define HV_X64_MSR_REFERENCE_TSC_RSVDP_MASK UINT64_C(0x0000000000000FFE)  /* bits 11:1 */
#define HV_X64_MSR_REFERENCE_TSC_PAGE_SHIFT UINT32_C(12)
#define HV_X64_MSR_REFERENCE_TSC_PAGE_MASK  UINT64_C(0xFFFFFFFFFFFFF000)

/*
 * HV_REFERENCE_TSC_PAGE (TLFS Timers): TscSequence u32, reserved u32,
 * TscScale u64, TscOffset s64, then reserved to the end of the 4 KiB page.
 * ReferenceTime = ((tsc * TscScale) >> 64) + TscOffset, in 100 ns units. A
 * sequence of 0 means "use HV_X64_MSR_TIME_REF_COUNT"; revisions before the
 * current TLFS used 0xFFFFFFFF, so a writer avoids both (KVM does).
 */
#define HV_REFERENCE_TSC_PAGE_SEQUENCE_OFFSET    UINT32_C(0)
#define HV_REFERENCE_TSC_PAGE_SCALE_OFFSET       UINT32_C(8)
#define HV_REFERENCE_TSC_PAGE_OFFSET_OFFSET      UINT32_C(16)
#define HV_REFERENCE_TSC_SEQUENCE_INVALID        UINT32_C(0)
#define HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY UINT32_C(0xFFFFFFFF)
#define HV_REFERENCE_TIME_UNITS_PER_SECOND       UINT64_C(10000000)  /* 100 ns ticks */

/*
 * HV_X64_MSR_VP_ASSIST_PAGE (TLFS VP Properties) and the HV_VP_ASSIST_PAGE
 * layout (TLFS datatypes/HV_VP_ASSIST_PAGE): ApicAssist u32, reserved u32,
 * VtlControl (24 bytes), NestedEnlightenmentsControl (8 bytes),
 * EnlightenVmEntry u8, reserved[7], CurrentNestedVmcs u64,
 * SyntheticTimeUnhaltedTimerExpired u8. Bit 0 of ApicAssist tells the guest
 * that no EOI is needed; KVM wires it to PV-EOI.
 */
#define HV_X64_MSR_VP_ASSIST_PAGE_ENABLE_BIT            UINT32_C(0)
#define HV_X64_MSR_VP_ASSIST_PAGE_ENABLE                (UINT64_C(1) << 0)
/* bits 11:1 */
#define HV_X64_MSR_VP_ASSIST_PAGE_RSVDP_MASK            UINT64_C(0x0000000000000FFE)
#define HV_X64_MSR_VP_ASSIST_PAGE_PAGE_SHIFT            UINT32_C(12)
#define HV_X64_MSR_VP_ASSIST_PAGE_PAGE_MASK             UINT64_C(0xFFFFFFFFFFFFF000)
#define HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET            UINT32_C(0)
#define HV_VP_ASSIST_PAGE_VTL_CONTROL_OFFSET            UINT32_C(8)
#define HV_VP_ASSIST_PAGE_NESTED_CONTROL_OFFSET         UINT32_C(32)
#define HV_VP_ASSIST_PAGE_ENLIGHTEN_VM_ENTRY_OFFSET     UINT32_C(40)
#define HV_VP_ASSIST_PAGE_CURRENT_NESTED_VMCS_OFFSET    UINT32_C(48)
#define HV_VP_ASSIST_PAGE_STIME_UNHALTED_EXPIRED_OFFSET UINT32_C(56)
#define HV_APIC_ASSIST_NO_EOI_REQUIRED_BIT              UINT32_C(0)
#define HV_APIC_ASSIST_NO_EOI_REQUIRED                  (UINT32_C(1) << 0)

/*
 * HV_X64_MSR_EOI, _ICR and _TPR (TLFS Virtual Interrupt Control, "Local
 * APIC MSR Accesses"): EOI is write-only, 31:0 EOI value, 63:32 RsvdZ; ICR
 * is ICR-high in 63:32 and ICR-low in 31:0; TPR is 7:0, 63:8 RsvdZ.
 * *_X2APIC_INDEX are the x2APIC MSR indexes of the same three APIC
 * registers, which enlight_host.apic_read/apic_write take: Intel SDM Vol.
 * 3A, "x2APIC Register Address Space", not TLFS numbers.
 */
#define HV_X64_MSR_EOI_RSVDZ_MASK        UINT64_C(0xFFFFFFFF00000000)
#define HV_X64_MSR_ICR_HIGH_SHIFT        UINT32_C(32)
#define HV_X64_MSR_ICR_LOW_MASK          UINT64_C(0x00000000FFFFFFFF)
#define HV_X64_MSR_TPR_VALUE_MASK        UINT64_C(0x00000000000000FF)
#define HV_X64_MSR_TPR_RSVDZ_MASK        UINT64_C(0xFFFFFFFFFFFFFF00)
#define HV_X64_MSR_TPR_X2APIC_INDEX      UINT32_C(0x808)
#define HV_X64_MSR_EOI_X2APIC_INDEX      UINT32_C(0x80B)
#define HV_X64_MSR_ICR_X2APIC_INDEX      UINT32_C(0x830)

/*
 * SynIC registers (TLFS Inter-Partition Communication). SCONTROL and the
 * SINTs are per VP. SVERSION always reads 1. A SINT resets to masked, and an
 * unmasked SINT needs a vector >= 16. Polling needs
 * HV_FEATURE_SINT_POLLING_MODE_AVAILABLE.
 */
#define HV_SYNIC_SCONTROL_ENABLE_BIT     UINT32_C(0)
#define HV_SYNIC_SCONTROL_ENABLE         (UINT64_C(1) << 0)
#define HV_SYNIC_VERSION_1               UINT64_C(0x1)
#define HV_SYNIC_SIEFP_ENABLE_BIT        UINT32_C(0)
#define HV_SYNIC_SIEFP_ENABLE            (UINT64_C(1) << 0)
#define HV_SYNIC_SIMP_ENABLE_BIT         UINT32_C(0)
#define HV_SYNIC_SIMP_ENABLE             (UINT64_C(1) << 0)
#define HV_SYNIC_PAGE_RSVDP_MASK         UINT64_C(0x0000000000000FFE)  /* SIEFP/SIMP bits 11:1 */
#define HV_SYNIC_PAGE_SHIFT              UINT32_C(12)
#define HV_SYNIC_PAGE_MASK               UINT64_C(0xFFFFFFFFFFFFF000)
#define HV_SYNIC_SINT_VECTOR_SHIFT       UINT32_C(0)
#define HV_SYNIC_SINT_VECTOR_MASK        UINT64_C(0xFF)
#define HV_SYNIC_SINT_MASKED_BIT         UINT32_C(16)
#define HV_SYNIC_SINT_MASKED             (UINT64_C(1) << 16)
#define HV_SYNIC_SINT_AUTO_EOI_BIT       UINT32_C(17)
#define HV_SYNIC_SINT_AUTO_EOI           (UINT64_C(1) << 17)
#define HV_SYNIC_SINT_POLLING_BIT        UINT32_C(18)
#define HV_SYNIC_SINT_POLLING            (UINT64_C(1) << 18)
#define HV_SYNIC_SINT_RSVDP_MASK         UINT64_C(0xFFFFFFFFFFF8FF00)  /* bits 15:8 and 63:19 */
#define HV_SYNIC_SINT_RESET_VALUE        UINT64_C(0x0000000000010000)
#define HV_SYNIC_FIRST_VALID_VECTOR      UINT32_C(16)
#define HV_SYNIC_SINT_COUNT              UINT32_C(16)
#define HV_SYNIC_STIMER_COUNT            UINT32_C(4)

/*
 * HV_X64_MSR_STIMERn_CONFIG (TLFS Timers). ApicVector is used only in direct
 * mode, which needs HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE. Enabling a
 * message-mode timer with SINTx = 0 clears Enable. COUNT is in 100 ns units
 * and writing 0 stops the timer.
 */
#define HV_STIMER_CONFIG_ENABLE_BIT        UINT32_C(0)
#define HV_STIMER_CONFIG_ENABLE            (UINT64_C(1) << 0)
#define HV_STIMER_CONFIG_PERIODIC_BIT      UINT32_C(1)
#define HV_STIMER_CONFIG_PERIODIC          (UINT64_C(1) << 1)
#define HV_STIMER_CONFIG_LAZY_BIT          UINT32_C(2)
#define HV_STIMER_CONFIG_LAZY              (UINT64_C(1) << 2)
#define HV_STIMER_CONFIG_AUTO_ENABLE_BIT   UINT32_C(3)
#define HV_STIMER_CONFIG_AUTO_ENABLE       (UINT64_C(1) << 3)
#define HV_STIMER_CONFIG_APIC_VECTOR_SHIFT UINT32_C(4)
#define HV_STIMER_CONFIG_APIC_VECTOR_MASK  (UINT64_C(0xFF) << 4)
#define HV_STIMER_CONFIG_DIRECT_MODE_BIT   UINT32_C(12)
#define HV_STIMER_CONFIG_DIRECT_MODE       (UINT64_C(1) << 12)
#define HV_STIMER_CONFIG_SINTX_SHIFT       UINT32_C(16)
#define HV_STIMER_CONFIG_SINTX_MASK        (UINT64_C(0xF) << 16)
#define HV_STIMER_CONFIG_RSVDZ_MASK        UINT64_C(0xFFFFFFFFFFF0E000)  /* bits 15:13 and 63:20 */

/*
 * HV_X64_MSR_STIME_UNHALTED_TIMER_CONFIG (TLFS Timers). The vector must be 2
 * (NMI) or >= 16.
 */
#define HV_STIME_UNHALTED_TIMER_VECTOR_SHIFT UINT32_C(0)
#define HV_STIME_UNHALTED_TIMER_VECTOR_MASK  UINT64_C(0xFF)
#define HV_STIME_UNHALTED_TIMER_ENABLE_BIT   UINT32_C(8)
#define HV_STIME_UNHALTED_TIMER_ENABLE       (UINT64_C(1) << 8)
#define HV_STIME_UNHALTED_TIMER_RSVDZ_MASK   UINT64_C(0xFFFFFFFFFFFFFE00)  /* bits 63:9 */

/*
 * HV_X64_MSR_CRASH_CTL (TLFS datatypes/HV_CRASH_CTL_REG_CONTENTS). The TLFS
 * calls bit 62 CrashMessage (P3 = message GPA, P4 = length); the _MSG name
 * is Linux's. NoCrashDump and PreOSId are in the current TLFS and
 * Microsoft's mu_msvm headers but not in the 2020 TLFS revision. The guest
 * reads CRASH_CTL to learn which bits the host supports.
 */
#define HV_CRASH_CTL_CRASH_NOTIFY_BIT     UINT32_C(63)
#define HV_CRASH_CTL_CRASH_NOTIFY         (UINT64_C(1) << 63)
#define HV_CRASH_CTL_CRASH_NOTIFY_MSG_BIT UINT32_C(62)
#define HV_CRASH_CTL_CRASH_NOTIFY_MSG     (UINT64_C(1) << 62)
#define HV_CRASH_CTL_NO_CRASH_DUMP_BIT    UINT32_C(61)
#define HV_CRASH_CTL_NO_CRASH_DUMP        (UINT64_C(1) << 61)
#define HV_CRASH_CTL_PREOS_ID_SHIFT       UINT32_C(58)
#define HV_CRASH_CTL_PREOS_ID_MASK        (UINT64_C(0x7) << 58)
#define HV_CRASH_MAXIMUM_MESSAGE_SIZE     UINT32_C(4096)  /* Microsoft headers (mu_msvm) */

/*
 * HV_X64_MSR_REENLIGHTENMENT_CONTROL, TSC_EMULATION_CONTROL/STATUS and
 * TSC_INVARIANT_CONTROL layouts. Not in the TLFS: Linux
 * (arch/x86/include/asm/hyperv-tlfs.h) and KVM. The guest may only write 0
 * to TSC_EMULATION_STATUS (KVM #GPs otherwise).
 */
#define HV_REENLIGHTENMENT_CONTROL_VECTOR_SHIFT    UINT32_C(0)
#define HV_REENLIGHTENMENT_CONTROL_VECTOR_MASK     UINT64_C(0xFF)
#define HV_REENLIGHTENMENT_CONTROL_ENABLE_BIT      UINT32_C(16)
#define HV_REENLIGHTENMENT_CONTROL_ENABLE          (UINT64_C(1) << 16)
#define HV_REENLIGHTENMENT_CONTROL_TARGET_VP_SHIFT UINT32_C(32)
#define HV_REENLIGHTENMENT_CONTROL_TARGET_VP_MASK  (UINT64_C(0xFFFFFFFF) << 32)
#define HV_TSC_EMULATION_CONTROL_ENABLE_BIT        UINT32_C(0)
#define HV_TSC_EMULATION_CONTROL_ENABLE            (UINT64_C(1) << 0)
#define HV_TSC_EMULATION_STATUS_IN_PROGRESS_BIT    UINT32_C(0)
#define HV_TSC_EMULATION_STATUS_IN_PROGRESS        (UINT64_C(1) << 0)
#define HV_EXPOSE_INVARIANT_TSC_BIT                UINT32_C(0)
#define HV_EXPOSE_INVARIANT_TSC                    (UINT64_C(1) << 0)

/*
 * Synthetic debugger MSR layouts (QEMU hw/hyperv/syndbg.c and KVM; not in
 * the TLFS). SYNDBG_STATUS reads 0 when nothing is valid. OPTIONS bit 2
 * makes the guest use the debug hypercalls (0x0069..0x006B) instead of the
 * MSR protocol; its name is Linux's, the other names follow QEMU/KVM.
 */
#define HV_SYNDBG_CONTROL_SEND_BIT          UINT32_C(0)
#define HV_SYNDBG_CONTROL_SEND              (UINT64_C(1) << 0)
#define HV_SYNDBG_CONTROL_RECV_BIT          UINT32_C(1)
#define HV_SYNDBG_CONTROL_RECV              (UINT64_C(1) << 1)
#define HV_SYNDBG_CONTROL_SEND_SIZE_SHIFT   UINT32_C(16)
#define HV_SYNDBG_CONTROL_SEND_SIZE_MASK    (UINT64_C(0xFFFF) << 16)
#define HV_SYNDBG_STATUS_INVALID            UINT64_C(0)
#define HV_SYNDBG_STATUS_SEND_SUCCESS_BIT   UINT32_C(0)
#define HV_SYNDBG_STATUS_SEND_SUCCESS       (UINT64_C(1) << 0)
#define HV_SYNDBG_STATUS_RECV_SUCCESS_BIT   UINT32_C(2)
#define HV_SYNDBG_STATUS_RECV_SUCCESS       (UINT64_C(1) << 2)
#define HV_SYNDBG_STATUS_RESET_BIT          UINT32_C(3)
#define HV_SYNDBG_STATUS_RESET              (UINT64_C(1) << 3)
#define HV_SYNDBG_STATUS_RECV_SIZE_SHIFT    UINT32_C(16)
#define HV_SYNDBG_STATUS_RECV_SIZE_MASK     (UINT64_C(0xFFFF) << 16)
#define HV_X64_SYNDBG_OPTION_USE_HCALLS_BIT UINT32_C(2)
#define HV_X64_SYNDBG_OPTION_USE_HCALLS     (UINT64_C(1) << 2)

/*
 * Options of the debug-data hypercalls (QEMU hyperv-proto.h payloads; the
 * names are this project's). PostDebugData: u32 count, u32 options, data.
 * RetrieveDebugData: u32 count, u32 options, u64 timeout. ResetDebugSession:
 * u32 options.
 */
#define HV_DEBUG_POST_LOOP_BIT              UINT32_C(0)
#define HV_DEBUG_POST_LOOP                  (UINT32_C(1) << 0)
#define HV_DEBUG_RETRIEVE_LOOP_BIT          UINT32_C(0)
#define HV_DEBUG_RETRIEVE_LOOP              (UINT32_C(1) << 0)
#define HV_DEBUG_RETRIEVE_TEST_ACTIVITY_BIT UINT32_C(1)
#define HV_DEBUG_RETRIEVE_TEST_ACTIVITY     (UINT32_C(1) << 1)
#define HV_DEBUG_PURGE_INCOMING_DATA_BIT    UINT32_C(0)
#define HV_DEBUG_PURGE_INCOMING_DATA        (UINT32_C(1) << 0)
#define HV_DEBUG_PURGE_OUTGOING_DATA_BIT    UINT32_C(1)
#define HV_DEBUG_PURGE_OUTGOING_DATA        (UINT32_C(1) << 1)

/*
 * Sizes of the debug-data hypercall payloads (QEMU hyperv-proto.h, packed
 * structs; not in the TLFS). PostDebugData input: u32 count, u32 options,
 * then `count` data bytes, at most a page with the header; output: u32
 * pending_count. RetrieveDebugData input: u32 count, u32 options, u64
 * timeout; output: u32 retrieved_count, u32 remaining_count, then the data.
 * ResetDebugSession input: u32 options; output: u32 host_ip, u32 target_ip,
 * u16 host_port, u16 target_port, u8 host_mac[6], u8 target_mac[6] (IPs and
 * ports as host-order integers, as QEMU writes them).
 */
#define HV_DEBUG_POST_INPUT_HEADER_SIZE       UINT32_C(8)
#define HV_DEBUG_POST_MAX_DATA                (HV_PAGE_SIZE - HV_DEBUG_POST_INPUT_HEADER_SIZE)
#define HV_DEBUG_POST_OUTPUT_SIZE             UINT32_C(4)
#define HV_DEBUG_RETRIEVE_INPUT_SIZE          UINT32_C(16)
#define HV_DEBUG_RETRIEVE_OUTPUT_HEADER_SIZE  UINT32_C(8)
#define HV_DEBUG_RETRIEVE_MAX_DATA            (HV_PAGE_SIZE - HV_DEBUG_RETRIEVE_OUTPUT_HEADER_SIZE)
#define HV_DEBUG_RESET_INPUT_SIZE             UINT32_C(4)
#define HV_DEBUG_RESET_OUTPUT_SIZE            UINT32_C(24)
#define HV_DEBUG_RESET_OUTPUT_HOST_IP_OFFSET     UINT32_C(0)
#define HV_DEBUG_RESET_OUTPUT_TARGET_IP_OFFSET   UINT32_C(4)
#define HV_DEBUG_RESET_OUTPUT_HOST_PORT_OFFSET   UINT32_C(8)
#define HV_DEBUG_RESET_OUTPUT_TARGET_PORT_OFFSET UINT32_C(10)
#define HV_DEBUG_RESET_OUTPUT_HOST_MAC_OFFSET    UINT32_C(12)
#define HV_DEBUG_RESET_OUTPUT_TARGET_MAC_OFFSET  UINT32_C(18)

/* ========================================================================= */
/* Hypercall ABI (TLFS Hypercall Interface)                                  */
/* ========================================================================= */
/*
 * 64-bit callers pass the input value in RCX, the input GPA (or first fast
 * parameter) in RDX and the output GPA (or second fast parameter) in R8, and
 * get the result value in RAX. 32-bit callers use EDX:EAX, EBX:ECX, EDI:ESI
 * and EDX:EAX. Hypercalls from CPL > 0 or real mode raise #UD.
 */

/*
 * Hypercall input value ("control word"). The TLFS revision read marks bits
 * 31:27 RsvdZ. Linux defines bit 31 as "nested" (route to L0) for root
 * partitions; KVM rejects any of bits 31:27 with
 * HV_STATUS_INVALID_HYPERCALL_INPUT, so HV_HYPERCALL_RSVD0_MASK includes it.
 * The variable header size is in qwords and must be 0 unless the call is
 * documented as taking a variable header (the *Ex calls).
 */
#define HV_HYPERCALL_CODE_MASK           UINT64_C(0xFFFF)
#define HV_HYPERCALL_FAST_BIT            UINT32_C(16)
#define HV_HYPERCALL_FAST                (UINT64_C(1) << 16)
#define HV_HYPERCALL_VARHEAD_SHIFT       UINT32_C(17)
#define HV_HYPERCALL_VARHEAD_MASK        (UINT64_C(0x3FF) << 17)  /* bits 26:17 */
#define HV_HYPERCALL_RSVD0_MASK          (UINT64_C(0x1F) << 27)  /* bits 31:27 */
#define HV_HYPERCALL_NESTED_BIT          UINT32_C(31)
#define HV_HYPERCALL_NESTED              (UINT64_C(1) << 31)
#define HV_HYPERCALL_REP_COUNT_SHIFT     UINT32_C(32)
#define HV_HYPERCALL_REP_COUNT_MASK      (UINT64_C(0xFFF) << 32)  /* bits 43:32 */
#define HV_HYPERCALL_RSVD1_MASK          (UINT64_C(0xF) << 44)  /* bits 47:44 */
#define HV_HYPERCALL_REP_START_SHIFT     UINT32_C(48)
#define HV_HYPERCALL_REP_START_MASK      (UINT64_C(0xFFF) << 48)  /* bits 59:48 */
#define HV_HYPERCALL_RSVD2_MASK          (UINT64_C(0xF) << 60)  /* bits 63:60 */
#define HV_HYPERCALL_RSVD_MASK           UINT64_C(0xF000F000F8000000)  /* RSVD0 | RSVD1 | RSVD2 */
#define HV_HYPERCALL_REP_MAX             UINT32_C(4095)  /* largest 12-bit rep count */

/*
 * Hypercall result value. Reps completed is absolute, not relative to the
 * rep start index. The TLFS table gives the top reserved field as 63:40, an
 * evident typo for 63:44.
 */
#define HV_HYPERCALL_RESULT_STATUS_MASK          UINT64_C(0xFFFF)
#define HV_HYPERCALL_RESULT_REPS_COMPLETED_SHIFT UINT32_C(32)
#define HV_HYPERCALL_RESULT_REPS_COMPLETED_MASK  (UINT64_C(0xFFF) << 32)  /* bits 43:32 */

/*
 * XMM fast input: RDX, R8 and XMM0..XMM5 carry up to 112 bytes; unused bytes
 * are ignored. Memory parameters must be 8-byte aligned, must not cross a
 * page and must not overlap (else HV_STATUS_INVALID_ALIGNMENT).
 */
#define HV_HYPERCALL_XMM_INPUT_MAX_BYTES UINT32_C(112)
#define HV_HYPERCALL_XMM_REGISTER_COUNT  UINT32_C(6)
#define HV_HYPERCALL_PARAMETER_ALIGNMENT UINT32_C(8)
#define HV_PAGE_SIZE                     UINT32_C(4096)
#define HV_PAGE_SHIFT                    UINT32_C(12)

/*
 * Hypercall call codes (TLFS hypercalls/overview). HvCallGetPartitionId and
 * the three debug calls are named in the TLFS privilege table but their
 * codes are not in the current TLFS list: they come from Linux
 * (include/asm-generic/hyperv-tlfs.h), KVM and QEMU.
 */
#define HvCallSwitchVirtualAddressSpace      UINT32_C(0x0001)
#define HvCallFlushVirtualAddressSpace       UINT32_C(0x0002)
#define HvCallFlushVirtualAddressList        UINT32_C(0x0003)
#define HvCallNotifyLongSpinWait             UINT32_C(0x0008)
#define HvCallSendSyntheticClusterIpi        UINT32_C(0x000B)
#define HvCallFlushVirtualAddressSpaceEx     UINT32_C(0x0013)
#define HvCallFlushVirtualAddressListEx      UINT32_C(0x0014)
#define HvCallSendSyntheticClusterIpiEx      UINT32_C(0x0015)
#define HvCallGetPartitionId                 UINT32_C(0x0046)  /* Linux */
#define HvCallGetVpRegisters                 UINT32_C(0x0050)
#define HvCallSetVpRegisters                 UINT32_C(0x0051)
#define HvCallPostMessage                    UINT32_C(0x005C)
#define HvCallSignalEvent                    UINT32_C(0x005D)
#define HvCallPostDebugData                  UINT32_C(0x0069)  /* Linux/KVM/QEMU */
#define HvCallRetrieveDebugData              UINT32_C(0x006A)  /* Linux/KVM/QEMU */
#define HvCallResetDebugSession              UINT32_C(0x006B)  /* Linux/KVM/QEMU */
#define HvCallStartVirtualProcessor          UINT32_C(0x0099)
#define HvCallFlushGuestPhysicalAddressSpace UINT32_C(0x00AF)
#define HvCallFlushGuestPhysicalAddressList  UINT32_C(0x00B0)

/*
 * Extended hypercalls (TLFS Hypercall Interface, "Extended Hypercall
 * Interface"): codes from 0x8000 up, gated by HV_ENABLE_EXTENDED_HYPERCALLS.
 * KVM forwards 0x8001..0x8041 to user space.
 */
#define HV_HYPERCALL_CODE_EXTENDED_FIRST UINT32_C(0x8000)
#define HvExtCallQueryCapabilities       UINT32_C(0x8001)
#define HvExtCallGetBootZeroedMemory     UINT32_C(0x8002)
#define HvExtCallMemoryHeatHint          UINT32_C(0x8003)
#define HvExtCallEpfSetup                UINT32_C(0x8004)
#define HvExtCallMemoryHeatHintAsync     UINT32_C(0x8006)

/*
 * HvExtCallQueryCapabilities output bits (TLFS
 * hypercalls/HvExtCallQueryCapabilities): which extended calls exist. Bit 3
 * (SchedulerAssistSetup) has no call code in the TLFS list.
 */
#define HV_EXT_CAPABILITY_GET_BOOT_ZEROED_MEMORY_BIT UINT32_C(0)
#define HV_EXT_CAPABILITY_GET_BOOT_ZEROED_MEMORY     (UINT64_C(1) << 0)
#define HV_EXT_CAPABILITY_MEMORY_HEAT_HINT_BIT       UINT32_C(1)
#define HV_EXT_CAPABILITY_MEMORY_HEAT_HINT           (UINT64_C(1) << 1)
#define HV_EXT_CAPABILITY_EPF_SETUP_BIT              UINT32_C(2)
#define HV_EXT_CAPABILITY_EPF_SETUP                  (UINT64_C(1) << 2)
#define HV_EXT_CAPABILITY_SCHEDULER_ASSIST_SETUP_BIT UINT32_C(3)
#define HV_EXT_CAPABILITY_SCHEDULER_ASSIST_SETUP     (UINT64_C(1) << 3)
#define HV_EXT_CAPABILITY_MEMORY_HEAT_HINT_ASYNC_BIT UINT32_C(4)
#define HV_EXT_CAPABILITY_MEMORY_HEAT_HINT_ASYNC     (UINT64_C(1) << 4)

/*
 * HV_STATUS codes, the low 16 bits of the result value. The TLFS Hypercall
 * Interface page names SUCCESS, INVALID_HYPERCALL_CODE/INPUT and
 * INVALID_ALIGNMENT. Unmarked numbers are in Linux
 * (include/asm-generic/hyperv-tlfs.h); "QEMU" ones are in QEMU's
 * hyperv-proto.h; "MS headers" ones are only in Microsoft's published
 * headers (mu_msvm, hvgdk) and VirtualBox's GIM provider, i.e. secondary
 * sources.
 */
#define HV_STATUS_SUCCESS                         UINT32_C(0x0000)
#define HV_STATUS_INVALID_HYPERCALL_CODE          UINT32_C(0x0002)
#define HV_STATUS_INVALID_HYPERCALL_INPUT         UINT32_C(0x0003)
#define HV_STATUS_INVALID_ALIGNMENT               UINT32_C(0x0004)
#define HV_STATUS_INVALID_PARAMETER               UINT32_C(0x0005)
#define HV_STATUS_ACCESS_DENIED                   UINT32_C(0x0006)
#define HV_STATUS_INVALID_PARTITION_STATE         UINT32_C(0x0007)  /* MS headers */
#define HV_STATUS_OPERATION_DENIED                UINT32_C(0x0008)
#define HV_STATUS_UNKNOWN_PROPERTY                UINT32_C(0x0009)  /* MS headers */
#define HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE     UINT32_C(0x000A)  /* MS headers */
#define HV_STATUS_INSUFFICIENT_MEMORY             UINT32_C(0x000B)
#define HV_STATUS_PARTITION_TOO_DEEP              UINT32_C(0x000C)  /* MS headers */
#define HV_STATUS_INVALID_PARTITION_ID            UINT32_C(0x000D)  /* MS headers */
#define HV_STATUS_INVALID_VP_INDEX                UINT32_C(0x000E)  /* MS headers */
#define HV_STATUS_NOT_FOUND                       UINT32_C(0x0010)  /* MS headers */
#define HV_STATUS_INVALID_PORT_ID                 UINT32_C(0x0011)
#define HV_STATUS_INVALID_CONNECTION_ID           UINT32_C(0x0012)
#define HV_STATUS_INSUFFICIENT_BUFFERS            UINT32_C(0x0013)
#define HV_STATUS_NOT_ACKNOWLEDGED                UINT32_C(0x0014)  /* QEMU */
#define HV_STATUS_INVALID_VP_STATE                UINT32_C(0x0015)  /* MS headers */
#define HV_STATUS_ACKNOWLEDGED                    UINT32_C(0x0016)  /* MS headers */
#define HV_STATUS_INVALID_SAVE_RESTORE_STATE      UINT32_C(0x0017)  /* MS headers */
#define HV_STATUS_INVALID_SYNIC_STATE             UINT32_C(0x0018)  /* MS headers */
#define HV_STATUS_OBJECT_IN_USE                   UINT32_C(0x0019)  /* MS headers */
#define HV_STATUS_INVALID_PROXIMITY_DOMAIN_INFO   UINT32_C(0x001A)  /* MS headers */
#define HV_STATUS_NO_DATA                         UINT32_C(0x001B)  /* QEMU */
#define HV_STATUS_INACTIVE                        UINT32_C(0x001C)  /* MS headers */
#define HV_STATUS_NO_RESOURCES                    UINT32_C(0x001D)  /* MS headers */
#define HV_STATUS_FEATURE_UNAVAILABLE             UINT32_C(0x001E)  /* MS headers */
#define HV_STATUS_PARTIAL_PACKET                  UINT32_C(0x001F)  /* MS headers */
#define HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED UINT32_C(0x0020)  /* MS headers */
#define HV_STATUS_INSUFFICIENT_BUFFER             UINT32_C(0x0033)  /* MS headers */
#define HV_STATUS_TIME_OUT                        UINT32_C(0x0078)
#define HV_STATUS_VTL_ALREADY_ENABLED             UINT32_C(0x0086)

/* ========================================================================= */
/* SynIC messages and events (TLFS Inter-Partition Communication)            */
/* ========================================================================= */
/*
 * The message page (SIMP) holds one 256-byte HV_MESSAGE slot per SINT; the
 * event-flags page (SIEFP) holds one 256-byte (2048-flag) block per SINT,
 * flag k being bit k % 8 of byte k / 8. A slot is free when its MessageType
 * is HvMessageTypeNone. If the slot is busy the sender sets MessagePending
 * and the guest writes HV_X64_MSR_EOM after freeing the slot.
 */

/*
 * HV_MESSAGE layout (TLFS datatypes/HV_MESSAGE): header of MessageType u32,
 * PayloadSize u8, MessageFlags u8, reserved u16, then the 64-bit origination
 * (sender partition or port id, 0 for timer messages), then the payload.
 */
#define HV_MESSAGE_SIZE                  UINT32_C(256)
#define HV_MESSAGE_HEADER_SIZE           UINT32_C(16)
#define HV_MESSAGE_PAYLOAD_BYTE_COUNT    UINT32_C(240)
#define HV_MESSAGE_PAYLOAD_QWORD_COUNT   UINT32_C(30)
#define HV_MESSAGE_TYPE_OFFSET           UINT32_C(0)
#define HV_MESSAGE_PAYLOAD_SIZE_OFFSET   UINT32_C(4)
#define HV_MESSAGE_FLAGS_OFFSET          UINT32_C(5)
#define HV_MESSAGE_ORIGIN_OFFSET         UINT32_C(8)
#define HV_MESSAGE_PAYLOAD_OFFSET        UINT32_C(16)
#define HV_MESSAGE_FLAG_PENDING_BIT      UINT32_C(0)
#define HV_MESSAGE_FLAG_PENDING          (UINT32_C(1) << 0)
#define HV_EVENT_FLAGS_COUNT             UINT32_C(2048)  /* per SINT */
#define HV_EVENT_FLAGS_BYTE_COUNT        UINT32_C(256)  /* per SINT */
#define HV_PORT_MESSAGE_BUFFER_COUNT     UINT32_C(16)  /* message buffers per port */

/*
 * Message types with the high bit set are reserved to the hypervisor; a
 * guest cannot post them (TLFS datatypes/HV_MESSAGE_TYPE).
 */
#define HV_MESSAGE_TYPE_HYPERVISOR_BIT   UINT32_C(31)
#define HV_MESSAGE_TYPE_HYPERVISOR_MASK  (UINT32_C(1) << 31)

/*
 * HV_MESSAGE_TYPE values, spelled as the TLFS enum spells them (TLFS
 * datatypes/HV_MESSAGE_TYPE, 2025 revision). The TLFS spells two of them
 * without "Type" (HvMessageTimerExpired, HvMessageInsufficientMemory); the
 * HvMessageType* aliases keep the pattern uniform. TlbPageSizeMismatch and
 * X64LegacyFpError are only in the 2020 revision; EventLogBufferComplete is
 * from Linux/QEMU and Microsoft's headers.
 */
#define HvMessageTypeNone                        UINT32_C(0x00000000)
#define HvMessageTypeUnmappedGpa                 UINT32_C(0x80000000)
#define HvMessageTypeGpaIntercept                UINT32_C(0x80000001)
#define HvMessageTypeUnacceptedGpa               UINT32_C(0x80000003)
#define HvMessageTypeGpaAttributeIntercept       UINT32_C(0x80000004)
#define HvMessageTimerExpired                    UINT32_C(0x80000010)
#define HvMessageTypeTimerExpired                HvMessageTimerExpired
#define HvMessageTypeInvalidVpRegisterValue      UINT32_C(0x80000020)
#define HvMessageTypeUnrecoverableException      UINT32_C(0x80000021)
#define HvMessageTypeUnsupportedFeature          UINT32_C(0x80000022)
#define HvMessageTypeTlbPageSizeMismatch         UINT32_C(0x80000023)
#define HvMessageTypeOpaqueIntercept             UINT32_C(0x8000003F)
#define HvMessageTypeEventLogBufferComplete      UINT32_C(0x80000040)
#define HvMessageTypeHypercallIntercept          UINT32_C(0x80000050)
#define HvMessageTypeSynicEventIntercept         UINT32_C(0x80000060)
#define HvMessageTypeSynicSintIntercept          UINT32_C(0x80000061)
#define HvMessageTypeSynicSintDeliverable        UINT32_C(0x80000062)
#define HvMessageTypeAsyncCallCompletion         UINT32_C(0x80000070)
#define HvMessageInsufficientMemory              UINT32_C(0x80000071)
#define HvMessageTypeInsufficientMemory          HvMessageInsufficientMemory
#define HvMessageTypeSchedulerVpSignalBitset     UINT32_C(0x80000100)
#define HvMessageTypeSchedulerVpSignalPair       UINT32_C(0x80000101)
#define HvMessageTypeX64IoPortIntercept          UINT32_C(0x80010000)
#define HvMessageTypeMsrIntercept                UINT32_C(0x80010001)
#define HvMessageTypeX64CpuidIntercept           UINT32_C(0x80010002)
#define HvMessageTypeExceptionIntercept          UINT32_C(0x80010003)
#define HvMessageTypeX64ApicEoi                  UINT32_C(0x80010004)
#define HvMessageTypeX64LegacyFpError            UINT32_C(0x80010005)
#define HvMessageTypeRegisterIntercept           UINT32_C(0x80010006)
#define HvMessageTypeX64Halt                     UINT32_C(0x80010007)
#define HvMessageTypeX64InterruptionDeliverable  UINT32_C(0x80010008)
#define HvMessageTypeX64SipiIntercept            UINT32_C(0x80010009)
#define HvMessageTypeX64RdtscIntercept           UINT32_C(0x8001000A)
#define HvMessageTypeX64ApicSmiIntercept         UINT32_C(0x8001000B)
#define HvMessageTypeArm64ResetIntercept         UINT32_C(0x8001000C)
#define HvMessageTypeX64ApicInitSipiIntercept    UINT32_C(0x8001000D)
#define HvMessageTypeX64ApicWriteIntercept       UINT32_C(0x8001000E)
#define HvMessageTypeX64SnpGuestRequestIntercept UINT32_C(0x80010011)
#define HvMessageTypeX64ExceptionTrapIntercept   UINT32_C(0x80010012)
#define HvMessageTypeX64SevVmgexitIntercept      UINT32_C(0x80010013)
#define HvMessageTypeX64MsrListIntercept         UINT32_C(0x80010015)

/*
 * HV_TIMER_MESSAGE_PAYLOAD (TLFS datatypes/HV_TIMER_MESSAGE_PAYLOAD), the
 * payload of HvMessageTimerExpired: TimerIndex u32, reserved u32,
 * ExpirationTime u64, DeliveryTime u64, both in reference time (100 ns).
 */
#define HV_TIMER_MESSAGE_TIMER_INDEX_OFFSET     UINT32_C(0)
#define HV_TIMER_MESSAGE_EXPIRATION_TIME_OFFSET UINT32_C(8)
#define HV_TIMER_MESSAGE_DELIVERY_TIME_OFFSET   UINT32_C(16)
#define HV_TIMER_MESSAGE_PAYLOAD_SIZE           UINT32_C(24)

/*
 * Connection and port ids are 24 bits; bits 31:24 are reserved (TLFS
 * datatypes/HV_CONNECTION_ID, HV_PORT_ID).
 */
#define HV_CONNECTION_ID_MASK            UINT32_C(0x00FFFFFF)
#define HV_PORT_ID_MASK                  UINT32_C(0x00FFFFFF)

/*
 * HvCallPostMessage input (TLFS hypercalls/HvCallPostMessage), memory form
 * only: ConnectionId u32, reserved u32, MessageType u32 (non-zero, bit 31
 * clear), PayloadSize u32 (<= 240), payload.
 */
#define HV_POST_MESSAGE_CONNECTION_ID_OFFSET UINT32_C(0)
#define HV_POST_MESSAGE_RSVDZ_OFFSET         UINT32_C(4)
#define HV_POST_MESSAGE_MESSAGE_TYPE_OFFSET  UINT32_C(8)
#define HV_POST_MESSAGE_PAYLOAD_SIZE_OFFSET  UINT32_C(12)
#define HV_POST_MESSAGE_PAYLOAD_OFFSET       UINT32_C(16)
#define HV_POST_MESSAGE_INPUT_SIZE           UINT32_C(256)

/*
 * HvCallSignalEvent input (TLFS hypercalls/HvCallSignalEvent): ConnectionId
 * u32, FlagNumber u16, reserved u16. The fast form passes the same 8 bytes
 * in RDX, hence the 64-bit field layout.
 */
#define HV_SIGNAL_EVENT_CONNECTION_ID_OFFSET     UINT32_C(0)
#define HV_SIGNAL_EVENT_FLAG_NUMBER_OFFSET       UINT32_C(4)
#define HV_SIGNAL_EVENT_INPUT_SIZE               UINT32_C(8)
#define HV_SIGNAL_EVENT_FAST_CONNECTION_ID_SHIFT UINT32_C(0)
#define HV_SIGNAL_EVENT_FAST_CONNECTION_ID_MASK  UINT64_C(0xFFFFFF)
#define HV_SIGNAL_EVENT_FAST_FLAG_NUMBER_SHIFT   UINT32_C(32)
#define HV_SIGNAL_EVENT_FAST_FLAG_NUMBER_MASK    (UINT64_C(0xFFFF) << 32)
/* bits 31:24 and 63:48 */
#define HV_SIGNAL_EVENT_FAST_RSVDZ_MASK          UINT64_C(0xFFFF0000FF000000)

/* ========================================================================= */
/* TLB flush and IPI hypercalls (TLFS hypercall reference pages)             */
/* ========================================================================= */

/*
 * HV_FLUSH_FLAGS (TLFS hypercalls/HvCallFlushVirtualAddressSpace). Other
 * bits must be 0. NON_GLOBAL_MAPPINGS_ONLY is invalid for the *List calls;
 * USE_EXTENDED_RANGE_FORMAT needs
 * HV_FEATURE_EXTENDED_GVA_RANGES_FLUSH_AVAILABLE.
 */
#define HV_FLUSH_ALL_PROCESSORS_BIT             UINT32_C(0)
#define HV_FLUSH_ALL_PROCESSORS                 (UINT64_C(1) << 0)
#define HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES_BIT UINT32_C(1)
#define HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES     (UINT64_C(1) << 1)
#define HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY_BIT   UINT32_C(2)
#define HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY       (UINT64_C(1) << 2)
#define HV_FLUSH_USE_EXTENDED_RANGE_FORMAT_BIT  UINT32_C(3)
#define HV_FLUSH_USE_EXTENDED_RANGE_FORMAT      (UINT64_C(1) << 3)

/*
 * Flush input header, shared by the four flush calls: AddressSpace u64,
 * Flags u64, then ProcessorMask u64 (non-Ex, VPs 0..63) or an HV_VP_SET
 * (Ex). The *List calls follow the header with rep GVA range entries.
 */
#define HV_FLUSH_ADDRESS_SPACE_OFFSET    UINT32_C(0)
#define HV_FLUSH_FLAGS_OFFSET            UINT32_C(8)
#define HV_FLUSH_PROCESSOR_MASK_OFFSET   UINT32_C(16)
#define HV_FLUSH_VP_SET_OFFSET           UINT32_C(16)  /* Ex calls */
#define HV_FLUSH_INPUT_SIZE              UINT32_C(24)  /* non-Ex header */

/*
 * HV_GVA_RANGE simple format (TLFS
 * hypercalls/HvCallFlushVirtualAddressList): GVA page number in 63:12,
 * number of additional pages in 11:0, so one entry covers 1..4096 pages. The
 * extended format selected by HV_FLUSH_USE_EXTENDED_RANGE_FORMAT is
 * UNVERIFIED (not in the TLFS; KVM ignores the flag).
 */
#define HV_GVA_RANGE_SIMPLE_ADDITIONAL_PAGES_SHIFT UINT32_C(0)
#define HV_GVA_RANGE_SIMPLE_ADDITIONAL_PAGES_MASK  UINT64_C(0xFFF)
#define HV_GVA_RANGE_SIMPLE_PAGE_NUMBER_SHIFT      UINT32_C(12)
#define HV_GVA_RANGE_SIMPLE_PAGE_NUMBER_MASK       (UINT64_C(0xFFFFFFFFFFFFF) << 12)
#define HV_GVA_RANGE_SIMPLE_MAX_PAGES              UINT32_C(4096)

/*
 * HV_VP_SET (TLFS datatypes/HV_VP_SET): Format u64, ValidBanksMask u64, then
 * one u64 per set bank in ascending bank order; bit i of bank b stands for
 * VP b*64+i. For the Ex calls the bank words are the variable header, so the
 * control word's variable header size must equal popcount(ValidBanksMask).
 */
#define HV_GENERIC_SET_SPARSE_4K          UINT64_C(0)
#define HV_GENERIC_SET_ALL                UINT64_C(1)
#define HV_VP_SET_FORMAT_OFFSET           UINT32_C(0)
#define HV_VP_SET_VALID_BANKS_MASK_OFFSET UINT32_C(8)
#define HV_VP_SET_BANK_CONTENTS_OFFSET    UINT32_C(16)
#define HV_VP_SET_HEADER_SIZE             UINT32_C(16)
#define HV_VP_SET_BANK_COUNT_MAX          UINT32_C(64)
#define HV_VP_SET_VPS_PER_BANK            UINT32_C(64)

/*
 * HvCallSendSyntheticClusterIpi(Ex) input: Vector u32 (0x10..0xFF),
 * TargetVtl u8, 3 bytes padding, then ProcessorMask u64 (non-Ex) or an
 * HV_VP_SET (Ex). The TLFS table gives ProcessorMask a size of 1, an evident
 * error.
 */
#define HV_SEND_IPI_VECTOR_OFFSET         UINT32_C(0)
#define HV_SEND_IPI_TARGET_VTL_OFFSET     UINT32_C(4)
#define HV_SEND_IPI_PROCESSOR_MASK_OFFSET UINT32_C(8)
#define HV_SEND_IPI_VP_SET_OFFSET         UINT32_C(8)  /* Ex call */
#define HV_SEND_IPI_INPUT_SIZE            UINT32_C(16)  /* non-Ex */
#define HV_IPI_VECTOR_MIN                 UINT32_C(0x10)
#define HV_IPI_VECTOR_MAX                 UINT32_C(0xFF)

/* ========================================================================= */
/* VMBus (not in the TLFS; Linux names)                                      */
/* ========================================================================= */
/*
 * The TLFS does not define VMBus. Numbers and names follow Linux
 * (include/linux/hyperv.h, drivers/hv/hyperv_vmbus.h); QEMU's hw/hyperv uses
 * the same values where it has them. VMBus rides on the SynIC: channel
 * messages go guest-to-host with HvCallPostMessage and host-to-guest as
 * SynIC messages on VMBUS_MESSAGE_SINT, both with message type
 * VMBUS_MESSAGE_TYPE. All fields are little-endian and packed.
 */

/*
 * Well-known connection and port ids, and the SINT the host uses for channel
 * messages. From protocol 5.0 on, INITIATE_CONTACT goes to connection 4 and
 * later messages use the msg_conn_id from VERSION_RESPONSE.
 */
#define VMBUS_MESSAGE_CONNECTION_ID      UINT32_C(1)
#define VMBUS_MESSAGE_CONNECTION_ID_4    UINT32_C(4)
#define VMBUS_MESSAGE_PORT_ID            UINT32_C(1)
#define VMBUS_EVENT_CONNECTION_ID        UINT32_C(2)
#define VMBUS_EVENT_PORT_ID              UINT32_C(2)
#define VMBUS_MONITOR_CONNECTION_ID      UINT32_C(3)
#define VMBUS_MONITOR_PORT_ID            UINT32_C(3)
#define VMBUS_MESSAGE_SINT               UINT32_C(2)

/*
 * SynIC message type of every VMBus channel message. Linux passes a literal
 * 1; QEMU calls it HV_MESSAGE_VMBUS; the name here is this project's.
 */
#define VMBUS_MESSAGE_TYPE               UINT32_C(1)

/*
 * Channel message header: u32 message type (CHANNELMSG_*) and u32 padding,
 * followed by the message body; a whole message fits in one SynIC payload.
 */
#define VMBUS_CHANNEL_MESSAGE_HEADER_SIZE UINT32_C(8)
#define VMBUS_CHANNEL_MESSAGE_TYPE_OFFSET UINT32_C(0)

/*
 * Protocol versions, major << 16 | minor, with Linux's suffixes. Linux
 * spells them VERSION_*; the VMBUS_ prefix (QEMU's spelling) keeps them out
 * of the global VERSION_ namespace. Linux offers them newest first. QEMU
 * implements up to VMBUS_VERSION_WIN10. A 6.0 version seen in recent patches
 * is not included (UNVERIFIED upstream).
 */
#define VMBUS_VERSION_MAJOR_SHIFT        UINT32_C(16)
#define VMBUS_VERSION_MAJOR_MASK         (UINT32_C(0xFFFF) << 16)
#define VMBUS_VERSION_MINOR_SHIFT        UINT32_C(0)
#define VMBUS_VERSION_MINOR_MASK         UINT32_C(0xFFFF)
#define VMBUS_VERSION_WS2008             UINT32_C(0x0000000D)  /* 0.13 */
#define VMBUS_VERSION_WIN7               UINT32_C(0x00010001)  /* 1.1 */
#define VMBUS_VERSION_WIN8               UINT32_C(0x00020004)  /* 2.4 */
#define VMBUS_VERSION_WIN8_1             UINT32_C(0x00030000)  /* 3.0 */
#define VMBUS_VERSION_WIN10              UINT32_C(0x00040000)  /* 4.0 */
#define VMBUS_VERSION_WIN10_V4_1         UINT32_C(0x00040001)  /* 4.1 */
#define VMBUS_VERSION_WIN10_V5           UINT32_C(0x00050000)  /* 5.0 */
#define VMBUS_VERSION_WIN10_V5_1         UINT32_C(0x00050001)  /* 5.1 */
#define VMBUS_VERSION_WIN10_V5_2         UINT32_C(0x00050002)  /* 5.2 */
#define VMBUS_VERSION_WIN10_V5_3         UINT32_C(0x00050003)  /* 5.3 */

/*
 * Channel message types (Linux enum vmbus_channel_message_type). 18..20 are
 * unused; QEMU handles 0..17 only.
 */
#define CHANNELMSG_INVALID                UINT32_C(0)
#define CHANNELMSG_OFFERCHANNEL           UINT32_C(1)
#define CHANNELMSG_RESCIND_CHANNELOFFER   UINT32_C(2)
#define CHANNELMSG_REQUESTOFFERS          UINT32_C(3)
#define CHANNELMSG_ALLOFFERS_DELIVERED    UINT32_C(4)
#define CHANNELMSG_OPENCHANNEL            UINT32_C(5)
#define CHANNELMSG_OPENCHANNEL_RESULT     UINT32_C(6)
#define CHANNELMSG_CLOSECHANNEL           UINT32_C(7)
#define CHANNELMSG_GPADL_HEADER           UINT32_C(8)
#define CHANNELMSG_GPADL_BODY             UINT32_C(9)
#define CHANNELMSG_GPADL_CREATED          UINT32_C(10)
#define CHANNELMSG_GPADL_TEARDOWN         UINT32_C(11)
#define CHANNELMSG_GPADL_TORNDOWN         UINT32_C(12)
#define CHANNELMSG_RELID_RELEASED         UINT32_C(13)
#define CHANNELMSG_INITIATE_CONTACT       UINT32_C(14)
#define CHANNELMSG_VERSION_RESPONSE       UINT32_C(15)
#define CHANNELMSG_UNLOAD                 UINT32_C(16)
#define CHANNELMSG_UNLOAD_RESPONSE        UINT32_C(17)
#define CHANNELMSG_TL_CONNECT_REQUEST     UINT32_C(21)
#define CHANNELMSG_MODIFYCHANNEL          UINT32_C(22)
#define CHANNELMSG_TL_CONNECT_RESULT      UINT32_C(23)
#define CHANNELMSG_MODIFYCHANNEL_RESPONSE UINT32_C(24)
#define CHANNELMSG_COUNT                  UINT32_C(25)

/*
 * Channel message layouts. Every *_OFFSET below counts from the start of the
 * SynIC payload, so it includes the 8-byte channel message header, and a
 * message's *_SIZE is the whole payload Linux posts, header included
 * (sizeof of the Linux struct named in each comment, include/linux/hyperv.h,
 * all __packed); for the two GPADL messages it is the fixed part before the
 * PFNs. For host-to-guest messages that size is also the
 * min_payload_len Linux's channel_message_table (drivers/hv/channel_mgmt.c)
 * requires, where it has one; ALLOFFERS_DELIVERED and UNLOAD_RESPONSE have
 * min_payload_len 0. A channel message never exceeds one SynIC payload
 * (Linux MAX_SIZE_CHANNEL_MESSAGE, drivers/hv/hyperv_vmbus.h).
 */
#define VMBUS_MAX_SIZE_CHANNEL_MESSAGE   HV_MESSAGE_PAYLOAD_BYTE_COUNT

/*
 * Child relids (channel ids) are 1..2047: relid 0 is never used, and a
 * relid is also the channel's bit in the 2048-flag SIEFP block of SINT2, so
 * the event flags bound it. Linux: MAX_CHANNEL_RELIDS =
 * max(MAX_NUM_CHANNELS_SUPPORTED (256), HV_EVENT_FLAGS_COUNT)
 * (drivers/hv/hyperv_vmbus.h) and "the RELIDs start with 1"
 * (include/linux/hyperv.h, at INVALID_RELID); QEMU allocates from
 * VMBUS_FIRST_CHANID 1. MIN/MAX are this project's names.
 */
#define VMBUS_MAX_CHANNEL_RELIDS         HV_EVENT_FLAGS_COUNT
#define VMBUS_CHILD_RELID_MIN            UINT32_C(1)
#define VMBUS_CHILD_RELID_MAX            UINT32_C(2047)

/*
 * OPENCHANNEL_RESULT.status and GPADL_CREATED.creation_status: Linux
 * treats 0 as success and any other value as failure (drivers/hv/channel.c
 * __vmbus_open, __vmbus_establish_gpadl). Hyper-V's failure values are not
 * published; the failure value and both names are this project's.
 */
#define VMBUS_CHANNEL_STATUS_SUCCESS     UINT32_C(0)
#define VMBUS_CHANNEL_STATUS_FAILURE     UINT32_C(1)

/*
 * CHANNELMSG_OFFERCHANNEL, host to guest: struct vmbus_channel_offer_channel
 * (header, struct vmbus_channel_offer, then the relid and signalling
 * fields). GUIDs are 16 bytes in the Windows mixed-endian order (see the
 * *_GUID_BYTES below). USER_DEF is the union u.std.user_def; in pipe mode
 * (VMBUS_CHANNEL_NAMED_PIPE_MODE) its first u32 is u.pipe.pipe_mode.
 * MONITOR_ALLOCATED is bit 0 of the byte after monitorid (the other 7 bits
 * reserved); IS_DEDICATED_INTERRUPT is bit 0 of a u16 (15 bits reserved).
 * RESERVED3 is Linux's reserved3 after sub_channel_index.
 */
#define VMBUS_OFFERCHANNEL_IF_TYPE_OFFSET                UINT32_C(8)
#define VMBUS_OFFERCHANNEL_IF_INSTANCE_OFFSET            UINT32_C(24)
#define VMBUS_OFFERCHANNEL_RESERVED1_OFFSET              UINT32_C(40)  /* u64 */
#define VMBUS_OFFERCHANNEL_RESERVED2_OFFSET              UINT32_C(48)  /* u64 */
#define VMBUS_OFFERCHANNEL_CHN_FLAGS_OFFSET              UINT32_C(56)  /* u16 */
#define VMBUS_OFFERCHANNEL_MMIO_MEGABYTES_OFFSET         UINT32_C(58)  /* u16 */
#define VMBUS_OFFERCHANNEL_USER_DEF_OFFSET               UINT32_C(60)
#define VMBUS_OFFERCHANNEL_PIPE_MODE_OFFSET              UINT32_C(60)  /* u32 */
#define VMBUS_OFFERCHANNEL_SUB_CHANNEL_INDEX_OFFSET      UINT32_C(180) /* u16 */
#define VMBUS_OFFERCHANNEL_RESERVED3_OFFSET              UINT32_C(182) /* u16 */
#define VMBUS_OFFERCHANNEL_CHILD_RELID_OFFSET            UINT32_C(184) /* u32 */
#define VMBUS_OFFERCHANNEL_MONITORID_OFFSET              UINT32_C(188) /* u8 */
#define VMBUS_OFFERCHANNEL_MONITOR_ALLOCATED_OFFSET      UINT32_C(189) /* u8 */
#define VMBUS_OFFERCHANNEL_IS_DEDICATED_INTERRUPT_OFFSET UINT32_C(190) /* u16 */
#define VMBUS_OFFERCHANNEL_CONNECTION_ID_OFFSET          UINT32_C(192) /* u32 */
#define VMBUS_OFFERCHANNEL_SIZE                          UINT32_C(196)
#define VMBUS_GUID_SIZE                                  UINT32_C(16)
#define VMBUS_MAX_USER_DEFINED_BYTES                     UINT32_C(120)
#define VMBUS_MAX_PIPE_USER_DEFINED_BYTES                UINT32_C(116)
#define VMBUS_OFFERCHANNEL_MONITOR_ALLOCATED_BIT         UINT32_C(0)
#define VMBUS_OFFERCHANNEL_MONITOR_ALLOCATED             (UINT32_C(1) << 0)
#define VMBUS_OFFERCHANNEL_IS_DEDICATED_INTERRUPT_BIT    UINT32_C(0)
#define VMBUS_OFFERCHANNEL_IS_DEDICATED_INTERRUPT        (UINT32_C(1) << 0)

/* CHANNELMSG_RESCIND_CHANNELOFFER, host to guest: vmbus_channel_rescind_offer */
#define VMBUS_RESCIND_CHANNELOFFER_CHILD_RELID_OFFSET    UINT32_C(8)
#define VMBUS_RESCIND_CHANNELOFFER_SIZE                  UINT32_C(12)

/*
 * Header-only messages: CHANNELMSG_REQUESTOFFERS and CHANNELMSG_UNLOAD
 * (guest to host), CHANNELMSG_ALLOFFERS_DELIVERED and
 * CHANNELMSG_UNLOAD_RESPONSE (host to guest): a bare
 * vmbus_channel_message_header.
 */
#define VMBUS_REQUESTOFFERS_SIZE         UINT32_C(8)
#define VMBUS_ALLOFFERS_DELIVERED_SIZE   UINT32_C(8)
#define VMBUS_UNLOAD_SIZE                UINT32_C(8)
#define VMBUS_UNLOAD_RESPONSE_SIZE       UINT32_C(8)

/*
 * CHANNELMSG_OPENCHANNEL, guest to host: vmbus_channel_open_channel. The
 * ring GPADL holds the guest-to-host ring at page 0 and the host-to-guest
 * ring at DOWNSTREAM_RINGBUFFER_PAGEOFFSET (in 4 KiB pages). Linux sets
 * openid = child_relid.
 */
#define VMBUS_OPENCHANNEL_CHILD_RELID_OFFSET             UINT32_C(8)
#define VMBUS_OPENCHANNEL_OPENID_OFFSET                  UINT32_C(12)
#define VMBUS_OPENCHANNEL_RINGBUFFER_GPADLHANDLE_OFFSET  UINT32_C(16)
#define VMBUS_OPENCHANNEL_TARGET_VP_OFFSET               UINT32_C(20)
#define VMBUS_OPENCHANNEL_DOWNSTREAM_RINGBUFFER_PAGEOFFSET_OFFSET UINT32_C(24)
#define VMBUS_OPENCHANNEL_USERDATA_OFFSET                UINT32_C(28)
#define VMBUS_OPENCHANNEL_SIZE                           UINT32_C(148)

/*
 * CHANNELMSG_OPENCHANNEL_RESULT, host to guest: vmbus_channel_open_result.
 * status 0 is success; Linux fails the open on anything else.
 */
#define VMBUS_OPENCHANNEL_RESULT_CHILD_RELID_OFFSET      UINT32_C(8)
#define VMBUS_OPENCHANNEL_RESULT_OPENID_OFFSET           UINT32_C(12)
#define VMBUS_OPENCHANNEL_RESULT_STATUS_OFFSET           UINT32_C(16)
#define VMBUS_OPENCHANNEL_RESULT_SIZE                    UINT32_C(20)

/* CHANNELMSG_CLOSECHANNEL, guest to host: vmbus_channel_close_channel; no reply */
#define VMBUS_CLOSECHANNEL_CHILD_RELID_OFFSET            UINT32_C(8)
#define VMBUS_CLOSECHANNEL_SIZE                          UINT32_C(12)

/*
 * GPA range (struct gpa_range): byte_count u32, byte_offset u32, then
 * u64 PFNs of 4 KiB (HV_PAGE_SIZE) pages. Offsets are relative to the range.
 */
#define VMBUS_GPA_RANGE_BYTE_COUNT_OFFSET   UINT32_C(0)
#define VMBUS_GPA_RANGE_BYTE_OFFSET_OFFSET  UINT32_C(4)
#define VMBUS_GPA_RANGE_PFN_ARRAY_OFFSET    UINT32_C(8)
#define VMBUS_GPA_RANGE_HEADER_SIZE         UINT32_C(8)
#define VMBUS_GPADL_PFN_SIZE                UINT32_C(8)

/*
 * CHANNELMSG_GPADL_HEADER, guest to host: vmbus_channel_gpadl_header (20
 * bytes) followed by range_buflen bytes of gpa_range entries, of which only
 * what fits in this message is present; the rest of the PFNs follow in
 * GPADL_BODY messages. range_buflen and rangecount are u16. The
 * BYTE_COUNT/BYTE_OFFSET/PFN_ARRAY offsets are those of the first range.
 * Linux's create_gpadl_header always sends rangecount 1, byte_offset 0,
 * range_buflen = 8 + 8 * pagecount and byte_count = pagecount * 4096, and
 * fills the header with min(pagecount, MAX_PFNS) PFNs:
 * MAX_PFNS = (240 - 20 - 8) / 8 = 26.
 *
 * VMBUS_GPADL_MAX_PFNS is this project's derived number, not a Linux
 * constant: a single-range GPADL's PFN count is (range_buflen - 8) / 8, and
 * the largest multiple of 8 a u16 holds is 0xFFF8, so 8190 pages (32 MiB
 * less 8 KiB). Linux's largest GPADL, netvsc's receive buffer, is at most
 * NETVSC_RECEIVE_BUFFER_SIZE = 31 MiB (7936 pages) and fits.
 */
#define VMBUS_GPADL_HEADER_CHILD_RELID_OFFSET   UINT32_C(8)
#define VMBUS_GPADL_HEADER_GPADL_OFFSET         UINT32_C(12)
#define VMBUS_GPADL_HEADER_RANGE_BUFLEN_OFFSET  UINT32_C(16)  /* u16 */
#define VMBUS_GPADL_HEADER_RANGECOUNT_OFFSET    UINT32_C(18)  /* u16 */
#define VMBUS_GPADL_HEADER_RANGE_OFFSET         UINT32_C(20)
#define VMBUS_GPADL_HEADER_BYTE_COUNT_OFFSET    UINT32_C(20)
#define VMBUS_GPADL_HEADER_BYTE_OFFSET_OFFSET   UINT32_C(24)
#define VMBUS_GPADL_HEADER_PFN_ARRAY_OFFSET     UINT32_C(28)
#define VMBUS_GPADL_HEADER_SIZE                 UINT32_C(20)  /* without ranges */
#define VMBUS_GPADL_HEADER_MAX_PFNS             UINT32_C(26)
#define VMBUS_GPADL_MAX_PFNS                    UINT32_C(8190)

/*
 * CHANNELMSG_GPADL_BODY, guest to host: vmbus_channel_gpadl_body, then up to
 * MAX_PFNS = (240 - 16) / 8 = 28 PFNs continuing the header's list. Linux
 * never sets msgnumber (its create_gpadl_header kzalloc()s the message and
 * leaves it 0) and QEMU ignores it: PFN order is arrival order.
 */
#define VMBUS_GPADL_BODY_MSGNUMBER_OFFSET       UINT32_C(8)
#define VMBUS_GPADL_BODY_GPADL_OFFSET           UINT32_C(12)
#define VMBUS_GPADL_BODY_PFN_OFFSET             UINT32_C(16)
#define VMBUS_GPADL_BODY_SIZE                   UINT32_C(16)  /* without PFNs */
#define VMBUS_GPADL_BODY_MAX_PFNS               UINT32_C(28)

/*
 * CHANNELMSG_GPADL_CREATED, host to guest: vmbus_channel_gpadl_created.
 * Linux matches a reply on both child_relid and gpadl
 * (vmbus_ongpadl_created); creation_status 0 is success.
 */
#define VMBUS_GPADL_CREATED_CHILD_RELID_OFFSET      UINT32_C(8)
#define VMBUS_GPADL_CREATED_GPADL_OFFSET            UINT32_C(12)
#define VMBUS_GPADL_CREATED_CREATION_STATUS_OFFSET  UINT32_C(16)
#define VMBUS_GPADL_CREATED_SIZE                    UINT32_C(20)

/* CHANNELMSG_GPADL_TEARDOWN, guest to host: vmbus_channel_gpadl_teardown */
#define VMBUS_GPADL_TEARDOWN_CHILD_RELID_OFFSET     UINT32_C(8)
#define VMBUS_GPADL_TEARDOWN_GPADL_OFFSET           UINT32_C(12)
#define VMBUS_GPADL_TEARDOWN_SIZE                   UINT32_C(16)

/* CHANNELMSG_GPADL_TORNDOWN, host to guest: vmbus_channel_gpadl_torndown */
#define VMBUS_GPADL_TORNDOWN_GPADL_OFFSET           UINT32_C(8)
#define VMBUS_GPADL_TORNDOWN_SIZE                   UINT32_C(12)

/*
 * CHANNELMSG_RELID_RELEASED, guest to host: vmbus_channel_relid_released;
 * the guest's acknowledgement of a rescind.
 */
#define VMBUS_RELID_RELEASED_CHILD_RELID_OFFSET     UINT32_C(8)
#define VMBUS_RELID_RELEASED_SIZE                   UINT32_C(12)

/*
 * CHANNELMSG_INITIATE_CONTACT, guest to host: vmbus_channel_initiate_contact.
 * The u64 at 16 is interrupt_page (a GPA) before VMBUS_VERSION_WIN10_V5;
 * from 5.0 on it is a struct of msg_sint u8, msg_vtl u8, 6 reserved bytes.
 */
#define VMBUS_INITIATE_CONTACT_VMBUS_VERSION_REQUESTED_OFFSET UINT32_C(8)
#define VMBUS_INITIATE_CONTACT_TARGET_VCPU_OFFSET    UINT32_C(12)
#define VMBUS_INITIATE_CONTACT_INTERRUPT_PAGE_OFFSET UINT32_C(16)  /* u64 */
#define VMBUS_INITIATE_CONTACT_MSG_SINT_OFFSET       UINT32_C(16)  /* u8 */
#define VMBUS_INITIATE_CONTACT_MSG_VTL_OFFSET        UINT32_C(17)  /* u8 */
#define VMBUS_INITIATE_CONTACT_MONITOR_PAGE1_OFFSET  UINT32_C(24)  /* u64 */
#define VMBUS_INITIATE_CONTACT_MONITOR_PAGE2_OFFSET  UINT32_C(32)  /* u64 */
#define VMBUS_INITIATE_CONTACT_SIZE                  UINT32_C(40)

/*
 * CHANNELMSG_VERSION_RESPONSE, host to guest: vmbus_channel_version_response.
 * version_supported u8 (0 = "try an older version"), connection_state u8,
 * u16 padding, msg_conn_id u32 (used by the guest only from 5.0 on).
 */
#define VMBUS_VERSION_RESPONSE_VERSION_SUPPORTED_OFFSET UINT32_C(8)   /* u8 */
#define VMBUS_VERSION_RESPONSE_CONNECTION_STATE_OFFSET  UINT32_C(9)   /* u8 */
#define VMBUS_VERSION_RESPONSE_MSG_CONN_ID_OFFSET       UINT32_C(12)
#define VMBUS_VERSION_RESPONSE_SIZE                     UINT32_C(16)

/*
 * CHANNELMSG_TL_CONNECT_REQUEST, guest to host (hv_sock):
 * vmbus_channel_tl_connect_request, two GUIDs.
 */
#define VMBUS_TL_CONNECT_REQUEST_GUEST_ENDPOINT_ID_OFFSET UINT32_C(8)
#define VMBUS_TL_CONNECT_REQUEST_HOST_SERVICE_ID_OFFSET   UINT32_C(24)
#define VMBUS_TL_CONNECT_REQUEST_SIZE                     UINT32_C(40)

/*
 * CHANNELMSG_MODIFYCHANNEL, guest to host, from VMBUS_VERSION_WIN10_V4_1:
 * vmbus_channel_modifychannel (Linux vmbus_send_modifychannel). Only from
 * VMBUS_VERSION_WIN10_V5_3 does the guest wait for
 * CHANNELMSG_MODIFYCHANNEL_RESPONSE, vmbus_channel_modifychannel_response
 * (status 0 = success).
 */
#define VMBUS_MODIFYCHANNEL_CHILD_RELID_OFFSET           UINT32_C(8)
#define VMBUS_MODIFYCHANNEL_TARGET_VP_OFFSET             UINT32_C(12)
#define VMBUS_MODIFYCHANNEL_SIZE                         UINT32_C(16)
#define VMBUS_MODIFYCHANNEL_RESPONSE_CHILD_RELID_OFFSET  UINT32_C(8)
#define VMBUS_MODIFYCHANNEL_RESPONSE_STATUS_OFFSET       UINT32_C(12)
#define VMBUS_MODIFYCHANNEL_RESPONSE_SIZE                UINT32_C(16)

/*
 * Device interface (offer if_type) GUIDs, as the 16 bytes an OFFERCHANNEL
 * carries: the first three groups little-endian, the last eight bytes in
 * text order (Windows GUID layout; Linux guid_t via GUID_INIT, QEMU
 * qemu_uuid_bswap). Brace initializers of plain bytes, not UINT32_C: they
 * initialize a uint8_t[16]. Names are Linux's (include/linux/hyperv.h) plus
 * _BYTES, because Linux's own macros expand to a ".guid =" designator.
 */
/* {57164f39-9115-4e78-ab55-382f3bd5422d} Heartbeat IC (hv_utils) */
#define HV_HEART_BEAT_GUID_BYTES \
  { 0x39, 0x4f, 0x16, 0x57, 0x15, 0x91, 0x78, 0x4e, \
    0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d }
/* {0e0b6031-5213-4934-818b-38d90ced39db} Shutdown IC (hv_utils) */
#define HV_SHUTDOWN_GUID_BYTES \
  { 0x31, 0x60, 0x0b, 0x0e, 0x13, 0x52, 0x34, 0x49, \
    0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb }
/* {9527e630-d0ae-497b-adce-e80ab0175caf} Time Synch IC (hv_utils) */
#define HV_TS_GUID_BYTES \
  { 0x30, 0xe6, 0x27, 0x95, 0xae, 0xd0, 0x7b, 0x49, \
    0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf }
/* {a9a0f4e7-5a45-4d96-b827-8a841e8c03e6} KVP IC (hv_utils, hv_kvp_daemon) */
#define HV_KVP_GUID_BYTES \
  { 0xe7, 0xf4, 0xa0, 0xa9, 0x45, 0x5a, 0x96, 0x4d, \
    0xb8, 0x27, 0x8a, 0x84, 0x1e, 0x8c, 0x03, 0xe6 }
/* {f8615163-df3e-46c5-913f-f2d2f965ed0e} Synthetic NIC (hv_netvsc) */
#define HV_NIC_GUID_BYTES \
  { 0x63, 0x51, 0x61, 0xf8, 0x3e, 0xdf, 0xc5, 0x46, \
    0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e }

/*
 * OFFERCHANNEL chn_flags (Linux "Server Flags"). Recent Linux patches reuse
 * 0x2 and 0x4 for confidential-VMBus ring/external-memory flags.
 */
#define VMBUS_CHANNEL_ENUMERATE_DEVICE_INTERFACE_BIT     UINT32_C(0)
#define VMBUS_CHANNEL_ENUMERATE_DEVICE_INTERFACE         (UINT32_C(1) << 0)
#define VMBUS_CHANNEL_SERVER_SUPPORTS_TRANSFER_PAGES_BIT UINT32_C(1)
#define VMBUS_CHANNEL_SERVER_SUPPORTS_TRANSFER_PAGES     (UINT32_C(1) << 1)
#define VMBUS_CHANNEL_SERVER_SUPPORTS_GPADLS_BIT         UINT32_C(2)
#define VMBUS_CHANNEL_SERVER_SUPPORTS_GPADLS             (UINT32_C(1) << 2)
#define VMBUS_CHANNEL_NAMED_PIPE_MODE_BIT                UINT32_C(4)
#define VMBUS_CHANNEL_NAMED_PIPE_MODE                    (UINT32_C(1) << 4)
#define VMBUS_CHANNEL_LOOPBACK_OFFER_BIT                 UINT32_C(8)
#define VMBUS_CHANNEL_LOOPBACK_OFFER                     (UINT32_C(1) << 8)
#define VMBUS_CHANNEL_PARENT_OFFER_BIT                   UINT32_C(9)
#define VMBUS_CHANNEL_PARENT_OFFER                       (UINT32_C(1) << 9)
#define VMBUS_CHANNEL_REQUEST_MONITORED_NOTIFICATION_BIT UINT32_C(10)
#define VMBUS_CHANNEL_REQUEST_MONITORED_NOTIFICATION     (UINT32_C(1) << 10)
#define VMBUS_CHANNEL_TLNPI_PROVIDER_OFFER_BIT           UINT32_C(13)
#define VMBUS_CHANNEL_TLNPI_PROVIDER_OFFER               (UINT32_C(1) << 13)

/*
 * Pipe mode carried in the first u32 of the offer's user-defined bytes when
 * VMBUS_CHANNEL_NAMED_PIPE_MODE is set (Linux VMBUS_PIPE_TYPE_*).
 */
#define VMBUS_PIPE_TYPE_BYTE             UINT32_C(0x00000000)
#define VMBUS_PIPE_TYPE_MESSAGE          UINT32_C(0x00000004)

/*
 * Ring buffer header page (Linux struct hv_ring_buffer). A channel's GPADL
 * holds the guest-to-host ring first and the host-to-guest ring at the page
 * offset given in OPENCHANNEL; each ring is this 4 KiB header plus its data
 * area, and indices are byte offsets into the data area.
 */
#define VMBUS_RING_WRITE_INDEX_OFFSET         UINT32_C(0)
#define VMBUS_RING_READ_INDEX_OFFSET          UINT32_C(4)
#define VMBUS_RING_INTERRUPT_MASK_OFFSET      UINT32_C(8)
#define VMBUS_RING_PENDING_SEND_SZ_OFFSET     UINT32_C(12)
#define VMBUS_RING_FEATURE_BITS_OFFSET        UINT32_C(64)
#define VMBUS_RING_HEADER_SIZE                UINT32_C(4096)
/* QEMU name; Linux feat_pending_send_sz */
#define VMBUS_RING_BUFFER_FEAT_PENDING_SZ_BIT UINT32_C(0)
#define VMBUS_RING_BUFFER_FEAT_PENDING_SZ     (UINT32_C(1) << 0)

/*
 * Packet descriptor (Linux struct vmpacket_descriptor): type u16, offset8
 * u16 (data offset in 8-byte units), len8 u16 (length without trailer,
 * 8-byte units), flags u16, transaction id u64. Packets are 8-byte aligned
 * and are followed by an 8-byte trailer whose high 32 bits hold the write
 * index at which the packet started.
 */
#define VMBUS_PACKET_TYPE_OFFSET                        UINT32_C(0)
#define VMBUS_PACKET_OFFSET8_OFFSET                     UINT32_C(2)
#define VMBUS_PACKET_LEN8_OFFSET                        UINT32_C(4)
#define VMBUS_PACKET_FLAGS_OFFSET                       UINT32_C(6)
#define VMBUS_PACKET_TRANS_ID_OFFSET                    UINT32_C(8)
#define VMBUS_PACKET_DESCRIPTOR_SIZE                    UINT32_C(16)
#define VMBUS_PACKET_TRAILER_SIZE                       UINT32_C(8)
#define VMBUS_PACKET_ALIGNMENT                          UINT32_C(8)
#define VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED_BIT UINT32_C(0)
#define VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED     (UINT32_C(1) << 0)

/*
 * Packet types (Linux enum vmbus_packet_type).
 */
#define VM_PKT_INVALID                   UINT32_C(0x0)
#define VM_PKT_SYNCH                     UINT32_C(0x1)
#define VM_PKT_ADD_XFER_PAGESET          UINT32_C(0x2)
#define VM_PKT_RM_XFER_PAGESET           UINT32_C(0x3)
#define VM_PKT_ESTABLISH_GPADL           UINT32_C(0x4)
#define VM_PKT_TEARDOWN_GPADL            UINT32_C(0x5)
#define VM_PKT_DATA_INBAND               UINT32_C(0x6)
#define VM_PKT_DATA_USING_XFER_PAGES     UINT32_C(0x7)
#define VM_PKT_DATA_USING_GPADL          UINT32_C(0x8)
#define VM_PKT_DATA_USING_GPA_DIRECT     UINT32_C(0x9)
#define VM_PKT_CANCEL_REQUEST            UINT32_C(0xA)
#define VM_PKT_COMP                      UINT32_C(0xB)
#define VM_PKT_DATA_USING_ADDITIONAL_PKT UINT32_C(0xC)
#define VM_PKT_ADDITIONAL_DATA           UINT32_C(0xD)

/* ========================================================================= */
/* VMBus synthetic NIC: NVSP and RNDIS (hv_netvsc)                           */
/* ========================================================================= */
/*
 * The network VSP protocol (NVSP) of the synthetic NIC channel
 * (HV_NIC_GUID_BYTES), and the Remote NDIS messages it carries. Names and
 * numbers are Linux's (drivers/net/hyperv/hyperv_net.h, include/linux/
 * rndis.h); OpenVMM's vm/devices/net/netvsp/src/protocol.rs and rndisprot.rs
 * have the same values. Every NVSP message is a u32 type and a body; Linux
 * always sends and expects sizeof(struct nvsp_message) = NVSP_MESSAGE_SIZE
 * bytes and copies that many from every completion it matches to a request,
 * so a host sends full-size messages. All fields are little-endian, packed.
 */
#define NVSP_MESSAGE_SIZE                    UINT32_C(40)
#define NVSP_MESSAGE_TYPE_OFFSET             UINT32_C(0)
#define NVSP_MESSAGE_BODY_OFFSET             UINT32_C(4)

/* Protocol versions (INIT min = max = one of these; Linux 6.1 tries 61, 6, 5, 4, 2, 1). */
#define NVSP_PROTOCOL_VERSION_1              UINT32_C(0x2)
#define NVSP_PROTOCOL_VERSION_2              UINT32_C(0x30002)
#define NVSP_PROTOCOL_VERSION_4              UINT32_C(0x40000)
#define NVSP_PROTOCOL_VERSION_5              UINT32_C(0x50000)
#define NVSP_PROTOCOL_VERSION_6              UINT32_C(0x60000)
#define NVSP_PROTOCOL_VERSION_61             UINT32_C(0x60001)

/* Message types (Linux enum, NVSP_MSG*_TYPE_*). */
#define NVSP_MSG_TYPE_INIT                   UINT32_C(1)
#define NVSP_MSG_TYPE_INIT_COMPLETE          UINT32_C(2)
#define NVSP_MSG1_TYPE_SEND_NDIS_VER         UINT32_C(100)
#define NVSP_MSG1_TYPE_SEND_RECV_BUF         UINT32_C(101)
#define NVSP_MSG1_TYPE_SEND_RECV_BUF_COMPLETE UINT32_C(102)
#define NVSP_MSG1_TYPE_REVOKE_RECV_BUF       UINT32_C(103)
#define NVSP_MSG1_TYPE_SEND_SEND_BUF         UINT32_C(104)
#define NVSP_MSG1_TYPE_SEND_SEND_BUF_COMPLETE UINT32_C(105)
#define NVSP_MSG1_TYPE_REVOKE_SEND_BUF       UINT32_C(106)
#define NVSP_MSG1_TYPE_SEND_RNDIS_PKT        UINT32_C(107)
#define NVSP_MSG1_TYPE_SEND_RNDIS_PKT_COMPLETE UINT32_C(108)
#define NVSP_MSG2_TYPE_SEND_NDIS_CONFIG      UINT32_C(125)
#define NVSP_MSG4_TYPE_SEND_VF_ASSOCIATION   UINT32_C(128)
#define NVSP_MSG4_TYPE_SWITCH_DATA_PATH      UINT32_C(129)
#define NVSP_MSG5_TYPE_OID_QUERY_EX          UINT32_C(131)
#define NVSP_MSG5_TYPE_SUBCHANNEL            UINT32_C(133)
#define NVSP_MSG5_TYPE_SEND_INDIRECTION_TABLE UINT32_C(134)

/* Status codes (NVSP_STAT_*). */
#define NVSP_STAT_NONE                       UINT32_C(0)
#define NVSP_STAT_SUCCESS                    UINT32_C(1)
#define NVSP_STAT_FAIL                       UINT32_C(2)

/* INIT {min, max}; INIT_COMPLETE {negotiated, max_mdl_chain_len, status}. */
#define NVSP_INIT_MIN_VERSION_OFFSET         UINT32_C(4)
#define NVSP_INIT_MAX_VERSION_OFFSET         UINT32_C(8)
#define NVSP_INIT_COMPLETE_VERSION_OFFSET    UINT32_C(4)
#define NVSP_INIT_COMPLETE_MAX_MDL_CHAIN_OFFSET UINT32_C(8)
#define NVSP_INIT_COMPLETE_STATUS_OFFSET     UINT32_C(12)
/* SEND_NDIS_VER {major, minor}: NDIS 6.1 up to NVSP 4, 6.30 from NVSP 5. */
#define NVSP_NDIS_VER_MAJOR_OFFSET           UINT32_C(4)
#define NVSP_NDIS_VER_MINOR_OFFSET           UINT32_C(8)
/* SEND_NDIS_CONFIG {mtu, reserved, u64 capability bits}. */
#define NVSP_NDIS_CONFIG_MTU_OFFSET          UINT32_C(4)
#define NVSP_NDIS_CONFIG_CAPABILITY_OFFSET   UINT32_C(12)
/* SEND_RECV_BUF and SEND_SEND_BUF {gpadl, u16 id}. */
#define NVSP_SEND_BUF_GPADL_OFFSET           UINT32_C(4)
#define NVSP_SEND_BUF_ID_OFFSET              UINT32_C(8)
#define NETVSC_RECEIVE_BUFFER_ID             UINT32_C(0xCAFE)
#define NETVSC_SEND_BUFFER_ID                UINT32_C(0)
/* SEND_RECV_BUF_COMPLETE {status, num_sections, section[1] {offset,
 * sub_alloc_size, num_sub_allocs, end_offset}}. Linux 6.1 requires exactly
 * one section at offset 0, sub_alloc_size >= 68 (NETVSC_MTU_MIN) and
 * sub_alloc_size * num_sub_allocs <= the buffer (netvsc_init_buf). */
#define NVSP_RECV_BUF_COMPLETE_STATUS_OFFSET UINT32_C(4)
#define NVSP_RECV_BUF_COMPLETE_NUM_SECTIONS_OFFSET UINT32_C(8)
#define NVSP_RECV_BUF_SECTION_OFFSET_OFFSET  UINT32_C(12)
#define NVSP_RECV_BUF_SECTION_SUB_ALLOC_SIZE_OFFSET UINT32_C(16)
#define NVSP_RECV_BUF_SECTION_NUM_SUB_ALLOCS_OFFSET UINT32_C(20)
#define NVSP_RECV_BUF_SECTION_END_OFFSET_OFFSET UINT32_C(24)
#define NETVSC_MTU_MIN                       UINT32_C(68)
/* SEND_SEND_BUF_COMPLETE {status, section_size}. */
#define NVSP_SEND_BUF_COMPLETE_STATUS_OFFSET UINT32_C(4)
#define NVSP_SEND_BUF_COMPLETE_SECTION_SIZE_OFFSET UINT32_C(8)
/* REVOKE_RECV_BUF and REVOKE_SEND_BUF {u16 id}. */
#define NVSP_REVOKE_BUF_ID_OFFSET            UINT32_C(4)
/* SEND_RNDIS_PKT {channel_type, send_buf_section_index, send_buf_section_size}:
 * the RNDIS messages are in send buffer section `index` (its first `size`
 * bytes), or in the packet's GPA_DIRECT page buffers when the index is
 * NETVSC_INVALID_INDEX; both when the guest copied part (cp_partial). */
#define NVSP_RNDIS_PKT_CHANNEL_TYPE_OFFSET   UINT32_C(4)
#define NVSP_RNDIS_PKT_SECTION_INDEX_OFFSET  UINT32_C(8)
#define NVSP_RNDIS_PKT_SECTION_SIZE_OFFSET   UINT32_C(12)
#define NVSP_RNDIS_CHANNEL_TYPE_DATA         UINT32_C(0)
#define NVSP_RNDIS_CHANNEL_TYPE_CONTROL      UINT32_C(1)
#define NETVSC_INVALID_INDEX                 UINT32_C(0xFFFFFFFF)
/* SEND_RNDIS_PKT_COMPLETE {status}. */
#define NVSP_RNDIS_PKT_COMPLETE_STATUS_OFFSET UINT32_C(4)
/* SUBCHANNEL {op, num_subchannels} and its completion {status, num}. */
#define NVSP_SUBCHANNEL_OP_OFFSET            UINT32_C(4)
#define NVSP_SUBCHANNEL_COUNT_OFFSET         UINT32_C(8)

/*
 * VM_PKT_DATA_USING_XFER_PAGES descriptor extension (Linux struct
 * vmtransfer_page_packet_header after its vmpacket_descriptor): u16
 * xfer_pageset_id (NETVSC_RECEIVE_BUFFER_ID, which Linux checks), u8
 * sender_owns_set, u8 reserved, u32 range_cnt, then range_cnt ranges {u32
 * byte_count, u32 byte_offset} into the receive buffer. At most
 * NETVSC_MAX_XFER_PAGE_RANGES ranges (NDIS >= 6.0, no RSC).
 */
#define VMBUS_XFER_PAGESET_ID_OFFSET         UINT32_C(0)
#define VMBUS_XFER_SENDER_OWNS_SET_OFFSET    UINT32_C(2)
#define VMBUS_XFER_RANGE_COUNT_OFFSET        UINT32_C(4)
#define VMBUS_XFER_RANGES_OFFSET             UINT32_C(8)
#define VMBUS_XFER_RANGE_SIZE                UINT32_C(8)
#define VMBUS_XFER_RANGE_BYTE_COUNT_OFFSET   UINT32_C(0)
#define VMBUS_XFER_RANGE_BYTE_OFFSET_OFFSET  UINT32_C(4)
#define NETVSC_MAX_XFER_PAGE_RANGES          UINT32_C(375)
/*
 * VM_PKT_DATA_USING_GPA_DIRECT descriptor extension (Linux struct
 * vmbus_channel_packet_page_buffer / vmbus_packet_mpb_array after its
 * descriptor): u32 reserved, u32 rangecount, then rangecount ranges. The
 * older form is one page per range, {u32 len, u32 offset, u64 pfn} (struct
 * hv_page_buffer); the multi-page form below has a PFN array per range.
 */
#define VMBUS_GPA_DIRECT_RANGE_COUNT_OFFSET  UINT32_C(4)
#define VMBUS_GPA_DIRECT_RANGES_OFFSET       UINT32_C(8)
#define VMBUS_PAGE_BUFFER_SIZE               UINT32_C(16)
#define VMBUS_PAGE_BUFFER_LEN_OFFSET         UINT32_C(0)
#define VMBUS_PAGE_BUFFER_OFFSET_OFFSET      UINT32_C(4)
#define VMBUS_PAGE_BUFFER_PFN_OFFSET         UINT32_C(8)
#define MAX_PAGE_BUFFER_COUNT                UINT32_C(32)
/* A multi-page range (struct hv_mpb_array, vmbus_sendpacket_mpb_desc):
 * {u32 len, u32 offset, u64 pfn_array[]}, one PFN per page it touches. */
#define VMBUS_MPB_RANGE_PFN_OFFSET           UINT32_C(8)

/*
 * RNDIS messages: u32 ndis_msg_type, u32 msg_len (the whole message), then
 * the body. Offsets below are from the start of the message; the
 * info_buf_offset, data_offset and per_pkt_info_offset fields inside a body
 * count from the start of the body (RNDIS_HEADER_SIZE in).
 */
#define RNDIS_HEADER_SIZE                    UINT32_C(8)
#define RNDIS_MSG_TYPE_OFFSET                UINT32_C(0)
#define RNDIS_MSG_LEN_OFFSET                 UINT32_C(4)
#define RNDIS_MSG_COMPLETION                 UINT32_C(0x80000000)
#define RNDIS_MSG_PACKET                     UINT32_C(0x00000001)
#define RNDIS_MSG_INIT                       UINT32_C(0x00000002)
#define RNDIS_MSG_INIT_C                     (RNDIS_MSG_INIT | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_HALT                       UINT32_C(0x00000003)
#define RNDIS_MSG_QUERY                      UINT32_C(0x00000004)
#define RNDIS_MSG_QUERY_C                    (RNDIS_MSG_QUERY | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_SET                        UINT32_C(0x00000005)
#define RNDIS_MSG_SET_C                      (RNDIS_MSG_SET | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_RESET                      UINT32_C(0x00000006)
#define RNDIS_MSG_RESET_C                    (RNDIS_MSG_RESET | RNDIS_MSG_COMPLETION)
#define RNDIS_MSG_INDICATE                   UINT32_C(0x00000007)
#define RNDIS_MSG_KEEPALIVE                  UINT32_C(0x00000008)
#define RNDIS_MSG_KEEPALIVE_C                (RNDIS_MSG_KEEPALIVE | RNDIS_MSG_COMPLETION)
/* Every request and its completion start with a u32 req_id. */
#define RNDIS_REQ_ID_OFFSET                  UINT32_C(8)
/* INIT {req_id, major, minor, max_xfer_size}; RNDIS_INIT_SIZE bytes in all. */
#define RNDIS_INIT_MAJOR_OFFSET              UINT32_C(12)
#define RNDIS_INIT_MINOR_OFFSET              UINT32_C(16)
#define RNDIS_INIT_MAX_XFER_SIZE_OFFSET      UINT32_C(20)
#define RNDIS_INIT_SIZE                      UINT32_C(24)
/* INIT_C {req_id, status, major, minor, dev_flags, medium, max_pkt_per_msg,
 * max_xfer_size, pkt_alignment_factor (log2), af_list_offset, af_list_size}. */
#define RNDIS_INIT_C_STATUS_OFFSET           UINT32_C(12)
#define RNDIS_INIT_C_MAJOR_OFFSET            UINT32_C(16)
#define RNDIS_INIT_C_MINOR_OFFSET            UINT32_C(20)
#define RNDIS_INIT_C_DEV_FLAGS_OFFSET        UINT32_C(24)
#define RNDIS_INIT_C_MEDIUM_OFFSET           UINT32_C(28)
#define RNDIS_INIT_C_MAX_PKT_PER_MSG_OFFSET  UINT32_C(32)
#define RNDIS_INIT_C_MAX_XFER_SIZE_OFFSET    UINT32_C(36)
#define RNDIS_INIT_C_PKT_ALIGNMENT_OFFSET    UINT32_C(40)
#define RNDIS_INIT_C_SIZE                    UINT32_C(52)
#define RNDIS_MAJOR_VERSION                  UINT32_C(1)
#define RNDIS_MINOR_VERSION                  UINT32_C(0)
#define RNDIS_DF_CONNECTIONLESS              UINT32_C(0x00000001)
#define RNDIS_MEDIUM_802_3                   UINT32_C(0x00000000)
/* QUERY and SET {req_id, oid, info_buflen, info_buf_offset, dev_vc_handle}. */
#define RNDIS_OID_REQ_OID_OFFSET             UINT32_C(12)
#define RNDIS_OID_REQ_INFO_BUFLEN_OFFSET     UINT32_C(16)
#define RNDIS_OID_REQ_INFO_BUF_OFFSET_OFFSET UINT32_C(20)
#define RNDIS_OID_REQ_SIZE                   UINT32_C(28)
/* QUERY_C {req_id, status, info_buflen, info_buf_offset} then the data;
 * SET_C and KEEPALIVE_C {req_id, status}. */
#define RNDIS_COMPLETE_STATUS_OFFSET         UINT32_C(12)
#define RNDIS_QUERY_C_INFO_BUFLEN_OFFSET     UINT32_C(16)
#define RNDIS_QUERY_C_INFO_BUF_OFFSET_OFFSET UINT32_C(20)
#define RNDIS_QUERY_C_SIZE                   UINT32_C(24)
#define RNDIS_SET_C_SIZE                     UINT32_C(16)
/* INDICATE {status, status_buflen, status_buf_offset}. */
#define RNDIS_INDICATE_STATUS_OFFSET         UINT32_C(8)
#define RNDIS_INDICATE_SIZE                  UINT32_C(20)
/* PACKET {data_offset, data_len, oob_data_offset, oob_data_len,
 * num_oob_data_elements, per_pkt_info_offset, per_pkt_info_len, vc_handle,
 * reserved} then the frame. */
#define RNDIS_PACKET_DATA_OFFSET_OFFSET      UINT32_C(8)
#define RNDIS_PACKET_DATA_LEN_OFFSET         UINT32_C(12)
#define RNDIS_PACKET_PPI_OFFSET_OFFSET       UINT32_C(28)
#define RNDIS_PACKET_PPI_LEN_OFFSET          UINT32_C(32)
#define RNDIS_PACKET_BODY_SIZE               UINT32_C(36)
#define RNDIS_PACKET_SIZE                    (RNDIS_HEADER_SIZE + RNDIS_PACKET_BODY_SIZE)

/* Status codes (NDIS_STATUS_*, RNDIS_STATUS_*). */
#define RNDIS_STATUS_SUCCESS                 UINT32_C(0x00000000)
#define RNDIS_STATUS_FAILURE                 UINT32_C(0xC0000001)
#define RNDIS_STATUS_NOT_SUPPORTED           UINT32_C(0xC00000BB)
#define RNDIS_STATUS_INVALID_LENGTH          UINT32_C(0xC0010014)
#define RNDIS_STATUS_INVALID_DATA            UINT32_C(0xC0010015)
#define RNDIS_STATUS_MEDIA_CONNECT           UINT32_C(0x4001000B)
#define RNDIS_STATUS_MEDIA_DISCONNECT        UINT32_C(0x4001000C)

/* Object ids Linux 6.1's rndis_filter queries and sets. */
#define RNDIS_OID_GEN_SUPPORTED_LIST         UINT32_C(0x00010101)
#define RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE     UINT32_C(0x00010106)
#define RNDIS_OID_GEN_LINK_SPEED             UINT32_C(0x00010107)
#define RNDIS_OID_GEN_CURRENT_PACKET_FILTER  UINT32_C(0x0001010E)
#define RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE     UINT32_C(0x00010111)
#define RNDIS_OID_GEN_MEDIA_CONNECT_STATUS   UINT32_C(0x00010114)
#define RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER UINT32_C(0x0001021B)
#define RNDIS_OID_GEN_FRIENDLY_NAME          UINT32_C(0x00020216)
#define RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES UINT32_C(0x00010203)
#define RNDIS_OID_802_3_PERMANENT_ADDRESS    UINT32_C(0x01010101)
#define RNDIS_OID_802_3_CURRENT_ADDRESS      UINT32_C(0x01010102)
#define RNDIS_OID_802_3_MULTICAST_LIST       UINT32_C(0x01010103)
#define RNDIS_OID_802_3_MAXIMUM_LIST_SIZE    UINT32_C(0x01010104)
#define OID_TCP_OFFLOAD_PARAMETERS           UINT32_C(0xFC01020C)
#define OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES UINT32_C(0xFC01020D)
/* NDIS_MEDIA_STATE: OID_GEN_MEDIA_CONNECT_STATUS answers. */
#define NDIS_MEDIA_STATE_CONNECTED           UINT32_C(0)
#define NDIS_MEDIA_STATE_DISCONNECTED        UINT32_C(1)
/* OID_GEN_CURRENT_PACKET_FILTER bits. */
#define NDIS_PACKET_TYPE_DIRECTED            (UINT32_C(1) << 0)
#define NDIS_PACKET_TYPE_MULTICAST           (UINT32_C(1) << 1)
#define NDIS_PACKET_TYPE_ALL_MULTICAST       (UINT32_C(1) << 2)
#define NDIS_PACKET_TYPE_BROADCAST           (UINT32_C(1) << 3)
#define NDIS_PACKET_TYPE_PROMISCUOUS         (UINT32_C(1) << 5)
/*
 * struct ndis_offload (OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES): an NDIS
 * object header {u8 type, u8 revision, u16 size}, then the capabilities.
 * Linux asks with revision 3 and NDIS_OFFLOAD_SIZE from NVSP 5, revision 2
 * and NDIS_OFFLOAD_SIZE_6_1 from NVSP 4, else revision 1 and
 * NDIS_OFFLOAD_SIZE_6_0, and refuses an answer of another type, a revision
 * below 1, or a size below NDIS_OFFLOAD_SIZE_6_0 or above what it asked
 * for (rndis_query_hwcaps). All-zero capabilities mean no offloads.
 */
#define NDIS_OBJECT_TYPE_OFFLOAD             UINT32_C(0xA7)
#define NDIS_OFFLOAD_PARAMETERS_REVISION_1   UINT32_C(1)
#define NDIS_OFFLOAD_PARAMETERS_REVISION_2   UINT32_C(2)
#define NDIS_OFFLOAD_PARAMETERS_REVISION_3   UINT32_C(3)
#define NDIS_OFFLOAD_SIZE_6_0                UINT32_C(112)
#define NDIS_OFFLOAD_SIZE_6_1                UINT32_C(144)
#define NDIS_OFFLOAD_SIZE                    UINT32_C(156)
#define NDIS_OBJECT_HEADER_TYPE_OFFSET       UINT32_C(0)
#define NDIS_OBJECT_HEADER_REVISION_OFFSET   UINT32_C(1)
#define NDIS_OBJECT_HEADER_SIZE_OFFSET       UINT32_C(2)

/*
 * What Linux's hv_netvsc sends and assumes (drivers/net/hyperv/
 * hyperv_net.h, netvsc.c, rndis_filter.c; include/linux/hyperv.h), which a
 * host or a guest program speaking as Linux needs by name.
 */
#define NVSP_MSG_TYPE_NONE                   UINT32_C(0)
/* struct nvsp_2_vsc_capability bits (hyperv_net.h): SEND_NDIS_CONFIG sets
 * ieee8021q, from NVSP 5 sriov and teaming, from 6.1 rsc. */
#define NVSP_NDIS_CONFIG_CAP_SRIOV (UINT64_C(1) << 2)
#define NVSP_NDIS_CONFIG_CAP_IEEE8021Q (UINT64_C(1) << 3)
#define NVSP_NDIS_CONFIG_CAP_TEAMING (UINT64_C(1) << 5)
#define NVSP_NDIS_CONFIG_CAP_RSC (UINT64_C(1) << 7)
/* SEND_NDIS_VER: netvsc_connect_vsp sends 6.1 up to NVSP 4, else 6.30,
 * major in the high half. */
#define NDIS_VERSION_6_1 UINT32_C(0x00060001)
#define NDIS_VERSION_6_30 UINT32_C(0x0006001E)
/* rndis_filter_init_device: init->max_xfer_size = 0x4000. */
#define RNDIS_INIT_MAX_XFER_SIZE_LINUX UINT32_C(0x4000)
/* include/linux/hyperv.h: the transaction id of a packet that asks for no
 * completion (NDIS config and version, revokes). */
#define VMBUS_RQST_ID_NO_RESPONSE (UINT64_MAX - 2)
/* hyperv_net.h: the header type of struct ndis_offload_params. */
#define NDIS_OBJECT_TYPE_DEFAULT UINT32_C(0x80)
/* sizeof(struct ndis_offload_params) (not packed: 26 bytes padded to 28);
 * VERSION_4_OFFLOAD_SIZE up to NVSP 4. ip_v4_csum is its first byte after
 * the header; Linux sets it to TX_RX_DISABLED and, with no hardware
 * capabilities, nothing else. */
#define NDIS_OFFLOAD_PARAMETERS_SIZE UINT32_C(28)
#define VERSION_4_OFFLOAD_SIZE UINT32_C(22)
#define NDIS_OFFLOAD_PARAMETERS_IP_V4_CSUM_OFFSET UINT32_C(4)
#define NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED UINT32_C(1)
/* OID_GEN_RECEIVE_SCALE_CAPABILITIES query buffer: a packed struct
 * ndis_recv_scale_cap (18 bytes) whose header Linux fills in. */
#define NDIS_OBJECT_TYPE_RSS_CAPABILITIES UINT32_C(0x88)
#define NDIS_RECEIVE_SCALE_CAPABILITIES_REVISION_2 UINT32_C(2)
#define NDIS_RECV_SCALE_CAP_SIZE UINT32_C(18)
/* hyperv_net.h: what Linux assumes before INIT_C says otherwise. */
#define RNDIS_MAX_PKT_DEFAULT UINT32_C(8)
#define RNDIS_PKT_ALIGN_DEFAULT UINT32_C(8)
/* hyperv_net.h: Linux's own send section size, the one hosts answer. */
#define NETVSC_SEND_SECTION_SIZE UINT32_C(6144)

/* struct rndis_config_parameter_info (OID_GEN_RNDIS_CONFIG_PARAMETER, which
 * Linux sets to change the MAC): its size, and the string parameter type. */
#define RNDIS_CONFIG_PARAMETER_INFO_SIZE     UINT32_C(20)
#define RNDIS_CONFIG_PARAM_TYPE_STRING       UINT32_C(2)

/* ========================================================================= */
/* VMBus integration components (hv_utils)                                   */
/* ========================================================================= */
/*
 * The util ICs: heartbeat, shutdown and time sync here (KVP and VSS share
 * the framing). Names are Linux's (include/linux/hyperv.h "Common header for
 * Hyper-V ICs", drivers/hv/hv_util.c, drivers/hv/channel_mgmt.c
 * vmbus_prep_negotiate_resp) unless a comment says otherwise; OpenVMM's
 * vm/devices/hyperv_ic_protocol has the same layouts. Each message is one
 * VM_PKT_DATA_INBAND packet whose payload is a pipe header (struct
 * vmbuspipe_hdr), an IC header (struct icmsg_hdr) and a body. The host sends
 * every request; Linux answers each one in place: it rewrites icflags to
 * TRANSACTION | RESPONSE (and, by type, icmsgsize, status, the body) and
 * sends back the whole packet it read, padding included, as
 * VM_PKT_DATA_INBAND with the request's transaction id. All fields are
 * little-endian and packed.
 */

/*
 * Pipe header (struct vmbuspipe_hdr): u32 flags, u32 msgsize (the bytes
 * after this header). Linux only echoes it. flags holds a packet type, a
 * value rather than bits: 1 is OpenVMM's PIPE_PACKET_TYPE_DATA
 * (vm/devices/vmbus/vmbus_ring), the only one the ICs use.
 */
#define VMBUSPIPE_HDR_FLAGS_OFFSET         UINT32_C(0)
#define VMBUSPIPE_HDR_MSGSIZE_OFFSET       UINT32_C(4)
#define VMBUSPIPE_HDR_SIZE                 UINT32_C(8)
#define VMBUSPIPE_PACKET_TYPE_DATA         UINT32_C(1)

/*
 * IC header (struct icmsg_hdr, 20 bytes) right after the pipe header.
 * Offsets count from the start of the packet's payload, pipe header
 * included. struct ic_version is {u16 major; u16 minor}. ICMSG_HDR is
 * Linux's macro: pipe header plus IC header, where every body begins.
 */
#define ICMSG_HDR_ICVERFRAME_MAJOR_OFFSET  UINT32_C(8)   /* u16 */
#define ICMSG_HDR_ICVERFRAME_MINOR_OFFSET  UINT32_C(10)  /* u16 */
#define ICMSG_HDR_ICMSGTYPE_OFFSET         UINT32_C(12)  /* u16, ICMSGTYPE_* */
#define ICMSG_HDR_ICVERMSG_MAJOR_OFFSET    UINT32_C(14)  /* u16 */
#define ICMSG_HDR_ICVERMSG_MINOR_OFFSET    UINT32_C(16)  /* u16 */
#define ICMSG_HDR_ICMSGSIZE_OFFSET         UINT32_C(18)  /* u16, bytes of body */
#define ICMSG_HDR_STATUS_OFFSET            UINT32_C(20)  /* u32, HV_S_OK / HV_E_FAIL */
#define ICMSG_HDR_ICTRANSACTION_ID_OFFSET  UINT32_C(24)  /* u8 */
#define ICMSG_HDR_ICFLAGS_OFFSET           UINT32_C(25)  /* u8, ICMSGHDRFLAG_* */
#define ICMSG_HDR_RESERVED_OFFSET          UINT32_C(26)  /* u8[2] */
#define ICMSG_HDR_STRUCT_SIZE              UINT32_C(20)  /* sizeof(struct icmsg_hdr) */
#define ICMSG_HDR                          UINT32_C(28)
#define IC_VERSION_SIZE                    UINT32_C(4)   /* sizeof(struct ic_version) */
#define IC_VERSION_MAJOR_OFFSET            UINT32_C(0)   /* within an ic_version */
#define IC_VERSION_MINOR_OFFSET            UINT32_C(2)

/* icmsgtype (include/linux/hyperv.h; 6 and 8 are OpenVMM's RDV and VM_SESSION) */
#define ICMSGTYPE_NEGOTIATE                UINT32_C(0)
#define ICMSGTYPE_HEARTBEAT                UINT32_C(1)
#define ICMSGTYPE_KVPEXCHANGE              UINT32_C(2)
#define ICMSGTYPE_SHUTDOWN                 UINT32_C(3)
#define ICMSGTYPE_TIMESYNC                 UINT32_C(4)
#define ICMSGTYPE_VSS                      UINT32_C(5)
#define ICMSGTYPE_FCOPY                    UINT32_C(7)

/* icflags. A host request carries TRANSACTION | REQUEST, the guest's answer
 * TRANSACTION | RESPONSE. Bits 3..7 are reserved (OpenVMM HeaderFlags). */
#define ICMSGHDRFLAG_TRANSACTION_BIT       UINT32_C(0)
#define ICMSGHDRFLAG_TRANSACTION           (UINT32_C(1) << 0)
#define ICMSGHDRFLAG_REQUEST_BIT           UINT32_C(1)
#define ICMSGHDRFLAG_REQUEST               (UINT32_C(1) << 1)
#define ICMSGHDRFLAG_RESPONSE_BIT          UINT32_C(2)
#define ICMSGHDRFLAG_RESPONSE              (UINT32_C(1) << 2)

/* status: the HRESULTs Linux writes (include/linux/hyperv.h). */
#define HV_S_OK                            UINT32_C(0x00000000)
#define HV_E_FAIL                          UINT32_C(0x80004005)

/*
 * Versions, major << 16 | minor as Linux packs them (the wire carries the
 * two u16s separately). UTIL_*_FW_VERSION are include/linux/hyperv.h's;
 * the per-device ones are file-local in drivers/hv/hv_util.c as
 * SD_/TS_/HB_VERSION*, given an IC_ prefix here to keep them out of the
 * global namespace. Linux 6.1's guest lists, in its order of preference:
 * framework 3.0, 1.0; heartbeat 3.0, 1.0; shutdown 3.2, 3.1, 3.0, 1.0;
 * time sync 4.0, 3.0, 1.0. Shutdown 3.1 adds restart, 3.2 hibernate;
 * time sync 4.0 switches to ictimesync_ref_data.
 */
#define IC_VERSION_MAJOR_SHIFT             UINT32_C(16)
#define IC_VERSION_MINOR_MASK              UINT32_C(0xFFFF)
#define UTIL_FW_VERSION                    UINT32_C(0x00030000)  /* 3.0 */
#define UTIL_WS2K8_FW_VERSION              UINT32_C(0x00010000)  /* 1.0 */
#define IC_HB_VERSION                      UINT32_C(0x00030000)  /* 3.0 */
#define IC_HB_VERSION_1                    UINT32_C(0x00010000)  /* 1.0 */
#define IC_SD_VERSION_3_2                  UINT32_C(0x00030002)  /* 3.2 */
#define IC_SD_VERSION_3_1                  UINT32_C(0x00030001)  /* 3.1 */
#define IC_SD_VERSION                      UINT32_C(0x00030000)  /* 3.0 */
#define IC_SD_VERSION_1                    UINT32_C(0x00010000)  /* 1.0 */
#define IC_TS_VERSION                      UINT32_C(0x00040000)  /* 4.0 */
#define IC_TS_VERSION_3                    UINT32_C(0x00030000)  /* 3.0 */
#define IC_TS_VERSION_1                    UINT32_C(0x00010000)  /* 1.0 */

/*
 * ICMSGTYPE_NEGOTIATE body (struct icmsg_negotiate): u16 icframe_vercnt,
 * u16 icmsg_vercnt, u32 reserved, then icframe_vercnt framework versions
 * followed by icmsg_vercnt message versions. The guest (vmbus_prep_negotiate
 * _resp) refuses more than IC_VERSION_NEGOTIATION_MAX_VER_COUNT of either,
 * picks the first of its own versions the host offered, and answers with
 * counts 1/1 and the two picks in the first two slots, or counts 0/0 when
 * either list has nothing it knows; it sets icmsgsize to
 * ICMSG_NEGOTIATE_RESPONSE_SIZE (this project's name for Linux's 0x10) and
 * leaves status alone.
 */
#define ICMSG_NEGOTIATE_ICFRAME_VERCNT_OFFSET UINT32_C(28)  /* u16 */
#define ICMSG_NEGOTIATE_ICMSG_VERCNT_OFFSET   UINT32_C(30)  /* u16 */
#define ICMSG_NEGOTIATE_RESERVED_OFFSET       UINT32_C(32)  /* u32 */
#define ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET UINT32_C(36)
#define ICMSG_NEGOTIATE_SIZE                  UINT32_C(8)   /* sizeof(struct icmsg_negotiate) */
#define ICMSG_NEGOTIATE_RESPONSE_SIZE         UINT32_C(16)  /* the body with one version of each */
#define IC_VERSION_NEGOTIATION_MAX_VER_COUNT  UINT32_C(100)

/*
 * ICMSGTYPE_HEARTBEAT body (struct heartbeat_msg_data): u64 seq_num, u32
 * reserved[8]. The guest answers seq_num + 1; Linux 6.1 needs only the
 * seq_num (recvlen >= ICMSG_HDR + 8). OpenVMM reads the first reserved u32
 * as an application state; Linux leaves it alone.
 */
#define HEARTBEAT_MSG_SEQ_NUM_OFFSET       UINT32_C(28)  /* u64 */
#define HEARTBEAT_MSG_RESERVED_OFFSET      UINT32_C(36)  /* u32[8] */
#define HEARTBEAT_MSG_DATA_SIZE            UINT32_C(40)

/*
 * ICMSGTYPE_SHUTDOWN body (struct shutdown_msg_data): u32 reason_code, u32
 * timeout_seconds, u32 flags, u8 display_message[2048]. flags: 0 power off,
 * SHUTDOWN_FLAG_RESTART (message version 3.1+), SHUTDOWN_FLAG_HIBERNATE
 * (3.2+), each optionally | SHUTDOWN_FLAG_FORCE; Linux always forces and
 * answers HV_S_OK, or HV_E_FAIL for a request it cannot carry out. The
 * SHUTDOWN_FLAG_* names are this project's (OpenVMM ShutdownFlags bits
 * force, restart, hibernate). SHTDN_REASON_FLAG_PLANNED is the Windows SDK
 * reason OpenVMM sends.
 */
#define SHUTDOWN_MSG_REASON_CODE_OFFSET     UINT32_C(28)  /* u32 */
#define SHUTDOWN_MSG_TIMEOUT_SECONDS_OFFSET UINT32_C(32)  /* u32 */
#define SHUTDOWN_MSG_FLAGS_OFFSET           UINT32_C(36)  /* u32 */
#define SHUTDOWN_MSG_DISPLAY_MESSAGE_OFFSET UINT32_C(40)  /* u8[2048] */
#define SHUTDOWN_MSG_DISPLAY_MESSAGE_SIZE   UINT32_C(2048)
#define SHUTDOWN_MSG_DATA_SIZE              UINT32_C(2060)
#define SHUTDOWN_FLAG_POWER_OFF             UINT32_C(0)   /* a value: no bit set */
#define SHUTDOWN_FLAG_FORCE_BIT             UINT32_C(0)
#define SHUTDOWN_FLAG_FORCE                 (UINT32_C(1) << 0)
#define SHUTDOWN_FLAG_RESTART_BIT           UINT32_C(1)
#define SHUTDOWN_FLAG_RESTART               (UINT32_C(1) << 1)
#define SHUTDOWN_FLAG_HIBERNATE_BIT         UINT32_C(2)
#define SHUTDOWN_FLAG_HIBERNATE             (UINT32_C(1) << 2)
#define SHTDN_REASON_FLAG_PLANNED_BIT       UINT32_C(31)
#define SHTDN_REASON_FLAG_PLANNED           (UINT32_C(1) << 31)

/*
 * ICMSGTYPE_TIMESYNC. Times are Windows FILETIMEs, 100 ns since
 * 1601-01-01 UTC; WLTIMEDELTA is that epoch's distance from 1970-01-01.
 * SYNC asks the guest to step its clock (Linux: do_settimeofday64), SAMPLE
 * only refreshes what its PTP clock reports. Message version 4.0 and later
 * carry struct ictimesync_ref_data (the partition reference time when the
 * sample was taken, which Linux adds its own delay to); earlier ones struct
 * ictimesync_data, whose childtime and roundtriptime Linux ignores.
 */
#define WLTIMEDELTA                         UINT64_C(116444736000000000)
#define ICTIMESYNCFLAG_PROBE                UINT32_C(0)   /* a value: no bit set */
#define ICTIMESYNCFLAG_SYNC_BIT             UINT32_C(0)
#define ICTIMESYNCFLAG_SYNC                 (UINT32_C(1) << 0)
#define ICTIMESYNCFLAG_SAMPLE_BIT           UINT32_C(1)
#define ICTIMESYNCFLAG_SAMPLE               (UINT32_C(1) << 1)
/* struct ictimesync_data (message versions below 4.0) */
#define ICTIMESYNC_DATA_PARENTTIME_OFFSET    UINT32_C(28)  /* u64 */
#define ICTIMESYNC_DATA_CHILDTIME_OFFSET     UINT32_C(36)  /* u64 */
#define ICTIMESYNC_DATA_ROUNDTRIPTIME_OFFSET UINT32_C(44)  /* u64 */
#define ICTIMESYNC_DATA_FLAGS_OFFSET         UINT32_C(52)  /* u8 */
#define ICTIMESYNC_DATA_SIZE                 UINT32_C(25)
/* struct ictimesync_ref_data (message version 4.0 and later) */
#define ICTIMESYNC_REF_DATA_PARENTTIME_OFFSET      UINT32_C(28)  /* u64 */
#define ICTIMESYNC_REF_DATA_VMREFERENCETIME_OFFSET UINT32_C(36)  /* u64 */
#define ICTIMESYNC_REF_DATA_FLAGS_OFFSET           UINT32_C(44)  /* u8 */
#define ICTIMESYNC_REF_DATA_LEAPFLAGS_OFFSET       UINT32_C(45)  /* u8 */
#define ICTIMESYNC_REF_DATA_STRATUM_OFFSET         UINT32_C(46)  /* u8 */
#define ICTIMESYNC_REF_DATA_RESERVED_OFFSET        UINT32_C(47)  /* u8[3] */
#define ICTIMESYNC_REF_DATA_SIZE                   UINT32_C(22)
