        .set TRAPS_OUTSIDE, 0
        .set TRAPS_NEARBY, 0
        .include "plain.inc"
