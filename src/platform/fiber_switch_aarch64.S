// fiber_switch_aarch64.S: the goroutine context switch for AAPCS64 (Linux).
//
// csp_fiber_switch(void** save_sp, void* load_sp): saves x19-x30 and d8-d15 in a 176-byte
// frame on the current stack, stores sp in *save_sp, loads load_sp, restores, returns (x30).
// csp_fiber_trampoline: first entry of a fiber; x19 holds the argument, x20 the entry.
// Not yet run on an Arm core: the test command runs the suite on it under qemu-aarch64 (the
// aarch64 preset; see docs/runtime.md, "Context switch").
    .text
    .globl  csp_fiber_switch
    .type   csp_fiber_switch, %function
    .p2align 4
csp_fiber_switch:
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    ret
    .size   csp_fiber_switch, .-csp_fiber_switch

    .globl  csp_fiber_trampoline
    .type   csp_fiber_trampoline, %function
    .p2align 4
csp_fiber_trampoline:
    mov     x0, x19
    blr     x20
    brk     #0
    .size   csp_fiber_trampoline, .-csp_fiber_trampoline

    .section .note.GNU-stack, "", %progbits
