/*
 * mkbootsector.c - write the 512-byte test boot sector of tests/host.
 *
 * Usage: mkbootsector PATH
 *
 * The machine code is tests/host/bootsector.asm assembled by nasm; it is kept
 * here as bytes because CI has no assembler.  The guest prints a line on
 * COM1, arms the ACPI power button, sleeps (HLT) until QEMU's
 * system_powerdown sets PWRBTN_STS, then powers off through ACPI S5.  See
 * bootsector.asm for the why of each step.
 *
 * Check after changing either file:
 *     nasm -f bin -o bs.bin tests/host/bootsector.asm
 *     cc -o mkbs tests/host/mkbootsector.c && ./mkbs bs2.bin && cmp bs.bin bs2.bin
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_ADDR 0x7c00

/* Code at offset 0x00..0x73; the strings follow at MSG_WAIT and MSG_OFF. */
static const unsigned char code[] = {
	0xfa,                               /* 00 cli                        */
	0x31, 0xc0,                         /* 01 xor ax, ax                 */
	0x8e, 0xd8,                         /* 03 mov ds, ax                 */
	0x8e, 0xc0,                         /* 05 mov es, ax                 */
	0x8e, 0xd0,                         /* 07 mov ss, ax                 */
	0xbc, 0x00, 0x7c,                   /* 09 mov sp, 0x7c00             */
	0xfc,                               /* 0c cld                        */
	0xbe, 0x74, 0x7c,                   /* 0d mov si, msg_wait (0x7c74)  */
	0xe8, 0x55, 0x00,                   /* 10 call puts                  */
	0x66, 0xb8, 0x00, 0x0b, 0x00, 0x80, /* 13 mov eax, 0x80000b00 (00:01.3 id) */
	0xe8, 0x41, 0x00,                   /* 19 call pci_read              */
	0x66, 0x3d, 0x86, 0x80, 0x13, 0x71, /* 1c cmp eax, 0x71138086 (PIIX4 PM) */
	0x66, 0xb8, 0x40, 0x0b, 0x00, 0x80, /* 22 mov eax, 0x80000b40 (PMBA)  */
	0x74, 0x06,                         /* 28 je .read_base              */
	0x66, 0xb8, 0x40, 0xf8, 0x00, 0x80, /* 2a mov eax, 0x8000f840 (ICH9 PMBASE) */
	0xe8, 0x2a, 0x00,                   /* 30 .read_base: call pci_read  */
	0x83, 0xe0, 0xc0,                   /* 33 and ax, 0xffc0             */
	0x89, 0xc3,                         /* 36 mov bx, ax  (BX = PMBASE)  */
	0x8d, 0x57, 0x02,                   /* 38 lea dx, [bx+2]  (PM1a_EN)  */
	0xb8, 0x00, 0x01,                   /* 3b mov ax, 0x0100 (PWRBTN)    */
	0xef,                               /* 3e out dx, ax                 */
	0x89, 0xda,                         /* 3f mov dx, bx  (PM1a_STS)     */
	0xef,                               /* 41 out dx, ax  (clear status) */
	0xfb,                               /* 42 sti                        */
	0xf4,                               /* 43 .wait: hlt                 */
	0x89, 0xda,                         /* 44 mov dx, bx                 */
	0xed,                               /* 46 in ax, dx                  */
	0xa9, 0x00, 0x01,                   /* 47 test ax, 0x0100            */
	0x74, 0xf7,                         /* 4a jz .wait                   */
	0xbe, 0xa7, 0x7c,                   /* 4c mov si, msg_off (0x7ca7)   */
	0xe8, 0x16, 0x00,                   /* 4f call puts                  */
	0x8d, 0x57, 0x04,                   /* 52 lea dx, [bx+4]  (PM1a_CNT) */
	0xb8, 0x00, 0x20,                   /* 55 mov ax, 0x2000 (SLP_EN, S5) */
	0xef,                               /* 58 out dx, ax                 */
	0xfa,                               /* 59 cli                        */
	0xf4,                               /* 5a .halt: hlt                 */
	0xeb, 0xfd,                         /* 5b jmp .halt                  */
	0xba, 0xf8, 0x0c,                   /* 5d pci_read: mov dx, 0xcf8    */
	0x66, 0xef,                         /* 60 out dx, eax                */
	0xba, 0xfc, 0x0c,                   /* 62 mov dx, 0xcfc              */
	0x66, 0xed,                         /* 65 in eax, dx                 */
	0xc3,                               /* 67 ret                        */
	0xba, 0xf8, 0x03,                   /* 68 puts: mov dx, 0x3f8        */
	0xac,                               /* 6b .next: lodsb               */
	0x84, 0xc0,                         /* 6c test al, al                */
	0x74, 0x03,                         /* 6e jz .done                   */
	0xee,                               /* 70 out dx, al                 */
	0xeb, 0xf8,                         /* 71 jmp .next                  */
	0xc3,                               /* 73 .done: ret                 */
};

#define MSG_WAIT 0x74
#define MSG_OFF 0xa7
static const char msg_wait[] = "vmprep-bootsector: waiting for ACPI power button\r\n";
static const char msg_off[] = "vmprep-bootsector: power button, powering off\r\n";

int main(int argc, char **argv)
{
	unsigned char sector[512];
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return 2;
	}
	/* The code hard-codes the strings' addresses: keep the layout exact. */
	if (sizeof(code) != MSG_WAIT || MSG_WAIT + sizeof(msg_wait) != MSG_OFF ||
	    MSG_OFF + sizeof(msg_off) > 510 ||
	    code[0x0e] != ((LOAD_ADDR + MSG_WAIT) & 0xff) ||
	    code[0x4d] != ((LOAD_ADDR + MSG_OFF) & 0xff)) {
		fprintf(stderr, "%s: boot sector layout is inconsistent\n", argv[0]);
		return 1;
	}

	memset(sector, 0, sizeof(sector));
	memcpy(sector, code, sizeof(code));
	memcpy(sector + MSG_WAIT, msg_wait, sizeof(msg_wait)); /* with NUL */
	memcpy(sector + MSG_OFF, msg_off, sizeof(msg_off));
	sector[510] = 0x55;
	sector[511] = 0xaa;

	f = fopen(argv[1], "wb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	if (fwrite(sector, 1, sizeof(sector), f) != sizeof(sector)) {
		perror(argv[1]);
		fclose(f);
		return 1;
	}
	if (fclose(f) != 0) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}
