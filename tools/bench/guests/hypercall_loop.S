# HvCallNotifyLongSpinWait (0x0008), claimed by hv-spinlocks: HV_STATUS_SUCCESS.
        .set HC_CODE, 0x0008
        .set HC_STATUS, 0x0000
        .include "hypercall.inc"
