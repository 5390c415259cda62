/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Boot entry: Multiboot1 (QEMU -kernel, a.out kludge) and Multiboot2 (GRUB)
 * headers, the 32-bit entry that builds the boot page tables and enters long
 * mode, and the jump to the higher-half Rust entry `__start_xen(magic, info)`.
 *
 * Boot page tables (all in .bss, zeroed by the loader):
 *   PML4[0]   -> identity map of 0..4 GiB (2 MiB pages), for the switch and APs
 *   PML4[261] -> XEN_VIRT_START + 0..1 GiB -> physical 0..1 GiB (the image)
 *   PML4[262] -> DIRECTMAP_VIRT_START + 0..4 GiB (3..4 GiB uncached: MMIO hole)
 * The Rust side builds the final tables (no low mappings, direct map of all RAM).
 */

.set XEN_VIRT_START,   0xFFFF82D080000000
.set MB1_MAGIC,        0x1BADB002
.set MB1_FLAGS,        0x00010003      /* page-align modules, mem info, address fields */
.set MB2_MAGIC,        0xE85250D6
.set BOOT_STACK_SIZE,  0x10000
.set MSR_EFER,         0xC0000080
.set COM1,             0x3F8

.section .multiboot, "a"
.balign 4
mb1_header:
    .long MB1_MAGIC
    .long MB1_FLAGS
    .long 0x100000000 - (MB1_MAGIC + MB1_FLAGS)
    .long mb1_header - XEN_VIRT_START   /* header_addr */
    .long __image_start_phys            /* load_addr */
    .long __load_end_phys               /* load_end_addr */
    .long __bss_end_phys                /* bss_end_addr */
    .long start32 - XEN_VIRT_START      /* entry_addr */

.balign 8
mb2_header:
    .long MB2_MAGIC
    .long 0                             /* architecture: i386 protected mode */
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_MAGIC + (mb2_header_end - mb2_header))
    /* information request (optional): cmdline, loader, modules, meminfo, mmap, ACPI */
    .balign 8
    .short 1, 1
    .long 8 + 4 * 7
    .long 1, 2, 3, 4, 6, 14, 15
    /* address tag: load the file flat, like the a.out kludge */
    .balign 8
    .short 2, 0
    .long 24
    .long mb2_header - XEN_VIRT_START
    .long __image_start_phys
    .long __load_end_phys
    .long __bss_end_phys
    /* entry address tag */
    .balign 8
    .short 3, 0
    .long 12
    .long start32 - XEN_VIRT_START
    /* page-align modules */
    .balign 8
    .short 6, 0
    .long 8
    /* end tag */
    .balign 8
    .short 0, 0
    .long 8
mb2_header_end:

.section .text.boot, "ax"
.code32
.globl start32
start32:
    cli
    cld
    mov     %eax, %edi                  /* boot loader magic */
    mov     %ebx, %esi                  /* boot information (physical) */
    mov     $(boot_stack_top - XEN_VIRT_START), %esp

    /* Long mode present? */
    mov     $0x80000000, %eax
    cpuid
    cmp     $0x80000001, %eax
    jb      no_long_mode
    mov     $0x80000001, %eax
    cpuid
    test    $(1 << 29), %edx
    jz      no_long_mode
    mov     %edx, %ebp                  /* keep NX (bit 20) */

    /* 2048 PD entries of 2 MiB: 0..4 GiB; 3..4 GiB uncached. */
    mov     $(boot_pd - XEN_VIRT_START), %ebx
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $21, %eax
    or      $0x83, %eax                 /* present, writable, 2 MiB */
    cmp     $1536, %ecx
    jb      2f
    or      $0x18, %eax                 /* PWT|PCD */
2:  mov     %eax, (%ebx,%ecx,8)
    movl    $0, 4(%ebx,%ecx,8)
    inc     %ecx
    cmp     $2048, %ecx
    jb      1b

    mov     $(boot_pdpt - XEN_VIRT_START), %ebx
    mov     $(boot_pd - XEN_VIRT_START + 3), %eax
    mov     %eax, 0(%ebx)
    add     $4096, %eax
    mov     %eax, 8(%ebx)
    add     $4096, %eax
    mov     %eax, 16(%ebx)
    add     $4096, %eax
    mov     %eax, 24(%ebx)

    mov     $(boot_pdpt_xen - XEN_VIRT_START), %ebx
    mov     $(boot_pd - XEN_VIRT_START + 3), %eax
    mov     %eax, (322 * 8)(%ebx)

    mov     $(boot_pml4 - XEN_VIRT_START), %ebx
    mov     $(boot_pdpt - XEN_VIRT_START + 3), %eax
    mov     %eax, 0(%ebx)
    mov     %eax, (262 * 8)(%ebx)
    mov     $(boot_pdpt_xen - XEN_VIRT_START + 3), %eax
    mov     %eax, (261 * 8)(%ebx)

    /* Record NX support for the APs' trampoline. */
    mov     %ebp, (boot_cpu_ext_edx - XEN_VIRT_START)

    call    enable_long_mode_paging
    lgdt    (boot_gdt_desc - XEN_VIRT_START)
    ljmp    $0x08, $(start64_low - XEN_VIRT_START)

/* PAE, boot CR3, EFER.LME (+NXE), CR0.PG|WP|PE. Clobbers eax, ecx, edx. */
enable_long_mode_paging:
    mov     %cr4, %eax
    or      $0x20, %eax
    mov     %eax, %cr4
    mov     $(boot_pml4 - XEN_VIRT_START), %eax
    mov     %eax, %cr3
    mov     $MSR_EFER, %ecx
    rdmsr
    or      $0x100, %eax
    testl   $(1 << 20), (boot_cpu_ext_edx - XEN_VIRT_START)
    jz      3f
    or      $0x800, %eax
3:  wrmsr
    mov     %cr0, %eax
    or      $0x80010001, %eax
    mov     %eax, %cr0
    ret

no_long_mode:
    mov     $(no_long_mode_msg - XEN_VIRT_START), %esi
4:  movzbl  (%esi), %eax
    test    %eax, %eax
    jz      6f
    mov     $(COM1 + 5), %edx
5:  mov     %eax, %ebx
    in      %dx, %al
    test    $0x20, %al
    mov     %ebx, %eax
    jz      5b
    mov     $COM1, %edx
    out     %al, %dx
    inc     %esi
    jmp     4b
6:  cli
    hlt
    jmp     6b

.code64
start64_low:
    mov     $0x10, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    xor     %eax, %eax
    mov     %eax, %fs
    mov     %eax, %gs
    movabs  $start64_high, %rax
    jmp     *%rax

start64_high:
    movabs  $boot_stack_top, %rsp
    xor     %ebp, %ebp
    mov     %edi, %edi
    mov     %esi, %esi
    call    __start_xen
7:  cli
    hlt
    jmp     7b

/*
 * AP trampoline: copied to TRAMPOLINE_PHYS (below 1 MiB) and started by
 * INIT-SIPI-SIPI in real mode with CS = TRAMPOLINE_PHYS >> 4.
 */
.set TRAMPOLINE_PHYS, 0x8000
.code16
.balign 16
.globl trampoline_start
trampoline_start:
    cli
    cld
    mov     %cs, %ax
    mov     %ax, %ds
    lgdtl   (tramp_gdt_desc - trampoline_start)
    mov     %cr0, %eax
    or      $1, %eax
    mov     %eax, %cr0
    ljmpl   $0x18, $(TRAMPOLINE_PHYS + tramp32 - trampoline_start)
.code32
tramp32:
    mov     $0x10, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    mov     $(ap_tramp_stack_top - XEN_VIRT_START), %esp
    mov     $(enable_long_mode_paging - XEN_VIRT_START), %eax
    call    *%eax                       /* absolute: this code runs from a copy */
    ljmp    $0x08, $(TRAMPOLINE_PHYS + tramp64 - trampoline_start)
.code64
tramp64:
    movabs  $ap_start64_high, %rax
    jmp     *%rax
.balign 8
tramp_gdt_desc:
    .short  boot_gdt_end - boot_gdt - 1
    .long   boot_gdt - XEN_VIRT_START
.globl trampoline_end
trampoline_end:

ap_start64_high:
    mov     $0x10, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    movabs  $ap_boot_stack_top, %rax
    mov     (%rax), %rsp
    movabs  $ap_boot_cr3, %rax
    mov     (%rax), %rax
    mov     %rax, %cr3
    xor     %ebp, %ebp
    call    __start_secondary
8:  cli
    hlt
    jmp     8b

.section .rodata
no_long_mode_msg:
    .asciz  "ERROR: this CPU does not support long mode; cannot boot the hypervisor.\r\n"

.section .data
.balign 16
boot_gdt:
    .quad   0
    .quad   0x00AF9A000000FFFF          /* 0x08: 64-bit code */
    .quad   0x00CF92000000FFFF          /* 0x10: data */
    .quad   0x00CF9A000000FFFF          /* 0x18: 32-bit code */
boot_gdt_end:
boot_gdt_desc:
    .short  boot_gdt_end - boot_gdt - 1
    .long   boot_gdt - XEN_VIRT_START
.balign 8
boot_cpu_ext_edx:
    .long   0
.globl ap_boot_stack_top
ap_boot_stack_top:
    .quad   0
.globl ap_boot_cr3
ap_boot_cr3:
    .quad   0

.section .bss
.balign 4096
.globl boot_pml4
boot_pml4:      .skip 4096
boot_pdpt:      .skip 4096
boot_pdpt_xen:  .skip 4096
boot_pd:        .skip 4096 * 4
.balign 16
ap_tramp_stack: .skip 256
ap_tramp_stack_top:
.balign 4096
boot_stack:     .skip BOOT_STACK_SIZE
.globl boot_stack_top
boot_stack_top:
