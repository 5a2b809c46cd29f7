"""Sample files read without running anything: ``.npy``/``.npz`` arrays and folders of images.

Both are inputs a user points gandiag at (a reference, a generator's samples, a feature folder),
so both are read defensively: arrays without unpickling and with their declared size checked
against the file and the memory budget before anything is allocated; images with their decoded
size checked before each is decoded. Every failure is a :class:`gandiag.errors.GandiagInputError`
that starts with the path (and, for a folder, names the bad image).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GandiagInputError

__all__ = ["IMAGE_SUFFIXES", "load_array_file", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def load_array_file(path: Path) -> np.ndarray:
    """The array in a ``.npy``/``.npz`` file, read without unpickling, its declared size checked first.

    The header (shape, dtype) is read before any data: an object array (it would need pickle), an
    array larger than the bytes the file or zip member holds (truncated or forged), or one larger
    than gandiag's memory budget (``GANDIAG_MEMORY_BUDGET``, default 2 GiB) is refused before it
    is allocated. Every failure is a :class:`GandiagInputError` that starts with the path.
    """
    from ._arrays import one_line

    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if magic.startswith(b"PK"):
            return _read_npz(path)
        if magic == b"\x93NUMPY":
            with open(path, "rb") as fh:
                _check_npy_header(path, fh, Path(path).stat().st_size, "")
                fh.seek(0)
                return np.lib.format.read_array(fh, allow_pickle=False)
        raise GandiagInputError(f"{path}: not a readable .npy/.npz array (no .npy or .npz signature)")
    except GandiagInputError:
        raise
    except Exception as exc:  # truncated, not an array file, unreadable
        raise GandiagInputError(f"{path}: not a readable .npy/.npz array ({type(exc).__name__}: "
                                f"{one_line(exc, 160)})") from exc


def _read_npz(path: Path) -> np.ndarray:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        members = {(n[:-4] if n.endswith(".npy") else n): n for n in zf.namelist()}
        keys = list(members)
        key = keys[0] if len(keys) == 1 else next((k for k in ("samples", "x", "arr_0") if k in keys), None)
        if key is None:
            raise GandiagInputError(f"{path}: holds arrays {keys}; name the samples array 'samples' or store only one")
        info = zf.getinfo(members[key])
        with zf.open(info) as fh:
            _check_npy_header(path, fh, info.file_size, f"its array {key!r} ")
        with zf.open(info) as fh:
            return np.lib.format.read_array(fh, allow_pickle=False)


def _check_npy_header(path: Path, fh: Any, size: int, where: str) -> None:
    """Read the .npy header at ``fh`` and refuse, before any data is read, what cannot be loaded safely.

    ``size``: the bytes the file (or zip member, as its directory declares) holds, header included.
    """
    from ._arrays import check_budget, format_bytes

    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(fh)
    else:
        shape, _, dtype = fmt._read_array_header(fh, version)
    if dtype.hasobject:
        raise GandiagInputError(f"{path}: {where}holds Python objects (dtype {dtype}); gandiag reads arrays "
                                "without unpickling, so save numbers (e.g. float32)")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > size - fh.tell():
        raise GandiagInputError(f"{path}: not a readable .npy/.npz array ({where}declares shape {shape} of {dtype}, "
                                f"{format_bytes(nbytes)}, but holds {format_bytes(max(0, size - fh.tell()))} of data: "
                                "truncated or forged)")
    check_budget(nbytes, f"{where}an array of shape {shape} of {dtype}", source=path, hint="")


def load_image_folder(path: Path) -> np.ndarray:
    from PIL import Image

    from ._arrays import check_budget, one_line

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GandiagInputError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    images, nbytes = [], 0
    for f in files:
        try:
            with Image.open(f) as im:
                gray = im.mode in ("L", "1", "I;16")
                nbytes += 4 * im.width * im.height * (1 if gray else 3)  # as float32, checked before decoding
                check_budget(nbytes, f"the images of {path} (up to {f.name})", source=path, hint="")
                images.append(np.asarray(im.convert("L") if gray else im.convert("RGB")))
        except GandiagInputError:
            raise
        except Exception as exc:  # corrupt, truncated, not an image, decompression bomb
            raise GandiagInputError(f"{f}: not a readable image ({type(exc).__name__}: {one_line(exc, 160)}); "
                                    f"remove it from the folder") from exc
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise GandiagInputError(f"{path}: images differ in size or channels: {sorted(shapes)}")
    arr = np.stack(images).astype(np.float32) / 255.0 * 2.0 - 1.0  # uint8 -> [-1, 1]
    return arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)
