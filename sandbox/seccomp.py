"""A seccomp filter for the run: sockets only of the families a network namespace
isolates, and no io_uring.

The run's network namespace has no interface but its own loopback, so TCP, UDP and unix
sockets reach nothing of the host. Other families are not confined by it: AF_VSOCK reaches
the hypervisor and services listening on vsock (a virtual machine's agent), netlink,
packet and the rest are kernel surface a transform never needs. io_uring can open sockets
without the `socket` system call, so it goes too. System calls of another ABI (i386 or x32
on x86_64), which a filter on native numbers would miss, fail with ENOSYS.

bwrap loads the program (`--seccomp FD`) as the last step before running the command.
"""

from __future__ import annotations

import errno
import platform
import socket
import struct

# struct seccomp_data: nr (u32) at 0, arch (u32) at 4, args[0] (u64) at 16
_NR, _ARCH, _ARG0 = 0, 4, 16
_LD_W_ABS, _JEQ_K, _JSET_K, _RET_K = 0x20, 0x15, 0x45, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
# (audit arch, socket, io_uring_setup, io_uring_enter, io_uring_register, x32 bit)
_ARCHES = {
    "x86_64": (0xC000003E, 41, 425, 426, 427, 0x40000000),
    "aarch64": (0xC00000B7, 198, 425, 426, 427, 0),
}
ALLOWED_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def supported() -> bool:
    """Whether a filter can be built for this machine's architecture."""
    return platform.machine() in _ARCHES


def program() -> bytes:
    """The compiled BPF program (an array of `struct sock_filter`) for this architecture."""
    arch, nr_socket, *uring, x32 = _ARCHES[platform.machine()]
    deny_family = _ERRNO | errno.EAFNOSUPPORT
    ops = [_op(_LD_W_ABS, _ARCH), _op(_JEQ_K, arch, jt=1), _op(_RET_K, _ERRNO | errno.ENOSYS),
           _op(_LD_W_ABS, _NR)]
    if x32:
        ops += [_op(_JSET_K, x32, jf=1), _op(_RET_K, _ERRNO | errno.ENOSYS)]
    for number in uring:
        ops += [_op(_JEQ_K, number, jf=1), _op(_RET_K, _ERRNO | errno.EPERM)]
    ops += [_op(_JEQ_K, nr_socket, jt=1), _op(_RET_K, _ALLOW), _op(_LD_W_ABS, _ARG0)]
    for family in ALLOWED_FAMILIES:
        ops += [_op(_JEQ_K, family, jf=1), _op(_RET_K, _ALLOW)]
    ops.append(_op(_RET_K, deny_family))
    return b"".join(ops)
