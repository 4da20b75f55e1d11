# Call code 0x0099, claimed by no plugin: the bus answers
# HV_STATUS_INVALID_HYPERCALL_CODE without calling a handler (or yielding).
        .set HC_CODE, 0x0099
        .set HC_STATUS, 0x0002
        .include "hypercall.inc"
