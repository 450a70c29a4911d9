; bootsector.asm - 512-byte x86 boot sector for vmprep's libvirt tests.
;
; Reference source only: CI has no nasm, so tests/host/mkbootsector.c carries
; the same machine code as a byte array and writes the image.  After changing
; this file, reassemble and update mkbootsector.c to match:
;
;     nasm -f bin -o bootsector.bin tests/host/bootsector.asm
;     nasm -f bin -l /dev/stdout -o /dev/null tests/host/bootsector.asm
;     cc -o mkbs tests/host/mkbootsector.c && ./mkbs out.img && cmp out.img bootsector.bin
;
; What it does: it waits, without spinning, for an ACPI power-button press
; (QEMU's `system_powerdown`, which `virsh shutdown` sends when the guest has
; no agent) and then powers the VM off through ACPI S5.  A guest without ACPI
; support ignores the button, so without this `virsh shutdown` would never
; finish.
;
; QEMU facts it relies on (QEMU 7.2, hw/acpi/core.c, hw/acpi/piix4.c,
; hw/acpi/ich9.c, hw/i386/acpi-build.c):
;  - PM1a_STS is at PMBASE+0, PM1a_EN at PMBASE+2, PM1a_CNT at PMBASE+4
;    (16 bits each).
;  - The power button sets PWRBTN_STS (PM1a_STS bit 8) only if PWRBTN_EN
;    (PM1a_EN bit 8) is set; otherwise the press is lost.
;  - Writing SLP_EN (PM1a_CNT bit 13) with SLP_TYP (bits 12:10) = 0 powers the
;    VM off: QEMU's DSDT declares _S5 as Package {0, 0, 0, 0}, and its
;    acpi_pm1_cnt_write treats sleep type 0 as "soft power off".
;  - SeaBIOS programs PMBASE into PCI config space and enables the I/O range:
;    i440fx ('pc'): PIIX4 PM function 00:01.3 (8086:7113), register 0x40 (PMBA)
;    q35:           ICH9 LPC 00:1f.0, register 0x40 (PMBASE)
;    Bits 15:6 hold the base on both; bit 0 reads as 1 (I/O space).  The base
;    is read at run time, so whatever SeaBIOS chose works.
;
; It also prints two lines on COM1 (I/O 0x3f8; QEMU's 16550 accepts bytes
; without set-up), which show up on the VM's serial pty console.

bits 16
org 0x7c00

start:
        cli                     ; no interrupts while the stack is set up
        xor ax, ax
        mov ds, ax              ; DS = ES = SS = 0, matching org 0x7c00
        mov es, ax
        mov ss, ax
        mov sp, 0x7c00          ; stack grows down below the boot sector
        cld                     ; lodsb walks forwards

        mov si, msg_wait        ; "waiting for the ACPI power button"
        call puts

        ; Which chipset?  Read the vendor/device ID of 00:01.3.  PCI config
        ; address = 0x80000000 | bus << 16 | device << 11 | function << 8 | reg.
        mov eax, 0x80000b00     ; 00:01.3, register 0x00 (vendor, device)
        call pci_read
        cmp eax, 0x71138086     ; Intel 82371AB PIIX4 ACPI?
        mov eax, 0x80000b40     ; yes: 00:01.3 register 0x40 (PMBA)
        je .read_base           ; (mov does not change the flags)
        mov eax, 0x8000f840     ; no: ICH9 LPC 00:1f.0 register 0x40 (PMBASE)
.read_base:
        call pci_read
        and ax, 0xffc0          ; keep bits 15:6, drop the I/O-space bit
        mov bx, ax              ; BX = PMBASE for the rest of the program

        ; Arm the power button: PWRBTN_EN (bit 8) in PM1a_EN.
        lea dx, [bx + 2]
        mov ax, 0x0100
        out dx, ax
        ; Clear a stale PWRBTN_STS (write 1 to clear) in PM1a_STS.
        mov dx, bx
        out dx, ax

        ; Sleep until something happens.  SeaBIOS keeps the PIT tick (IRQ 0,
        ; 18.2 Hz) running, so HLT wakes up at least every ~55 ms; the loop
        ; costs next to no host CPU.
        sti
.wait:
        hlt
        mov dx, bx              ; PM1a_STS
        in ax, dx
        test ax, 0x0100         ; PWRBTN_STS?
        jz .wait

        mov si, msg_off         ; "powering off"
        call puts

        ; Power off: SLP_EN (bit 13) | SLP_TYP 0 (QEMU's _S5) in PM1a_CNT.
        lea dx, [bx + 4]
        mov ax, 0x2000
        out dx, ax

        ; Not reached on QEMU; stop here for good otherwise.
        cli
.halt:
        hlt
        jmp .halt

; pci_read: EAX = config address (with bit 31 set); returns the dword in EAX.
; Clobbers DX.
pci_read:
        mov dx, 0x0cf8          ; CONFIG_ADDRESS
        out dx, eax
        mov dx, 0x0cfc          ; CONFIG_DATA
        in eax, dx
        ret

; puts: write the NUL-terminated string at DS:SI to COM1.  Clobbers AL, DX, SI.
puts:
        mov dx, 0x03f8          ; COM1 transmit register
.next:
        lodsb
        test al, al
        jz .done
        out dx, al
        jmp .next
.done:
        ret

msg_wait: db "vmprep-bootsector: waiting for ACPI power button", 13, 10, 0
msg_off:  db "vmprep-bootsector: power button, powering off", 13, 10, 0

        times 510 - ($ - $$) db 0   ; pad to 510 bytes
        dw 0xaa55                   ; boot signature: bytes 0x55, 0xaa
