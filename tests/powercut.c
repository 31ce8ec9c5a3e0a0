/*
 * powercut.c - an LD_PRELOAD library that knows what a power cut would
 * leave of a directory, and can make the disk fail.
 *
 * kill -9 keeps the page cache, so it cannot tell a log that syncs from
 * one that does not.  This library watches the files of one directory
 * ($POWERCUT_DIR) in the process it is loaded into and keeps, in
 * $POWERCUT_SHADOW, what stable storage would hold:
 *   f<id>   a file's contents as of its last fsync/fdatasync
 *   names   which name is which file, as of the last fsync of the
 *           directory itself (creations, renames and deletions count
 *           only from then)
 * Files are told apart by an id given at creation, not by inode, since
 * an inode freed by unlink is soon reused.  Images are written to a
 * temporary name and renamed, so a kill -9 in the middle of one leaves
 * the previous image.  A power cut is then: kill -9 the process, empty
 * the directory, and write each name of `names` with its f<id> (an
 * empty file when its data was never synced); see check_wal.c.
 *
 * Faults, each off unless its variable is set:
 *   POWERCUT_ENOSPC_FALLOCATE_AFTER=N  the first N fallocates succeed,
 *                                      the rest fail with ENOSPC
 *   POWERCUT_ENOSPC_WRITE_AFTER=N      writes fail with ENOSPC once N
 *                                      bytes have been written
 *   POWERCUT_EIO_WRITE_AFTER=N         the same with EIO
 *   POWERCUT_EIO_SYNC_AFTER=N          the first N syncs succeed, the
 *                                      rest fail with EIO
 * Only files in $POWERCUT_DIR count; everything else passes through.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PC_FD_MAX 65536
#define PC_FILES_MAX 4096
#define PC_DIR_FD ((struct pc_file *)-1)

struct pc_file {
	char name[NAME_MAX + 1]; /* "" when unlinked */
	char id[48];
};

static pthread_mutex_t pc_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *pc_dir, *pc_shadow;
static size_t pc_dirlen;
static struct pc_file pc_files[PC_FILES_MAX];
static size_t pc_nfiles;
static struct pc_file *pc_fds[PC_FD_MAX];
static unsigned long pc_nextid;
static long long pc_enospc_falloc = -1, pc_enospc_write = -1;
static long long pc_eio_write = -1, pc_eio_sync = -1;
static long long pc_fallocs, pc_written, pc_syncs;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_rename)(const char *, const char *);
static int (*real_unlink)(const char *);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);

static long long
env_num(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? atoll(v) : -1;
}

/* The name inside the watched directory, or NULL if path is not in it. */
static const char *
watched(const char *path)
{
	if (pc_dir == NULL || strncmp(path, pc_dir, pc_dirlen) != 0 ||
	    path[pc_dirlen] != '/' || strchr(path + pc_dirlen + 1, '/'))
		return NULL;
	return path + pc_dirlen + 1;
}

static bool
is_dir_path(const char *path)
{
	return pc_dir != NULL && strcmp(path, pc_dir) == 0;
}

static struct pc_file *
find(const char *name)
{
	for (size_t i = 0; i < pc_nfiles; i++)
		if (strcmp(pc_files[i].name, name) == 0)
			return &pc_files[i];
	return NULL;
}

static struct pc_file *
add(const char *name)
{
	struct pc_file *f = NULL;

	for (size_t i = 0; i < pc_nfiles && f == NULL; i++)
		if (pc_files[i].name[0] == '\0' && pc_files[i].id[0] == '\0')
			f = &pc_files[i];
	if (f == NULL && pc_nfiles < PC_FILES_MAX)
		f = &pc_files[pc_nfiles++];
	if (f == NULL)
		abort();
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->id, sizeof(f->id), "%ld.%lu", (long)getpid(), pc_nextid++);
	return f;
}

/* Write buf to shadow/name atomically (tmp + rename). */
static void
shadow_put(const char *name, const char *buf, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", pc_shadow, name);
	snprintf(dst, sizeof(dst), "%s/%s", pc_shadow, name);
	fd = real_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	for (size_t done = 0; done < len;) {
		ssize_t n = real_write(fd, buf + done, len - done);
		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	real_close(fd);
	real_rename(tmp, dst);
}

/* The synced image of f: the file's whole contents now. */
static void
image_file(struct pc_file *f, int fd)
{
	struct stat st;
	char name[64];

	if (fstat(fd, &st) < 0)
		return;
	char *buf = malloc((size_t)st.st_size + 1);
	ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
	snprintf(name, sizeof(name), "f%s", f->id);
	shadow_put(name, buf, n > 0 ? (size_t)n : 0);
	free(buf);
}

/* The synced names: the directory as the process sees it now. */
static void
image_names(void)
{
	size_t cap = 256, len = 0;
	char *buf = malloc(cap);

	for (size_t i = 0; i < pc_nfiles; i++) {
		struct pc_file *f = &pc_files[i];
		if (f->name[0] == '\0')
			continue;
		size_t need = strlen(f->id) + strlen(f->name) + 3;
		if (len + need > cap) {
			cap = (len + need) * 2;
			buf = realloc(buf, cap);
		}
		len += (size_t)snprintf(buf + len, cap - len, "%s %s\n", f->id,
		    f->name);
	}
	shadow_put("names", buf, len);
	free(buf);
}

__attribute__((constructor)) static void
pc_init(void)
{
	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_write = dlsym(RTLD_NEXT, "write");
	real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	real_fallocate = dlsym(RTLD_NEXT, "fallocate");
	real_posix_fallocate = dlsym(RTLD_NEXT, "posix_fallocate");
	real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
	real_rename = dlsym(RTLD_NEXT, "rename");
	real_unlink = dlsym(RTLD_NEXT, "unlink");
	real_fsync = dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	real_close = dlsym(RTLD_NEXT, "close");
	pc_dir = getenv("POWERCUT_DIR");
	pc_shadow = getenv("POWERCUT_SHADOW");
	if (pc_dir == NULL || pc_shadow == NULL) {
		pc_dir = NULL;
		return;
	}
	pc_dirlen = strlen(pc_dir);
	pc_enospc_falloc = env_num("POWERCUT_ENOSPC_FALLOCATE_AFTER");
	pc_enospc_write = env_num("POWERCUT_ENOSPC_WRITE_AFTER");
	pc_eio_write = env_num("POWERCUT_EIO_WRITE_AFTER");
	pc_eio_sync = env_num("POWERCUT_EIO_SYNC_AFTER");
	/* What is there at start is taken as durable. */
	DIR *d = opendir(pc_dir);
	struct dirent *e;
	char path[PATH_MAX];
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		struct pc_file *f = add(e->d_name);
		snprintf(path, sizeof(path), "%s/%s", pc_dir, e->d_name);
		int fd = real_open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			image_file(f, fd);
			real_close(fd);
		}
	}
	if (d != NULL)
		closedir(d);
	image_names();
}

static void
track_open(int fd, const char *path)
{
	const char *name;

	if (fd < 0 || fd >= PC_FD_MAX || pc_dir == NULL)
		return;
	pthread_mutex_lock(&pc_mu);
	if (is_dir_path(path)) {
		pc_fds[fd] = PC_DIR_FD;
	} else if ((name = watched(path)) != NULL) {
		struct pc_file *f = find(name);
		if (f == NULL)
			f = add(name);
		pc_fds[fd] = f;
	}
	pthread_mutex_unlock(&pc_mu);
}

static int
do_open(int dirfd, const char *path, int flags, mode_t mode, bool at)
{
	int fd = at ? real_openat(dirfd, path, flags, mode)
	            : real_open(path, flags, mode);

	if (!at || path[0] == '/')
		track_open(fd, path);
	return fd;
}

int
open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return do_open(AT_FDCWD, path, flags, mode, false);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int
openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return do_open(dirfd, path, flags, mode, true);
}

/* The tracked file behind fd, PC_DIR_FD, or NULL. */
static struct pc_file *
fd_file(int fd)
{
	return fd >= 0 && fd < PC_FD_MAX ? pc_fds[fd] : NULL;
}

/* A write fault for n more bytes on fd, or 0. */
static int
write_fault(int fd, size_t n)
{
	int err = 0;

	if (fd_file(fd) == NULL || fd_file(fd) == PC_DIR_FD)
		return 0;
	pthread_mutex_lock(&pc_mu);
	if (pc_eio_write >= 0 && pc_written + (long long)n > pc_eio_write)
		err = EIO;
	else if (pc_enospc_write >= 0 &&
	    pc_written + (long long)n > pc_enospc_write)
		err = ENOSPC;
	else
		pc_written += (long long)n;
	pthread_mutex_unlock(&pc_mu);
	return err;
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	int err = write_fault(fd, n);

	if (err != 0) {
		errno = err;
		return -1;
	}
	return real_write(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	int err = write_fault(fd, n);

	if (err != 0) {
		errno = err;
		return -1;
	}
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
    __attribute__((alias("pwrite")));

static bool
falloc_fault(int fd)
{
	bool fail = false;

	if (fd_file(fd) == NULL)
		return false;
	pthread_mutex_lock(&pc_mu);
	if (pc_enospc_falloc >= 0 && pc_fallocs >= pc_enospc_falloc)
		fail = true;
	else
		pc_fallocs++;
	pthread_mutex_unlock(&pc_mu);
	return fail;
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	if (falloc_fault(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return real_fallocate(fd, mode, off, len);
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
	if (falloc_fault(fd))
		return ENOSPC;
	return real_posix_fallocate(fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len)
    __attribute__((alias("posix_fallocate")));

int
ftruncate(int fd, off_t len)
{
	/* Takes effect on stable storage at the next sync, like a write. */
	return real_ftruncate(fd, len);
}

int
rename(const char *from, const char *to)
{
	int rc = real_rename(from, to);
	const char *a = watched(from), *b = watched(to);

	if (rc == 0 && a != NULL && b != NULL) {
		pthread_mutex_lock(&pc_mu);
		struct pc_file *old = find(b), *f = find(a);
		if (old != NULL)
			old->name[0] = '\0';
		if (f != NULL)
			snprintf(f->name, sizeof(f->name), "%s", b);
		pthread_mutex_unlock(&pc_mu);
	}
	return rc;
}

int
unlink(const char *path)
{
	int rc = real_unlink(path);
	const char *name = watched(path);

	if (rc == 0 && name != NULL) {
		pthread_mutex_lock(&pc_mu);
		struct pc_file *f = find(name);
		if (f != NULL)
			f->name[0] = '\0'; /* its id stays: names may cite it */
		pthread_mutex_unlock(&pc_mu);
	}
	return rc;
}

static int
do_sync(int fd, int (*real)(int))
{
	struct pc_file *f = fd_file(fd);
	int rc;

	if (f == NULL)
		return real(fd);
	pthread_mutex_lock(&pc_mu);
	if (pc_eio_sync >= 0 && pc_syncs >= pc_eio_sync) {
		pthread_mutex_unlock(&pc_mu);
		errno = EIO;
		return -1;
	}
	pc_syncs++;
	rc = real(fd);
	if (rc == 0) {
		if (f == PC_DIR_FD)
			image_names();
		else
			image_file(f, fd);
	}
	pthread_mutex_unlock(&pc_mu);
	return rc;
}

int
fsync(int fd)
{
	return do_sync(fd, real_fsync);
}

int
fdatasync(int fd)
{
	return do_sync(fd, real_fdatasync);
}

int
close(int fd)
{
	if (fd >= 0 && fd < PC_FD_MAX) {
		pthread_mutex_lock(&pc_mu);
		pc_fds[fd] = NULL;
		pthread_mutex_unlock(&pc_mu);
	}
	return real_close(fd);
}
