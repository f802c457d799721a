//! One opcode per file: the data an operation owns while the kernel works on it, and its
//! `unsafe impl OpCode` saying why the pointers in its entry stay valid.

pub(crate) mod nop;
