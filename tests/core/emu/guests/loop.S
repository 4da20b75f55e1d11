        .include "common.inc"
        .text
_start: jmp _start
        TABLES
