// Process entry: `_start` relocates rld itself (RELA + RELR, in asm, before any Rust code
// runs) and then calls `entry(sp)` with the kernel's initial stack pointer.
// Invariants: no Rust code runs before relocation; the asm uses only rip-relative `lea` of
// linker-defined symbols (never the GOT); the stack is 16-byte aligned at the `call`.

use core::arch::naked_asm;

const DT_RELA: usize = 7;
const DT_RELASZ: usize = 8;
const DT_RELRSZ: usize = 35;
const DT_RELR: usize = 36;
const R_X86_64_RELATIVE: usize = 8;

/// Kernel entry point. `rsp` points at argc; there is no return address.
///
/// Register use: r12 = initial sp, r13 = load bias (runtime address of `__ehdr_start`,
/// since a static-pie is linked at 0), r8/r9 = RELA start/end, r10/r11 = RELR start/end.
/// Only R_X86_64_RELATIVE (and R_X86_64_NONE) can appear in a static-pie; anything
/// else traps with `ud2` instead of leaving a silently wrong pointer behind.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    naked_asm!(
        "xor ebp, ebp",
        "mov r12, rsp",
        "lea r13, [rip + __ehdr_start]",
        "lea rsi, [rip + _DYNAMIC]",
        "xor r8d, r8d",
        "xor r9d, r9d",
        "xor r10d, r10d",
        "xor r11d, r11d",
        // Scan the dynamic section.
        "2:",
        "mov rax, [rsi]",
        "test rax, rax",
        "jz 3f",
        "mov rcx, [rsi + 8]",
        "cmp rax, {dt_rela}",
        "jne 21f",
        "mov r8, rcx",
        "21:",
        "cmp rax, {dt_relasz}",
        "jne 22f",
        "mov r9, rcx",
        "22:",
        "cmp rax, {dt_relr}",
        "jne 23f",
        "mov r10, rcx",
        "23:",
        "cmp rax, {dt_relrsz}",
        "jne 24f",
        "mov r11, rcx",
        "24:",
        "add rsi, 16",
        "jmp 2b",
        // RELA. GNU ld may leave DT_RELA=0/DT_RELASZ=0 entries: guard on the size.
        "3:",
        "test r9, r9",
        "jz 5f",
        "add r8, r13",
        "add r9, r8",
        "4:",
        "cmp r8, r9",
        "jae 5f",
        "mov eax, dword ptr [r8 + 8]",
        "test eax, eax",
        "jz 41f",
        "cmp eax, {r_relative}",
        "jne 99f",
        "mov rax, [r8 + 16]",
        "add rax, r13",
        "mov rcx, [r8]",
        "mov [r13 + rcx], rax",
        "41:",
        "add r8, 24",
        "jmp 4b",
        // RELR: an even word is an address to relocate (and sets `where` past it); an odd
        // word is a bitmap for the 63 words following `where`.
        "5:",
        "test r11, r11",
        "jz 9f",
        "add r10, r13",
        "add r11, r10",
        "xor edx, edx",
        "6:",
        "cmp r10, r11",
        "jae 9f",
        "mov rax, [r10]",
        "add r10, 8",
        "test al, 1",
        "jnz 7f",
        "lea rdx, [rax + r13]",
        "add [rdx], r13",
        "add rdx, 8",
        "jmp 6b",
        "7:",
        "mov rcx, rdx",
        "shr rax, 1",
        "8:",
        "test rax, rax",
        "jz 79f",
        "test al, 1",
        "jz 78f",
        "add [rcx], r13",
        "78:",
        "shr rax, 1",
        "add rcx, 8",
        "jmp 8b",
        "79:",
        "add rdx, 504",
        "jmp 6b",
        // Relocated: enter Rust with the original sp, stack aligned for a call.
        "9:",
        "mov rdi, r12",
        "and rsp, -16",
        "call {entry}",
        "99:",
        "ud2",
        dt_rela = const DT_RELA,
        dt_relasz = const DT_RELASZ,
        dt_relr = const DT_RELR,
        dt_relrsz = const DT_RELRSZ,
        r_relative = const R_X86_64_RELATIVE,
        entry = sym crate::entry,
    )
}

/// Runtime address of rld's own ELF header (= load bias).
#[inline(always)]
pub fn self_base() -> usize {
    let base: usize;
    // SAFETY: a rip-relative lea of a linker-defined symbol; no memory access.
    unsafe {
        core::arch::asm!("lea {}, [rip + __ehdr_start]", out(reg) base, options(nomem, nostack, pure));
    }
    base
}

/// Runtime address of `_start`, to compare with AT_ENTRY (explicit invocation check).
#[inline(always)]
pub fn self_entry() -> usize {
    let e: usize;
    // SAFETY: as above.
    unsafe {
        core::arch::asm!("lea {}, [rip + _start]", out(reg) e, options(nomem, nostack, pure));
    }
    e
}

/// After relocation: make PT_GNU_RELRO read-only (start rounded down, end rounded down,
/// like glibc; a partial last page stays writable because it shares data).
pub fn protect_relro(page_size: usize) {
    let base = self_base();
    let ps = if page_size.is_power_of_two() {
        page_size
    } else {
        4096
    };
    // SAFETY: our own ELF header and program headers are mapped (they are in the first
    // PT_LOAD, covered by PT_PHDR) and never modified.
    let (phoff, phnum) = unsafe {
        let phoff = core::ptr::read_unaligned((base + 32) as *const u64) as usize;
        let phnum = core::ptr::read_unaligned((base + 56) as *const u16) as usize;
        (phoff, phnum)
    };
    for i in 0..phnum {
        let ph = base + phoff + i * 56;
        // SAFETY: within the program header table located above.
        let (p_type, vaddr, memsz) = unsafe {
            (
                core::ptr::read_unaligned(ph as *const u32),
                core::ptr::read_unaligned((ph + 16) as *const u64) as usize,
                core::ptr::read_unaligned((ph + 40) as *const u64) as usize,
            )
        };
        if p_type == 0x6474_e552 {
            let start = (base + vaddr) & !(ps - 1);
            let end = (base + vaddr + memsz) & !(ps - 1);
            if end > start {
                // Failure is not fatal (glibc reports it; we have nothing better to do than go on).
                let _ = crate::sys::mprotect(start, end - start, crate::sys::PROT_READ);
            }
        }
    }
}

/// Points rld's own DT_DEBUG at `r_debug` (before RELRO). The linker gives rld a DT_DEBUG
/// because it is linked as an executable; debuggers that run `rld PROGRAM` read it first
/// (gdb's `elf_locate_base`), so it must lead to the real list rather than to 0.
pub fn set_own_dt_debug(r_debug: usize) {
    let d: usize;
    // SAFETY: rip-relative address of our own dynamic section.
    unsafe {
        core::arch::asm!("lea {}, [rip + _DYNAMIC]", out(reg) d, options(nomem, nostack, pure));
    }
    let mut p = d as *mut u64;
    // SAFETY: _DYNAMIC is terminated by DT_NULL and still writable (RELRO not yet applied).
    unsafe {
        for _ in 0..256 {
            let tag = p.read();
            if tag == 0 {
                break;
            }
            if tag == 21 {
                p.add(1).write(r_debug as u64);
            }
            p = p.add(2);
        }
    }
}
