//! The PLT resolver. rld binds every resolvable function at start-up; a JUMP_SLOT whose
//! symbol is undefined stays lazy, as under glibc, and only fails if it is ever called. The
//! PLT enters `_dl_runtime_resolve` with GOT[1] (the object's index) and the relocation index
//! on the stack.
//!
//! Invariants: the trampoline never returns to the caller (the error is fatal), so it need
//! not preserve argument registers; it realigns the stack before calling Rust.

use core::arch::naked_asm;

use rld_link::ObjId;
use rld_link::object::relas;

#[unsafe(naked)]
pub unsafe extern "C" fn _dl_runtime_resolve() {
    naked_asm!(
        "mov rdi, [rsp]",
        "mov rsi, [rsp + 8]",
        "and rsp, -16",
        "call {fixup}",
        "ud2",
        fixup = sym lazy_fixup,
    )
}

extern "C" fn lazy_fixup(id: usize, index: usize) -> ! {
    let line = super::state::with(|rt| {
        let prog = alloc::string::String::from_utf8_lossy(rt.progname).into_owned();
        let v = rt.ns.obj(id as ObjId)?;
        let r = relas(v.jmprel).nth(index)?;
        rld_link::plan::undefined_error(&rt.ns, &prog, id as ObjId, r.sym).map(|e| e.fatal(&prog))
    })
    .flatten();
    crate::out::flush();
    match line {
        Some(l) => eprint!("{}", l),
        None => eprint!("rld: bad lazy PLT call (object {}, entry {})\n", id, index),
    }
    crate::out::exit(127)
}
