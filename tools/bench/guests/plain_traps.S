        .set TRAPS_OUTSIDE, 1
        .set TRAPS_NEARBY, 0
        .include "plain.inc"
