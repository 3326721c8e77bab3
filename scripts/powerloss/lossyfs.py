#!/usr/bin/env python3
"""lossyfs: a pass-through FUSE filesystem that loses unsynced writes on a simulated power cut.

Usage: lossyfs.py BACKING_DIR MOUNT_POINT   (runs in the foreground until unmounted)

Why: the bridge promises "a 200 means fsynced". Killing the process is not enough to test that
(the kernel still holds its writes), so this filesystem plays the disk's volatile cache:

- Every path is passed through to BACKING_DIR. Metadata operations (create, mkdir, unlink,
  rename, chmod, utimens, truncate/ftruncate, statfs...) are applied to the backing directory at
  once, as if the filesystem journalled them synchronously.
- Data writes are NOT applied. They are kept in memory, per file (per backing inode), as 4 KiB
  page images plus the file's pending size. Reads see the overlay on top of the backing file, so
  the writer sees its own writes (through read(2) and through mmap, as the kernel page cache is
  filled by our reads; the mount is not direct_io, so SQLite's MAP_SHARED -shm mapping works).
- fsync/fdatasync on any handle of a file writes that file's pages to the backing file, sets its
  size, and fsyncs it. Only then is the data durable.
- The cut: writing anything to the control file MOUNT_POINT/.lossyfs-cut (e.g.
  `printf cut > MNT/.lossyfs-cut`) drops every unsynced write of every file, as a power loss
  would, and from then on the filesystem is "off": every operation that would change the backing
  directory fails with EIO (reads still work), so nothing can reach the disk after the cut. The
  write returns only once the cut is done. Then unmount (umount as root, or fusermount -u) and
  mount again to see what survived.
- A clean unmount without a cut writes the pending pages back first, as a real one would.

What it does not model: a power cut that keeps some unsynced writes and loses others (torn or
reordered writes). Losing all of them is one of the outcomes a real disk may produce, and the one
that shows a missing fsync most reliably.

Locks: fcntl (POSIX) and flock locks are not implemented here, so the kernel keeps them locally
on the mount, which is all a single-host test needs. The loop is single-threaded (nothreads), so
no state below needs a lock.
"""

import errno
import os
import stat
import sys
import time

from fuse import FUSE, FuseOSError, Operations

PAGE = 4096
CONTROL = "/.lossyfs-cut"
CONTROL_FH = 2**62


def log(message):
    print(f"lossyfs: {message}", file=sys.stderr, flush=True)


class PendingFile:
    """One backing file, open read-write, with its unsynced pages and pending size."""

    def __init__(self, fd):
        self.fd = fd
        self.handles = 0
        self.pages = {}  # page index -> bytearray(PAGE): the page as it would read now
        self.size = None  # the size reads see, when writes or a cut differ from the backing file

    def logical_size(self):
        return os.fstat(self.fd).st_size if self.size is None else self.size

    def dirty(self):
        return bool(self.pages) or self.size is not None

    def _page(self, index):
        page = self.pages.get(index)
        if page is None:
            page = bytearray(os.pread(self.fd, PAGE, index * PAGE))
            page.extend(bytes(PAGE - len(page)))
            self.pages[index] = page
        return page

    def read(self, length, offset):
        if not self.dirty():
            return os.pread(self.fd, length, offset)
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        data = bytearray(os.pread(self.fd, end - offset, offset))
        data.extend(bytes(end - offset - len(data)))
        for index in range(offset // PAGE, (end - 1) // PAGE + 1):
            page = self.pages.get(index)
            if page is None:
                continue
            start = max(offset, index * PAGE)
            stop = min(end, (index + 1) * PAGE)
            data[start - offset:stop - offset] = page[start - index * PAGE:stop - index * PAGE]
        return bytes(data)

    def write(self, data, offset):
        self.size = max(self.logical_size(), offset + len(data))
        position = 0
        while position < len(data):
            index, within = divmod(offset + position, PAGE)
            count = min(PAGE - within, len(data) - position)
            self._page(index)[within:within + count] = data[position:position + count]
            position += count
        return len(data)

    def truncate(self, length):
        """Applied to the backing file at once; buffered pages past the new end are dropped."""
        os.ftruncate(self.fd, length)
        if not self.dirty():
            return
        for index in [i for i in self.pages if i * PAGE >= length]:
            del self.pages[index]
        index, within = divmod(length, PAGE)
        if within and index in self.pages:
            page = self.pages[index]
            page[within:] = bytes(PAGE - within)
        self.size = length

    def sync(self):
        if self.dirty():
            for index in sorted(self.pages):
                start = index * PAGE
                if start < self.size:
                    os.pwrite(self.fd, self.pages[index][:self.size - start], start)
            if os.fstat(self.fd).st_size != self.size:
                os.ftruncate(self.fd, self.size)
        os.fsync(self.fd)
        self.drop()

    def drop(self):
        """Forgets every unsynced write: the file reads as its backing file again."""
        dropped = len(self.pages)
        self.pages = {}
        self.size = None
        return dropped


class LossyFS(Operations):
    use_ns = True

    def __init__(self, backing):
        self.backing = os.path.realpath(backing)
        self.files = {}  # (st_dev, st_ino) -> PendingFile
        self.handles = {}  # fh -> PendingFile
        self.next_fh = 1
        self.off = False  # set by the cut

    # --- helpers ---

    def _real(self, path):
        return self.backing + path

    def _mutating(self):
        if self.off:
            raise FuseOSError(errno.EIO)

    @staticmethod
    def _key(st):
        return (st.st_dev, st.st_ino)

    def _file_for(self, real):
        """The PendingFile of the backing file at `real`, opening it when it has none."""
        st = os.stat(real)
        pending = self.files.get(self._key(st))
        if pending is None:
            pending = PendingFile(os.open(real, os.O_RDWR | os.O_CLOEXEC))
            self.files[self._key(os.fstat(pending.fd))] = pending
        return pending

    def _new_handle(self, pending):
        pending.handles += 1
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = pending
        return fh

    def _forget_if_gone(self, key):
        """Closes a file that has no handle left and no data worth keeping (or no name)."""
        pending = self.files.get(key)
        if pending is None or pending.handles > 0:
            return
        if pending.dirty() and os.fstat(pending.fd).st_nlink > 0:
            return  # unsynced data of a file still named: kept, as a page cache would
        os.close(pending.fd)
        del self.files[key]

    def _cut(self):
        dropped = sum(pending.drop() for pending in self.files.values())
        self.off = True
        log(f"cut: dropped {dropped} unsynced pages of {len(self.files)} open or dirty files; "
            "the filesystem is off (writes fail with EIO) until remounted")

    # --- files ---

    def getattr(self, path, fh=None):
        if path == CONTROL:
            now = time.time_ns()
            return {"st_mode": stat.S_IFREG | 0o200, "st_nlink": 1, "st_size": 0,
                    "st_atime": now, "st_mtime": now, "st_ctime": now}
        pending = self.handles.get(fh) if fh is not None else None
        st = os.fstat(pending.fd) if pending is not None else os.lstat(self._real(path))
        attrs = {name: getattr(st, name) for name in (
            "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks",
            "st_atime_ns", "st_mtime_ns", "st_ctime_ns")}
        for name in ("st_atime", "st_mtime", "st_ctime"):
            attrs[name] = attrs.pop(name + "_ns")
        if stat.S_ISREG(st.st_mode):
            pending = pending or self.files.get(self._key(st))
            if pending is not None and pending.size is not None:
                attrs["st_size"] = pending.size
        return attrs

    def open(self, path, flags):
        if path == CONTROL:
            return CONTROL_FH
        pending = self._file_for(self._real(path))
        if flags & os.O_TRUNC:
            self._mutating()
            pending.truncate(0)
        return self._new_handle(pending)

    def create(self, path, mode, fi=None):
        self._mutating()
        real = self._real(path)
        try:
            fd = os.open(real, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode & 0o7777)
        except FileExistsError:
            return self._new_handle(self._file_for(real))
        key = self._key(os.fstat(fd))
        stale = self.files.pop(key, None)  # an inode number reused after an unlink
        if stale is not None:
            os.close(stale.fd)
        pending = PendingFile(fd)
        self.files[key] = pending
        return self._new_handle(pending)

    def read(self, path, size, offset, fh):
        if fh == CONTROL_FH:
            return b""
        return self.handles[fh].read(size, offset)

    def write(self, path, data, offset, fh):
        if fh == CONTROL_FH:
            if not self.off:
                self._cut()
            return len(data)
        self._mutating()
        return self.handles[fh].write(data, offset)

    def truncate(self, path, length, fh=None):
        if path == CONTROL or fh == CONTROL_FH:
            return 0
        self._mutating()
        pending = self.handles.get(fh) if fh is not None else None
        if pending is None:
            real = self._real(path)
            pending = self.files.get(self._key(os.stat(real)))
            if pending is None:
                os.truncate(real, length)
                return 0
        pending.truncate(length)
        return 0

    def fsync(self, path, datasync, fh):
        if fh == CONTROL_FH:
            return 0
        self._mutating()
        self.handles[fh].sync()
        return 0

    def flush(self, path, fh):
        return 0  # close(2) does not make data durable

    def release(self, path, fh):
        pending = self.handles.pop(fh, None)
        if pending is not None:
            pending.handles -= 1
            self._forget_if_gone(self._key(os.fstat(pending.fd)))
        return 0

    # --- metadata: straight to the backing directory ---

    def access(self, path, amode):
        if path != CONTROL and not os.access(self._real(path), amode):
            raise FuseOSError(errno.EACCES)
        return 0

    def chmod(self, path, mode):
        self._mutating()
        os.chmod(self._real(path), mode & 0o7777)
        return 0

    def chown(self, path, uid, gid):
        self._mutating()
        os.lchown(self._real(path), uid, gid)
        return 0

    def utimens(self, path, times=None):
        self._mutating()
        if times is None:
            os.utime(self._real(path))
        else:
            os.utime(self._real(path), ns=times)
        return 0

    def mkdir(self, path, mode):
        self._mutating()
        os.mkdir(self._real(path), mode & 0o7777)
        return 0

    def rmdir(self, path):
        self._mutating()
        os.rmdir(self._real(path))
        return 0

    def unlink(self, path):
        self._mutating()
        real = self._real(path)
        key = self._key(os.lstat(real))
        os.unlink(real)
        self._forget_if_gone(key)
        return 0

    def rename(self, old, new):
        self._mutating()
        try:
            replaced = self._key(os.lstat(self._real(new)))
        except FileNotFoundError:
            replaced = None
        os.rename(self._real(old), self._real(new))
        if replaced is not None:
            self._forget_if_gone(replaced)
        return 0

    def link(self, target, source):
        self._mutating()
        os.link(self._real(source), self._real(target))
        return 0

    def symlink(self, target, source):
        self._mutating()
        os.symlink(source, self._real(target))
        return 0

    def readlink(self, path):
        return os.readlink(self._real(path))

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._real(path))

    def fsyncdir(self, path, datasync, fh):
        self._mutating()
        fd = os.open(self._real(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return 0

    def statfs(self, path):
        st = os.statvfs(self._real(path))
        return {name: getattr(st, name) for name in (
            "f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
            "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}

    def destroy(self, path):
        """Unmount: a clean one writes the pending pages back; after a cut there are none."""
        for pending in self.files.values():
            if not self.off and pending.dirty():
                pending.sync()
            os.close(pending.fd)
        self.files.clear()
        self.handles.clear()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: lossyfs.py BACKING_DIR MOUNT_POINT")
    backing, mount_point = sys.argv[1], sys.argv[2]
    os.umask(0)  # the mode the caller asked for is the mode the file gets
    log(f"mounting {backing} on {mount_point} (cut: write to {mount_point}{CONTROL})")
    # Single-threaded; no direct_io (SQLite maps files shared); writes up to 128 KiB a request.
    FUSE(LossyFS(backing), mount_point, foreground=True, nothreads=True,
         big_writes=True, max_write=131072, fsname="lossyfs", subtype="lossyfs")


if __name__ == "__main__":
    main()
