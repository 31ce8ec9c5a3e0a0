/*
 * crc32c.c - CRC-32C through ISA-L.
 *
 * ISA-L's crc32_iscsi() takes the running register as it is (no
 * inversion in or out) and an int length; the standard CRC-32C
 * inverts both ways.  So ~crc32_iscsi(buf, len, ~crc) continues a
 * standard checksum, and lengths beyond INT_MAX go in pieces.
 */
#include <isa-l/crc.h>
#include <limits.h>

#include "crc32c.h"

/* The largest piece handed to ISA-L at once (its length is an int). */
#define CRC32C_PIECE_MAX (1U << 30)

uint32_t
crc32c_extend(uint32_t crc, const void *buf, size_t len)
{
	unsigned char *p = (unsigned char *)buf;
	uint32_t reg = ~crc;

	while (len > 0) {
		size_t n = len < CRC32C_PIECE_MAX ? len : CRC32C_PIECE_MAX;

		reg = crc32_iscsi(p, (int)n, reg);
		p += n;
		len -= n;
	}
	return ~reg;
}

uint32_t
crc32c_extend_portable(uint32_t crc, const void *buf, size_t len)
{
	unsigned char *p = (unsigned char *)buf;
	uint32_t reg = ~crc;

	while (len > 0) {
		size_t n = len < CRC32C_PIECE_MAX ? len : CRC32C_PIECE_MAX;

		reg = crc32_iscsi_base(p, (int)n, reg);
		p += n;
		len -= n;
	}
	return ~reg;
}
