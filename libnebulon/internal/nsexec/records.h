/*
 * The record format of the bootstrap message and the exec plan (syncmsg's records): a u16 type,
 * a u16 zero and a u32 length, then the data, which ends with a NUL byte, padded to four bytes.
 */
#ifndef NEBULON_RECORDS_H
#define NEBULON_RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct record {
	uint16_t type;
	uint32_t len;     /* of data, its NUL included */
	const char *data; /* inside the buffer, NUL-terminated */
	size_t off;       /* where the record starts */
};

/*
 * next_record reads the record at *off of buf (len bytes) into r and moves *off past it. It
 * returns 1 for a record, 0 at the end, and -1 for a record that does not fit the buffer or
 * whose data does not end with NUL (r then has its type and offset).
 */
static inline int next_record(const char *buf, size_t len, size_t *off, struct record *r)
{
	if (*off + 8 > len)
		return 0;
	r->off = *off;
	memcpy(&r->type, buf + *off, 2);
	memcpy(&r->len, buf + *off + 4, 4);
	r->data = buf + *off + 8;
	if (r->len == 0 || r->len > len - *off - 8 || r->data[r->len - 1] != '\0')
		return -1;
	*off += 8 + (((size_t)r->len + 3) & ~(size_t)3);
	return 1;
}

#endif
