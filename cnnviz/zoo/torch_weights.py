"""Read a PyTorch state dict saved in the legacy (non-zip) format, without torch, into NumPy.

The legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``, what
``torch.save`` wrote before 1.6) is a sequence of pickles followed by raw bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the protocol version (1001);
3. system info (``{"little_endian": True, "type_sizes": {...}, ...}``);
4. the object itself, where each storage is a *persistent id*
   ``("storage", torch.FloatStorage, key, location, numel, view_metadata)`` and each tensor
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)``;
5. the list of storage keys, in the order their bytes follow;
6. per storage: its element count (int64, little-endian), then its raw bytes.

Unpickling runs code named in the file, so this reader never uses ``pickle.load`` or
``torch.load``: :class:`RestrictedUnpickler` resolves only :data:`ALLOWED_GLOBALS` (to
inert stand-ins defined here) and refuses any other global with
:class:`UnsafePickleError` before anything is called. The small pickles 1-3 and 5 hold
only plain values, so they are read with no global allowed at all.

Light module: NumPy and the standard library only.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnviz.errors import UserFacingError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

#: Storage type → NumPy dtype (little-endian).
STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class TorchWeightsError(UserFacingError, ValueError):
    """The file is not a legacy PyTorch state dict this reader understands."""


class UnsafePickleError(TorchWeightsError):
    """The file names a global outside :data:`ALLOWED_GLOBALS` (it might run code): refused."""


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co.: only its dtype matters."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(STORAGE_DTYPES[self.name])


@dataclass
class _TensorRef:
    """A tensor not yet read: which storage, where in it, its shape and strides (in elements)."""

    key: str
    dtype: np.dtype
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype
    numel: int
    view: tuple | None


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, _StorageRef):
        raise TorchWeightsError("zoo.error.torch_format", reason="a tensor without a storage")
    offset = int(storage_offset)
    if storage.view is not None:  # (view key, offset in the root storage, size): old files only
        offset += int(storage.view[1])
    return _TensorRef(storage.key, storage.dtype, offset, tuple(int(s) for s in size),
                      tuple(int(s) for s in stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


def _ordered_dict(*args):
    return collections.OrderedDict(*args)


#: ``(module, name)`` → what it resolves to. Everything else is refused.
ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``allowed`` globals and reads storages as references.

    Args:
        file: binary file positioned at a pickle.
        allowed: ``{(module, name): object}``; default none (plain values only).
    """

    def __init__(self, file, allowed: dict[tuple[str, str], object] | None = None) -> None:
        super().__init__(file)
        self._allowed = allowed or {}

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle's hook
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError("zoo.error.torch_unsafe_global", name=f"{module}.{name}") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise TorchWeightsError("zoo.error.torch_format", reason=f"unexpected persistent id {pid!r:.80}")
        view = pid[5] if len(pid) > 5 else None
        return _StorageRef(str(pid[2]), pid[1].dtype, int(pid[4]), view)


def _load_plain(f):
    try:
        return RestrictedUnpickler(f).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated, not a pickle...
        raise TorchWeightsError("zoo.error.torch_format", reason=f"{type(exc).__name__}: {exc}") from exc


def read_state_dict(path: str | Path) -> "collections.OrderedDict[str, np.ndarray]":
    """The tensors of a legacy ``.pth`` state dict, as NumPy arrays (name → array, file order).

    Each array is a copy laid out C-contiguous, rebuilt from its storage's bytes with the
    tensor's offset, size and strides.

    Raises:
        UnsafePickleError: the file names a global other than :data:`ALLOWED_GLOBALS`.
        TorchWeightsError: not a legacy state dict (zip format, truncated, wrong magic...).
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head == b"PK\x03\x04":
            raise TorchWeightsError("zoo.error.torch_format", reason="zip-format file (torch >= 1.6), not legacy")
        if _load_plain(f) != MAGIC_NUMBER:
            raise TorchWeightsError("zoo.error.torch_format", reason="wrong magic number")
        if _load_plain(f) != PROTOCOL_VERSION:
            raise TorchWeightsError("zoo.error.torch_format", reason="unknown protocol version")
        info = _load_plain(f)
        if not isinstance(info, dict) or not info.get("little_endian", False):
            raise TorchWeightsError("zoo.error.torch_format", reason="not a little-endian file")
        try:
            obj = RestrictedUnpickler(f, ALLOWED_GLOBALS).load()
        except TorchWeightsError:
            raise
        except Exception as exc:
            raise TorchWeightsError("zoo.error.torch_format", reason=f"{type(exc).__name__}: {exc}") from exc
        keys = _load_plain(f)
        if not isinstance(obj, dict) or not isinstance(keys, list):
            raise TorchWeightsError("zoo.error.torch_format", reason="not a state dict")
        refs = {name: ref for name, ref in obj.items() if isinstance(ref, _TensorRef)}
        dtypes = {ref.key: ref.dtype for ref in refs.values()}
        storages: dict[str, np.ndarray] = {}
        for key in keys:
            raw = f.read(8)
            if len(raw) != 8:
                raise TorchWeightsError("zoo.error.torch_format", reason="truncated file")
            (numel,) = struct.unpack("<q", raw)
            dtype = dtypes.get(str(key), np.dtype("u1"))
            data = f.read(numel * dtype.itemsize)
            if len(data) != numel * dtype.itemsize:
                raise TorchWeightsError("zoo.error.torch_format", reason="truncated file")
            storages[str(key)] = np.frombuffer(data, dtype=dtype)
    out: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
    for name, ref in refs.items():
        out[name] = _materialize(name, ref, storages)
    return out


def _materialize(name: str, ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    storage = storages.get(ref.key)
    if storage is None:
        raise TorchWeightsError("zoo.error.torch_format", reason=f"{name}: storage {ref.key} missing")
    if len(ref.size) != len(ref.stride):
        raise TorchWeightsError("zoo.error.torch_format", reason=f"{name}: size and stride differ in length")
    if not ref.size:
        return storage[ref.offset:ref.offset + 1].reshape(()).copy()
    last = ref.offset + sum((s - 1) * st for s, st in zip(ref.size, ref.stride) if s > 0)
    if ref.offset < 0 or any(st < 0 for st in ref.stride) or (min(ref.size) > 0 and last >= storage.size):
        raise TorchWeightsError("zoo.error.torch_format", reason=f"{name}: out of its storage's bounds")
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[ref.offset:], shape=ref.size,
                                           strides=tuple(st * item for st in ref.stride), writeable=False)
    return np.ascontiguousarray(view).copy()
