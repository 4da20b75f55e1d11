        .include "common.inc"
        .text
_start: ud2
        EXIT 1
        TABLES
