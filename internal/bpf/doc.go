// Package bpf is a small toolkit for classic BPF (cBPF) programs, the
// instruction set the kernel accepts for socket filters and seccomp.
//
// It owns:
//   - the instruction encoding constants (BPF_LD, BPF_JMP, ...), kept with
//     the kernel's names from <linux/filter.h> and <linux/bpf_common.h>;
//   - Builder, which assembles a program from instructions and symbolic
//     labels and resolves jumps, inserting long jumps (BPF_JA, 32-bit offset)
//     where a conditional jump's 8-bit offset cannot reach its target;
//   - Check and PathStats, which verify that a program is well formed (every
//     jump stays inside the program, every path ends in a return) and measure
//     its size and longest path;
//   - Disassemble, a decoder for debug output.
//
// It does not know about seccomp: syscall numbers, seccomp_data offsets and
// return actions live in internal/seccomp. It does not execute programs;
// tests use the virtual machine in golang.org/x/net/bpf.
//
// Programs are []unix.SockFilter, the struct the kernel reads, so a program
// built here can be handed to seccomp(2) or SO_ATTACH_FILTER without copying.
package bpf
