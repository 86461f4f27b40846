// fiber_switch_x86_64.S: the goroutine context switch for the x86-64 System V ABI.
//
// csp_fiber_switch(void** save_sp, void* load_sp)
//   Pushes the callee-saved registers on the current stack, stores the stack pointer in
//   *save_sp, loads load_sp, pops the same from there and returns into whatever that stack was
//   doing. Caller-saved registers are the caller's business, as for any call.
//   MXCSR and the x87 control word are not switched: the floating-point environment is
//   per-thread state (C11 7.6), like errno, and a goroutine that changes it and then blocks may
//   resume on another thread (see docs/runtime.md, "Threads, thread-local state and errno").
//   Go and marl switch no floating-point state either. Saving MXCSR alone (stmxcsr) cost
//   ~4 ns, about 7% of a goroutine ping-pong's round trip.
//   It leaves by `ret`, which the return stack buffer predicts wrongly: the buffer holds this
//   stack's caller, not the other stack's. Popping the address and jumping to it instead, as
//   Boost.Context's jump_fcontext does, makes a bare switch 3.9x faster (bench/switch_bench.cpp:
//   4.0 against 15.6 ns per round trip of two switches), but made goroutine ping-pong 1.24x and
//   the sieve 1.21x slower (A/B medians of 9). The likely reason: the goroutine resumed usually
//   runs the same code as the one leaving (both are in a channel operation), so once `ret` has taken this stack's
//   entry off the buffer, the entries below it predict the resumed stack's returns. A jump
//   leaves that entry on the buffer, and every return after the switch is then one off.
//
// csp_fiber_trampoline
//   Where a new fiber first "returns" to: its prepared frame holds the entry function in r13
//   and its argument in r12. The entry never returns.
    .text
    .globl  csp_fiber_switch
    .type   csp_fiber_switch, @function
    .p2align 4
csp_fiber_switch:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   csp_fiber_switch, .-csp_fiber_switch

    .globl  csp_fiber_trampoline
    .type   csp_fiber_trampoline, @function
    .p2align 4
csp_fiber_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   csp_fiber_trampoline, .-csp_fiber_trampoline

    .section .note.GNU-stack, "", @progbits
