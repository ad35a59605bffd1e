"""A seccomp filter for the run: sockets only of the families a network namespace
isolates, no io_uring, and none of the system calls container runtimes refuse by default.

The run's network namespace has no interface but its own loopback, so TCP, UDP and unix
sockets reach nothing of the host. Other families are not confined by it: AF_VSOCK (which
a sandboxed process could open before this filter) could reach the hypervisor and services
listening on vsock (a virtual machine's agent), netlink,
packet and the rest are kernel surface a transform never needs. io_uring can open sockets
without the `socket` system call, so it goes too. As in Docker's default profile, the
kernel's riskiest surface (bpf, perf events, keyrings, userfaultfd, modules, kexec,
mounts, namespaces, open_by_handle_at, ptrace and cross-process memory) fails with EPERM:
a transform needs none of it. System calls of another ABI (i386 or x32
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
# (audit arch, socket, x32 bit)
_ARCHES = {"x86_64": (0xC000003E, 41, 0x40000000), "aarch64": (0xC00000B7, 198, 0)}
# name: (x86_64, aarch64) numbers of the refused system calls
_DENIED = {
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "reboot": (169, 142),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "swapon": (167, 224),
    "swapoff": (168, 225), "open_tree": (428, 428), "move_mount": (429, 429),
    "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "unshare": (272, 97), "setns": (308, 268), "name_to_handle_at": (303, 264),
    "open_by_handle_at": (304, 265), "ptrace": (101, 117), "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
}
ALLOWED_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def supported() -> bool:
    """Whether a filter can be built for this machine's architecture."""
    return platform.machine() in _ARCHES


def program() -> bytes:
    """The compiled BPF program (an array of `struct sock_filter`) for this architecture."""
    machine = platform.machine()
    arch, nr_socket, x32 = _ARCHES[machine]
    denied = sorted(numbers[machine == "aarch64"] for numbers in _DENIED.values())
    deny_family = _ERRNO | errno.EAFNOSUPPORT
    ops = [_op(_LD_W_ABS, _ARCH), _op(_JEQ_K, arch, jt=1), _op(_RET_K, _ERRNO | errno.ENOSYS),
           _op(_LD_W_ABS, _NR)]
    if x32:
        ops += [_op(_JSET_K, x32, jf=1), _op(_RET_K, _ERRNO | errno.ENOSYS)]
    for number in denied:
        ops += [_op(_JEQ_K, number, jf=1), _op(_RET_K, _ERRNO | errno.EPERM)]
    ops += [_op(_JEQ_K, nr_socket, jt=1), _op(_RET_K, _ALLOW), _op(_LD_W_ABS, _ARG0)]
    for family in ALLOWED_FAMILIES:
        ops += [_op(_JEQ_K, family, jf=1), _op(_RET_K, _ALLOW)]
    ops.append(_op(_RET_K, deny_family))
    return b"".join(ops)
