/*
 * crc32c.h - CRC-32C (Castagnoli, the iSCSI polynomial of RFC 3720),
 * the checksum of every record in the durable log.
 *
 * The work is done by Intel's ISA-L (Debian's libisal), which picks the
 * fastest code the CPU has at run time (the SSE4.2 crc32 instruction,
 * folded with PCLMULQDQ) and has a portable table version for the rest.
 * This file only fixes the convention: crc32c_extend(0, ...) starts a
 * checksum, and feeding the bytes in pieces gives the same value as in
 * one go, so a record's header and body need not be contiguous.
 */
#ifndef SLUICE_CRC32C_H
#define SLUICE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of crc's bytes followed by buf[0..len). */
uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len);

/* The same through ISA-L's portable (table) code, for the tests. */
uint32_t crc32c_extend_portable(uint32_t crc, const void *buf, size_t len);

/* The CRC-32C of buf[0..len). */
static inline uint32_t
crc32c(const void *buf, size_t len)
{
	return crc32c_extend(0, buf, len);
}

#endif
