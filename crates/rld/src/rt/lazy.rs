//! Lazy PLT binding. Unless LD_BIND_NOW or the object asks for `-z now`, rld leaves each
//! JUMP_SLOT pointing at its PLT stub (GOT entry += load bias) and binds it on the first call:
//! the PLT pushes the relocation index and jumps through GOT[2] with GOT[1] pushed, which
//! lands in `_dl_runtime_resolve_*`. That trampoline saves every register an argument can
//! live in (rax for varargs, rdi..r9, and the whole vector state with XSAVEC/XSAVE), calls
//! `lazy_fixup`, restores everything and tail-jumps to the function.
//!
//! Invariants: the trampolines touch only the stack below the PLT's two pushed words and
//! return the stack exactly as the caller's call left it; `lazy_fixup` takes the state lock
//! only to compute the binding and never holds it while an IFUNC resolver runs.

use core::arch::naked_asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use rld_link::lookup::CLASS_PLT;
use rld_link::object::relas;
use rld_link::reloc::{Action, R_X86_64_JUMP_SLOT, RelocInput, reloc_action};
use rld_link::{Binding, ObjId};

/// Bytes reserved below the 64-aligned stack for the register block and the XSAVE area
/// (`cpu_features.xsave_state_size` / `_full_size`, which include the 64-byte register block).
#[unsafe(no_mangle)]
static RLD_LAZY_SAVE_SIZE: AtomicUsize = AtomicUsize::new(4096);

/// The trampoline chosen by `select` (GOT[2] of lazily bound objects).
pub static TRAMPOLINE: AtomicUsize = AtomicUsize::new(0);

/// LD_BIND_NOT: resolve but never write the GOT.
pub static BIND_NOT: AtomicUsize = AtomicUsize::new(0);

/// Chooses the trampoline for this CPU and sizes its save area; returns its address.
pub fn select(cf: &rld_cpu::CpuFeatures) -> usize {
    let t = choose(cf);
    TRAMPOLINE.store(t, Ordering::Relaxed);
    t
}

fn choose(cf: &rld_cpu::CpuFeatures) -> usize {
    // CPUID 0xD.1 EAX bit 1 (XSAVEC), usable when the OS enabled XSAVE.
    let xsavec = cf.features.get(3).is_some_and(|l| l.active[0] & 2 != 0);
    let osxsave = cf
        .features
        .first()
        .is_some_and(|l| l.cpuid[2] & (1 << 27) != 0);
    if xsavec && cf.xsave_state_size != 0 {
        RLD_LAZY_SAVE_SIZE.store(cf.xsave_state_size as usize, Ordering::Relaxed);
        _dl_runtime_resolve_xsavec as *const () as usize
    } else if osxsave && cf.xsave_state_full_size != 0 {
        RLD_LAZY_SAVE_SIZE.store(cf.xsave_state_full_size as usize, Ordering::Relaxed);
        _dl_runtime_resolve_xsave as *const () as usize
    } else {
        RLD_LAZY_SAVE_SIZE.store(64 + 512, Ordering::Relaxed);
        _dl_runtime_resolve_fxsave as *const () as usize
    }
}

// Stack on entry: [rsp] = GOT[1] (object index), [rsp+8] = relocation index, [rsp+16] = the
// caller's return address. Register block at the 64-aligned bottom: rax, rcx, rdx, rsi, rdi,
// r8, r9 at 0..56; vector state from offset 64.
macro_rules! trampoline {
    ($name:ident, $save:literal, $restore:literal) => {
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name() {
            naked_asm!(
                "push rbx",
                "mov rbx, rsp",
                "and rsp, -64",
                "sub rsp, [rip + {size}]",
                "mov [rsp], rax",
                "mov [rsp + 8], rcx",
                "mov [rsp + 16], rdx",
                "mov [rsp + 24], rsi",
                "mov [rsp + 32], rdi",
                "mov [rsp + 40], r8",
                "mov [rsp + 48], r9",
                // XSAVE header must be clean for XSAVEC/XSAVE (bytes 512..576 of the area).
                "xor eax, eax",
                "mov [rsp + 64 + 512], rax",
                "mov [rsp + 64 + 520], rax",
                "mov [rsp + 64 + 528], rax",
                "mov [rsp + 64 + 536], rax",
                "mov [rsp + 64 + 544], rax",
                "mov [rsp + 64 + 552], rax",
                "mov [rsp + 64 + 560], rax",
                "mov [rsp + 64 + 568], rax",
                "mov eax, 0xee",
                "xor edx, edx",
                $save,
                "mov rdi, [rbx + 8]",
                "mov rsi, [rbx + 16]",
                "call {fixup}",
                "mov r11, rax",
                "mov eax, 0xee",
                "xor edx, edx",
                $restore,
                "mov rax, [rsp]",
                "mov rcx, [rsp + 8]",
                "mov rdx, [rsp + 16]",
                "mov rsi, [rsp + 24]",
                "mov rdi, [rsp + 32]",
                "mov r8, [rsp + 40]",
                "mov r9, [rsp + 48]",
                "mov rsp, rbx",
                "pop rbx",
                "add rsp, 16",
                "jmp r11",
                size = sym RLD_LAZY_SAVE_SIZE,
                fixup = sym lazy_fixup,
            )
        }
    };
}

trampoline!(
    _dl_runtime_resolve_xsavec,
    "xsavec64 [rsp + 64]",
    "xrstor64 [rsp + 64]"
);
trampoline!(
    _dl_runtime_resolve_xsave,
    "xsave64 [rsp + 64]",
    "xrstor64 [rsp + 64]"
);
trampoline!(
    _dl_runtime_resolve_fxsave,
    "fxsave64 [rsp + 64]",
    "fxrstor64 [rsp + 64]"
);

enum Fixup {
    /// GOT slot and the final value.
    Done(u64, u64),
    /// GOT slot and an IFUNC resolver to call first.
    Ifunc(u64, u64),
    Fatal(alloc::string::String),
}

/// `_dl_fixup`: binds JUMP_SLOT `index` of object `id`; returns the function's address.
extern "C" fn lazy_fixup(id: usize, index: usize) -> usize {
    let r = super::state::with(|rt| {
        let Some(v) = rt.ns.obj(id as ObjId) else {
            return Fixup::Fatal(alloc::format!("rld: bad lazy PLT call (object {id})\n"));
        };
        // Entry `index` directly (not by walking the table: this runs on every first call).
        let entry = index
            .checked_mul(24)
            .and_then(|at| v.jmprel.get(at..at.checked_add(24)?));
        let Some(r) = entry.and_then(|e| relas(e).next()) else {
            return Fixup::Fatal(alloc::format!("rld: bad lazy PLT call (entry {index})\n"));
        };
        let bias = rt.objs.get(id).map_or(0, |o| o.bias) as u64;
        let place = bias.wrapping_add(r.offset);
        if r.r_type != R_X86_64_JUMP_SLOT {
            return Fixup::Fatal(alloc::format!(
                "rld: lazy PLT call through a non-JUMP_SLOT relocation (type {})\n",
                r.r_type
            ));
        }
        let b = super::debug::resolve_lazy(rt, id, r.sym, CLASS_PLT);
        if b == Binding::Undefined {
            let prog = alloc::string::String::from_utf8_lossy(rt.progname).into_owned();
            return Fixup::Fatal(
                match rld_link::plan::undefined_error(&rt.ns, &prog, id as ObjId, r.sym) {
                    Some(e) => e.fatal(&prog),
                    None => alloc::string::String::from("undefined symbol\n"),
                },
            );
        }
        if let Binding::Def { obj, .. } = b {
            super::dlopen::add_dependency(rt, id, obj as usize);
        }
        let input = RelocInput {
            r_type: r.r_type,
            addend: r.addend,
            base: bias,
            place,
            sym: super::reloc::facts(rt, b),
            ref_size: 0,
        };
        match reloc_action(&input) {
            Ok(Action::Write64(v)) => Fixup::Done(place, v),
            Ok(Action::Ifunc { resolver, .. }) => Fixup::Ifunc(place, resolver),
            _ => Fixup::Fatal(alloc::string::String::from("rld: bad lazy PLT binding\n")),
        }
    });
    let (place, value) = match r {
        Some(Fixup::Done(p, v)) => (p, v),
        Some(Fixup::Ifunc(p, resolver)) => {
            // SAFETY: the defining object is relocated; resolvers take no arguments here.
            (p, unsafe { super::jump::call_ifunc(resolver as usize) }
                as u64)
        }
        Some(Fixup::Fatal(line)) => {
            crate::out::flush();
            eprint!("{}", line);
            crate::out::exit(127)
        }
        None => {
            eprint!("rld: lazy PLT call before start-up finished\n");
            crate::out::exit(127)
        }
    };
    if BIND_NOT.load(Ordering::Relaxed) == 0 {
        // SAFETY: the GOT slot of a JUMP_SLOT in the object's writable .got.plt.
        unsafe { (place as *mut u64).write_volatile(value) };
    }
    value as usize
}
