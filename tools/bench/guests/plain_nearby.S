        .set TRAPS_OUTSIDE, 1
        .set TRAPS_NEARBY, 1
        .include "plain.inc"
